// Package connection is the user store that reaches the app behind the proxy
// through its signed HTTP hooks (package hook): Upstream. Package caddymodule
// registers it as the Caddy module password_reset.connections.upstream.
package connection
