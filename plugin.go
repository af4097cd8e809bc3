// Package caddypasswordreset is what xcaddy imports: it plugs the password-reset
// modules into Caddy. The modules themselves live in package caddymodule.
//
//	xcaddy build --with github.com/caddy-password-reset/caddy-password-reset
package caddypasswordreset

import _ "github.com/caddy-password-reset/caddy-password-reset/caddymodule" // registers the modules
