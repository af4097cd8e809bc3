package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
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
