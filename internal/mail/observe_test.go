package mail_test

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestOutboxObserverSeesEachEvent: a mail the relay takes is sent, one it
// refuses for good (550) failed, one it defers once (451) retried then sent.
func TestOutboxObserverSeesEachEvent(t *testing.T) {
	var deferred atomic.Bool
	be := testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(to string) error {
		switch to {
		case "gone@example.com":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}
		case "later@example.com":
			if !deferred.Swap(true) {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
			}
		}
		return nil
	}})
	store := openStore(t)
	o := mail.NewOutbox(store, keys(t, secretA).Sealer(mail.SealPurpose), nil)
	var mu sync.Mutex
	events := map[string]int{}
	o.Observe(func(e mail.Event) {
		mu.Lock()
		defer mu.Unlock()
		events[e.Kind+" "+e.Event]++
		if e.Event == mail.MailFailed && (e.ID == "" || e.Attempts != 1 || !strings.Contains(e.Error, "550") || strings.Contains(e.Error, "gone@")) {
			t.Errorf("failed event %+v: want its id, 1 attempt and the 550, the address masked", e)
		}
	})
	for _, to := range []string{"ok@example.com", "gone@example.com", "later@example.com"} {
		put(t, store, o, linkMessage(to))
		o.Queued("reset_email")
	}
	runWorker(t, o, be, nil)
	want := map[string]int{"reset_email queued": 3, "reset_email sent": 2, "reset_email failed": 1, "reset_email retried": 1}
	deadline := time.Now().Add(testenv.Timeout)
	for {
		mu.Lock()
		done := len(events) == len(want)
		for k, n := range want {
			done = done && events[k] == n
		}
		got := maps.Clone(events)
		mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
