package testenv

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/examples/mailbox"
)

// Mailbox is the mail catcher with its SMTP address: for tests that read what
// was sent (its subject, its links). The Sink counts instead.
type Mailbox struct {
	*mailbox.Box
	Addr string
}

// StartMailbox starts a mail catcher on a free loopback port until the test ends.
func StartMailbox(t testing.TB) *Mailbox {
	t.Helper()
	return StartMailboxAt(t, "127.0.0.1:0")
}

// StartMailboxAt starts a mail catcher on addr until the test ends.
func StartMailboxAt(t testing.TB, addr string) *Mailbox {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen for SMTP: %v", err)
	}
	box := mailbox.New(mailbox.Config{})
	go box.ServeSMTP(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { box.Close() })
	return &Mailbox{Box: box, Addr: ln.Addr().String()}
}

// WaitMail waits for a message to `to` whose ID is above after.
func (m *Mailbox) WaitMail(t testing.TB, to string, after int) mailbox.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	msg, err := m.Wait(ctx, func(msg mailbox.Message) bool {
		return msg.ID > after && len(msg.EnvelopeTo) == 1 && strings.EqualFold(msg.EnvelopeTo[0], to)
	})
	if err != nil {
		t.Fatalf("no mail to %s: %v", to, err)
	}
	return msg
}

// WaitResetMail waits for a reset email (one with a reset link) to `to` whose ID
// is above after; other mail to the same address (the "password changed" notice)
// is passed over.
func (m *Mailbox) WaitResetMail(t testing.TB, to string, after int) mailbox.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	msg, err := m.Wait(ctx, func(msg mailbox.Message) bool {
		return msg.ID > after && len(msg.EnvelopeTo) == 1 && strings.EqualFold(msg.EnvelopeTo[0], to) &&
			slices.ContainsFunc(msg.Links, func(l string) bool { return strings.Contains(l, "/lo/reset?ticket=") })
	})
	if err != nil {
		t.Fatalf("no reset mail to %s: %v", to, err)
	}
	return msg
}

// LastID returns the ID of the newest message, 0 if none.
func (m *Mailbox) LastID() int {
	msgs := m.Messages()
	if len(msgs) == 0 {
		return 0
	}
	return msgs[len(msgs)-1].ID
}

// ResetLink returns the reset link in msg. RawResetLink finds it in a message the
// Sink kept.
func ResetLink(t testing.TB, msg mailbox.Message) string {
	t.Helper()
	for _, l := range msg.Links {
		if strings.Contains(l, "/lo/reset?ticket=") {
			return l
		}
	}
	t.Fatalf("no reset link in mail %q: %v", msg.Subject, msg.Links)
	return ""
}

// Ticket returns the ticket in a reset link.
func Ticket(t testing.TB, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "ticket=")
	if !ok || tok == "" {
		t.Fatalf("no ticket in %s", link)
	}
	return tok
}
