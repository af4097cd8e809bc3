package reset

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/caddy-password-reset/caddy-password-reset/ratelimit"
)

// Limits are the rate limits, in three layers: per client IP, per target email
// (Auth0's limit counts per IP and email; a second one counts per email across
// IPs, so a botnet cannot flood one inbox), and a global mail budget. The reset
// form's POST has its own per-ticket and per-IP limits, so that a ticket cannot
// be used to hammer the app's hook. A zero Limit is off.
type Limits struct {
	IP          ratelimit.Limit
	IPEmail     ratelimit.Limit
	Email       ratelimit.Limit
	ResetTicket ratelimit.Limit
	ResetIP     ratelimit.Limit
	// MailPerHour caps the emails queued per hour across all users. Jobs past the
	// budget wait (the request was already answered 200), so a flood delays mail
	// instead of refusing legitimate users with 429s.
	MailPerHour int
}

// DefaultLimits are the limits unless configured.
func DefaultLimits() Limits {
	return Limits{
		IP:          ratelimit.Limit{Burst: 20, Every: 6 * time.Second},
		IPEmail:     ratelimit.Limit{Burst: 10, Every: time.Minute}, // Auth0's
		Email:       ratelimit.Limit{Burst: 20, Every: 5 * time.Minute},
		ResetTicket: ratelimit.Limit{Burst: 10, Every: time.Minute},
		ResetIP:     ratelimit.Limit{Burst: 30, Every: 2 * time.Second},
		MailPerHour: 1000,
	}
}

// Validate refuses half-set limits.
func (l Limits) Validate() error {
	for name, lim := range map[string]ratelimit.Limit{"ip": l.IP, "ip_email": l.IPEmail, "email": l.Email,
		"reset_ticket": l.ResetTicket, "reset_ip": l.ResetIP} {
		if err := lim.Validate(); err != nil {
			return fmt.Errorf("rate limit %s: %w", name, err)
		}
	}
	if l.MailPerHour < 0 {
		return fmt.Errorf("rate limit mail_per_hour must not be negative")
	}
	return nil
}

func (l Limits) mailBudget() ratelimit.Limit {
	if l.MailPerHour <= 0 {
		return ratelimit.Limit{}
	}
	return ratelimit.Limit{Burst: l.MailPerHour, Every: time.Hour / time.Duration(l.MailPerHour)}
}

// RateLimitError is a refusal by a rate limit: answered 429 with Retry-After.
type RateLimitError struct {
	Decision ratelimit.Decision
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limit %s exceeded; retry in %s", e.Decision.Name, e.Decision.RetryAfter.Round(time.Second))
}

// ipKey is what the IP layers count: the address, or its /64 for IPv6, since one
// client commonly holds a whole /64.
func ipKey(ip string) string {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// folder is not safe for concurrent use: limitEmailKey makes one per call.
func limitEmailKey(email string) string {
	return cases.Fold().String(norm.NFKC.String(email))
}

// requestChecks are the limits of one reset request. Unknown emails are counted
// exactly like known ones, so a limit never tells them apart.
func (s *Service) requestChecks(ip, email string) []ratelimit.Check {
	ipk, ek := ipKey(ip), limitEmailKey(email)
	return []ratelimit.Check{
		{Name: "ip_email", Key: ipk + "|" + ek, Limit: s.cfg.Limits.IPEmail},
		{Name: "email", Key: ek, Limit: s.cfg.Limits.Email},
		{Name: "ip", Key: ipk, Limit: s.cfg.Limits.IP},
	}
}

// adminAuthLimit bounds wrong admin tokens per client IP: 10, then one a minute.
// Tokens are long random strings; this stops a guesser long before it matters
// and keeps the failures out of the logs' noise.
var adminAuthLimit = ratelimit.Limit{Burst: 10, Every: time.Minute}

func adminAuthCheck(ip string) ratelimit.Check {
	return ratelimit.Check{Name: "admin_auth", Key: ipKey(ip), Limit: adminAuthLimit}
}

// AdminAuthAllowed reports whether ip may try an admin token now (it has not used
// up its failures). It counts nothing.
func (s *Service) AdminAuthAllowed(ctx context.Context, ip string) (ratelimit.Decision, error) {
	return s.limiter.Peek(ctx, adminAuthCheck(ip))
}

// AdminAuthFailed counts a wrong admin token from ip.
func (s *Service) AdminAuthFailed(ctx context.Context, ip string) {
	if _, err := s.limiter.Allow(ctx, adminAuthCheck(ip)); err != nil {
		s.log.Warn("count a failed admin sign-in", zap.Error(err))
	}
}
