package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBadInputIsRefusedAndChangesNothing sends malformed and hostile requests to
// the request endpoint; each gets a clear 4xx in Auth0's error shape and stores
// nothing.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	s := newStack(t, "")
	const jsonType, formType = "application/json", "application/x-www-form-urlencoded"
	ok := `"client_id":"demo-app","connection":"` + conn + `"`
	cases := []struct {
		name, contentType, body string
		status                  int
		code, mention           string
	}{
		{"body over the size limit", jsonType, `{"email":"` + strings.Repeat("a", 9000) + `@example.com",` + ok + `}`, 413, "invalid_request", "too large"},
		{"not JSON", jsonType, `email=alice@example.com`, 400, "invalid_request", "JSON object"},
		{"a JSON array", jsonType, `[{"email":"alice@example.com"}]`, 400, "invalid_request", "JSON object"},
		{"two JSON objects", jsonType, `{"email":"alice@example.com",` + ok + `}{}`, 400, "invalid_request", "exactly one"},
		{"unsupported content type", "text/plain", `{"email":"alice@example.com",` + ok + `}`, 400, "invalid_request", "Content-Type"},
		{"email as an array (GitLab CVE-2023-7028)", jsonType, `{"email":["alice@example.com","eve@evil.test"],` + ok + `}`, 400, "invalid_request", "not an array"},
		{"email as an object", jsonType, `{"email":{"a":"alice@example.com"},` + ok + `}`, 400, "invalid_request", "not an object"},
		{"email as a number", jsonType, `{"email":12,` + ok + `}`, 400, "invalid_request", "not a number"},
		{"email as a boolean", jsonType, `{"email":true,` + ok + `}`, 400, "invalid_request", "not a boolean"},
		{"repeated JSON key", jsonType, `{"email":"eve@evil.test","email":"alice@example.com",` + ok + `}`, 400, "invalid_request", "more than once"},
		{"case-variant JSON key", jsonType, `{"Email":"eve@evil.test","email":"alice@example.com",` + ok + `}`, 400, "invalid_request", "more than once"},
		{"repeated form field", formType, `email=alice%40example.com&email=eve%40evil.test&client_id=demo-app&connection=` + conn, 400, "invalid_request", "more than once"},
		{"email[] form field", formType, `email[]=alice%40example.com&client_id=demo-app&connection=` + conn, 400, "invalid_request", "unknown field"},
		{"unknown field", jsonType, `{"email":"alice@example.com","redirect":"https://evil.test",` + ok + `}`, 400, "invalid_request", "unknown field"},
		{"password field (removed vulnerable flow)", jsonType, `{"email":"alice@example.com","password":"x",` + ok + `}`, 400, "invalid_request", "password is not allowed"},
		{"missing email", jsonType, `{` + ok + `}`, 400, "invalid_request", "email"},
		{"missing connection", jsonType, `{"email":"alice@example.com","client_id":"demo-app"}`, 400, "invalid_request", "connection"},
		{"unknown connection", jsonType, `{"email":"alice@example.com","client_id":"demo-app","connection":"nope"}`, 400, "bad.connection", "does not exist"},
		{"social connection", jsonType, `{"email":"alice@example.com","client_id":"demo-app","connection":"google-oauth2"}`, 400, "bad.connection", "social"},
		{"unknown client", jsonType, `{"email":"alice@example.com","client_id":"nope","connection":"` + conn + `"}`, 400, "invalid_client", "Unknown client"},
		{"CR/LF in the email", jsonType, `{"email":"alice@example.com\r\nBcc: eve@evil.test",` + ok + `}`, 400, "invalid_request", "email"},
		{"CR/LF in the email, form", formType, `email=alice%40example.com%0D%0ABcc%3A+eve%40evil.test&client_id=demo-app&connection=` + conn, 400, "invalid_request", "email"},
		{"invalid UTF-8", jsonType, "{\"email\":\"al\xffice@example.com\"," + ok + "}", 400, "invalid_request", "UTF-8"},
		{"invalid UTF-8, form", formType, "email=al%FFice%40example.com&client_id=demo-app&connection=" + conn, 400, "invalid_request", "UTF-8"},
		{"email over 254 bytes", jsonType, `{"email":"` + strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + `.example.com",` + ok + `}`, 400, "invalid_request", "254"},
		{"two addresses", jsonType, `{"email":"alice@example.com, eve@evil.test",` + ok + `}`, 400, "invalid_request", "valid email"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := s.do("POST", "/dbconnections/change_password", c.contentType, c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			var answer struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal([]byte(body), &answer); err != nil {
				t.Fatalf("answer is not Auth0's JSON error: %q", body)
			}
			if answer.Error != c.code || !strings.Contains(answer.Description, c.mention) {
				t.Errorf("answer %+v, want code %q mentioning %q", answer, c.code, c.mention)
			}
		})
	}
	resp, _ := s.do("GET", "/dbconnections/change_password", "", "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET change_password: %d, want 405", resp.StatusCode)
	}
	// None of the above was stored: after one good request (a form, this time) has
	// been worked off, the app has seen exactly one lookup.
	after := s.box.LastID()
	resp, _ = s.do("POST", "/dbconnections/change_password", formType,
		"email=alice%40example.com&client_id=demo-app&connection="+conn)
	if resp.StatusCode != 200 {
		t.Fatalf("good form request: %d", resp.StatusCode)
	}
	s.box.WaitMail(t, "alice@example.com", after)
	s.drained()
	if n := s.app.HookCalls("get_user"); n != 1 {
		t.Errorf("the app saw %d lookups: a refused request was stored", n)
	}
}

// TestResetFormBadInput: the reset form's own limits.
func TestResetFormBadInput(t *testing.T) {
	s := newStack(t, "")
	resp, _ := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", "newPassword="+strings.Repeat("a", 40000))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: %d, want 413", resp.StatusCode)
	}
	resp, _ = s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", "ticket=a&ticket=b")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("repeated ticket field: %d, want 400", resp.StatusCode)
	}
	resp, page := s.do("GET", "/lo/reset?ticket=not-a-ticket", "", "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "Invalid Link") {
		t.Errorf("malformed ticket: %d", resp.StatusCode)
	}
	resp, _ = s.do("GET", "/lo/nothing-here", "", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown /lo/ path: %d, want 404 from the plugin", resp.StatusCode)
	}
}
