// Package reset is the password-reset service: it takes reset requests, issues and
// consumes tickets, sets passwords through a connection, and queues the emails. It
// knows nothing of HTTP, Caddy or Badger: handlers call it, and it keeps its state
// in a storage.Store.
package reset

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// Connection is a named place where users live, with its password policy.
type Connection struct {
	Name   string
	Kind   connection.Kind
	Users  connection.Directory // nil unless Kind is connection.Database
	Policy policy.Policy
}

// Client is an application that asks for resets (Auth0's client_id).
type Client struct {
	ID   string
	Name string
	// ResultURL is where the user goes after a reset, unless the email template or
	// the ticket says otherwise. Empty: a success page.
	ResultURL string
	// AllowedURLs lists where a ticket may send this client's users after a
	// reset (an admin ticket's result_url must fall under one). Configuration
	// fills it with ResultURL's origin when it is not set.
	AllowedURLs []AllowedURL
}

// Config is what the service needs. Everything but Store and Transport comes from
// the Caddyfile.
type Config struct {
	// PublicURL is the origin (and optional path prefix) links are built on. It is
	// never taken from a request's Host header.
	PublicURL *url.URL

	Connections map[string]*Connection
	Clients     map[string]*Client
	// DefaultClient serves requests without a client_id.
	DefaultClient string

	// Emails are the templates as the Caddyfile seeds them, by name.
	Emails map[string]EmailTemplate
	// DefaultFrom is the From of emails whose template has none.
	DefaultFrom string

	FriendlyName, SupportEmail, SupportURL string

	// AuditRetention is how long audit log entries are kept (admin actions and
	// completed resets); zero means DefaultAuditRetention.
	AuditRetention time.Duration

	// Limits are the rate limits; the zero value turns them all off
	// (DefaultLimits are what the Caddyfile starts from).
	Limits Limits

	// OnEvent is told of what an operator may want to react to, such as
	// "password_reset.completed" (the app should end the user's sessions). The
	// Caddy module emits these through Caddy's events app. Nil: nothing.
	OnEvent func(ctx context.Context, name string, data map[string]any)

	Store storage.Store
	// ExclusiveStore says that this process has just opened Store and that no
	// other process can open it (Badger locks its directory): the leases of
	// queue items in it were left by a process that died, and Start releases
	// them, so that the work runs again at once instead of when the leases run
	// out. Leave it false for a store shared with live workers.
	ExclusiveStore bool
	Transport      mail.Transport
	// Keys is the keyring, kept outside Store, whose keys seal what a copy of
	// the store must not reveal: the outbox seals every queued email with it (a
	// reset email holds a live link). Required. Mail sealed with one keyring
	// opens only with the same one: losing it fails the mail still queued.
	Keys   *keyring.Keyring
	Logger *zap.Logger
	// Now is the clock; nil means time.Now. Tests move it to expire tickets.
	Now func() time.Time
}

