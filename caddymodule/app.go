// Package caddymodule is the Caddy glue: it registers the password_reset app (the
// global option that holds what all sites share), the password_reset handler that
// places the public routes on a site, and the storage modules; it parses the
// Caddyfile and turns the JSON config into the reset service. The work itself is
// done by packages reset, handlers, mail and storage, which do not import Caddy.
package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/handlers"
	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the password_reset app. It holds the configuration all sites share, the
// store, the SMTP sender and the reset service with its workers.
type App struct {
	// PublicURL is the scheme, host and optional path prefix of the site that
	// serves the reset page. Links in emails are built on it, never on a request's
	// Host header. Required.
	PublicURL string `json:"public_url,omitempty"`

	// StorageRaw is where tokens, jobs, templates and the outbox are kept. Default:
	// the embedded Badger store in Caddy's data directory.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=password_reset.storage inline_key=backend"`

	// SMTP is the mail relay. Default: plain SMTP to 127.0.0.1:25.
	SMTP *SMTPConfig `json:"smtp,omitempty"`

	// Connections are where users live, by name (Auth0's connection).
	Connections []ConnectionConfig `json:"connections,omitempty"`

	// Clients are the applications that ask for resets (Auth0's client_id). A
	// request without client_id is for the first client.
	Clients []ClientConfig `json:"clients,omitempty"`

	// Emails seed the email templates (reset_email); what is not set keeps the
	// built-in default. See README for which wins after a runtime edit.
	Emails []EmailConfig `json:"emails,omitempty"`

	// RateLimits are the rate limits; see RateLimitsConfig for the defaults.
	RateLimits *RateLimitsConfig `json:"rate_limits,omitempty"`

	// FriendlyName, SupportEmail and SupportURL fill Auth0's template variables
	// friendly_name, support_email and support_url.
	FriendlyName string `json:"friendly_name,omitempty"`
	SupportEmail string `json:"support_email,omitempty"`
	SupportURL   string `json:"support_url,omitempty"`

	// Languages are the languages the pages and the built-in emails speak
	// (BCP 47 tags, each with a shipped catalog). Default: every shipped
	// language. DefaultLanguage is the one used when no preference matches;
	// default: the first of Languages, en when Languages is not set.
	Languages       []string `json:"languages,omitempty"`
	DefaultLanguage string   `json:"default_language,omitempty"`
	// TextsFile is a JSON file of texts that replace the catalogs' ones, by
	// language and key: {"fr": {"page.footer": "..."}}.
	TextsFile string `json:"texts_file,omitempty"`

	// FilesDigest is the SHA-256 of the files the config names (the email
	// templates' html_file and text_file, reset_page, texts), written by the
	// Caddyfile adapter: an edited file then makes a changed config, which a
	// plain `caddy reload` applies. The app itself does not read it.
	FilesDigest string `json:"files_digest,omitempty"`

	// ResetPage is a file whose HTML replaces the reset form page (Auth0's
	// "Customize Password Reset Page"): Liquid, with Auth0's variables (email,
	// ticket, csrf_token, tenant.friendly_name, password_policy, min_length...),
	// every output HTML-escaped, served under the built-in page's CSP. It is
	// compiled at provision, so a broken file is a configuration error. Default:
	// the built-in form.
	ResetPage string `json:"reset_page,omitempty"`

	// AuditRetention is how long the audit log keeps an entry (admin actions,
	// completed resets). Default: 90 days.
	AuditRetention caddy.Duration `json:"audit_retention,omitempty"`

	// Backlog bounds the reset requests this node has accepted and not yet
	// finished (the lookup done, the mail's first attempt made): a request
	// that finds it full waits up to BacklogWait for room, then gets 503 with
	// nothing stored. Default: 256 and 5 seconds.
	Backlog     int            `json:"backlog,omitempty"`
	BacklogWait caddy.Duration `json:"backlog_wait,omitempty"`

	// EncryptionKey is the secret (at least 32 characters, such as the output
	// of `openssl rand -hex 32`) from which the keys that seal the outbox's mail
	// are derived: a queued reset email holds a live link, and the store keeps
	// it sealed so that a copy of the store resets no password. Use {env.X}, so
	// that the secret stays out of the JSON config. Default: the key in the file
	// password_reset.key in Caddy's data directory, made on the first start.
	// Either way the key is kept outside the store: back it up apart from it,
	// and keep it, since mail sealed under a lost key cannot be sent.
	EncryptionKey string `json:"encryption_key,omitempty"`

	svc     *service.Services
	store   storage.Store  // for the admin API's backup
	cfg     service.Config // built by Provision; the store and keys are added by Start
	storage StoreProvider
	// started is closed once Start built the services and the handlers'
	// HTTP sides (see whenStarted).
	started  chan struct{}
	starters []func(*service.Services) error
	inbound  map[string]handlers.InboundVerifier
	sender   *mail.Sender
	logger   *zap.Logger
	slogger  *slog.Logger
	ctx      caddy.Context

	resetPage *templates.ResetPage // ResetPage compiled; nil: the built-in form
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "password_reset",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision checks the whole configuration, as `caddy validate` does too: it
// refuses what Start would, and opens no store, creates no file and sends
// nothing. Start opens the store and the key, and builds the services.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx, a.logger, a.slogger = ctx, ctx.Logger(), ctx.Slogger()
	a.started = make(chan struct{})
	var err error
	if a.storage, err = a.loadStorage(ctx); err != nil {
		return err
	}
	cfg, err := a.serviceConfig(ctx)
	if err != nil {
		return err
	}
	if a.resetPage, err = loadResetPage(a.ResetPage); err != nil {
		return err
	}
	if err := a.checkKeys(a.storage.Shared()); err != nil {
		return err
	}
	smtp, err := a.smtpConfig()
	if err != nil {
		return err
	}
	if a.sender, err = mail.NewSender(smtp, a.slogger.With("component", "smtp")); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	cfg.Transport, cfg.Logger = a.sender, a.slogger
	if cfg.OnEvent, err = a.eventEmitter(ctx); err != nil {
		return err
	}
	if err = a.provisionMetrics(ctx, &cfg); err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}

