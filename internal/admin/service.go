// Package admin is the admin service behind the Management API and the
// dashboard: password-change tickets, setting a password by hand, finding a user,
// dashboard sessions, the audit log, the outbox, the email templates and their
// versions, and the queues' figures. It shares the flow's store and parts, and
// like the flow it knows nothing of HTTP and returns fault errors.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Config is what the admin service needs: the flow (for its site and to send a
// reset email as a user would ask for one) and the parts it shares with it.
type Config struct {
	Flow      *reset.Service
	Store     storage.Store
	Keys      *keyring.Keyring // derives the trusted sessions' ids
	Jobs      *queue.Queue
	Outbox    *mail.Outbox
	Templates *emailtemplates.Store
	Audit     *audit.Log
	Limiter   *ratelimit.Limiter
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the admin service.
type Service struct {
	cfg  Config
	flow *reset.Service
	site *reset.Site
	log  *slog.Logger
	now  func() time.Time
}

// New checks cfg and returns the admin service.
func New(cfg Config) (*Service, error) {
	if cfg.Flow == nil || cfg.Store == nil || cfg.Keys == nil || cfg.Jobs == nil || cfg.Outbox == nil ||
		cfg.Templates == nil || cfg.Audit == nil || cfg.Limiter == nil {
		return nil, errors.New("the admin service needs the flow, its store, keys, queues, templates, audit log and limiter")
	}
	s := &Service{cfg: cfg, flow: cfg.Flow, site: cfg.Flow.Site(), log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Site returns the configuration the admin service serves.
func (s *Service) Site() *reset.Site { return s.site }

// Actor is who does an admin action.
type Actor = audit.Actor

// fail returns an error of kind with code: the admin calls' refusals, in the
// codes of Auth0's Management API.
func fail(kind fault.Kind, code, format string, args ...any) *fault.Error {
	return fault.New(kind, code, format, args...)
}

// invalid is a refusal of the request's body or path.
func invalid(format string, args ...any) *fault.Error {
	return fail(fault.Invalid, "invalid_body", format, args...)
}

// errNoUser is Auth0's answer for an unknown user.
var errNoUser = &fault.Error{Kind: fault.NotFound, Code: "inexistent_user", Message: "The user does not exist."}

// storeErr turns a store failure into reset.ErrUnavailable for the caller,
// keeping the cause in the log.
func (s *Service) storeErr(op string, err error) error {
	s.log.Error("store failed", "op", op, "error", err)
	return reset.ErrUnavailable.With(fmt.Errorf("%s: %w", op, err))
}

// record writes an audit entry of an action that has happened; a failure is
// logged, not returned.
func (s *Service) record(ctx context.Context, e audit.Entry) {
	if err := s.cfg.Audit.Write(ctx, e); err != nil {
		s.log.Error("could not write the audit log", "type", e.Type, "error", err)
	}
}

// AuditEntry is one line of the audit log.
type AuditEntry = audit.Entry

// MaxAuditPage is the largest page AuditLog returns (Auth0's per_page limit).
const MaxAuditPage = audit.MaxPage