// Service is the password-reset service.
type Service struct {
	cfg     Config
	log     *zap.Logger
	now     func() time.Time
	jobs    *queue.Queue
	outbox  *mail.Outbox
	emails  *emailTemplates
	limiter *ratelimit.Limiter

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks cfg and returns a service. It does not touch the store; Start does.
func New(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{
		cfg:     cfg,
		log:     log,
		now:     now,
		jobs:    queue.New(cfg.Store, "reset", now),
		outbox:  mail.NewOutbox(cfg.Store, cfg.Keys.Sealer(mail.SealPurpose), now),
		emails:  &emailTemplates{store: cfg.Store, now: now, compiled: map[string]compiledVersion{}},
		limiter: ratelimit.New(cfg.Store, now),
	}, nil
}

func (c *Config) validate() error {
	switch {
	case c.PublicURL == nil || c.PublicURL.Scheme == "" || c.PublicURL.Host == "":
		return errors.New("public_url is required: links are built on it, never on the Host header")
	case c.Store == nil:
		return errors.New("no store")
	case c.Transport == nil:
		return errors.New("no mail transport")
	case c.Keys == nil:
		return errors.New("no keyring: the outbox seals mail with it, so that the store never holds a live reset link")
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.DefaultClient != "" && c.Clients[c.DefaultClient] == nil {
		return fmt.Errorf("default client %q is not declared", c.DefaultClient)
	}
	for name, conn := range c.Connections {
		if conn.Kind == connection.Database && conn.Users == nil {
			return fmt.Errorf("connection %s: a database connection needs an upstream", name)
		}
		if err := conn.Policy.Validate(); err != nil {
			return fmt.Errorf("connection %s: %w", name, err)
		}
	}
	return nil
}

// Start seeds the email templates and starts the workers that run reset jobs and
// deliver mail. They stop when Stop is called.
func (s *Service) Start(ctx context.Context) error {
	if err := s.seedEmails(ctx); err != nil {
		return err
	}
	if s.cfg.ExclusiveStore {
		for _, q := range []*queue.Queue{s.jobs, s.outbox.Queue()} {
			n, err := q.ReleaseLeases(ctx)
			if err != nil {
				return fmt.Errorf("release the leases of queue %s: %w", q.Name(), err)
			}
			if n > 0 {
				s.log.Info("released the leases of a previous run", zap.String("queue", q.Name()), zap.Int("items", n))
			}
		}
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.cancel != nil {
		return errors.New("service already started")
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	jobs := s.jobWorker()
	deliver := s.outbox.Worker(s.cfg.Transport, s.mailSent, s.log.Named("outbox"))
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		wg.Go(func() { jobs.Run(runCtx) })
		wg.Go(func() { deliver.Run(runCtx) })
		wg.Go(func() { s.limiter.Run(runCtx, time.Second) })
		wg.Wait()
	}()
	return nil
}

// Stop stops the workers and waits for the work in flight (bounded by the
// workers' grace period).
func (s *Service) Stop() {
	s.runMu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.runMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (s *Service) seedEmails(ctx context.Context) error {
	for _, name := range templates.EmailNames() {
		t, ok := s.cfg.Emails[name]
		if !ok {
			var err error
			if t, err = DefaultEmailTemplate(name); err != nil {
				return err
			}
		}
		if err := s.emails.seed(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// Connection returns the named connection.
func (s *Service) Connection(name string) (*Connection, bool) {
	c, ok := s.cfg.Connections[name]
	return c, ok
}

// DefaultConnection returns the only database connection, or "" if there are
// several: pages that do not name a connection use it.
func (s *Service) DefaultConnection() string {
	name := ""
	for n, c := range s.cfg.Connections {
		if c.Kind != connection.Database {
			continue
		}
		if name != "" {
			return ""
		}
		name = n
	}
	return name
}

// Client returns the client with id, or the default client for "".
func (s *Service) Client(id string) (*Client, bool) {
	if id == "" {
		id = s.cfg.DefaultClient
	}
	c, ok := s.cfg.Clients[id]
	return c, ok
}

// pageURL returns the address of one of the plugin's pages on the public URL,
// never on a request's Host header.
func (s *Service) pageURL(route string, query url.Values) string {
	u := *s.cfg.PublicURL
	u.Path = strings.TrimSuffix(u.Path, "/") + route
	u.RawPath, u.RawQuery, u.Fragment = "", query.Encode(), ""
	return u.String()
}

// emit tells OnEvent, if set.
func (s *Service) emit(ctx context.Context, name string, data map[string]any) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ctx, name, data)
	}
}

// PublicURL returns the base of every link.
func (s *Service) PublicURL() *url.URL { return s.cfg.PublicURL }

// storeErr turns store failures into ErrUnavailable for the caller, keeping the
// cause in the log.
func (s *Service) storeErr(op string, err error) error {
	s.log.Error("store failed", zap.String("op", op), zap.Error(err))
	return fmt.Errorf("%w: %s", ErrUnavailable, op)
}
