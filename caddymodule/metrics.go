package caddymodule

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/handlers"
	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/passhash"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// The plugin's metrics, on Caddy's admin /metrics (see the README's
// "Metrics"). Labels take their values from small fixed sets (routes,
// outcomes, template and limit names, hook names), never from an address, a
// ticket or a user.
//
// The counters are the process's, made once: every config registers the same
// ones in its own registry (Caddy gives each config a registry of its own,
// ctx.GetMetricsRegistry), so that a reload neither resets them nor counts
// twice, and the old config's workers, finishing during a reload, still count.
// The queue gauges read the store of the config that registered them.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "password_reset_requests_total",
		Help: "Requests to the public routes, by route and outcome.",
	}, []string{"route", "outcome"})
	rateLimitedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "password_reset_rate_limited_total",
		Help: "Requests refused by a rate limit, by the limit that refused them.",
	}, []string{"limit"})
	mailsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "password_reset_mails_total",
		Help: "Emails by template and event: queued, sent (the relay accepted it), retried (an attempt failed), failed (for good).",
	}, []string{"template", "event"})
	ticketsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "password_reset_tickets_total",
		Help: "Tickets by event: issued (emailed or admin), completed, unconfirmed (used, the app not confirming the change), cancelled (by the recipient).",
	}, []string{"event"})
	hookCallsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "password_reset_hook_calls_total",
		Help: "Calls to the user store's hooks (get_user, change_password), by hook and outcome.",
	}, []string{"hook", "outcome"})
	hookDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "password_reset_hook_duration_seconds",
		Help:    "How long a call to the user store's hook took, whatever its outcome.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"hook"})

	argon2Wait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "password_reset_argon2id_wait_seconds",
		Help:    "How long a password hash (argon2id: the history check, storing a new password's hash) waited for one of the process's hashing slots (one per CPU).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	argon2Duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "password_reset_argon2id_duration_seconds",
		Help:    "How long one argon2id hash ran, once it had a slot.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})

	storeTransactions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "password_reset_store_transactions_total",
		Help: "Store transactions by kind (view, update) and outcome: ok, conflict (lost a race; most are retried), unavailable (the store refused: closed, disk full), aborted (the caller's own error or a context ended).",
	}, []string{"kind", "outcome"})
	storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "password_reset_store_transaction_duration_seconds",
		Help:    "How long a store transaction took, its commit and its wait for the disk included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"kind"})

	processCollectors = []prometheus.Collector{requestsTotal, rateLimitedTotal, mailsTotal, ticketsTotal,
		hookCallsTotal, hookDuration, argon2Wait, argon2Duration, storeTransactions, storeDuration}
)

func init() {
	// The hashing slots and the stores are the process's (a store is shared
	// across reloads); so are their observers.
	passhash.Observe(func(wait, run time.Duration) {
		argon2Wait.Observe(wait.Seconds())
		argon2Duration.Observe(run.Seconds())
	})
	storage.ObserveTransactions(func(kind, outcome string, d time.Duration) {
		storeTransactions.WithLabelValues(kind, outcome).Inc()
		storeDuration.WithLabelValues(kind).Observe(d.Seconds())
	})
}

// provisionMetrics registers the plugin's metrics in the config's registry and
// hands the counting parts to cfg: the mail and ticket events, the hooks'
// calls. The
// queue gauges read a's services when scraped.
func (a *App) provisionMetrics(ctx caddy.Context, cfg *service.Config) error {
	cfg.OnMail = countMail
	cfg.OnTicket = countTicket
	for _, conn := range cfg.Site.Connections {
		if conn.Users != nil {
			conn.Users = observedDirectory{conn.Users}
		}
	}
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	collectors := append([]prometheus.Collector{&queueCollector{app: a}}, processCollectors...)
	for _, c := range collectors {
		if err := registerOnce(reg, c); err != nil {
			return err
		}
	}
	return nil
}

// registerOnce registers c in reg; c already there (the same config
// provisioned twice) is no error.
func registerOnce(reg prometheus.Registerer, c prometheus.Collector) error {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		return nil
	}
	return err
}

