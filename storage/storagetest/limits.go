package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// OpenPair opens two stores on the same fresh, empty data, as two processes
// sharing one database would. A store for one process may return itself twice.
// The suites close both when the subtest ends.
type OpenPair func(t *testing.T) (storage.Store, storage.Store)

// RunLimits runs the conformance suite of storage.Limits: the three modes, the
// TATs returned, and atomicity under concurrent calls on both stores of a pair.
func RunLimits(t *testing.T, open OpenPair) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b storage.Limits)
	}{
		{"NoBuckets", testGCRANoBuckets},
		{"PeekChangesNothing", testGCRAPeek},
		{"AllowCountsUpToTheBurst", testGCRAAllow},
		{"AllowIsAllOrNothing", testGCRAAllOrNothing},
		{"SpendCountsRegardless", testGCRASpend},
		{"PassedTATIsZero", testGCRAPassed},
		{"ResultsInTheGivenOrder", testGCRAOrder},
		{"ConcurrentAllowExactlyTheBurst", testGCRAConcurrent},
		{"ConcurrentCallsInEitherOrder", testGCRAEitherOrder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := openBoth(t, open)
			tc.fn(t, mustLimits(t, a), mustLimits(t, b))
		})
	}
}

// openBoth opens a pair and closes both stores when the test ends.
func openBoth(t *testing.T, open OpenPair) (storage.Store, storage.Store) {
	t.Helper()
	a, b := open(t)
	t.Cleanup(func() {
		for _, s := range []storage.Store{a, b} {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return a, b
}

func mustLimits(t *testing.T, s storage.Store) storage.Limits {
	t.Helper()
	l, ok := s.(storage.Limits)
	if !ok {
		t.Fatalf("%T does not implement storage.Limits", s)
	}
	return l
}

// t0 is the suite's clock: a fake time, with nanoseconds, that a store must
// use as given.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

// burst3 allows three requests at once, then one a second.
func burst3(key string) storage.GCRABucket {
	return storage.GCRABucket{Key: key, Every: time.Second, Window: 3 * time.Second}
}

// gcra calls GCRA and fails the test on an error.
func gcra(t *testing.T, l storage.Limits, now time.Time, mode storage.GCRAMode, buckets ...storage.GCRABucket) []time.Time {
	t.Helper()
	tats, err := l.GCRA(t.Context(), now, mode, buckets)
	if err != nil {
		t.Fatalf("GCRA(mode %d): %v", mode, err)
	}
	if len(tats) != len(buckets) {
		t.Fatalf("GCRA returned %d TATs for %d buckets", len(tats), len(buckets))
	}
	return tats
}

// allows is the caller's decision, with the formula of storage.GCRABucket.
func allows(tat, now time.Time, b storage.GCRABucket) bool {
	base := now
	if tat.After(now) {
		base = tat
	}
	return base.Add(b.Every).Sub(now) <= b.Window
}

// wantTAT fails unless got is want (the zero time for none).
func wantTAT(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s: TAT %v, want %v", what, got, want)
	}
}

func testGCRANoBuckets(t *testing.T, a, _ storage.Limits) {
	for _, mode := range []storage.GCRAMode{storage.GCRAPeek, storage.GCRAAllow, storage.GCRASpend} {
		gcra(t, a, t0, mode)
	}
}

func testGCRAPeek(t *testing.T, a, b storage.Limits) {
	bucket := burst3("lim/peek")
	wantTAT(t, "Peek of a new bucket", gcra(t, a, t0, storage.GCRAPeek, bucket)[0], time.Time{})
	wantTAT(t, "second Peek", gcra(t, b, t0, storage.GCRAPeek, bucket)[0], time.Time{})
	gcra(t, a, t0, storage.GCRAAllow, bucket)
	want := t0.Add(time.Second)
	for range 3 {
		wantTAT(t, "Peek after one Allow", gcra(t, b, t0, storage.GCRAPeek, bucket)[0], want)
	}
}

func testGCRAAllow(t *testing.T, a, b storage.Limits) {
	bucket := burst3("lim/allow")
	stores := []storage.Limits{a, b, a}
	for i, l := range stores {
		tat := gcra(t, l, t0, storage.GCRAAllow, bucket)[0]
		want := time.Time{}
		if i > 0 {
			want = t0.Add(time.Duration(i) * time.Second)
		}
		wantTAT(t, fmt.Sprintf("Allow %d", i+1), tat, want)
		if !allows(tat, t0, bucket) {
			t.Fatalf("Allow %d refused within the burst", i+1)
		}
	}
	full := t0.Add(3 * time.Second)
	tat := gcra(t, b, t0, storage.GCRAAllow, bucket)[0]
	wantTAT(t, "Allow over the burst", tat, full)
	if allows(tat, t0, bucket) {
		t.Fatal("Allow over the burst: allowed")
	}
	wantTAT(t, "Peek after a refused Allow", gcra(t, a, t0, storage.GCRAPeek, bucket)[0], full)

	// A second later, one more fits.
	now := t0.Add(time.Second)
	tat = gcra(t, a, now, storage.GCRAAllow, bucket)[0]
	wantTAT(t, "Allow a second later", tat, full)
	if !allows(tat, now, bucket) {
		t.Fatal("Allow a second later: refused")
	}
	wantTAT(t, "Peek after it", gcra(t, b, now, storage.GCRAPeek, bucket)[0], full.Add(time.Second))
}

func testGCRAAllOrNothing(t *testing.T, a, b storage.Limits) {
	one := storage.GCRABucket{Key: "lim/full", Every: time.Second, Window: time.Second}
	empty := burst3("lim/empty")
	gcra(t, a, t0, storage.GCRAAllow, one) // one is now full
	tats := gcra(t, b, t0, storage.GCRAAllow, empty, one)
	wantTAT(t, "the empty bucket", tats[0], time.Time{})
	wantTAT(t, "the full bucket", tats[1], t0.Add(time.Second))
	if allows(tats[1], t0, one) {
		t.Fatal("the full bucket allowed a request")
	}
	tats = gcra(t, a, t0, storage.GCRAPeek, empty, one)
	wantTAT(t, "the empty bucket after a refused Allow", tats[0], time.Time{})
	wantTAT(t, "the full bucket after a refused Allow", tats[1], t0.Add(time.Second))
}

func testGCRASpend(t *testing.T, a, b storage.Limits) {
	one := storage.GCRABucket{Key: "lim/full", Every: time.Second, Window: time.Second}
	empty := burst3("lim/empty")
	gcra(t, a, t0, storage.GCRASpend, one)
	tats := gcra(t, b, t0, storage.GCRASpend, empty, one)
	wantTAT(t, "Spend: the empty bucket", tats[0], time.Time{})
	wantTAT(t, "Spend: the full bucket", tats[1], t0.Add(time.Second))
	tats = gcra(t, a, t0, storage.GCRAPeek, empty, one)
	wantTAT(t, "the empty bucket after Spend", tats[0], t0.Add(time.Second))
	wantTAT(t, "the full bucket after Spend (over its window)", tats[1], t0.Add(2*time.Second))
}

func testGCRAPassed(t *testing.T, a, b storage.Limits) {
	bucket := burst3("lim/passed")
	gcra(t, a, t0, storage.GCRAAllow, bucket)
	tat := t0.Add(time.Second)
	wantTAT(t, "Peek before the TAT", gcra(t, b, t0.Add(999*time.Millisecond), storage.GCRAPeek, bucket)[0], tat)
	wantTAT(t, "Peek at the TAT", gcra(t, b, tat, storage.GCRAPeek, bucket)[0], time.Time{})
	later := t0.Add(time.Hour)
	wantTAT(t, "Allow an hour later", gcra(t, a, later, storage.GCRAAllow, bucket)[0], time.Time{})
	wantTAT(t, "Peek after it", gcra(t, b, later, storage.GCRAPeek, bucket)[0], later.Add(time.Second))
}

func testGCRAOrder(t *testing.T, a, b storage.Limits) {
	z, m, x := burst3("lim/z"), burst3("lim/m"), burst3("lim/a")
	gcra(t, a, t0, storage.GCRAAllow, z)
	gcra(t, a, t0, storage.GCRAAllow, z)
	gcra(t, a, t0, storage.GCRAAllow, m)
	tats := gcra(t, b, t0, storage.GCRAPeek, z, x, m)
	wantTAT(t, "z", tats[0], t0.Add(2*time.Second))
	wantTAT(t, "a", tats[1], time.Time{})
	wantTAT(t, "m", tats[2], t0.Add(time.Second))
}

// testGCRAConcurrent races more callers than the burst on both stores: exactly
// the burst is allowed, and each caller's own bucket, named to sort before the
// shared one, is counted only when its request was.
func testGCRAConcurrent(t *testing.T, a, b storage.Limits) {
	const callers, burst = 40, 10
	shared := storage.GCRABucket{Key: "lim/shared", Every: time.Second, Window: burst * time.Second}
	own := func(i int) storage.GCRABucket { return burst3(fmt.Sprintf("lim/own/%02d", i)) }
	allowed := make([]bool, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		l := []storage.Limits{a, b}[i%2]
		wg.Go(func() {
			<-start
			tats, err := l.GCRA(context.Background(), t0, storage.GCRAAllow, []storage.GCRABucket{shared, own(i)})
			if err != nil {
				errs[i] = err
				return
			}
			allowed[i] = allows(tats[0], t0, shared) && allows(tats[1], t0, own(i))
		})
	}
	close(start)
	wg.Wait()
	n := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		ownTAT := gcra(t, a, t0, storage.GCRAPeek, own(i))[0]
		if allowed[i] {
			n++
			wantTAT(t, fmt.Sprintf("caller %d's own bucket (allowed)", i), ownTAT, t0.Add(time.Second))
		} else {
			wantTAT(t, fmt.Sprintf("caller %d's own bucket (refused)", i), ownTAT, time.Time{})
		}
	}
	if n != burst {
		t.Fatalf("%d of %d concurrent requests allowed, want the burst, %d", n, callers, burst)
	}
	wantTAT(t, "the shared bucket", gcra(t, b, t0, storage.GCRAPeek, shared)[0], t0.Add(burst*time.Second))
}

// testGCRAEitherOrder has callers name two shared buckets in both orders: none
// may deadlock or lose a count.
func testGCRAEitherOrder(t *testing.T, a, b storage.Limits) {
	const callers = 40
	x := storage.GCRABucket{Key: "lim/x", Every: time.Millisecond, Window: time.Hour}
	y := storage.GCRABucket{Key: "lim/y", Every: time.Millisecond, Window: time.Hour}
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		l := []storage.Limits{a, b}[i%2]
		buckets := []storage.GCRABucket{x, y}
		if i%4 >= 2 {
			buckets = []storage.GCRABucket{y, x}
		}
		wg.Go(func() {
			<-start
			_, errs[i] = l.GCRA(context.Background(), t0, storage.GCRAAllow, buckets)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	tats := gcra(t, a, t0, storage.GCRAPeek, x, y)
	want := t0.Add(callers * time.Millisecond)
	wantTAT(t, "x", tats[0], want)
	wantTAT(t, "y", tats[1], want)
}
