// Package service assembles the password-reset services over one store: it makes
// the parts the flow and the admin service share (the job queue, the outbox, the
// email templates, the audit log, the rate limiter) and hands them to both. The
// Caddy glue and the tests build the product through it.
package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Config is the product's configuration, as the Caddyfile gives it, and the
// store, keys and mail transport it runs on.
type Config struct {
	Site   reset.Site
	Limits reset.Limits
	// Emails are the templates as the Caddyfile seeds them, by name.
	Emails map[string]emailtemplates.Template
	// AuditRetention is how long audit entries are kept (zero: 90 days).
	AuditRetention time.Duration

	Store storage.Store
	// ExclusiveStore, MaxAccepted, AcceptWait: see reset.Config.
	ExclusiveStore bool
	MaxAccepted    int
	AcceptWait     time.Duration
	// Keys is the key kept outside the store: it seals queued mail and derives
	// the trusted admin sessions' ids.
	Keys      *keyring.Keyring
	Transport mail.Transport
	OnEvent   func(ctx context.Context, name string, data map[string]any)
	// OnMail, if set, is told of each email's events by its kind (the
	// template's name) and the event (mail.MailQueued, MailSent, MailRetried,
	// MailFailed): for metrics. It must not block.
	OnMail func(kind, event string)
	// OnTicket, if set, is told of each ticket's event (reset.TicketIssued...).
	OnTicket func(event string)
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Services are the flow and the admin service over one store.
type Services struct {
	Flow  *reset.Service
	Admin *admin.Service

	templates *emailtemplates.Store
}

// New builds the services. It does not touch the store; Start does.
func New(cfg Config) (*Services, error) {
	if cfg.Store == nil {
		return nil, errors.New("no store")
	}
	if cfg.Keys == nil {
		return nil, errors.New("no keys: queued mail is sealed with a key kept outside the store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	parts := struct {
		jobs      *queue.Queue
		outbox    *mail.Outbox
		templates *emailtemplates.Store
		audit     *audit.Log
		limiter   *ratelimit.Limiter
	}{
		jobs:      queue.New(cfg.Store, "reset", cfg.Now),
		outbox:    mail.NewOutbox(cfg.Store, cfg.Keys.Sealer(mail.SealPurpose), cfg.Now),
		templates: emailtemplates.NewStore(cfg.Store, cfg.Emails, cfg.Site.Langs(), cfg.Now),
		audit:     audit.New(cfg.Store, cfg.AuditRetention, cfg.Now),
		limiter:   ratelimit.New(cfg.Store, cfg.Now),
	}
	site := cfg.Site
	flow, err := reset.New(reset.Config{
		Site: &site, Limits: cfg.Limits, Store: cfg.Store, ExclusiveStore: cfg.ExclusiveStore,
		Jobs: parts.jobs, Outbox: parts.outbox, Templates: parts.templates, Audit: parts.audit, Limiter: parts.limiter,
		MaxAccepted: cfg.MaxAccepted, AcceptWait: cfg.AcceptWait,
		Transport: cfg.Transport, OnEvent: cfg.OnEvent, OnTicket: cfg.OnTicket, Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	parts.outbox.Observe(func(e mail.Event) {
		if cfg.OnMail != nil {
			cfg.OnMail(e.Kind, e.Event)
		}
		flow.NoteMail(e)
	})
	adm, err := admin.New(admin.Config{
		Flow: flow, Store: cfg.Store, Keys: cfg.Keys, Jobs: parts.jobs, Outbox: parts.outbox,
		Templates: parts.templates, Audit: parts.audit, Limiter: parts.limiter, Logger: cfg.Logger.With("service", "admin"), Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	return &Services{Flow: flow, Admin: adm, templates: parts.templates}, nil
}

// Start seeds the email templates and starts the flow's workers.
func (s *Services) Start(ctx context.Context) error {
	if err := s.templates.Seed(ctx); err != nil {
		return err
	}
	return s.Flow.Start(ctx)
}

// Stop stops the workers, waiting for the work in flight.
func (s *Services) Stop() { s.Flow.Stop() }
