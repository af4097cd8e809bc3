package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// TestOwns: the plugin answers Auth0's request endpoint and its challenge,
// everything under /lo/, and the configuration files of declared clients; the
// rest goes on to the app.
func TestOwns(t *testing.T) {
	env := newPageEnv(t, policyGood)
	h, err := NewPublic(env.svc, PublicConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		PathChangePassword:                   true,
		PathChallenge:                        true,
		"/client/demo-app.js":                true,
		"/client/other-app.js":               false, // no such client: the app's
		"/client/demo-app.js/x":              false,
		"/client/demo-app":                   false,
		"/client/.js":                        false,
		"/client/":                           false,
		PathReset:                            true,
		PathForgot:                           true,
		PathCancel:                           true,
		PathRevoke:                           true,
		"/lo/":                               true,
		"/lo/assets/style.css":               true,
		"/lo/no-such-page":                   true,
		"/":                                  false,
		"/lo":                                false,
		"/login":                             false,
		"/lost":                              false,
		"/dbconnections/change_password/":    false,
		"/dbconnections/change_password2":    false,
		"/dbconnections/":                    false,
		"/LO/reset":                          false,
		"/api/v2/tickets/password-change":    false,
		"/admin/":                            false,
		"/app/lo/reset":                      false,
		"/dbconnections/change_password/../": false,
	} {
		if got := h.Owns(path); got != want {
			t.Errorf("Owns(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestPublicRouting: what each method and path of the plugin's namespace gets:
// its pages, its assets (cached an hour, never sniffed, no directory listing), a
// 404 page for a path under /lo/ that is no route, and a 405 page for a route's
// other methods, both with the pages' security headers.
func TestPublicRouting(t *testing.T) {
	env := newPageEnv(t, policyGood)
	for _, tt := range []struct {
		method, path string
		status       int
		contentType  string // a prefix
		headers      map[string]string
		body         string
	}{
		{"GET", "/lo/assets/style.css", 200, "text/css", map[string]string{"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}, "{"},
		{"GET", "/lo/assets/rules.js", 200, "text/javascript", map[string]string{"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}, ""},
		{"HEAD", "/lo/assets/rules.js", 200, "text/javascript", map[string]string{"Cache-Control": "public, max-age=3600"}, ""},
		{"GET", "/lo/assets/nope.js", 404, "text/html", map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}, "Page Not Found"},
		{"GET", "/lo/assets/", 404, "text/html", map[string]string{"Cache-Control": "no-store"}, "Page Not Found"}, // no listing
		{"POST", "/lo/assets/style.css", 405, "text/html", map[string]string{"Allow": "GET, HEAD"}, "Method Not Allowed"},
		{"GET", "/lo/no-such-page", 404, "text/html", map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}, "Page Not Found"},
		{"GET", "/lo/a/b/c", 404, "text/html", nil, `href="/lo/assets/style.css"`}, // the assets reached from any depth
		{"GET", "/lo/", 404, "text/html", nil, "Page Not Found"},
		{"GET", "/lo/hooks/revoke", 405, "text/html", map[string]string{"Allow": "POST"}, "Method Not Allowed"},
		{"DELETE", PathReset, 405, "text/html", map[string]string{"Allow": "GET, HEAD, POST"}, "Method Not Allowed"},
		{"PUT", PathForgot, 405, "text/html", map[string]string{"Allow": "GET, HEAD, POST"}, "Method Not Allowed"},
		{"GET", PathForgot, 200, "text/html", map[string]string{"X-Frame-Options": "DENY"}, "Forgot Your Password?"},
		{"HEAD", PathForgot, 200, "text/html", map[string]string{"X-Frame-Options": "DENY"}, ""},
		{"GET", PathReset, 400, "text/html", map[string]string{"Cache-Control": "no-store"}, "Open the link from your email again"},
		{"GET", PathCancel, 404, "text/html", map[string]string{"Cache-Control": "no-store"}, "Invalid Link"},
	} {
		what := tt.method + " " + tt.path
		got := send(t, tt.method, env.url+tt.path, "", "")
		if got.StatusCode != tt.status || !strings.HasPrefix(got.Header.Get("Content-Type"), tt.contentType) {
			t.Errorf("%s: %d %q, want %d %s", what, got.StatusCode, got.Header.Get("Content-Type"), tt.status, tt.contentType)
		}
		for h, want := range tt.headers {
			if v := got.Header.Get(h); v != want {
				t.Errorf("%s: %s %q, want %q", what, h, v, want)
			}
		}
		if !strings.Contains(got.body, tt.body) {
			t.Errorf("%s: body lacks %q:\n%s", what, tt.body, got.body)
		}
		if tt.method == http.MethodHead && got.body != "" {
			t.Errorf("%s: a body of %d bytes", what, len(got.body))
		}
	}
}

// TestStripAdminCookies: the dashboard's session cookie, by any of its names,
// never goes on to the app; the app's own cookies do, as the browser sent them.
func TestStripAdminCookies(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []string // Cookie lines; nil: none
		want []string // nil: no Cookie header
	}{
		{"no cookies", nil, nil},
		{"app cookies only, untouched", []string{"sid=abc;theme=dark"}, []string{"sid=abc;theme=dark"}},
		{"admin cookie among others", []string{"sid=abc; pwreset_admin=s3cr3t; theme=dark"}, []string{"sid=abc; theme=dark"}},
		{"admin cookie alone", []string{"pwreset_admin=s3cr3t"}, nil},
		{"secure name", []string{"__Secure-pwreset_admin=s3cr3t; sid=abc"}, []string{"sid=abc"}},
		{"host name", []string{"sid=abc; __Host-pwreset_admin=s3cr3t"}, []string{"sid=abc"}},
		{"every name, twice", []string{"pwreset_admin=a; __Secure-pwreset_admin=b", "sid=abc; pwreset_admin=c"}, []string{"sid=abc"}},
		{"several lines", []string{"sid=abc", "pwreset_admin=s3cr3t", "theme=dark"}, []string{"sid=abc; theme=dark"}},
		{"a similar name is the app's", []string{"pwreset_admin_prefs=wide; pwreset_admin=s3cr3t"}, []string{"pwreset_admin_prefs=wide"}},
		{"the name as a value is the app's", []string{"last=pwreset_admin"}, []string{"last=pwreset_admin"}},
		{"the public pages' cookies stay", []string{"pwreset_csrf=X; pwreset_ticket=Y; pwreset_admin=Z"}, []string{"pwreset_csrf=X; pwreset_ticket=Y"}},
		// Browsers send cookie values that Go's parser refuses or unquotes;
		// they are the app's and must reach it as they were sent.
		{"quoted value kept as sent", []string{`sid="abc"; pwreset_admin=s3cr3t`}, []string{`sid="abc"`}},
		{"JSON value kept", []string{`prefs={"a":1}; pwreset_admin=s3cr3t; sid=abc`}, []string{`prefs={"a":1}; sid=abc`}},
	} {
		r := newRequest(t, http.MethodGet, "http://app.example.com/", "", "")
		for _, line := range tt.in {
			r.Header.Add("Cookie", line)
		}
		StripAdminCookies(r)
		got := r.Header.Values("Cookie")
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || (tt.want == nil) != (got == nil) {
			t.Errorf("%s: Cookie %q, want %q", tt.name, got, tt.want)
		}
		for _, c := range r.Cookies() {
			for _, name := range AdminCookieNames {
				if c.Name == name {
					t.Errorf("%s: %s still goes to the app", tt.name, name)
				}
			}
		}
	}
}

// TestPublicDefaultClientIPIgnoresThePort: without ClientIP the request
// endpoint's limits count the client's address; RemoteAddr also carries its
// port, new with each connection, and a client must not escape the limit by
// opening a new connection for each request.
func TestPublicDefaultClientIPIgnoresThePort(t *testing.T) {
	env := newPageEnv(t, policyGood, withLimits) // PublicConfig{}: the default ClientIP
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	status := 0
	for range 11 {
		resp, err := fresh.Do(newRequest(t, http.MethodPost, env.url+PathChangePassword, ctJSON, jsonRequest("nobody@example.com")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		status = resp.StatusCode
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("the 11th request for one address, each on a new connection: %d, want 429 (the limit counts address and port)", status)
	}
}
