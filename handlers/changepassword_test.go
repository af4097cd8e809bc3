package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The request endpoint, Auth0's POST /dbconnections/change_password.

// jsonRequest is a request body naming email on the test connection.
func jsonRequest(email string) string {
	return `{"client_id":"demo-app","email":"` + email + `","connection":"` + pageConn + `"}`
}

// wantLimitHeaders checks that an answer carries the requester's X-RateLimit
// figures.
func wantLimitHeaders(t *testing.T, what string, got fetched) {
	t.Helper()
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if _, err := strconv.Atoi(got.Header.Get(h)); err != nil {
			t.Errorf("%s: %s %q, want a number", what, h, got.Header.Get(h))
		}
	}
}

// TestChangePasswordAccepts: every well-formed request gets Auth0's sentence,
// labelled text/html as Auth0 does, not cached, with the requester's limits,
// whether or not the address belongs to a user; the known user's email goes out.
func TestChangePasswordAccepts(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	after := env.box.LastID()
	for _, tt := range []struct{ name, contentType, body string }{
		{"JSON", ctJSON, jsonRequest("alice@example.com")},
		{"JSON with a charset", "application/json; charset=utf-8", jsonRequest("bob@example.com")},
		{"JSON, null organization, no client", ctJSON, `{"email":"bob@example.com","connection":"` + pageConn + `","organization":null}`},
		{"form", ctForm, "client_id=demo-app&email=bob%40example.com&connection=" + pageConn},
		{"form with an organization", ctForm, "email=bob%40example.com&connection=" + pageConn + "&organization=org_1"},
		{"unknown address", ctJSON, jsonRequest("nobody@example.com")},
		{"address with an upper-case domain", ctJSON, jsonRequest("bob@EXAMPLE.com")},
	} {
		got := send(t, http.MethodPost, env.url+PathChangePassword, tt.contentType, tt.body)
		if got.StatusCode != http.StatusOK || got.body != ChangePasswordAnswer {
			t.Errorf("%s: %d %q, want 200 %q", tt.name, got.StatusCode, got.body, ChangePasswordAnswer)
		}
		for h, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
			if v := got.Header.Get(h); v != want {
				t.Errorf("%s: %s %q, want %q", tt.name, h, v, want)
			}
		}
		wantLimitHeaders(t, tt.name, got)
	}
	env.box.WaitResetMail(t, "alice@example.com", after)
}

// TestChangePasswordRefuses: each malformed request is a 400 in the
// Authentication API's shape, with the requester's limits, and no email.
func TestChangePasswordRefuses(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	c := `"connection":"` + pageConn + `"`
	for _, tt := range []struct {
		name, contentType, body string
		code, description       string
	}{
		{"array value", ctJSON, `{"email":["alice@example.com"],` + c + `}`, "invalid_request", `"email" must be a string, not an array`},
		{"object value", ctJSON, `{"email":{"a":"alice@example.com"},` + c + `}`, "invalid_request", "not an object"},
		{"number value", ctJSON, `{"email":"alice@example.com","connection":7}`, "invalid_request", "not a number"},
		{"repeated JSON field", ctJSON, `{"email":"bob@example.com","email":"alice@example.com",` + c + `}`, "invalid_request", "appears more than once"},
		{"case-variant field", ctJSON, `{"email":"bob@example.com","Email":"alice@example.com",` + c + `}`, "invalid_request", "appears more than once"},
		{"case-variant field alone", ctJSON, `{"Email":"alice@example.com",` + c + `}`, "invalid_request", `unknown field "Email"`},
		{"repeated form field", ctForm, "email=bob%40example.com&email=alice%40example.com&connection=" + pageConn, "invalid_request", "appears more than once"},
		{"unknown field", ctJSON, `{"email":"alice@example.com",` + c + `,"colour":"blue"}`, "invalid_request", `unknown field "colour"`},
		{"password refused by name", ctJSON, `{"email":"alice@example.com",` + c + `,"password":"Correct-Horse-9"}`, "invalid_request", "password is not allowed"},
		{"password refused by name in a form", ctForm, "email=alice%40example.com&password=x&connection=" + pageConn, "invalid_request", "password is not allowed"},
		{"missing email", ctJSON, `{` + c + `}`, "invalid_request", "Missing required parameter: email"},
		{"empty email", ctJSON, `{"email":" ",` + c + `}`, "invalid_request", "Missing required parameter: email"},
		{"missing connection", ctJSON, `{"email":"alice@example.com"}`, "invalid_request", "Missing required parameter: connection"},
		{"bad address", ctJSON, jsonRequest("not an address"), "invalid_request", "not a valid email address"},
		{"display name", ctJSON, jsonRequest(`Alice <alice@example.com>`), "invalid_request", "not a valid email address"},
		{"invalid UTF-8 in JSON", ctJSON, "{\"email\":\"\xffalice@example.com\"," + c + "}", "invalid_request", "not valid UTF-8"},
		{"invalid UTF-8 in a form", ctForm, "email=%FFalice%40example.com&connection=" + pageConn, "invalid_request", "not valid UTF-8"},
		{"not JSON", ctJSON, `{"email":`, "invalid_request", "not valid JSON"},
		{"two objects", ctJSON, jsonRequest("alice@example.com") + `{}`, "invalid_request", "exactly one JSON object"},
		{"not an object", ctJSON, `["alice@example.com"]`, "invalid_request", "must be a JSON object"},
		{"other content type", "text/plain", "email=alice@example.com", "invalid_request", "Content-Type must be"},
		{"no content type", "", jsonRequest("alice@example.com"), "invalid_request", "Content-Type must be"},
		{"unknown client", ctJSON, `{"client_id":"nope","email":"alice@example.com",` + c + `}`, "invalid_client", "Unknown client: nope"},
		{"unknown connection", ctJSON, `{"email":"alice@example.com","connection":"nope"}`, "bad.connection", "Connection does not exist: nope"},
		{"social connection", ctJSON, `{"email":"alice@example.com","connection":"google-oauth2"}`, "bad.connection", "social connection"},
	} {
		got := send(t, http.MethodPost, env.url+PathChangePassword, tt.contentType, tt.body)
		wantAuthError(t, tt.name, got, http.StatusBadRequest, tt.code, tt.description)
		wantLimitHeaders(t, tt.name, got)
		if got.Header.Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After %q on a 400", tt.name, got.Header.Get("Retry-After"))
		}
	}
	// One accepted request shows that none of the refusals counted or queued.
	ok := send(t, http.MethodPost, env.url+PathChangePassword, ctJSON, jsonRequest("alice@example.com"))
	if ok.StatusCode != http.StatusOK || ok.Header.Get("X-RateLimit-Remaining") != "9" {
		t.Errorf("the first accepted request: %d, %s remaining, want 200 and 9", ok.StatusCode, ok.Header.Get("X-RateLimit-Remaining"))
	}
	env.box.WaitResetMail(t, "alice@example.com", 0)
	if n := len(env.box.Messages()); n != 1 {
		t.Errorf("%d emails, want the accepted request's only", n)
	}
}

