package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// checkDemoAdmin walks the demo's admin site (Caddyfile.example's
// http://127.0.0.1:8081 with RESET_ADMIN_TOKEN): the seed's other two password
// changes, an admin ticket and a password set by hand, and the dashboard's
// sign-in page.
func checkDemoAdmin(t *testing.T) {
	t.Helper()
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://127.0.0.1:8081"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	status, body := call("POST", "/api/v2/tickets/password-change", `{"email":"alice@example.com","connection_id":"`+conn+`"}`)
	var ticket struct {
		Ticket string `json:"ticket"`
	}
	if status != 201 || json.Unmarshal([]byte(body), &ticket) != nil || !strings.HasPrefix(ticket.Ticket, "http://localhost:8080/lo/reset?ticket=") {
		t.Errorf("demo admin ticket: %d %s", status, body)
	}
	if status, body = call("PATCH", "/api/v2/users/user-alice", `{"password":"`+newPassword+`","connection":"`+conn+`"}`); status != 200 {
		t.Errorf("demo admin set password: %d %s", status, body)
	}
	resp, err := http.Get("http://127.0.0.1:8081/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("demo dashboard sign-in page: %d", resp.StatusCode)
	}
}
