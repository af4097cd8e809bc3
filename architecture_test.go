package caddypasswordreset

import (
	"os/exec"
	"strings"
	"testing"
)

// The shape of the code, as rules a change cannot break unnoticed:
//
//	caddymodule ─▶ handlers ─▶ internal/reset (the flow), internal/admin ─▶ tickets, audit,
//	                  │                                       emailtemplates, history, users,
//	                  ▼                                       policy, queue, mail, ratelimit,
//	              templates, internal/fault                   storage
//
// caddymodule is the only package that imports Caddy; the handlers see the
// services and their errors, never what is below them; the flow and the admin
// service know nothing of HTTP or Caddy (their whole dependency closure is free
// of net/http: users are reached through an interface, the HTTP-hook store is
// injected by the Caddy glue).
const module = "github.com/caddy-password-reset/caddy-password-reset/"

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestHandlersSeeOnlyTheServices: the handlers import the flow, the admin
// service, the error model, the templates and the public hook protocol of this
// module, nothing below the services.
func TestHandlersSeeOnlyTheServices(t *testing.T) {
	allowed := map[string]bool{
		module + "internal/reset": true, module + "internal/admin": true, module + "internal/fault": true,
		module + "templates": true, module + "hook": true,
	}
	for _, imp := range goList(t, "-f", `{{join .Imports " "}}`, "./handlers") {
		if strings.HasPrefix(imp, module) && !allowed[imp] {
			t.Errorf("handlers import %s: they must reach it through the flow or the admin service", strings.TrimPrefix(imp, module))
		}
	}
}

// TestServicesKnowNoHTTP: the flow's and the admin service's whole dependency
// closures hold no net/http, no Caddy and no zap (which imports net/http).
func TestServicesKnowNoHTTP(t *testing.T) {
	for _, pkg := range []string{"./internal/reset", "./internal/admin", "./internal/service"} {
		for _, dep := range goList(t, "-deps", pkg) {
			if dep == "net/http" || strings.HasPrefix(dep, "github.com/caddyserver/") || strings.HasPrefix(dep, "go.uber.org/zap") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// TestOnlyTheGlueImportsCaddy: Caddy is imported by the Caddy glue alone (and by
// what runs Caddy: the end-to-end tests and tools).
func TestOnlyTheGlueImportsCaddy(t *testing.T) {
	for _, line := range goList(t, "-f", `{{.ImportPath}}:{{join .Imports ","}}`, "./...") {
		pkg, imports, _ := strings.Cut(line, ":")
		name := strings.TrimPrefix(pkg, module)
		if name == "caddymodule" || pkg+"/" == module || strings.HasPrefix(name, "e2e") || strings.HasPrefix(name, "faults") {
			continue
		}
		for _, imp := range strings.Split(imports, ",") {
			if strings.HasPrefix(imp, "github.com/caddyserver/") {
				t.Errorf("%s imports %s: only caddymodule may", name, imp)
			}
		}
	}
}
