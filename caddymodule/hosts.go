package caddymodule

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A site, as the admin-host check sees it: a server's top-level route, the host
// names it matches (none: every host) and whether it serves the admin routes.
type site struct {
	server string
	hosts  []string // lower case; empty matches every host name
	admin  bool
}

// adminHostProblems looks for sites that share a host name with the site of the
// admin routes. Browsers send a cookie to every site of its host name, whatever
// the port, so the dashboard's session would reach them. A site that names the
// same host is an error; a site without a host name (it answers every host,
// the admin site's among them) is a warning.
func adminHostProblems(app *caddyhttp.App) (warnings []string, err error) {
	sites := httpSites(app)
	var errs []string
	for _, adm := range sites {
		if !adm.admin {
			continue
		}
		for _, other := range sites {
			if other.admin {
				continue
			}
			shared, explicit := sharedHost(adm.hosts, other.hosts)
			switch {
			case shared == "":
			case explicit:
				errs = append(errs, fmt.Sprintf("the site of password_reset_admin and another site (server %s) both serve the host name %s", other.server, shared))
			default:
				warnings = append(warnings, fmt.Sprintf("password_reset_admin's site %s shares host names with a site that answers every host (server %s)",
					describeHosts(adm.hosts), other.server))
			}
		}
	}
	if len(errs) > 0 {
		return warnings, fmt.Errorf("%s: browsers send the dashboard's session cookie to every site of a host name, "+
			"whatever its port; serve the admin routes on a host name of their own (admin.example.com, or admin.localhost "+
			"on one machine)", strings.Join(errs, "; "))
	}
	return warnings, nil
}

func describeHosts(hosts []string) string {
	if len(hosts) == 0 {
		return "(every host name)"
	}
	return strings.Join(hosts, ", ")
}

// sharedHost returns a host name both sites may serve, and whether both name it
// (rather than one of them answering every host).
func sharedHost(a, b []string) (host string, explicit bool) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return "*", false
	case len(a) == 0:
		return b[0], false
	case len(b) == 0:
		return a[0], false
	}
	for _, x := range a {
		for _, y := range b {
			if hostsOverlap(x, y) {
				return x, true
			}
		}
	}
	return "", false
}

// hostsOverlap reports whether two host matchers can match one host name; a
// leading "*." label matches one label, as Caddy's host matcher does.
func hostsOverlap(x, y string) bool {
	if x == y {
		return true
	}
	return wildcardMatch(x, y) || wildcardMatch(y, x)
}

func wildcardMatch(pattern, host string) bool {
	rest, ok := strings.CutPrefix(pattern, "*.")
	if !ok {
		return false
	}
	_, tail, found := strings.Cut(host, ".")
	return found && tail == rest
}

// httpSites lists every server's top-level routes.
func httpSites(app *caddyhttp.App) []site {
	names := make([]string, 0, len(app.Servers))
	for name := range app.Servers {
		names = append(names, name)
	}
	sort.Strings(names)
	var sites []site
	for _, name := range names {
		for _, route := range app.Servers[name].Routes {
			sites = append(sites, site{server: name, hosts: routeHosts(route), admin: routeHasAdmin(route)})
		}
	}
	return sites
}

// routeHosts returns the host names a route's matchers require; none when some
// matcher set does not restrict the host.
func routeHosts(route caddyhttp.Route) []string {
	var hosts []string
	for _, set := range route.MatcherSets {
		found := false
		for _, m := range set {
			var names []string
			switch mh := m.(type) {
			case *caddyhttp.MatchHost:
				names = *mh
			case caddyhttp.MatchHost:
				names = mh
			default:
				continue
			}
			found = true
			for _, n := range names {
				hosts = append(hosts, strings.ToLower(n))
			}
		}
		if !found {
			return nil
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// routeHasAdmin reports whether the route, or a subroute in it, holds the admin
// handler.
func routeHasAdmin(route caddyhttp.Route) bool {
	for _, h := range route.Handlers {
		switch h := h.(type) {
		case *AdminHandler:
			return true
		case *caddyhttp.Subroute:
			if slices.ContainsFunc(h.Routes, routeHasAdmin) {
				return true
			}
		}
	}
	return false
}
