package reset_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
)

// TestAcceptedWorkIsBounded (issue 10): the flow accepts no more requests
// than it is finishing. With the app's lookups stalled and room for four, four
// requests are accepted and the next ones, for known and unknown addresses
// alike, wait and are answered ErrBusy with nothing stored; a request waiting
// for room takes the first place a finished job frees; once the work drains,
// requests are accepted at once again.
func TestAcceptedWorkIsBounded(t *testing.T) {
	const room, wait = 4, 300 * time.Millisecond
	h := newHarness(t, "", func(c *service.Config) { c.MaxAccepted, c.AcceptWait = room, wait })
	g := newGate()
	g.putHook(t, h, hook.GetUser, 0)
	ctx := context.Background()
	after := h.Box.LastID()
	ask := func(email string) error {
		_, err := h.Flow.RequestReset(ctx, reset.Request{Email: email, Connection: conn, IP: "203.0.113.9"})
		return err
	}
	for _, email := range []string{"alice@example.com", "nobody-1@example.com", "bob@example.com", "nobody-2@example.com"} {
		if err := ask(email); err != nil {
			t.Fatalf("request for %s with room left: %v", email, err)
		}
	}
	for _, email := range []string{"alice@example.com", "nobody-3@example.com"} {
		began := time.Now()
		err := ask(email)
		if !errors.Is(err, reset.ErrBusy) {
			t.Fatalf("request for %s with no room: %v, want ErrBusy", email, err)
		}
		if waited := time.Since(began); waited < wait {
			t.Errorf("request for %s answered busy after %v; want it to wait %v for room first", email, waited, wait)
		}
	}
	st, err := h.Admin.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Jobs.Pending != room {
		t.Errorf("%d jobs stored, want %d: a busy answer stores nothing", st.Jobs.Pending, room)
	}

	// One lookup answered: its job ends, and a waiting request takes its place.
	accepted := make(chan error, 1)
	go func() { accepted <- ask("carol@example.com") }()
	g.release <- struct{}{}
	if err := <-accepted; err != nil {
		t.Fatalf("a request waiting while a job finished: %v, want it accepted", err)
	}

	g.open()
	h.Box.WaitResetMail(t, "bob@example.com", after) // perhaps the one let through
	h.drained(t)
	if err := ask("alice@example.com"); err != nil {
		t.Fatalf("a request once the work drained: %v", err)
	}
}

// TestStoppingServiceStoresRequestsWithoutBacklog: once the workers stop (a
// reload hands over to the next config), a job stored by the old config holds
// its place for good, since no worker of its runs it; requests still reaching
// the old config are stored for the next one's workers, not refused as busy
// (TestReloadsDuringLoad saw 503s).
func TestStoppingServiceStoresRequestsWithoutBacklog(t *testing.T) {
	h := newHarness(t, "", func(c *service.Config) { c.MaxAccepted, c.AcceptWait = 2, time.Second })
	h.Flow.Stop()
	ctx := context.Background()
	for _, email := range []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"} {
		if _, err := h.Flow.RequestReset(ctx, reset.Request{Email: email, Connection: conn, IP: "203.0.113.9"}); err != nil {
			t.Errorf("request for %s after the workers stopped: %v, want it stored", email, err)
		}
	}
	st, err := h.Admin.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Jobs.Pending != 4 {
		t.Errorf("%d jobs pending, want 4: each request stored for the next workers", st.Jobs.Pending)
	}
}
