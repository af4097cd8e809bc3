package handlers

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
)

// This file is the one place where the services' errors become HTTP answers:
// each fault kind has its status, and the two Auth0 wire shapes are written
// here. Pages look their texts up by the error's code (templates.Text).

// statusOf is the HTTP status of an error of kind. An error that is not a fault
// (a bug) is a 500.
// StatusOf is the HTTP status of an error of the services, for the HTTP
// surfaces outside this package (Caddy's admin API).
func StatusOf(err error) int {
	if f, ok := fault.As(err); ok {
		return statusOf(f.Kind)
	}
	return http.StatusInternalServerError
}

func statusOf(k fault.Kind) int {
	switch k {
	case fault.Invalid, fault.Refused:
		// A refusal by the app's own rules is the user's input, not an outage:
		// monitoring counts 5xx as one.
		return http.StatusBadRequest
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Gone:
		return http.StatusGone
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.RateLimited:
		return http.StatusTooManyRequests
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	case fault.Unconfirmed:
		return http.StatusGatewayTimeout
	case fault.Forbidden:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// errServer is what an error that is not a fault is answered with.
var errServer = &fault.Error{Code: "server_error", Message: "internal error"}

// faultOf returns err as a fault, logging one that is not (a bug).
func faultOf(log *slog.Logger, err error) *fault.Error {
	if f, ok := fault.As(err); ok {
		return f
	}
	log.Error("unexpected error", "error", err)
	return errServer
}

// setRetryHeaders sends Retry-After for the errors that have one: a rate limit's
// wait, or 5 seconds for a store or app that cannot take the request now.
func setRetryHeaders(h http.Header, f *fault.Error) {
	switch {
	case f.RetryAfter > 0:
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
	case f.Kind == fault.Unavailable:
		h.Set("Retry-After", "5")
	}
	if info, ok := f.Detail.(reset.RateInfo); ok {
		setRateLimitHeaders(h, info)
	}
}

// AuthError is Auth0's Authentication API error body.
type AuthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// writeAuthError answers err in the Authentication API's shape.
func writeAuthError(w http.ResponseWriter, log *slog.Logger, err error) {
	f := faultOf(log, err)
	noteFault(w, f)
	setRetryHeaders(w.Header(), f)
	writeJSON(w, statusOf(f.Kind), AuthError{Code: f.Code, Description: f.Message})
}

// MgmtError is Auth0's Management API error body.
type MgmtError struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
	ErrorCode  string `json:"errorCode,omitempty"`
}

// writeMgmtError writes a Management API error of the HTTP layer's own (a
// missing token, a wrong method).
func writeMgmtError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, MgmtError{StatusCode: status, Error: http.StatusText(status), Message: message, ErrorCode: code})
}

// writeMgmtFault answers a service's error in the Management API's shape.
func writeMgmtFault(w http.ResponseWriter, log *slog.Logger, err error) {
	f := faultOf(log, err)
	setRetryHeaders(w.Header(), f)
	writeMgmtError(w, statusOf(f.Kind), f.Code, f.Message)
}

// setRateLimitHeaders sends Auth0's X-RateLimit-Limit, -Remaining and -Reset (UTC
// epoch seconds) and, on a refusal, Retry-After. With no limit in force it sends
// nothing. The values depend only on what was counted, which is the same for
// known and unknown addresses.
func setRateLimitHeaders(h http.Header, d reset.RateInfo) {
	if d.Limit == 0 {
		return
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	if d.Refused {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.RetryAfter.Seconds()))))
	}
}
