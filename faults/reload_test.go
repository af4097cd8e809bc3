package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestReloadsDuringLoad is R4: 20 `caddy reload`s while 8 clients keep asking for
// resets. No request may fail, Badger must never report its directory lock (a
// reload shares the open store), and every request answered 200 must be mailed,
// once.
//
// A reload shuts the old config's HTTP server down gracefully: requests in
// flight finish, and its idle keep-alive connections are closed. A client that
// sends its next request on such a connection at that moment gets EOF or a reset
// before any answer; the server never read that request. Browsers resend a
// request that failed that way on a reused connection (whatever its method), and
// so does this test's client, once, on a new connection; the retries are counted
// and reported, and the one-mail-per-200 check below would catch a request that
// had been taken twice.
func TestReloadsDuringLoad(t *testing.T) {
	const users, reloads = 20000, 20
	s := newStack(t, users, nil)
	var next, retried atomic.Int64
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var mu sync.Mutex
	var outcomes []testenv.Outcome
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= users {
					return
				}
				// The request itself is not cancelled when the load stops: only
				// the loop is.
				o := testenv.PostReset(context.WithoutCancel(ctx), s.client, s.base(), testenv.UserEmail(i))
				if o.Err != nil && closedBeforeAnswer(o.Err) {
					retried.Add(1)
					o = testenv.PostReset(context.WithoutCancel(ctx), fresh, s.base(), testenv.UserEmail(i))
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}
	poll.Eventually(t, "the load to start", func() (bool, error) { return next.Load() > 50, nil })
	for i := range reloads {
		s.cfg.Options = fmt.Sprintf("\t\tsupport_email reload-%d@bench.example\n", i)
		if err := s.caddy.Reload(s.cfg.Caddyfile()); err != nil {
			stop()
			wg.Wait()
			t.Fatalf("reload %d: %v", i+1, err)
		}
	}
	stop()
	wg.Wait()

	var promised []string
	failed := 0
	for _, o := range outcomes {
		if o.Err != nil || o.Status != http.StatusOK {
			if failed++; failed <= 5 {
				t.Errorf("request for %s during the reloads: %d %q %v", o.Email, o.Status, o.Body, o.Err)
			}
			continue
		}
		promised = append(promised, o.Email)
	}
	for _, text := range []string{"in use by another process", "Cannot acquire directory lock"} {
		if s.logHas(text) {
			t.Errorf("Caddy's log has %q", text)
		}
	}
	s.waitMails(promised)
	poll.Eventually(t, "the outbox to drain", s.outboxEmpty)
	r := s.report(promised, nil)
	t.Logf("R4: %d reloads during %d requests: %d failed (%d resent once after the old server closed their keep-alive connection); %d lost, %d with two mails, %d resent",
		reloads, len(outcomes), failed, retried.Load(), r.lost, r.twoMails, r.resent)
	if r.lost > 0 || r.twoMails > 0 || r.resent > 0 {
		t.Errorf("R4 broken: %+v", r)
	}
}

// closedBeforeAnswer reports whether err is a connection closed under a request
// before any answer came: EOF, a reset, or Go's "server closed idle connection".
func closedBeforeAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "server closed idle connection")
}
