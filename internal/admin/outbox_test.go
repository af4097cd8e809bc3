package admin_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestSentMailShowsItsAttempts: a mail the relay deferred (451) once and
// then took is listed as sent with 2 attempts and the time it was queued,
// not as a first-time success of unknown age.
func TestSentMailShowsItsAttempts(t *testing.T) {
	var defer451 atomic.Bool
	defer451.Store(true)
	relay := testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(string) error {
		if defer451.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return nil
	}})
	h := testenv.NewStackWith(t, testenv.StackOptions{SMTPAddr: relay.Addr})
	ctx := context.Background()
	if _, err := h.Flow.RequestReset(ctx, reset.Request{Email: "bob@example.com", Connection: testenv.Conn}); err != nil {
		t.Fatal(err)
	}
	list := func(state string) []admin.OutboxMessage {
		msgs, err := h.Admin.ListOutbox(ctx, state, 0)
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	testenv.Eventually(t, "the deferred mail", func() (bool, error) { return len(list(admin.MailRetrying)) == 1, nil })
	queued := list(admin.MailRetrying)[0].CreatedAt
	defer451.Store(false)
	h.Clock.Advance(time.Hour) // past the retry's backoff
	testenv.Eventually(t, "the mail sent on its retry", func() (bool, error) { return len(list(admin.MailSent)) == 1, nil })
	sent := list(admin.MailSent)[0]
	if sent.Attempts != 2 || !sent.CreatedAt.Equal(queued) || sent.SentAt.Before(queued) {
		t.Errorf("sent mail: %d attempts, queued %v, sent %v; want 2 attempts, queued %v", sent.Attempts, sent.CreatedAt, sent.SentAt, queued)
	}
}