// whenStarted has fn build a handler's HTTP side once Start has built the
// services: fn's error fails Start. Call it from a handler's Provision.
func (a *App) whenStarted(fn func(*service.Services) error) { a.starters = append(a.starters, fn) }

// waitStarted waits until the app has started, for a request that arrives in
// the moment between Caddy starting the HTTP server and this app (Caddy starts
// apps in no fixed order).
func (a *App) waitStarted(ctx context.Context) error {
	select {
	case <-a.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(startWait):
		return errors.New("the password_reset app has not started")
	}
}

// Services returns the flow and the admin service of the running app (for
// tests that reach into a Caddy running in process); an error before Start.
func (a *App) Services() (*service.Services, error) {
	if svc := a.services(); svc != nil {
		return svc, nil
	}
	return nil, errors.New("the password_reset app has not started")
}

// services returns the services once the app has started, else nil. Start
// writes them before it closes started, so a reader that saw it closed sees
// them (the metrics' scrapes and the admin API run beside Start).
func (a *App) services() *service.Services {
	select {
	case <-a.started:
		return a.svc
	default:
		return nil
	}
}

// startWait bounds how long a request waits for the app to start.
const startWait = 30 * time.Second

// open opens the store and the key and builds the services and the handlers'
// HTTP sides.
func (a *App) open() error {
	store, err := a.storage.Open()
	if err != nil {
		return err
	}
	cfg := a.cfg
	cfg.Store = store
	if e, ok := a.storage.(exclusiveStore); ok {
		cfg.ExclusiveStore = e.JustOpened()
	}
	if cfg.Keys, err = a.loadKeys(a.storage.Shared()); err != nil {
		return err
	}
	svc, err := service.New(cfg)
	if err != nil {
		return err
	}
	for _, build := range a.starters {
		if err := build(svc); err != nil {
			return err
		}
	}
	a.store, a.svc = store, svc
	return nil
}

// checkKeys refuses what loadKeys would refuse without reading or creating
// the key file, for Provision.
func (a *App) checkKeys(sharedStore bool) error {
	_, err := a.secretKeys(sharedStore)
	return err
}

