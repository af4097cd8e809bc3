package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

// cancelLink is the "this wasn't me" link of a reset link.
func (env *pageEnv) cancelLink(t *testing.T, link string) string {
	return env.url + PathCancel + "?id=" + reset.TicketRef(tokenOf(t, link))
}

// useTicket completes a reset with the ticket of link.
func (env *pageEnv) useTicket(t *testing.T, link string) {
	t.Helper()
	tok := tokenOf(t, link)
	if _, err := env.svc.CompleteReset(context.Background(), reset.ResetForm{Ticket: tok, Password: goodPassword, Confirm: goodPassword}); err != nil {
		t.Fatal(err)
	}
}

// TestCancelPage: the link asks to confirm and changes nothing (mail scanners
// open links); a link that names no ticket, or one that can no longer be
// cancelled, says why.
func TestCancelPage(t *testing.T) {
	env := newPageEnv(t, policyGood)
	open := env.ticketFor(t, "bob@example.com", time.Hour, admin.TicketRequest{})
	used := env.ticket(t, time.Hour)
	env.useTicket(t, used)
	for _, tt := range []struct {
		name, url string
		status    int
		texts     []string
	}{
		{"open ticket", env.cancelLink(t, open), 200, []string{"Cancel This Password Reset?", `name="id" value="` + reset.TicketRef(tokenOf(t, open)) + `"`, "Cancel the link"}},
		{"no id", env.url + PathCancel, 404, []string{"Invalid Link"}},
		{"malformed id", env.url + PathCancel + "?id=nope", 404, []string{"Invalid Link"}},
		{"unknown id", env.url + PathCancel + "?id=" + strings.Repeat("ab", 32), 404, []string{"Invalid Link", `href="forgot"`}},
		{"the ticket instead of its id", env.url + PathCancel + "?id=" + tokenOf(t, open), 404, []string{"Invalid Link"}},
		{"used ticket", env.cancelLink(t, used), 410, []string{"already been used", "Send a new link"}},
	} {
		got := env.get(t, tt.url)
		wantPage(t, tt.name, got, tt.status, tt.texts...)
		if csrf := setCookie(got, "pwreset_csrf"); (csrf != nil) != (tt.status == 200) {
			t.Errorf("%s: CSRF cookie %v", tt.name, csrf)
		}
	}
	if _, err := env.svc.OpenTicket(context.Background(), tokenOf(t, open)); err != nil {
		t.Errorf("opening the cancel page cancelled the ticket: %v", err)
	}
}

// TestCancelSubmit: the confirmed form cancels the ticket and records it; a
// second submit, a used ticket, an unknown id, a foreign form and an
// unreadable one are refused with their page, and change nothing.
func TestCancelSubmit(t *testing.T) {
	env := newPageEnv(t, policyGood)
	link := env.ticket(t, time.Hour)
	page := env.get(t, env.cancelLink(t, link))
	csrf, cookie := hiddenField(t, page.body, "_csrf"), page.cookie(t, "pwreset_csrf")
	id := hiddenField(t, page.body, "id")
	form := func(id string) url.Values { return url.Values{"_csrf": {csrf}, "id": {id}} }

	env.wantForms(t, PathCancel, []formCase{
		{"no CSRF cookie", form(id), nil, 403, []string{"Your session expired or the form was sent from another site"}},
		{"no CSRF field", url.Values{"id": {id}}, []*http.Cookie{cookie}, 403, []string{"Your session expired"}},
		{"unknown field", url.Values{"_csrf": {csrf}, "id": {id}, "ticket": {tokenOf(t, link)}}, []*http.Cookie{cookie}, 400, []string{"The form could not be read. (unknown field"}},
		{"repeated id", url.Values{"_csrf": {csrf}, "id": {id, id}}, []*http.Cookie{cookie}, 400, []string{"appears more than once"}},
		{"bad id", form("nope"), []*http.Cookie{cookie}, 404, []string{"Invalid Link"}},
		{"unknown id", form(strings.Repeat("cd", 32)), []*http.Cookie{cookie}, 404, []string{"Invalid Link"}},
	})
	if _, err := env.svc.OpenTicket(context.Background(), tokenOf(t, link)); err != nil {
		t.Fatalf("a refused cancel cancelled the ticket: %v", err)
	}

	wantPage(t, "good", env.post(t, env.url+PathCancel, form(id), cookie), http.StatusOK, "Link Cancelled", "your password has not changed")
	if _, err := env.svc.OpenTicket(context.Background(), tokenOf(t, link)); !errors.Is(err, reset.ErrTicketSuperseded) {
		t.Errorf("the ticket after the cancel: %v, want cancelled (superseded)", err)
	}
	if !auditHas(t, env.admin, audit.ResetCancelled, "user") {
		t.Error("no reset_cancelled audit entry by the user")
	}
	wantPage(t, "again", env.post(t, env.url+PathCancel, form(id), cookie), http.StatusGone, "no longer valid")
	wantPage(t, "the reset link after", env.get(t, link), http.StatusGone, "no longer valid")

	used := env.ticketFor(t, "bob@example.com", time.Hour, admin.TicketRequest{})
	env.useTicket(t, used)
	wantPage(t, "used ticket", env.post(t, env.url+PathCancel, form(reset.TicketRef(tokenOf(t, used))), cookie), http.StatusGone, "already been used")
}
