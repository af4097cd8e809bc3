package handlers

import (
	"net"
	"net/http"
	"slices"
	"strings"
)

// StripAdminCookies removes the dashboard's session cookie from a request that
// goes on to the app behind the proxy. Browsers send cookies to every port of a
// host name, so with the dashboard on another port of the same host the app
// would otherwise receive, and could replay, an admin's session.
//
// The app's own cookies pass exactly as sent: the header is cut into its
// name=value pairs and only the admin's are dropped, rather than rebuilt from
// r.Cookies(), which would unquote values and drop the ones net/http finds
// invalid (a JSON value, say) that the app may still read.
func StripAdminCookies(r *http.Request) {
	lines := r.Header.Values("Cookie")
	if len(lines) == 0 || !slices.ContainsFunc(lines, hasAdminCookie) {
		return
	}
	var kept []string
	for _, line := range lines {
		for pair := range strings.SplitSeq(line, ";") {
			pair = strings.TrimSpace(pair)
			name, _, _ := strings.Cut(pair, "=")
			if pair != "" && !slices.Contains(AdminCookieNames, strings.TrimSpace(name)) {
				kept = append(kept, pair)
			}
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

// RemoteIP is the client's address without its port, the default ClientIP:
// keyed by "address:port", every new connection would be a new client to the
// rate limits and to the binding of an admin session.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
