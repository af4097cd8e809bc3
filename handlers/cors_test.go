package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// spaOrigin is the page origin the tests' demo-app client allows.
const spaOrigin = "https://spa.example.com"

func withSPAOrigin(c *service.Config) {
	c.Site.Clients["demo-app"].AllowedOrigins = []string{spaOrigin}
}

// sendFrom sends a request as a page on origin would (no Origin when "").
func sendFrom(t *testing.T, method, rawURL, origin, contentType, body string, headers map[string]string) fetched {
	t.Helper()
	req := newRequest(t, method, rawURL, contentType, body)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return fetch(t, req)
}

// TestPreflight: a browser's OPTIONS before a cross-origin call is answered for
// the origins a client lists, with the headers auth0-js sends, a bounded
// max-age and no credentials; an unlisted origin, another method or a
// same-origin OPTIONS gets no CORS header.
func TestPreflight(t *testing.T) {
	env := newPageEnv(t, policyGood, withSPAOrigin)
	asks := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,auth0-client"}
	for _, path := range []string{PathChangePassword, PathChallenge} {
		got := sendFrom(t, http.MethodOptions, env.url+path, spaOrigin, "", "", asks)
		want := map[string]string{
			"Access-Control-Allow-Origin":  spaOrigin,
			"Access-Control-Allow-Methods": "POST",
			"Access-Control-Allow-Headers": corsAllowHeaders,
			"Access-Control-Max-Age":       "600",
		}
		if got.StatusCode != http.StatusNoContent {
			t.Errorf("%s from a listed origin: %d, want 204", path, got.StatusCode)
		}
		for h, v := range want {
			if got.Header.Get(h) != v {
				t.Errorf("%s: %s %q, want %q", path, h, got.Header.Get(h), v)
			}
		}
		if got.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: credentials allowed; the endpoint needs none", path)
		}
		if !strings.Contains(strings.Join(got.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("%s: Vary %q, want Origin in it", path, got.Header.Values("Vary"))
		}
	}
	for _, tt := range []struct {
		name, origin, method string
		status               int
	}{
		{"unlisted origin", "https://evil.example", "POST", http.StatusForbidden},
		{"listed origin, another scheme", "http://spa.example.com", "POST", http.StatusForbidden},
		{"listed origin with a path-like suffix", spaOrigin + ".evil.example", "POST", http.StatusForbidden},
		{"origin null", "null", "POST", http.StatusForbidden},
		{"another method", spaOrigin, "PUT", http.StatusForbidden},
		{"same origin (not a preflight)", env.url, "POST", http.StatusNoContent},
		{"no origin (not a preflight)", "", "", http.StatusNoContent},
	} {
		got := sendFrom(t, http.MethodOptions, env.url+PathChangePassword, tt.origin, "", "",
			map[string]string{"Access-Control-Request-Method": tt.method})
		if got.StatusCode != tt.status || got.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %d with Allow-Origin %q, want %d and none", tt.name, got.StatusCode,
				got.Header.Get("Access-Control-Allow-Origin"), tt.status)
		}
	}
}

