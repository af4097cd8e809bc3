package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestEveryRequestAnswerCarriesLimits (issue 8 item 13): the request endpoint's
// refusals carry the requester's X-RateLimit figures too, and count nothing.
func TestEveryRequestAnswerCarriesLimits(t *testing.T) {
	env := newPageEnv(t, policy.Policy{Level: policy.LevelGood}, func(c *service.Config) { c.Limits = reset.DefaultLimits() })
	send := func(contentType, body string) fetched {
		req, err := http.NewRequest(http.MethodPost, env.url+PathChangePassword, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		return fetch(t, req)
	}
	ok := send("application/json", `{"email":"alice@example.com","connection":"`+pageConn+`"}`)
	if ok.StatusCode != 200 || ok.Header.Get("X-RateLimit-Limit") == "" {
		t.Fatalf("an accepted request: %d %v", ok.StatusCode, ok.Header)
	}
	cases := map[string]struct{ contentType, body string }{
		"not JSON":        {"application/json", `{"email":`},
		"array":           {"application/json", `{"email":["a@example.com"],"connection":"` + pageConn + `"}`},
		"unknown field":   {"application/json", `{"email":"a@example.com","connection":"` + pageConn + `","colour":"blue"}`},
		"bad address":     {"application/json", `{"email":"not an address","connection":"` + pageConn + `"}`},
		"no connection":   {"application/json", `{"email":"a@example.com"}`},
		"form with array": {"application/x-www-form-urlencoded", "email=a%40example.com&email=b%40example.com"},
	}
	var refusedRemaining []string
	for name, c := range cases {
		got := send(c.contentType, c.body)
		refusedRemaining = append(refusedRemaining, got.Header.Get("X-RateLimit-Remaining"))
		if got.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, got.StatusCode)
		}
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			if got.Header.Get(h) == "" {
				t.Errorf("%s: no %s on a 400", name, h)
			}
		}
	}
	for _, r := range refusedRemaining[1:] {
		if r != refusedRemaining[0] {
			t.Errorf("the refusals report %v remaining: a refusal counted", refusedRemaining)
		}
	}
	again := send("application/json", `{"email":"alice@example.com","connection":"`+pageConn+`"}`)
	if want := "8"; ok.Header.Get("X-RateLimit-Remaining") != "9" || again.Header.Get("X-RateLimit-Remaining") != want {
		t.Errorf("remaining %s, then %s after %d refusals; want 9 then 8: refusals count nothing",
			ok.Header.Get("X-RateLimit-Remaining"), again.Header.Get("X-RateLimit-Remaining"), len(cases))
	}
}

// TestAppRefusalIsA400 (issue 8 item 16): the app's own refusal of a password
// (a 4xx with a message) is the user's input, not an outage: 400 with the
// app's message on the form, and the link still works.
func TestAppRefusalIsA400(t *testing.T) {
	env := newPageEnv(t, policy.Policy{Level: policy.LevelGood})
	form, cookies := env.openForm(t, env.ticket(t, time.Hour))
	const current = "alice-old-password-1" // the demo app refuses the current password
	got := env.post(t, env.url+PathReset, url.Values{
		"_csrf": {hiddenField(t, form.body, "_csrf")}, "ref": {hiddenField(t, form.body, "ref")},
		"newPassword": {current}, "confirmNewPassword": {current},
	}, cookies...)
	if got.StatusCode != http.StatusBadRequest || !strings.Contains(got.body, "must differ from the current one") {
		t.Fatalf("the app's refusal: %d\n%s", got.StatusCode, got.body)
	}
	if !strings.Contains(got.body, `name="newPassword"`) {
		t.Error("the form is not shown again after the app's refusal")
	}
}