// TestChangePasswordTooLarge: a body over 8 KiB is a 413, whether it says its
// length or not.
func TestChangePasswordTooLarge(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	big := `{"email":"alice@example.com","connection":"` + pageConn + `","organization":"` + strings.Repeat("o", maxRequestBody) + `"}`
	sized := send(t, http.MethodPost, env.url+PathChangePassword, ctJSON, big)
	wantAuthError(t, "with Content-Length", sized, http.StatusRequestEntityTooLarge, "invalid_request", "too large")
	wantLimitHeaders(t, "with Content-Length", sized)

	req := newRequest(t, http.MethodPost, env.url+PathChangePassword, ctJSON, "")
	req.Body = readerOnly{strings.NewReader(big)} // no length: sent chunked
	req.ContentLength = -1
	chunked := fetch(t, req)
	wantAuthError(t, "chunked", chunked, http.StatusRequestEntityTooLarge, "invalid_request", "too large")

	exact := `{"email":"alice@example.com","connection":"` + pageConn + `","organization":"`
	exact += strings.Repeat("o", maxRequestBody-len(exact)-2) + `"}`
	if got := send(t, http.MethodPost, env.url+PathChangePassword, ctJSON, exact); got.StatusCode != http.StatusOK {
		t.Errorf("a body of exactly %d bytes: %d %s", len(exact), got.StatusCode, got.body)
	}
}

// readerOnly hides a reader's length from net/http.
type readerOnly struct{ *strings.Reader }

func (readerOnly) Close() error { return nil }

// TestChangePasswordRateLimited: past Auth0's burst of 10 requests per IP and
// address, the 11th is a 429 with Retry-After and the figures; another address
// from the same IP is still taken.
func TestChangePasswordRateLimited(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits)
	for i := range 10 {
		got := send(t, http.MethodPost, env.url+PathChangePassword, ctJSON, jsonRequest("nobody@example.com"))
		if got.StatusCode != http.StatusOK || got.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(9-i) {
			t.Fatalf("request %d: %d, %s remaining, want 200 and %d", i+1, got.StatusCode, got.Header.Get("X-RateLimit-Remaining"), 9-i)
		}
	}
	got := send(t, http.MethodPost, env.url+PathChangePassword, ctJSON, jsonRequest("NOBODY@example.com"))
	wantAuthError(t, "the 11th request", got, http.StatusTooManyRequests, "too_many_requests", "limit")
	wantLimitHeaders(t, "the 11th request", got)
	if retry, err := strconv.Atoi(got.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds (a burst of 10 a minute)", got.Header.Get("Retry-After"))
	}
	if got.Header.Get("X-RateLimit-Remaining") != "0" || got.Header.Get("X-RateLimit-Limit") != "10" {
		t.Errorf("the refusal's figures: limit %s, remaining %s, want 10 and 0",
			got.Header.Get("X-RateLimit-Limit"), got.Header.Get("X-RateLimit-Remaining"))
	}
	if other := send(t, http.MethodPost, env.url+PathChangePassword, ctJSON, jsonRequest("alice@example.com")); other.StatusCode != http.StatusOK {
		t.Errorf("another address from the same IP: %d %s", other.StatusCode, other.body)
	}
}

// TestChangePasswordMethods: the endpoint takes POST only.
func TestChangePasswordMethods(t *testing.T) {
	env := newPageEnv(t, policyGood)
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		got := send(t, method, env.url+PathChangePassword+"?email=alice%40example.com&connection="+pageConn, "", "")
		if got.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(got.Header.Get("Allow"), http.MethodPost) {
			t.Errorf("%s: %d Allow %q, want 405 with POST allowed", method, got.StatusCode, got.Header.Get("Allow"))
		}
	}
	if n := len(env.box.Messages()); n != 0 {
		t.Errorf("%d emails after requests by other methods", n)
	}
}
