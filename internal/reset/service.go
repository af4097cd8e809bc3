// Package reset is the password-reset flow: a request becomes a durable job,
// the job looks the user up and mails a ticket, the ticket opens the reset page,
// and the page's submit sets the password through the app and closes the ticket;
// the email's "this wasn't me" link and the app's own revoke call cancel it. It
// knows nothing of HTTP, Caddy or page text: the handlers call it, its users are
// reached through a users.Directory, and it returns fault errors.
package reset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Config is what the flow needs: the site's configuration, the limits, and the
// parts it shares with the admin service, all over one store.
type Config struct {
	Site   *Site
	Limits Limits

	Store storage.Store
	// ExclusiveStore says that this process has just opened Store and that no
	// other process can open it (Badger locks its directory): the leases of
	// queue items in it were left by a process that died, and Start releases
	// them, so that the work runs again at once instead of when the leases run
	// out. Leave it false for a store shared with live workers.
	ExclusiveStore bool

	Jobs      *queue.Queue // the reset requests waiting for their lookup
	Outbox    *mail.Outbox
	Templates *emailtemplates.Store
	Audit     *audit.Log
	Limiter   *ratelimit.Limiter
	Transport mail.Transport

	// OnEvent is told of what an operator may want to react to, such as
	// "password_reset.completed" (the app should end the user's sessions). The
	// Caddy module emits these through Caddy's events app. Nil: nothing.
	OnEvent func(ctx context.Context, name string, data map[string]any)
	// OnTicket, if set, is told of each ticket's event (TicketIssued...), for
	// metrics. It must not block.
	OnTicket func(event string)

	// MaxAccepted bounds the reset requests accepted and not yet finished
	// (see admission); AcceptWait is how long a request waits for room before
	// it is answered ErrBusy. Zero: DefaultMaxAccepted and 5 seconds.
	MaxAccepted int
	AcceptWait  time.Duration

	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests move it to expire tickets.
	Now func() time.Time
}

// Service is the flow.
type Service struct {
	cfg  Config
	site *Site
	log  *slog.Logger
	now  func() time.Time

	jobs    *queue.Worker // runs the reset jobs
	deliver *queue.Worker // delivers the outbox
	admit   *admission

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks cfg and returns the flow. It does not touch the store; Start does.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Site == nil:
		return nil, errors.New("no site configuration")
	case cfg.Store == nil || cfg.Jobs == nil || cfg.Outbox == nil || cfg.Templates == nil || cfg.Audit == nil || cfg.Limiter == nil:
		return nil, errors.New("the flow needs its store, queues, templates, audit log and limiter")
	case cfg.Transport == nil:
		return nil, errors.New("no mail transport")
	}
	if err := cfg.Site.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, site: cfg.Site, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.admit = newAdmission(cmp.Or(cfg.MaxAccepted, DefaultMaxAccepted), cmp.Or(cfg.AcceptWait, 5*time.Second))
	s.jobs = s.jobWorker()
	s.deliver = s.cfg.Outbox.Worker(s.cfg.Transport, s.mailSent, s.log)
	s.deliver.OnFinish = s.admit.leave
	return s, nil
}

// DefaultMaxAccepted is the default bound of the work accepted and not yet
// finished (see admission): enough to keep every job and mail worker busy
// several times over, few enough that a request accepted behind a full bound
// has its mail within a second or so.
const DefaultMaxAccepted = 4 * (jobConcurrency + mail.OutboxConcurrency)

// Start starts the workers that run reset jobs and deliver mail, and the rate
// limits' write-behind. They stop when Stop is called.
func (s *Service) Start(ctx context.Context) error {
	if s.cfg.ExclusiveStore {
		if err := s.releaseLeases(ctx); err != nil {
			return err
		}
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.cancel != nil {
		return errors.New("service already started")
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	jobs, deliver := s.jobs, s.deliver
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		wg.Go(func() { jobs.Run(runCtx) })
		wg.Go(func() { deliver.Run(runCtx) })
		wg.Go(func() { s.cfg.Limiter.Run(runCtx, time.Second) })
		wg.Wait()
	}()
	return nil
}

func (s *Service) releaseLeases(ctx context.Context) error {
	for _, q := range []*queue.Queue{s.cfg.Jobs, s.cfg.Outbox.Queue()} {
		n, err := q.ReleaseLeases(ctx)
		if err != nil {
			return fmt.Errorf("release the leases of queue %s: %w", q.Name(), err)
		}
		if n > 0 {
			s.log.Info("released the leases of a previous run", "queue", q.Name(), "items", n)
		}
	}
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
	s.admit.open()
	cancel()
	<-done
}

// Site returns the configuration the flow serves.
func (s *Service) Site() *Site { return s.site }

// The tickets' events that OnTicket is told of.
const (
	TicketIssued      = "issued"      // an emailed link or an admin ticket made
	TicketCompleted   = "completed"   // a password set with it
	TicketUnconfirmed = "unconfirmed" // used, the app's change_password hook not confirming the change
	TicketCancelled   = "cancelled"   // cancelled by its recipient ("this wasn't me")
)

// NoteTicket tells OnTicket, if set, of a ticket's event: the flow's own, and
// the admin service's tickets.
func (s *Service) NoteTicket(event string) {
	if s.cfg.OnTicket != nil {
		s.cfg.OnTicket(event)
	}
}

// NoteMail turns an outbox event into Caddy's events: an email failed for
// good, or still retried after MailRetryingAfter attempts (once).
func (s *Service) NoteMail(e mail.Event) {
	name := ""
	switch {
	case e.Event == mail.MailFailed:
		name = EventMailFailed
	case e.Event == mail.MailRetried && e.Attempts == MailRetryingAfter:
		name = EventMailRetrying
	default:
		return
	}
	s.emit(context.Background(), name, map[string]any{"template": e.Kind, "id": e.ID, "attempts": e.Attempts, "error": e.Error})
}

// Emit tells OnEvent, if set, of the event name with data: for the admin
// service's events (see the Event constants).
func (s *Service) Emit(ctx context.Context, name string, data map[string]any) {
	s.emit(ctx, name, data)
}

// emit tells OnEvent, if set.
func (s *Service) emit(ctx context.Context, name string, data map[string]any) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ctx, name, data)
	}
}

// storeErr turns a store failure into ErrUnavailable for the caller, keeping the
// cause in the log.
func (s *Service) storeErr(op string, err error) error {
	s.log.Error("store failed", "op", op, "error", err)
	return unavailable(fmt.Errorf("%s: %w", op, err))
}
