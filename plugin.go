// Package caddypasswordreset is what xcaddy imports: it plugs the password-reset
// modules into Caddy. The modules themselves live in package caddymodule.
//
//	xcaddy build --with github.com/caddy-password-reset/caddy-password-reset
//
// The packages and their arrows (each points to what a package may import):
//
//	caddymodule           Caddy glue: modules, Caddyfile, the user-store and storage namespaces
//	  └▶ handlers         net/http: parse, call a service, map its faults to statuses (errors.go)
//	       └▶ internal/reset   the flow: request, job, ticket, complete, cancel, revoke
//	       └▶ internal/admin   tickets for admins, set password, sessions, templates, outbox, audit
//	            └▶ internal/{tickets,audit,emailtemplates,history,users,fault}
//	            └▶ internal/{policy,passhash,queue,mail,ratelimit,keyring}, storage, templates
//	internal/service      assembles the flow and the admin service over one store
//	internal/connection   the app's HTTP hooks: a user store, injected by caddymodule
//	hook, storage         the public contracts: the hook protocol, the store a backend implements
//
// architecture_test.go holds the rules: the handlers see only the services, the
// services' dependency closures hold no net/http and no Caddy.
package caddypasswordreset

import _ "github.com/caddy-password-reset/caddy-password-reset/caddymodule" // registers the modules