// TestStatusOfEveryKind: each fault kind has its status, anything else (a bug)
// is a 500, and no kind is left without a row here.
func TestStatusOfEveryKind(t *testing.T) {
	want := map[fault.Kind]int{
		fault.Invalid:     http.StatusBadRequest,
		fault.NotFound:    http.StatusNotFound,
		fault.Conflict:    http.StatusConflict,
		fault.Gone:        http.StatusGone,
		fault.TooLarge:    http.StatusRequestEntityTooLarge,
		fault.RateLimited: http.StatusTooManyRequests,
		fault.Refused:     http.StatusBadRequest, // the app's own rules: the user's input, not an outage
		fault.Unavailable: http.StatusServiceUnavailable,
		fault.Unconfirmed: http.StatusGatewayTimeout,
		fault.Forbidden:   http.StatusForbidden,
		0:                 http.StatusInternalServerError,
		200:               http.StatusInternalServerError,
	}
	for k, status := range want {
		if got := statusOf(k); got != status {
			t.Errorf("statusOf(%v) = %d, want %d", k, got, status)
		}
	}
	// Every named kind has a row: a kind added to package fault fails here
	// until its status is decided.
	for k := fault.Kind(1); !strings.HasPrefix(k.String(), "Kind("); k++ {
		if _, ok := want[k]; !ok {
			t.Errorf("kind %v (%d) has no row in this table", k, k)
		}
	}
}

// TestFaultAnswers: the two Auth0 shapes of one error, with the same status and
// retry headers: a rate limit with its figures, an outage, a cause that is
// never shown, and an error that is not a fault (a bug: 500, logged).
func TestFaultAnswers(t *testing.T) {
	reset0 := time.Unix(1_700_000_000, 0)
	limited := *reset.ErrRateLimited
	limited.RetryAfter = 2500 * time.Millisecond
	limited.Detail = reset.RateInfo{Name: "ip_email", Limit: 10, Remaining: 0, Reset: reset0, RetryAfter: 2500 * time.Millisecond, Refused: true}
	noFigures := *reset.ErrRateLimited
	noFigures.RetryAfter = 61 * time.Second
	for _, tt := range []struct {
		name    string
		err     error
		status  int
		code    string
		message string
		headers map[string]string // "" : absent
		logged  bool
	}{
		{"rate limited with figures", &limited, 429, "too_many_requests", reset.ErrRateLimited.Message,
			map[string]string{"Retry-After": "3", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000000"}, false},
		{"rate limited without figures", &noFigures, 429, "too_many_requests", reset.ErrRateLimited.Message,
			map[string]string{"Retry-After": "61", "X-RateLimit-Limit": ""}, false},
		{"unavailable, cause hidden", reset.ErrUnavailable.With(errors.New("badger: disk full at /var/secret")), 503,
			"temporarily_unavailable", reset.ErrUnavailable.Message, map[string]string{"Retry-After": "5", "X-RateLimit-Limit": ""}, false},
		{"wrapped fault", fmt.Errorf("open: %w", reset.ErrTicketUsed), 410, "ticket_used", reset.ErrTicketUsed.Message,
			map[string]string{"Retry-After": ""}, false},
		{"invalid", fault.New(fault.Invalid, "bad.connection", "Connection does not exist: x"), 400, "bad.connection",
			"Connection does not exist: x", map[string]string{"Retry-After": ""}, false},
		{"not a fault", errors.New("nil map write in the flow"), 500, "server_error", "internal error",
			map[string]string{"Retry-After": ""}, true},
	} {
		for _, shape := range []string{"auth", "mgmt"} {
			log, logs := testenv.NewLogs()
			w := httptest.NewRecorder()
			if shape == "auth" {
				writeAuthError(w, log, tt.err)
			} else {
				writeMgmtFault(w, log, tt.err)
			}
			what := tt.name + " (" + shape + ")"
			got := fetched{w.Result(), w.Body.String()}
			if shape == "auth" {
				wantAuthError(t, what, got, tt.status, tt.code, tt.message)
			} else {
				wantMgmtError(t, what, got, tt.status, tt.code, tt.message)
			}
			if strings.Contains(got.body, "secret") || strings.Contains(got.body, "nil map") {
				t.Errorf("%s: the cause is shown: %s", what, got.body)
			}
			for h, want := range tt.headers {
				if v := got.Header.Get(h); v != want {
					t.Errorf("%s: %s %q, want %q", what, h, v, want)
				}
			}
			if n := logs.Count("unexpected error"); (n == 1) != tt.logged {
				t.Errorf("%s: %d \"unexpected error\" log lines, want logged=%v", what, n, tt.logged)
			}
		}
	}
}
