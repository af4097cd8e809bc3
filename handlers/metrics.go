package handlers

import (
	"net/http"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

// Metrics is told what the public routes answered, for the operator's
// monitoring (package caddymodule counts it in Caddy's metrics). Every label it
// is given comes from a small fixed set: a route's name, an outcome, a rate
// limit's name; never an address, a ticket or a user.
type Metrics interface {
	// Request counts a request to route (RouteChangePassword...) that ended
	// with outcome (OutcomeAccepted...).
	Request(route, outcome string)
	// RateLimited counts a request refused by the rate limit named limit
	// ("ip", "ip_email", "reset_ip"...).
	RateLimited(limit string)
}

// The routes' names, as Metrics sees them.
const (
	RouteChangePassword = "change_password"
	RouteChallenge      = "challenge"
	RouteClientFile     = "client_file"
	RouteResetPage      = "reset_page"   // GET /lo/reset: the form
	RouteResetSubmit    = "reset_submit" // POST /lo/reset: the new password
	RouteCancelPage     = "cancel_page"
	RouteCancelSubmit   = "cancel_submit"
	RouteRevoke         = "revoke"
	RouteForgotPage     = "forgot_page"
	RouteForgotSubmit   = "forgot_submit"
	RouteAssets         = "assets"
	RouteOther          = "other" // a path under /lo/ that is no route, a route's other method
)

// The outcomes of a request, as Metrics sees them.
const (
	OutcomeOK            = "ok"             // a page or a file served
	OutcomeAccepted      = "accepted"       // a reset request stored (change_password, forgot)
	OutcomeCompleted     = "completed"      // a password set with a ticket
	OutcomeCancelled     = "cancelled"      // a ticket cancelled by its user
	OutcomeInvalid       = "invalid"        // malformed or incomplete input
	OutcomeRefused       = "refused"        // a password the policy or the app refused
	OutcomeInvalidTicket = "invalid_ticket" // a ticket unknown, used, expired or superseded
	OutcomeRateLimited   = "rate_limited"
	OutcomeForbidden     = "forbidden" // an origin, a CSRF token or a signature refused
	OutcomeNotFound      = "not_found"
	OutcomeConflict      = "conflict"
	OutcomeUnavailable   = "unavailable" // the store or the app could not take it
	OutcomeUnconfirmed   = "unconfirmed" // the app did not confirm the change
	OutcomeError         = "error"       // anything else (a bug)
)

// passwordRefusedCode is the code of a password policy's refusals (Auth0's).
const passwordRefusedCode = "invalid_password"

// routeNames names the mux's patterns (NewPublic's).
var routeNames = map[string]string{
	"POST " + PathChangePassword:             RouteChangePassword,
	"OPTIONS " + PathChangePassword:          RouteChangePassword,
	"POST " + PathChallenge:                  RouteChallenge,
	"OPTIONS " + PathChallenge:               RouteChallenge,
	"GET " + pathClientPrefix + "{file}":     RouteClientFile,
	"OPTIONS " + pathClientPrefix + "{file}": RouteClientFile,
	"GET " + PathReset:                       RouteResetPage,
	"POST " + PathReset:                      RouteResetSubmit,
	"GET " + PathCancel:                      RouteCancelPage,
	"POST " + PathCancel:                     RouteCancelSubmit,
	"POST " + PathRevoke:                     RouteRevoke,
	"GET " + PathForgot:                      RouteForgotPage,
	"POST " + PathForgot:                     RouteForgotSubmit,
	"GET " + pathAssets:                      RouteAssets,
}

// success is the outcome of a route's request answered 2xx or 3xx.
func success(route string) string {
	switch route {
	case RouteChangePassword, RouteForgotSubmit:
		return OutcomeAccepted
	case RouteResetSubmit:
		return OutcomeCompleted
	case RouteCancelSubmit:
		return OutcomeCancelled
	}
	return OutcomeOK
}

// statusRecorder is a ResponseWriter that keeps the status it answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// outcomeRecorder is the ResponseWriter of a counted request: it keeps the
// status and the fault the answer was written for.
type outcomeRecorder struct {
	statusRecorder
	fault *fault.Error
}

// Unwrap lets http.ResponseController reach the server's writer.
func (o *outcomeRecorder) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// noteFault records that w's answer is for f, when w is a counted request's.
func noteFault(w http.ResponseWriter, f *fault.Error) {
	if o, ok := w.(*outcomeRecorder); ok && o.fault == nil {
		o.fault = f
	}
}

// outcome is the request's outcome on route.
func (o *outcomeRecorder) outcome(route string) string {
	if f := o.fault; f != nil {
		if strings.HasPrefix(f.Code, "ticket_") && f.Kind != fault.Conflict {
			return OutcomeInvalidTicket
		}
		switch f.Kind {
		case fault.Invalid, fault.TooLarge:
			if f.Code == passwordRefusedCode {
				return OutcomeRefused
			}
			return OutcomeInvalid
		case fault.Refused:
			return OutcomeRefused
		case fault.NotFound:
			return OutcomeNotFound
		case fault.Gone:
			return OutcomeInvalidTicket
		case fault.Conflict:
			return OutcomeConflict
		case fault.RateLimited:
			return OutcomeRateLimited
		case fault.Unavailable:
			return OutcomeUnavailable
		case fault.Unconfirmed:
			return OutcomeUnconfirmed
		case fault.Forbidden:
			return OutcomeForbidden
		}
		return OutcomeError
	}
	switch s := o.status; {
	case s == 0 || s < 400:
		return success(route)
	case s == http.StatusTooManyRequests:
		return OutcomeRateLimited
	case s == http.StatusForbidden || s == http.StatusUnauthorized:
		return OutcomeForbidden
	case s == http.StatusNotFound || s == http.StatusMethodNotAllowed:
		return OutcomeNotFound
	case s == http.StatusGone:
		return OutcomeInvalidTicket
	case s == http.StatusConflict:
		return OutcomeConflict
	case s == http.StatusServiceUnavailable:
		return OutcomeUnavailable
	case s == http.StatusGatewayTimeout:
		return OutcomeUnconfirmed
	case s < 500:
		return OutcomeInvalid
	}
	return OutcomeError
}

// rateLimit is the name of the limit that refused f's request, if one did.
func rateLimit(f *fault.Error) (string, bool) {
	if f == nil || f.Kind != fault.RateLimited {
		return "", false
	}
	if info, ok := f.Detail.(reset.RateInfo); ok && info.Name != "" {
		return info.Name, true
	}
	return "other", true
}

// count tells p's metrics how the request to the mux's pattern ended.
func (p *Public) count(rec *outcomeRecorder, pattern string) {
	route, ok := routeNames[pattern]
	if !ok {
		route = RouteOther
	}
	p.metrics.Request(route, rec.outcome(route))
	if limit, ok := rateLimit(rec.fault); ok {
		p.metrics.RateLimited(limit)
	}
}
