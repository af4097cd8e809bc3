package handlers

import (
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

func TestRequestOutcomes(t *testing.T) {
	limited := *reset.ErrRateLimited
	limited.Detail = reset.RateInfo{Name: "reset_ip", Refused: true}
	for _, c := range []struct {
		route  string
		status int
		fault  *fault.Error
		want   string
	}{
		{RouteChangePassword, 200, nil, OutcomeAccepted},
		{RouteResetSubmit, 303, nil, OutcomeCompleted},
		{RouteResetSubmit, 200, nil, OutcomeCompleted},
		{RouteResetPage, 200, nil, OutcomeOK},
		{RouteCancelSubmit, 200, nil, OutcomeCancelled},
		{RouteResetSubmit, 400, reset.ErrPasswordsDiffer, OutcomeInvalid},
		{RouteResetSubmit, 400, &fault.Error{Kind: fault.Invalid, Code: passwordRefusedCode}, OutcomeRefused},
		{RouteResetSubmit, 400, &fault.Error{Kind: fault.Refused, Code: "password_refused"}, OutcomeRefused},
		{RouteResetSubmit, 410, reset.ErrTicketExpired, OutcomeInvalidTicket},
		{RouteResetPage, 404, reset.ErrTicketInvalid, OutcomeInvalidTicket},
		{RouteResetSubmit, 409, reset.ErrTicketBusy, OutcomeConflict},
		{RouteResetSubmit, 429, &limited, OutcomeRateLimited},
		{RouteChangePassword, 503, reset.ErrUnavailable, OutcomeUnavailable},
		{RouteResetSubmit, 503, reset.ErrAppUnavailable, OutcomeUnavailable},
		{RouteChangePassword, 403, nil, OutcomeForbidden},
		{RouteOther, 404, nil, OutcomeNotFound},
		{RouteOther, 405, nil, OutcomeNotFound},
		{RouteChangePassword, 413, nil, OutcomeInvalid},
		{RouteChangePassword, 500, errServer, OutcomeError},
	} {
		rec := &outcomeRecorder{statusRecorder: statusRecorder{status: c.status}, fault: c.fault}
		if got := rec.outcome(c.route); got != c.want {
			t.Errorf("%s answered %d for %v: %q, want %q", c.route, c.status, c.fault, got, c.want)
		}
	}
	if limit, ok := rateLimit(&limited); !ok || limit != "reset_ip" {
		t.Errorf("rate limit of a refusal: %q %v", limit, ok)
	}
	if _, ok := rateLimit(reset.ErrUnavailable); ok {
		t.Error("an outage counted as a rate limit")
	}
}
