package handlers

import (
	"math"
	"net/http"
	"strconv"

	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
)

// setRateLimitHeaders sends Auth0's X-RateLimit-Limit, -Remaining and -Reset (UTC
// epoch seconds) and, on a refusal, Retry-After. With no limit in force it sends
// nothing. The values depend only on what was counted, which is the same for
// known and unknown addresses.
func setRateLimitHeaders(h http.Header, d ratelimit.Decision) {
	if d.Limit == 0 {
		return
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.RetryAfter.Seconds()))))
	}
}