// publicMetrics counts the public routes' requests (handlers.Metrics).
type publicMetrics struct{}

func (publicMetrics) Request(route, outcome string) {
	requestsTotal.WithLabelValues(route, outcome).Inc()
}
func (publicMetrics) RateLimited(limit string) { rateLimitedTotal.WithLabelValues(limit).Inc() }

// countMail counts an email's event (service.Config.OnMail).
func countMail(kind, event string) { mailsTotal.WithLabelValues(kind, event).Inc() }

// countTicket counts a ticket's event (service.Config.OnTicket).
func countTicket(event string) { ticketsTotal.WithLabelValues(event).Inc() }

// observedDirectory counts and times the calls to a connection's user store.
type observedDirectory struct{ users.Directory }

func (d observedDirectory) LookupUser(ctx context.Context, email string) (*users.User, error) {
	start := time.Now()
	u, err := d.Directory.LookupUser(ctx, email)
	observeHook("get_user", start, err)
	return u, err
}

func (d observedDirectory) LookupUserByID(ctx context.Context, userID string) (*users.User, error) {
	start := time.Now()
	u, err := d.Directory.LookupUserByID(ctx, userID)
	observeHook("get_user", start, err)
	return u, err
}

func (d observedDirectory) ChangePassword(ctx context.Context, req users.ChangeRequest) error {
	start := time.Now()
	err := d.Directory.ChangePassword(ctx, req)
	observeHook("change_password", start, err)
	return err
}

// observeHook counts a call to hook that began at start and ended with err.
func observeHook(hook string, start time.Time, err error) {
	hookDuration.WithLabelValues(hook).Observe(time.Since(start).Seconds())
	hookCallsTotal.WithLabelValues(hook, hookOutcome(err)).Inc()
}

// hookOutcome names a hook call's outcome.
func hookOutcome(err error) string {
	var refused *users.RefusedError
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, users.ErrNotFound):
		return "not_found"
	case errors.As(err, &refused):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr):
		return "unreachable"
	case errors.Is(err, users.ErrOutcomeUnknown):
		return "unconfirmed"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error" // a bad answer: a status, a signature, a shape
}

// queueCollector reports the job queue's and the outbox's items, read from
// the store at each scrape.
type queueCollector struct{ app *App }

var (
	queueDepthDesc = prometheus.NewDesc("password_reset_queue_depth",
		"Items in a queue (jobs: reset requests not yet looked up; mail: the outbox), by state: pending (waiting or running, retries included), retrying, postponed (held by a limit), failed (given up, kept until requeued).",
		[]string{"queue", "state"}, nil)
	queueOldestDesc = prometheus.NewDesc("password_reset_queue_oldest_pending_age_seconds",
		"Age of the oldest pending item of a queue; 0 when none is pending.",
		[]string{"queue"}, nil)
)

// statsTimeout bounds a scrape's read of the queues.
const statsTimeout = 2 * time.Second

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueOldestDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	svc := c.app.services()
	if svc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := svc.Admin.Stats(ctx)
	if err != nil {
		if c.app.logger != nil {
			c.app.logger.Warn("metrics: cannot read the queues", zap.Error(err))
		}
		return
	}
	now := time.Now()
	for _, q := range []struct {
		name  string
		stats admin.QueueStats
	}{{"jobs", st.Jobs}, {"mail", st.Mail}} {
		for _, s := range []struct {
			state string
			n     int
		}{{"pending", q.stats.Pending}, {"retrying", q.stats.Retrying}, {"postponed", q.stats.Postponed}, {"failed", q.stats.Failed}} {
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(s.n), q.name, s.state)
		}
		age := 0.0
		if !q.stats.OldestPending.IsZero() {
			age = max(0, now.Sub(q.stats.OldestPending).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, age, q.name)
	}
}

// Interface guards.
var (
	_ handlers.Metrics     = publicMetrics{}
	_ users.Directory      = observedDirectory{}
	_ prometheus.Collector = (*queueCollector)(nil)
)