// secretKeys returns the keyring of encryption_key; nil, nil without one
// (the key file is then the key), which a shared store refuses.
func (a *App) secretKeys(sharedStore bool) (*keyring.Keyring, error) {
	if a.EncryptionKey != "" {
		secret := caddy.NewReplacer().ReplaceAll(a.EncryptionKey, "")
		if secret == "" {
			return nil, errors.New("encryption_key is empty: is the environment variable set?")
		}
		keys, err := keyring.FromSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("encryption_key: %w", err)
		}
		return keys, nil
	}
	if sharedStore {
		return nil, errors.New("encryption_key is required with a storage shared by several nodes " +
			"(the same secret on every node, e.g. {env.PASSWORD_RESET_KEY}): mail queued by one node is sent by any")
	}
	return nil, nil
}

// keyFileName is the key file's name in Caddy's data directory: beside the
// default Badger directory (password_reset), not in it, so that a copy of the
// store does not carry the key that opens what it seals.
const keyFileName = "password_reset.key"

// loadKeys returns the keyring of encryption_key, or of the key file in Caddy's
// data directory (made if missing). Errors name the file, never the key. A store
// shared by several nodes needs encryption_key: each node's own key file would
// seal mail that the other nodes cannot open.
func (a *App) loadKeys(sharedStore bool) (*keyring.Keyring, error) {
	if keys, err := a.secretKeys(sharedStore); keys != nil || err != nil {
		return keys, err
	}
	path := filepath.Join(caddy.AppDataDir(), keyFileName)
	_, statErr := os.Stat(path)
	keys, err := keyring.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key (set encryption_key, or fix the key file): %w", err)
	}
	// Only for the log line: another process may create the file meanwhile.
	if errors.Is(statErr, fs.ErrNotExist) {
		a.logger.Info("created the key that seals queued mail; back it up apart from the store",
			zap.String("key_file", path))
	}
	return keys, nil
}

// loadStorage provisions the storage module, which opens nothing yet.
func (a *App) loadStorage(ctx caddy.Context) (StoreProvider, error) {
	if a.StorageRaw == nil {
		a.StorageRaw = json.RawMessage(`{"backend":"badger"}`)
	}
	mod, err := ctx.LoadModule(a, "StorageRaw")
	if err != nil {
		return nil, fmt.Errorf("loading storage module: %w", err)
	}
	provider, ok := mod.(StoreProvider)
	if !ok {
		return nil, fmt.Errorf("storage module %T does not provide a store", mod)
	}
	return provider, nil
}

// eventEmitter hands the service's events to Caddy's events app, where the
// operator can subscribe to them (`events { on password_reset.completed ... }`).
func (a *App) eventEmitter(ctx caddy.Context) (func(context.Context, string, map[string]any), error) {
	mod, err := ctx.App("events")
	if err != nil {
		return nil, fmt.Errorf("events app: %w", err)
	}
	events, ok := mod.(*caddyevents.App)
	if !ok {
		return nil, fmt.Errorf("events app is %T", mod)
	}
	return func(_ context.Context, name string, data map[string]any) {
		events.Emit(a.ctx, name, data)
	}, nil
}

// Start checks that the dashboard's cookie cannot reach another site, seeds
// the templates and starts the workers.
func (a *App) Start() error {
	if err := a.checkAdminHosts(); err != nil {
		return err
	}
	if err := a.open(); err != nil {
		return err
	}
	if err := a.svc.Start(a.ctx); err != nil {
		return fmt.Errorf("start password reset service: %w", err)
	}
	close(a.started)
	a.logger.Info("password reset service started", zap.String("public_url", a.PublicURL))
	return nil
}

// checkAdminHosts refuses a config whose admin routes share a host name with
// another site, and warns when a site answers every host name. The HTTP app is
// provisioned by now (apps start after every app is provisioned).
func (a *App) checkAdminHosts() error {
	mod, err := a.ctx.AppIfConfigured("http")
	if err != nil || mod == nil {
		return nil // no HTTP app: no sites
	}
	app, ok := mod.(*caddyhttp.App)
	if !ok {
		return nil
	}
	warnings, err := adminHostProblems(app)
	for _, w := range warnings {
		a.logger.Warn("the dashboard's session cookie may reach another site: serve password_reset_admin on a host name of its own",
			zap.String("problem", w))
	}
	return err
}

// Stop stops the workers; work in flight gets a short grace period, and anything
// unfinished is picked up again from the store.
func (a *App) Stop() error {
	if a.svc != nil {
		a.svc.Stop()
	}
	if a.sender != nil {
		return a.sender.Close()
	}
	return nil
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
