package reset_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// mailsTo counts the mails alice's address has received.
func mailsTo(h *harness, to string) int {
	n := 0
	for _, m := range h.Box.Messages() {
		if len(m.EnvelopeTo) == 1 && m.EnvelopeTo[0] == to {
			n++
		}
	}
	return n
}

// TestVictimNotLockedOut (issue 8 item 3): twenty requests for alice's address
// from two other addresses (any web page can make its visitors' browsers send
// them) neither refuse alice's own request nor keep her from a working link.
// The inbox limit counts per user as the app resolved the address, after the
// lookup: past its burst of 3 the requests are merged and postponed, and the
// newest is mailed when the bucket allows one more (5 minutes at most), with a
// link that works.
func TestVictimNotLockedOut(t *testing.T) {
	h := newHarness(t, "", func(c *service.Config) { c.Limits = reset.DefaultLimits() })
	ctx := context.Background()
	ask := func(ip string) error {
		_, err := h.Flow.RequestReset(ctx, reset.Request{ClientID: "demo-app", Email: "alice@example.com", Connection: conn, IP: ip})
		return err
	}
	for i := range 20 {
		if err := ask(fmt.Sprintf("198.51.100.%d", 1+i%2)); err != nil {
			t.Fatalf("attacker's request %d: %v", i+1, err)
		}
	}
	if err := ask("203.0.113.7"); err != nil {
		t.Fatalf("alice's own request after the flood: %v, want it accepted", err)
	}
	burst := reset.DefaultLimits().User.Burst
	testenv.Eventually(t, "the burst's mails", func() (bool, error) { return mailsTo(h, "alice@example.com") == burst, nil })
	// The other requests wait for the bucket; when it allows one more, the
	// newest is mailed and the older ones end without mail (merged).
	testenv.Eventually(t, "the rest of the flood to be postponed", func() (bool, error) {
		st, err := h.Admin.Stats(ctx)
		return st.Jobs.Pending > 0 && st.Jobs.Pending == st.Jobs.Postponed, err
	})
	if n := mailsTo(h, "alice@example.com"); n != burst {
		t.Fatalf("%d mails before the bucket refills, want %d", n, burst)
	}
	after := h.Box.LastID()
	h.Clock.Advance(reset.DefaultLimits().User.Every)
	link := testenv.ResetLink(t, h.Box.WaitResetMail(t, "alice@example.com", after))
	h.drained(t)
	if n := mailsTo(h, "alice@example.com"); n != burst+1 {
		t.Errorf("%d mails in all, want %d: the postponed requests must merge into one", n, burst+1)
	}
	if _, err := h.Flow.CompleteReset(ctx, reset.ResetForm{Ticket: testenv.Ticket(t, link), Password: newPassword, Confirm: newPassword}); err != nil {
		t.Fatalf("alice's link: %v", err)
	}
}

// TestRateLimitHeadersAreTheCallersOwn (issue 8 item 13): the X-RateLimit
// figures a requester sees are its own buckets, untouched by what others asked
// for the same address, and a refused request reports them without counting.
func TestRateLimitHeadersAreTheCallersOwn(t *testing.T) {
	h := newHarness(t, "", func(c *service.Config) { c.Limits = reset.DefaultLimits() })
	ctx := context.Background()
	first, err := h.Flow.RequestReset(ctx, reset.Request{Email: "alice@example.com", Connection: conn, IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := h.Flow.RequestReset(ctx, reset.Request{Email: "alice@example.com", Connection: conn, IP: "198.51.100.9"}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := h.Flow.RequestReset(ctx, reset.Request{Email: "alice@example.com", Connection: conn, IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Remaining != first.Remaining-1 {
		t.Errorf("remaining %d after another IP's 5 requests, want %d (one less than before, for this requester's own request)", d.Remaining, first.Remaining-1)
	}
	bad, err := h.Flow.RequestReset(ctx, reset.Request{Email: "not an address", Connection: conn, IP: "192.0.2.1"})
	if err == nil || bad.Limit == 0 {
		t.Fatalf("a refused request: %+v %v, want its limits reported", bad, err)
	}
	again := h.Flow.RequestLimits(ctx, "192.0.2.1")
	if again.Remaining != bad.Remaining {
		t.Errorf("a refused request counted: remaining %d then %d", bad.Remaining, again.Remaining)
	}
}
