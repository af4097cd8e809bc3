// Package timing compares two latency distributions: whether requests for known
// and unknown email addresses can be told apart by how long they take. It is the
// core of tools/enumeration and of its smoke test.
package timing

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Summary describes one sample of latencies.
type Summary struct {
	N                           int
	Median, Mean, P90, P99, Max time.Duration
}

// Summarize describes d (which it sorts).
func Summarize(d []time.Duration) Summary {
	slices.Sort(d)
	if len(d) == 0 {
		return Summary{}
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Summary{N: len(d), Median: quantile(d, 0.5), Mean: sum / time.Duration(len(d)),
		P90: quantile(d, 0.9), P99: quantile(d, 0.99), Max: d[len(d)-1]}
}

// quantile of sorted d, by linear interpolation between closest ranks.
func quantile(d []time.Duration, q float64) time.Duration {
	pos := q * float64(len(d)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(d)-1)
	frac := pos - float64(lo)
	return d[lo] + time.Duration(frac*float64(d[hi]-d[lo]))
}

// Comparison is the verdict on two samples.
type Comparison struct {
	A, B Summary
	// MedianRatio is the larger median over the smaller, minus one: 0.02 means the
	// medians differ by 2%.
	MedianRatio float64
	// KS is the two-sample Kolmogorov-Smirnov statistic D (the largest gap between
	// the two empirical distribution functions) and P its asymptotic p-value: a
	// small P means the samples likely come from different distributions.
	KS, P float64
}

// Compare summarizes a and b and tests whether they differ.
func Compare(a, b []time.Duration) Comparison {
	a, b = slices.Clone(a), slices.Clone(b)
	c := Comparison{A: Summarize(a), B: Summarize(b)}
	lo, hi := min(c.A.Median, c.B.Median), max(c.A.Median, c.B.Median)
	if lo > 0 {
		c.MedianRatio = float64(hi)/float64(lo) - 1
	}
	c.KS = ksStatistic(a, b)
	c.P = ksPValue(c.KS, len(a), len(b))
	return c
}

// ksStatistic returns sup |F_a(x) - F_b(x)| for sorted a and b.
func ksStatistic(a, b []time.Duration) float64 {
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] <= x {
			i++
		}
		for j < len(b) && b[j] <= x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

// ksPValue is the asymptotic p-value of D for samples of n and m (Numerical
// Recipes' probks with Stephens' small-sample correction).
func ksPValue(d float64, n, m int) float64 {
	if n == 0 || m == 0 {
		return 1
	}
	en := math.Sqrt(float64(n*m) / float64(n+m))
	lambda := (en + 0.12 + 0.11/en) * d
	if lambda < 1e-3 {
		return 1
	}
	var sum float64
	sign := 1.0
	for j := 1; j <= 100; j++ {
		term := sign * 2 * math.Exp(-2*float64(j*j)*lambda*lambda)
		sum += term
		if math.Abs(term) < 1e-12 {
			break
		}
		sign = -sign
	}
	return max(min(sum, 1), 0)
}

// String renders the comparison as the table the tool prints.
func (c Comparison) String() string {
	row := func(name string, s Summary) string {
		return fmt.Sprintf("%-8s %6d %10s %10s %10s %10s %10s\n", name, s.N, s.Median, s.Mean, s.P90, s.P99, s.Max)
	}
	return fmt.Sprintf("%-8s %6s %10s %10s %10s %10s %10s\n", "", "n", "median", "mean", "p90", "p99", "max") +
		row("known", c.A) + row("unknown", c.B) +
		fmt.Sprintf("median difference: %.2f%%   KS D: %.4f   KS p-value: %.4f\n", 100*c.MedianRatio, c.KS, c.P)
}
