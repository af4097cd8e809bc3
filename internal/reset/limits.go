package reset

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
)

// Limits are the rate limits. The request endpoint's are the requester's own:
// per client IP, and per client IP and target email (Auth0's limit); a third
// limit protects a user's inbox and counts per user as the app resolved the
// address, after the lookup, so that no requester can see it or spend it for the
// user: past it, the user's emails are postponed and merged, never refused. A
// global budget caps the emails sent per hour. The reset form's POST has its own
// per-ticket and per-IP limits, so that a ticket cannot be used to hammer the
// app's hook. A zero Limit is off.
type Limits struct {
	IP      ratelimit.Limit
	IPEmail ratelimit.Limit
	// User counts the reset emails per resolved user, from every requester.
	User        ratelimit.Limit
	ResetTicket ratelimit.Limit
	ResetIP     ratelimit.Limit
	// MailPerHour caps the reset emails sent per hour across all users. Mail
	// past the budget waits in the outbox (the request was already answered
	// 200), so a flood delays mail instead of refusing legitimate users with
	// 429s; a user's first email in a while goes before the others.
	MailPerHour int
}

// DefaultLimits are the limits unless configured.
func DefaultLimits() Limits {
	return Limits{
		IP:          ratelimit.Limit{Burst: 20, Every: 6 * time.Second},
		IPEmail:     ratelimit.Limit{Burst: 10, Every: time.Minute}, // Auth0's
		User:        ratelimit.Limit{Burst: 3, Every: 5 * time.Minute},
		ResetTicket: ratelimit.Limit{Burst: 10, Every: time.Minute},
		ResetIP:     ratelimit.Limit{Burst: 30, Every: 2 * time.Second},
		MailPerHour: 1000,
	}
}

// Validate refuses half-set limits.
func (l Limits) Validate() error {
	for name, lim := range map[string]ratelimit.Limit{"ip": l.IP, "ip_email": l.IPEmail, "user": l.User,
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

// RateInfo is the state of a requester's tightest bucket, for Auth0's
// X-RateLimit headers (and Retry-After on a refusal).
type RateInfo struct {
	Name       string        // the limit that decided: the one that refused, or the tightest
	Limit      int           // the bucket's size; 0: no limit in force
	Remaining  int           // requests left right now
	Reset      time.Time     // when the bucket is full again
	RetryAfter time.Duration // when refused: how long until one request is allowed
	Refused    bool
}

func rateInfo(d ratelimit.Decision) RateInfo {
	if d.Limit == 0 {
		return RateInfo{}
	}
	return RateInfo{Name: d.Name, Limit: d.Limit, Remaining: d.Remaining, Reset: d.Reset, RetryAfter: d.RetryAfter, Refused: !d.Allowed}
}

// rateLimited is ErrRateLimited for the decision d.
func rateLimited(d ratelimit.Decision) error {
	e := *ErrRateLimited
	e.RetryAfter, e.Detail = d.RetryAfter, rateInfo(d)
	return &e
}

// IPKey is what the IP layers count: the address, or its /64 for IPv6, since one
// client commonly holds a whole /64.
func IPKey(ip string) string {
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

// requestChecks are the limits of one reset request: the requester's own
// buckets, so that the answer's X-RateLimit headers tell nothing of other
// requesters. Unknown emails are counted exactly like known ones, so a limit
// never tells them apart. The ip check comes first: requestLane reads it.
func (s *Service) requestChecks(ip, email string) []ratelimit.Check {
	ipk := IPKey(ip)
	checks := []ratelimit.Check{{Name: "ip", Key: ipk, Limit: s.cfg.Limits.IP}}
	if email != "" {
		checks = append(checks, ratelimit.Check{Name: "ip_email", Key: ipk + "|" + limitEmailKey(email), Limit: s.cfg.Limits.IPEmail})
	}
	return checks
}

// requestLane puts a request from an address that has asked little lately (its
// first or second request in the IP limit's window) in the job queue's High
// lane, ahead of a flood's backlog. It depends only on the requester's IP, not
// on the address asked for, so known and unknown addresses share it.
func requestLane(d ratelimit.Decision, ipLimit ratelimit.Limit) queue.Priority {
	if ipLimit.Off() || len(d.Checks) == 0 || d.Checks[0].Remaining >= ipLimit.Burst-2 {
		return queue.High
	}
	return queue.Normal
}

// userCheck is the per-user limit: a user as the app resolved the address.
func (s *Service) userCheck(conn, userID string) ratelimit.Check {
	return ratelimit.Check{Name: "user", Key: conn + "\x00" + userID, Limit: s.cfg.Limits.User}
}

// RequestLimits reports the requester's buckets without counting anything, for
// the X-RateLimit headers of an answer that refused the request before it
// counted (a body that could not be read).
func (s *Service) RequestLimits(ctx context.Context, ip string) RateInfo {
	d, err := s.cfg.Limiter.Peek(ctx, s.requestChecks(ip, "")...)
	if err != nil {
		s.log.Warn("read rate limits", "error", err)
	}
	return rateInfo(d)
}