// TestCrossOriginRequest: a listed page's request is taken, with the fields
// auth0-js adds (state, captcha), and its answer readable by the page (its
// origin allowed, the limit headers exposed); it is mailed.
func TestCrossOriginRequest(t *testing.T) {
	env := newPageEnv(t, policyGood, withSPAOrigin, withLimits)
	after := env.box.LastID()
	body := `{"client_id":"demo-app","email":"alice@example.com","connection":"` + pageConn + `","state":"xyz","captcha":""}`
	got := sendFrom(t, http.MethodPost, env.url+PathChangePassword, spaOrigin, ctJSON, body,
		map[string]string{"Auth0-Client": "eyJuYW1lIjoiYXV0aDAuanMifQ"})
	if got.StatusCode != http.StatusOK || got.body != ChangePasswordAnswer {
		t.Fatalf("listed origin: %d %q, want 200", got.StatusCode, got.body)
	}
	if got.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Errorf("Allow-Origin %q, want %q", got.Header.Get("Access-Control-Allow-Origin"), spaOrigin)
	}
	if !strings.Contains(got.Header.Get("Access-Control-Expose-Headers"), "X-RateLimit-Remaining") {
		t.Errorf("Expose-Headers %q, want the limits", got.Header.Get("Access-Control-Expose-Headers"))
	}
	env.box.WaitResetMail(t, "alice@example.com", after)

	// Same origin and no origin (a server, the SDK) need no entry.
	for _, origin := range []string{env.url, ""} {
		got := sendFrom(t, http.MethodPost, env.url+PathChangePassword, origin, ctJSON, jsonRequest("bob@example.com"), nil)
		if got.StatusCode != http.StatusOK || got.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("origin %q: %d, Allow-Origin %q; want 200 and none", origin, got.StatusCode,
				got.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// An unknown field stays refused, state or not.
	got = sendFrom(t, http.MethodPost, env.url+PathChangePassword, spaOrigin, ctJSON,
		`{"email":"alice@example.com","connection":"`+pageConn+`","state":"x","nonce":"y"}`, nil)
	if got.StatusCode != http.StatusBadRequest || !strings.Contains(got.body, `unknown field \"nonce\"`) {
		t.Errorf("unknown field: %d %s, want 400 naming it", got.StatusCode, got.body)
	}
}

// TestCrossOriginRequestRefused: a request from a page whose origin the client
// does not list (a simple form post needs no preflight, so the browser sends
// it) is a 403 in Auth0's shape, without CORS headers, and changes nothing: it
// counts against no limit and nothing is mailed.
func TestCrossOriginRequestRefused(t *testing.T) {
	env := newPageEnv(t, policyGood, withSPAOrigin, withLimits)
	ctx := context.Background()
	const ip = "127.0.0.1"
	before := env.svc.RequestLimits(ctx, ip)
	after := env.box.LastID()
	form := "client_id=demo-app&email=alice%40example.com&connection=" + pageConn
	for _, tt := range []struct {
		name, origin string
		headers      map[string]string
	}{
		{"unlisted origin", "https://evil.example", nil},
		{"listed by no client of the request", "https://other.example", nil},
		{"origin null (a sandboxed frame)", "null", nil},
		{"no Origin, but the browser says cross-site", "", map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		got := sendFrom(t, http.MethodPost, env.url+PathChangePassword, tt.origin, ctForm, form, tt.headers)
		var e AuthError
		decodeJSON(t, tt.name, got, &e)
		if got.StatusCode != http.StatusForbidden || e.Code != "access_denied" || !strings.Contains(e.Description, "allowed_origins") {
			t.Errorf("%s: %d %+v, want 403 access_denied naming allowed_origins", tt.name, got.StatusCode, e)
		}
		if got.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: Allow-Origin %q, want none", tt.name, got.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	if now := env.svc.RequestLimits(ctx, ip); now.Remaining != before.Remaining {
		t.Errorf("refused requests counted: remaining %d, then %d", before.Remaining, now.Remaining)
	}
	// A request that is taken goes through the same queues: once it is mailed
	// and the queues are empty, any refused request that had been stored would
	// have been mailed too.
	sendFrom(t, http.MethodPost, env.url+PathChangePassword, "", ctJSON, jsonRequest("bob@example.com"), nil)
	env.box.WaitResetMail(t, "bob@example.com", after)
	testenv.Eventually(t, "the queues to empty", func() (bool, error) {
		st, err := env.admin.Stats(ctx)
		return st.Jobs.Pending+st.Mail.Pending == 0, err
	})
	for _, m := range env.box.Messages() {
		if m.ID > after && strings.EqualFold(m.EnvelopeTo[0], "alice@example.com") {
			t.Errorf("a refused request was mailed: %q", m.Subject)
		}
	}
}

// TestChallenge: auth0-js and Lock ask whether a captcha is needed when a state
// is set; none ever is. Its body is checked as strictly as the request's.
func TestChallenge(t *testing.T) {
	env := newPageEnv(t, policyGood, withSPAOrigin)
	got := sendFrom(t, http.MethodPost, env.url+PathChallenge, spaOrigin, ctJSON, `{"state":"abc"}`, nil)
	var ans struct {
		Required *bool `json:"required"`
	}
	decodeJSON(t, "challenge", got, &ans)
	if got.StatusCode != http.StatusOK || ans.Required == nil || *ans.Required {
		t.Errorf("challenge: %d %s, want 200 {\"required\":false}", got.StatusCode, got.body)
	}
	if got.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Errorf("challenge: Allow-Origin %q, want %q", got.Header.Get("Access-Control-Allow-Origin"), spaOrigin)
	}
	for name, body := range map[string]string{"unknown field": `{"state":"a","email":"x"}`, "not JSON": `state`} {
		if got := sendFrom(t, http.MethodPost, env.url+PathChallenge, "", ctJSON, body, nil); got.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, got.StatusCode)
		}
	}
	if got := sendFrom(t, http.MethodPost, env.url+PathChallenge, "https://evil.example", ctJSON, `{"state":"a"}`, nil); got.StatusCode != http.StatusForbidden {
		t.Errorf("unlisted origin: %d, want 403", got.StatusCode)
	}
}
