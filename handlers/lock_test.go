package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestClientFile: Lock's client configuration, as the script Lock loads with a
// script element and as JSON for a fetch, lists the database connection with
// its policy and the forgot link, holds nothing secret, and is readable by a
// listed origin's fetch only.
func TestClientFile(t *testing.T) {
	env := newPageEnv(t, policyGood, withSPAOrigin)
	got := sendFrom(t, http.MethodGet, env.url+"/client/demo-app.js?t1700000000", "", "", "",
		map[string]string{"Sec-Fetch-Dest": "script", "Accept": "*/*"})
	if got.StatusCode != http.StatusOK || got.Header.Get("Content-Type") != "application/javascript; charset=utf-8" {
		t.Fatalf("script: %d %q %s", got.StatusCode, got.Header.Get("Content-Type"), got.body)
	}
	js, ok := strings.CutPrefix(got.body, "Auth0.setClient(")
	if !ok || !strings.HasSuffix(js, ");\n") {
		t.Fatalf("script %q, want Auth0.setClient({...});", got.body)
	}
	var cfg lockClient
	if err := json.Unmarshal([]byte(strings.TrimSuffix(js, ");\n")), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "demo-app" || len(cfg.Strategies) != 1 || cfg.Strategies[0].Name != "auth0" {
		t.Fatalf("config %+v, want demo-app with the auth0 strategy", cfg)
	}
	conns := cfg.Strategies[0].Connections
	if len(conns) != 1 || conns[0].Name != pageConn || conns[0].PasswordPolicy != "good" || !conns[0].ShowForgot ||
		conns[0].ShowSignup || conns[0].ComplexityOptions.MinLength != 8 {
		t.Errorf("connections %+v, want %s, good, min 8, forgot shown, no sign-up", conns, pageConn)
	}
	for _, secret := range []string{"secret", "password\"", "token"} {
		if strings.Contains(strings.ToLower(got.body), secret) {
			t.Errorf("the client file mentions %q: %s", secret, got.body)
		}
	}
	fetched := sendFrom(t, http.MethodGet, env.url+"/client/demo-app.js", spaOrigin, "", "",
		map[string]string{"Sec-Fetch-Dest": "empty"})
	if fetched.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
		fetched.Header.Get("Access-Control-Allow-Origin") != spaOrigin || !strings.HasPrefix(fetched.body, `{"id":"demo-app"`) {
		t.Errorf("fetch: %q, Allow-Origin %q, %s", fetched.Header.Get("Content-Type"),
			fetched.Header.Get("Access-Control-Allow-Origin"), fetched.body)
	}
	other := sendFrom(t, http.MethodGet, env.url+"/client/demo-app.js", "https://evil.example", "", "",
		map[string]string{"Sec-Fetch-Dest": "empty"})
	if other.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an unlisted origin may read it: Allow-Origin %q", other.Header.Get("Access-Control-Allow-Origin"))
	}
	if got := send(t, http.MethodGet, env.url+"/client/nobody.js", "", ""); got.StatusCode != http.StatusNotFound {
		t.Errorf("unknown client: %d, want 404", got.StatusCode)
	}
}
