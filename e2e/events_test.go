package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
)

func init() {
	caddy.RegisterModule(eventRecorder{})
}

// eventRecorder is a test-only handler of Caddy's events app
// (events.handlers.e2e_record): it keeps what the events app hands it.
type eventRecorder struct{}

var recorded struct {
	sync.Mutex
	events []caddy.Event
}

func (eventRecorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.e2e_record", New: func() caddy.Module { return new(eventRecorder) }}
}

func (*eventRecorder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	return nil
}

func (*eventRecorder) Handle(_ context.Context, e caddy.Event) error {
	recorded.Lock()
	defer recorded.Unlock()
	recorded.events = append(recorded.events, e)
	return nil
}

// eventData waits for an event called name and returns its data.
func eventData(t *testing.T, name string) map[string]any {
	t.Helper()
	var data map[string]any
	testenv.Eventually(t, "the event "+name, func() (bool, error) {
		recorded.Lock()
		defer recorded.Unlock()
		for _, e := range recorded.events {
			if e.Name() == name {
				data = e.Data
				return true, nil
			}
		}
		return false, nil
	})
	return data
}

// TestEventsThroughCaddysEventsApp: each of the plugin's events reaches a
// handler subscribed with the Caddyfile's events block, with its data: a
// completed reset, a link cancelled by its recipient, a password set by an
// admin, a template changed, a mail retried past the threshold and then
// failing for good. No data holds an address.
func TestEventsThroughCaddysEventsApp(t *testing.T) {
	recorded.Lock()
	recorded.events = nil
	recorded.Unlock()
	var bobRefused atomic.Int32 // 451 at first, 550 once set to 550
	bobRefused.Store(451)
	relay := testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(to string) error {
		if to != "bob@example.com" {
			return nil
		}
		if code := bobRefused.Load(); code == 451 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox: bob@example.com"}
	}})
	var events strings.Builder
	for _, name := range []string{"completed", "ticket_cancelled", "password_set", "template_changed", "mail_retrying", "mail_failed"} {
		fmt.Fprintf(&events, "\t\ton password_reset.%s e2e_record\n", name)
	}
	s := &stack{relay: relay.Addr, global: "\tevents {\n" + events.String() + "\t}"}
	s.start(t)
	as := &adminStack{stack: s, admin: jarClient()}
	as.load()

	ticket := func() string {
		var answer struct {
			Ticket string `json:"ticket"`
		}
		as.apiOK("POST", "/api/v2/tickets/password-change", `{"email":"alice@example.com","connection_id":"`+conn+`"}`, 201, &answer)
		return answer.Ticket
	}
	link := ticket()
	csrf := as.openForm(link)
	resp, page := as.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "ticket": {testenv.Ticket(t, link)}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", resp.StatusCode, page)
	}
	if d := eventData(t, "password_reset.completed"); d["user_id"] != "user-alice" || d["connection"] != conn {
		t.Errorf("completed: %v", d)
	}

	id := tickets.Ref(testenv.Ticket(t, ticket()))
	resp, page = as.do("GET", "/lo/cancel?id="+id, "", "")
	m := csrfField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("cancel page: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ = as.do("POST", "/lo/cancel", "application/x-www-form-urlencoded", url.Values{"_csrf": {m[1]}, "id": {id}}.Encode()); resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	if d := eventData(t, "password_reset.ticket_cancelled"); d["user_id"] != "user-alice" {
		t.Errorf("ticket_cancelled: %v", d)
	}

	as.apiOK("PATCH", "/api/v2/users/user-alice", `{"password":"Admin-Set-9-password","connection":"`+conn+`"}`, 200, nil)
	if d := eventData(t, "password_reset.password_set"); d["user_id"] != "user-alice" || d["actor"] != "ops" || d["confirmed"] != true {
		t.Errorf("password_set: %v", d)
	}
	as.apiOK("PATCH", "/api/v2/email-templates/reset_email", `{"subject":"Reset it"}`, 200, nil)
	if d := eventData(t, "password_reset.template_changed"); d["template"] != "reset_email" || d["language"] != "en" || d["actor"] != "ops" {
		t.Errorf("template_changed: %v", d)
	}

	as.requestReset("bob@example.com")
	retrying := eventData(t, "password_reset.mail_retrying") // the third attempt, some seconds in
	if retrying["template"] != "reset_email" || retrying["attempts"] != 3 || !strings.Contains(fmt.Sprint(retrying["error"]), "451") {
		t.Errorf("mail_retrying: %v", retrying)
	}
	bobRefused.Store(550)
	failed := eventData(t, "password_reset.mail_failed")
	if failed["id"] != retrying["id"] || !strings.Contains(fmt.Sprint(failed["error"]), "550") {
		t.Errorf("mail_failed: %v", failed)
	}
	recorded.Lock()
	defer recorded.Unlock()
	for _, e := range recorded.events {
		if strings.Contains(fmt.Sprint(e.Data), "@example.com") && !strings.Contains(fmt.Sprint(e.Data), "***@") {
			t.Errorf("%s carries an address: %v", e.Name(), e.Data)
		}
	}
}
