package faults

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestKillDuringBurst is R1: Caddy is killed with SIGKILL in the middle of a burst
// of requests for known users, while mail is going out, and started again on the
// same store. Every request that got 200 must yield exactly one mail (0 lost, no
// address with two different mails). Mail delivery is at least once: a kill
// between the relay's 250 and the outbox's commit sends that message again, with
// the same Message-ID; the test counts such resends and allows no more than the
// outbox has in flight. A request cut off by the kill got no promise; it may still be
// mailed (its job was stored before the kill), but once at most.
func TestKillDuringBurst(t *testing.T) {
	const n = 400
	s := newStack(t, n, nil)
	emails := make([]string, n)
	for i := range emails {
		emails[i] = testenv.UserEmail(i)
	}
	outcomes := make([]testenv.Outcome, n)
	var answered, next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				outcomes[i] = testenv.PostReset(t.Context(), s.client, s.base(), emails[i])
				if outcomes[i].Status == http.StatusOK {
					answered.Add(1)
				}
			}
		})
	}
	poll.Eventually(t, "a third of the burst answered and mail going out", func() (bool, error) {
		return answered.Load() >= n/3 && s.sink.Stats().Deliveries > 0, nil
	})
	if err := s.caddy.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var promised, others []string
	for _, o := range outcomes {
		if o.Err == nil && o.Status == http.StatusOK {
			promised = append(promised, o.Email)
		} else {
			others = append(others, o.Email)
		}
	}
	if len(others) == 0 {
		t.Fatal("the kill cut off no request: the burst ended before it")
	}
	s.start()
	s.waitMails(promised)
	poll.Eventually(t, "the outbox to drain", s.outboxEmpty)
	r := s.report(promised, others)
	t.Logf("R1: %d requests, %d got 200 before the kill; after restart: %d lost, %d with two mails, %d resent (same Message-ID), %d unanswered with two mails",
		n, r.promised, r.lost, r.twoMails, r.resent, r.unpromisedTwice)
	if r.lost > 0 || r.twoMails > 0 || r.unpromisedTwice > 0 {
		t.Errorf("R1 broken: %+v", r)
	}
	if r.resent > mail.OutboxConcurrency {
		t.Errorf("%d mails resent: more than the outbox's %d in flight can have had between the relay's 250 and the commit",
			r.resent, mail.OutboxConcurrency)
	}
	if !s.logHas("released the leases of a previous run") && r.promised < n {
		t.Log("no lease was left by the killed process (nothing was in flight at the kill)")
	}
}
