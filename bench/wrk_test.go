package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeQuantiles writes what wrk's script writes for a run whose latency at the
// i-th 0.01th percentile is at(i).
func writeQuantiles(t *testing.T, at func(i int) int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= 10000; i++ {
		fmt.Fprintf(&b, "%d\n", at(i))
	}
	path := filepath.Join(t.TempDir(), "quantiles")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLatenciesOneRunIsWrks(t *testing.T) {
	var l latencies
	if err := l.add(writeQuantiles(t, func(i int) int { return i }), 500); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[float64]int{50: 5000, 99: 9900, 100: 10000, 0.01: 1} {
		if got := l.percentile(p); got != time.Duration(want)*time.Microsecond {
			t.Errorf("p%v = %v, want %dµs", p, got, want)
		}
	}
}

func TestLatenciesMergeWeighsByAnswers(t *testing.T) {
	var l latencies
	// A fast run of 9,000 answers, all at 1 ms, and a slow one of 1,000, all
	// at 50 ms: 90% of the answers are fast.
	if err := l.add(writeQuantiles(t, func(int) int { return 1000 }), 9000); err != nil {
		t.Fatal(err)
	}
	if err := l.add(writeQuantiles(t, func(int) int { return 50_000 }), 1000); err != nil {
		t.Fatal(err)
	}
	if got := l.percentile(90); got != time.Millisecond {
		t.Errorf("p90 = %v, want 1ms", got)
	}
	if got := l.percentile(90.01); got != 50*time.Millisecond {
		t.Errorf("p90.01 = %v, want 50ms", got)
	}
}
