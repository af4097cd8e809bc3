package handlers

import (
	"net/http"
	"slices"
	"strings"
)

// StripAdminCookies removes the dashboard's session cookie from a request that
// goes on to the app behind the proxy. Browsers send cookies to every port of a
// host name, so with the dashboard on another port of the same host the app
// would otherwise receive, and could replay, an admin's session.
func StripAdminCookies(r *http.Request) {
	lines := r.Header.Values("Cookie")
	if len(lines) == 0 || !slices.ContainsFunc(lines, hasAdminCookie) {
		return
	}
	var kept []string
	for _, c := range r.Cookies() {
		if !slices.Contains(AdminCookieNames, c.Name) {
			kept = append(kept, c.Name+"="+c.Value)
		}
	}
	r.Header.Del("Cookie")
	if len(kept) > 0 {
		r.Header.Set("Cookie", strings.Join(kept, "; "))
	}
}

func hasAdminCookie(line string) bool {
	return strings.Contains(line, "pwreset_admin")
}
