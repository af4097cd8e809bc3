package timing

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func ms(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x * float64(time.Millisecond))
	}
	return out
}

func TestSummarize(t *testing.T) {
	s := Summarize(ms(5, 1, 4, 2, 3))
	if s.N != 5 || s.Median != 3*time.Millisecond || s.Max != 5*time.Millisecond || s.Mean != 3*time.Millisecond {
		t.Errorf("%+v", s)
	}
}

func TestKSIdenticalSamples(t *testing.T) {
	c := Compare(ms(1, 2, 3, 4, 5), ms(1, 2, 3, 4, 5))
	if c.KS != 0 || c.P != 1 || c.MedianRatio != 0 {
		t.Errorf("%+v", c)
	}
}

func TestKSDisjointSamples(t *testing.T) {
	a := make([]time.Duration, 200)
	b := make([]time.Duration, 200)
	for i := range a {
		a[i] = time.Duration(i) * time.Microsecond
		b[i] = time.Duration(1000+i) * time.Microsecond
	}
	c := Compare(a, b)
	if c.KS != 1 || c.P > 1e-10 {
		t.Errorf("disjoint samples: D=%v p=%v", c.KS, c.P)
	}
}

// TestKSPValueKnownValue checks the p-value against the Kolmogorov distribution:
// Q(1.36) = 0.049 (the classic 5% critical value).
func TestKSPValueKnownValue(t *testing.T) {
	n := 100000 // large samples: the small-sample correction vanishes
	en := math.Sqrt(float64(n*n) / float64(2*n))
	d := 1.36 / (en + 0.12 + 0.11/en)
	if p := ksPValue(d, n, n); math.Abs(p-0.0494) > 0.001 {
		t.Errorf("p = %v, want about 0.049", p)
	}
}

// TestKSSameDistributionRarelyRejects: two samples of one distribution get a
// high p-value most of the time (seeded, so the test is deterministic).
func TestKSSameDistributionRarelyRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rejected := 0
	for range 100 {
		a, b := make([]time.Duration, 500), make([]time.Duration, 500)
		for i := range a {
			a[i] = time.Duration(r.ExpFloat64() * 1e6)
			b[i] = time.Duration(r.ExpFloat64() * 1e6)
		}
		if Compare(a, b).P < 0.01 {
			rejected++
		}
	}
	if rejected > 5 {
		t.Errorf("rejected %d of 100 same-distribution pairs at p<0.01", rejected)
	}
}

func TestKSShiftedDistributionRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := make([]time.Duration, 2000), make([]time.Duration, 2000)
	for i := range a {
		a[i] = time.Duration((1 + r.NormFloat64()*0.1) * 1e6)
		b[i] = time.Duration((1.05 + r.NormFloat64()*0.1) * 1e6) // 5% slower
	}
	if c := Compare(a, b); c.P > 0.001 {
		t.Errorf("a 5%% shift at n=2000 went unnoticed: %+v", c)
	}
}
