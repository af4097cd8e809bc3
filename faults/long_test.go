//go:build longfaults

// The long fault tests, R2 and R6: minutes each, so they are not part of
// `go test ./...`; faults/long.sh runs them (see README, "Performance").

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// envDuration reads a duration from the environment, or returns def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// TestSMTPOutage is R2: the SMTP server is down for FAULTS_OUTAGE (default 2m)
// while a burst of requests comes in. Every request is answered 200; every mail
// arrives once the server is back, once; the outbox's backoff shows in Caddy's
// log (warnings with a growing retry_in).
func TestSMTPOutage(t *testing.T) {
	outage := envDuration(t, "FAULTS_OUTAGE", 2*time.Minute)
	const n = 500
	s := newStack(t, n, nil)
	if err := s.sink.Down(); err != nil {
		t.Fatal(err)
	}
	emails := make([]string, n)
	for i := range emails {
		emails[i] = testenv.UserEmail(i)
	}
	for _, o := range testenv.Burst(t.Context(), s.client, s.base(), emails, 16) {
		if o.Err != nil || o.Status != http.StatusOK {
			t.Fatalf("request for %s with SMTP down: %d %v", o.Email, o.Status, o.Err)
		}
	}
	t.Logf("R2: %d requests answered 200; SMTP stays down for %s", n, outage)
	select { // the outage itself, not a wait for an event
	case <-time.After(outage):
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
	if st := s.sink.Stats(); st.Deliveries != 0 {
		t.Fatalf("%d mails delivered while the server was down", st.Deliveries)
	}
	up := time.Now()
	if err := s.sink.Up(); err != nil {
		t.Fatal(err)
	}
	s.waitMailsWithin(emails, 5*time.Minute)
	t.Logf("R2: every mail arrived %s after the server came back", time.Since(up).Round(time.Second))
	poll.Eventually(t, "the outbox to drain", s.outboxEmpty)
	r := s.report(emails, nil)
	if r.lost > 0 || r.twoMails > 0 || r.resent > 0 {
		t.Errorf("R2: %+v", r)
	}
	minRetry, maxRetry, warnings := retryDelays(t, s.caddy.Log(), "mail")
	t.Logf("R2: %d backoff warnings for the outbox, retry_in from %s to %s", warnings, minRetry, maxRetry)
	if warnings == 0 || maxRetry < 2*minRetry {
		t.Errorf("no growing backoff in the log: %d warnings, retry_in %s..%s", warnings, minRetry, maxRetry)
	}
}

// retryDelays reads the queue's "will retry" warnings from Caddy's JSON log.
func retryDelays(t *testing.T, log, queue string) (lo, hi time.Duration, n int) {
	lo = time.Duration(math.MaxInt64)
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "will retry") {
			continue
		}
		var e struct {
			Queue   string  `json:"queue"`
			RetryIn float64 `json:"retry_in"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Queue != queue {
			continue
		}
		d := time.Duration(e.RetryIn * float64(time.Second))
		lo, hi, n = min(lo, d), max(hi, d), n+1
	}
	return lo, hi, n
}

func (s *stack) waitMailsWithin(emails []string, limit time.Duration) {
	s.t.Helper()
	missing := len(emails)
	defer func() { // runs as the timeout's Fatalf ends the test
		if missing > 0 {
			s.t.Logf("%d of %d mails still missing after %s", missing, len(emails), limit)
		}
	}()
	testenv.Poll{Timeout: limit, Every: 100 * time.Millisecond}.Eventually(s.t, fmt.Sprintf("mail to %d addresses", len(emails)), func() (bool, error) {
		missing = 0
		for _, e := range emails {
			if len(s.sink.MessageIDs(e)) == 0 {
				missing++
			}
		}
		return missing == 0, nil
	})
}

// TestSoak is R6: FAULTS_SOAK (default 30m) of requests at FAULTS_SOAK_RATE per
// second (default 500: below what the jobs and the outbox sustain end to end on
// the 2-core machine the README's table comes from, so that the system is in a
// steady state; see README). Caddy's resident memory and
// goroutine count are sampled every 10 s; after a warm-up of a fifth of the
// run, the last fifth's means must stay within 25% (anonymous memory: the heap
// and stacks, where a leak would show) and 10% plus 20 (goroutines) of the
// second fifth's, and every request answered 200 must have been mailed by the
// end. The store grows during the run by design (each request leaves a ticket
// for an hour and a record of its mail for a week), and the pages of its
// memory-mapped files that Badger touches count in the resident set too: they
// are logged, and must stay within the store's size plus the binary's.
func TestSoak(t *testing.T) {
	length := envDuration(t, "FAULTS_SOAK", 30*time.Minute)
	rate := 500
	if v := os.Getenv("FAULTS_SOAK_RATE"); v != "" {
		fmt.Sscan(v, &rate)
	}
	const users = 5000
	s := newStack(t, users, func(c *testenv.CaddyConfig) { c.Log = "WARN" })
	ctx, stop := context.WithTimeout(t.Context(), length)
	defer stop()
	tokens := make(chan struct{}, 1024)
	var sent, ok, dropped atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { // the pace: rate tokens a second, in 10 ms steps
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		defer close(tokens)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for range rate / 100 {
					select {
					case tokens <- struct{}{}:
					default:
						dropped.Add(1) // the clients could not keep up
					}
				}
			}
		}
	})
	for range 32 {
		wg.Go(func() {
			for range tokens {
				i := int(sent.Add(1))
				o := testenv.PostReset(context.WithoutCancel(ctx), s.client, s.base(), testenv.UserEmail(i%users))
				if o.Err == nil && o.Status == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	type sample struct {
		at         time.Duration
		mem        testenv.Memory
		store      int64
		goroutines int
	}
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(10 * time.Second)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			m, err := s.caddy.Memory()
			g, gerr := s.caddy.Goroutines()
			store, serr := testenv.DiskUsed(s.cfg.StoreDir)
			if err := errors.Join(err, gerr, serr); err != nil {
				t.Fatalf("sample: %v", err)
			}
			samples = append(samples, sample{time.Since(start), m, store, g})
			t.Logf("R6 %6s rss %6.1f MB (anonymous %6.1f, files %6.1f) store %6.1f MB goroutines %5d requests %d (200: %d, not sent in time: %d) mails %d",
				time.Since(start).Round(time.Second), mib(m.RSS), mib(m.Anon), mib(m.File), mib(store), g,
				sent.Load(), ok.Load(), dropped.Load(), s.sink.Stats().Distinct)
			if limit := store + fileSlack; m.File > limit {
				t.Errorf("mapped files take %.1f MB of memory, more than the store (%.1f MB) and the binary", mib(m.File), mib(store))
			}
		}
	}
	tick.Stop()
	wg.Wait()
	if len(samples) < 10 {
		t.Fatalf("only %d samples: run longer (FAULTS_SOAK)", len(samples))
	}
	fifth := len(samples) / 5
	mean := func(ss []sample) (rss, anon, g float64) {
		for _, s := range ss {
			rss += float64(s.mem.RSS)
			anon += float64(s.mem.Anon)
			g += float64(s.goroutines)
		}
		n := float64(len(ss))
		return rss / n, anon / n, g / n
	}
	r1, a1, g1 := mean(samples[fifth : 2*fifth])
	r2, a2, g2 := mean(samples[len(samples)-fifth:])
	last := samples[len(samples)-1]
	t.Logf("R6: %d requests in %s (%d answered 200, %d not sent in time); anonymous memory %.1f -> %.1f MB, rss %.1f -> %.1f MB (store %.1f MB at the end), goroutines %.0f -> %.0f",
		sent.Load(), length, ok.Load(), dropped.Load(), a1/(1<<20), a2/(1<<20), r1/(1<<20), r2/(1<<20), mib(last.store), g1, g2)
	if a2 > 1.25*a1 {
		t.Errorf("anonymous memory grew from %.1f MB to %.1f MB", a1/(1<<20), a2/(1<<20))
	}
	if g2 > 1.1*g1+20 {
		t.Errorf("goroutines grew from %.0f to %.0f", g1, g2)
	}
	drainStart := time.Now()
	poll.Eventually(t, "the outbox to drain after the load", s.outboxEmpty)
	t.Logf("R6: the queues drained %s after the load stopped", time.Since(drainStart).Round(time.Second))
}

// fileSlack is what mapped files other than the store's take: Caddy's binary.
const fileSlack = 96 << 20

func mib(n int64) float64 { return float64(n) / (1 << 20) }
