package reset_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/examples/demoapp"
	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestMailBudgetSpentOnlyOnSentMail (issue 8 item 6): the hourly mail budget
// counts emails the relay accepted, nothing else. Requests for an account
// whose address SMTP cannot carry fail at once, without retries and without
// spending it; emails retried while the relay is down spend it once, when they
// go; past the budget a job waits, before its ticket is issued.
func TestMailBudgetSpentOnlyOnSentMail(t *testing.T) {
	users := append(demoapp.DefaultUsers(), demoapp.SeedUser{
		User:     hook.User{UserID: "user-bad", Email: "bad@ex_ämple.com"}, // not a valid IDN: cannot be composed
		Password: "bad-old-password-1",
	})
	relay := testenv.FreeAddr(t) // down until started
	h := newHarnessWithApp(t, testenv.StartAppWithUsers(t, users), relay, func(c *service.Config) {
		c.Limits = reset.DefaultLimits()
		c.Limits.MailPerHour = 2
	})
	ctx := context.Background()
	ask := func(email, ip string) {
		t.Helper()
		if _, err := h.Flow.RequestReset(ctx, reset.Request{ClientID: "demo-app", Email: email, Connection: conn, IP: ip}); err != nil {
			t.Fatalf("request for %s: %v", email, err)
		}
	}
	for i := range 3 {
		ask("bad@ex_ämple.com", fmt.Sprintf("192.0.2.%d", i+1))
	}
	testenv.Eventually(t, "the uncomposable requests to fail at once", func() (bool, error) {
		st, err := h.Admin.Stats(ctx)
		return st.Jobs.Failed == 3, err
	})
	ask("alice@example.com", "198.51.100.1")
	ask("bob@example.com", "198.51.100.2")
	testenv.Eventually(t, "both emails to wait for the relay", func() (bool, error) {
		st, err := h.Admin.Stats(ctx)
		return st.Jobs.Pending == 0 && st.Mail.Retrying == 2, err
	})
	box := testenv.StartMailboxAt(t, relay)
	box.WaitResetMail(t, "alice@example.com", 0)
	box.WaitResetMail(t, "bob@example.com", 0)
	// A mail counts against the budget once the relay has it, just before its
	// record: once both are recorded the budget is spent.
	h.drained(t)

	// The budget is spent now: the next request waits, with no ticket yet.
	ask("alice@example.com", "203.0.113.9")
	testenv.Eventually(t, "the third email to wait for the budget", func() (bool, error) {
		st, err := h.Admin.Stats(ctx)
		return st.Jobs.Postponed == 1 && st.Mail.Pending == 0, err
	})
	if n := box.Count(); n != 2 {
		t.Errorf("%d emails sent with a budget of 2", n)
	}
}

// TestFloodDoesNotDelayRealUser (issue 8 item 6): a flood within the per-IP
// limits (100 addresses asking 20 times each, for a known user and for unknown
// ones) does not make a real user's request wait behind it: the first requests
// of an address go in the job queue's High lane, a flood's later ones in the
// Normal lane, and a user's first email in the outbox's High lane. The app's
// lookups are held until the whole flood and the real request are queued, as
// under a flood larger than the service can work; when the real user's email
// arrives, most of the flood is still waiting.
func TestFloodDoesNotDelayRealUser(t *testing.T) {
	const ips, each = 100, 20
	h := newHarness(t, "", func(c *service.Config) {
		c.Limits = reset.DefaultLimits()
		c.MaxAccepted = ips*each + 1 // the whole flood is accepted while the app stalls
	})
	g := newGate()
	g.putHook(t, h, hook.GetUser, 0)
	ctx := context.Background()
	for i := range ips * each {
		email := fmt.Sprintf("nobody-%d@example.com", i)
		if (i/ips)%2 == 0 { // each address asks for bob 10 times: Auth0's limit
			email = "bob@example.com"
		}
		ip := fmt.Sprintf("198.51.100.%d", i%ips)
		if _, err := h.Flow.RequestReset(ctx, reset.Request{Email: email, Connection: conn, IP: ip}); err != nil {
			t.Fatalf("flood request %d: %v", i, err)
		}
	}
	after := h.Box.LastID()
	if _, err := h.Flow.RequestReset(ctx, reset.Request{ClientID: "demo-app", Email: "alice@example.com", Connection: conn, IP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	g.open()
	h.Box.WaitResetMail(t, "alice@example.com", after)
	st, err := h.Admin.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waiting := st.Jobs.Pending - st.Jobs.Postponed
	t.Logf("when the real user's email arrived, %d of the flood's %d requests were still waiting", waiting, ips*each)
	if waiting < ips*each/2 {
		t.Errorf("when the real user's email arrived, %d of the flood's %d requests were still waiting; want at least half: it passed the flood", waiting, ips*each)
	}
}

// TestFloodWithinLimitsKeepsRealUserNearTheFront (issue 10): while many
// addresses flood within the per-IP limits, for accounts that get mail, a real
// user's request is accepted behind at most the backlog of work in flight, so
// that its mail waits for at most that much of the flood's, not for all of it
// (before the backlog, a flood's whole queue: an attack run's 60,000 requests
// put a real user's mail 30 s late). Counted in mails, not seconds: the mails
// delivered between the real user's answer and its mail are bounded by the
// backlog and the workers' concurrency.
func TestFloodWithinLimitsKeepsRealUserNearTheFront(t *testing.T) {
	const backlog, ips, each, seeded = 24, 300, 5, 400
	limits := reset.DefaultLimits()
	limits.MailPerHour = 1 << 30 // the flood's other brake, off: this is about the queue
	h := newHarnessWithApp(t, testenv.StartSeededApp(t, seeded), "", func(c *service.Config) {
		c.Limits, c.MaxAccepted, c.AcceptWait = limits, backlog, time.Minute
	})
	ctx := context.Background()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(sent.Add(1)) - 1
				if i >= ips*each {
					return
				}
				req := reset.Request{Email: testenv.UserEmail(i % (seeded - 1)), Connection: conn, IP: fmt.Sprintf("198.51.%d.%d", i%ips/250, i%ips%250)}
				if _, err := h.Flow.RequestReset(ctx, req); err != nil {
					t.Errorf("flood request %d: %v", i, err)
					return
				}
			}
		})
	}
	testenv.Eventually(t, "the flood's mail flowing", func() (bool, error) { return h.Box.LastID() > 2*backlog, nil })
	real := testenv.UserEmail(seeded - 1)
	if _, err := h.Flow.RequestReset(ctx, reset.Request{Email: real, Connection: conn, IP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	accepted := h.Box.LastID()
	got := h.Box.WaitResetMail(t, real, accepted)
	wg.Wait()
	ahead := got.ID - accepted - 1
	bound := backlog + mail.OutboxConcurrency
	t.Logf("%d of the flood's mails were delivered between the real user's answer and its mail (bound %d); %d mails in all", ahead, bound, h.Box.LastID())
	if ahead > bound {
		t.Errorf("%d of the flood's mails went before the real user's, accepted with them in flight; want at most %d", ahead, bound)
	}
	if h.Box.LastID() < 3*bound {
		t.Errorf("only %d mails in all: the flood was too small to tell", h.Box.LastID())
	}
}
