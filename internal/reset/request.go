package reset

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// Request is a reset request, as Auth0's POST /dbconnections/change_password takes it.
type Request struct {
	ClientID     string
	Email        string
	Connection   string
	Organization string

	// About the requester: the IP is what the IP rate limits count (as the server
	// trusts it, behind trusted proxies); both are kept with the job.
	IP string
	// Language is the requester's Accept-Language and UILocales Auth0's
	// ui_locales (tags separated by spaces): with the user's own language
	// from the app, they choose the email's language (see Languages.Choose).
	Language, UILocales string

	// Admin marks a request made from the admin API or dashboard: it is not
	// rate-limited (the admin's own IP would be counted).
	Admin bool
}

// job is the durable form of an accepted request.
type job struct {
	ClientID     string    `json:"client_id,omitempty"`
	Connection   string    `json:"connection"`
	Email        string    `json:"email"`
	Organization string    `json:"organization,omitempty"`
	IP           string    `json:"ip,omitempty"`
	Language     string    `json:"language,omitempty"`
	UILocales    string    `json:"ui_locales,omitempty"`
	RequestedAt  time.Time `json:"requested_at"`
	// Admin: asked for from the admin API or dashboard (the audit log's actor).
	Admin bool `json:"admin,omitempty"`
}

// RequestReset checks req, applies the rate limits and stores the request as a
// job; a worker then looks the user up, issues a ticket and queues the email. When
// RequestReset returns a nil error the request is durable. Known and unknown
// emails take exactly the same path here, limits included, so the answer cannot
// tell them apart. The RateInfo is the state of the requester's own tightest
// bucket, for the X-RateLimit headers, on every answer (a refused request is
// not counted). Errors: Invalid (nothing stored), ErrRateLimited or
// ErrUnavailable.
func (s *Service) RequestReset(ctx context.Context, req Request) (RateInfo, error) {
	j, err := s.checkRequest(req)
	if err != nil {
		if req.Admin {
			return RateInfo{}, err
		}
		return s.RequestLimits(ctx, req.IP), err
	}
	id := newJobID(j.RequestedAt)
	if !req.Admin {
		if err := s.admit.enter(ctx, id, j.RequestedAt); err != nil {
			return s.RequestLimits(ctx, req.IP), err
		}
	}
	d, err := s.storeJob(ctx, req, id, j)
	if err != nil {
		s.admit.leave(id)
	}
	return rateInfo(d), err
}

// storeJob applies the rate limits and stores the job id, claimed at once by
// the job worker when it has a free slot and nothing waiting (queue.Reserve):
// then the job runs without a claim commit of its own.
func (s *Service) storeJob(ctx context.Context, req Request, id string, j *job) (ratelimit.Decision, error) {
	var d ratelimit.Decision
	lane := queue.High
	if !req.Admin {
		var err error
		if d, err = s.cfg.Limiter.Allow(ctx, s.requestChecks(req.IP, j.Email)...); err != nil {
			return d, s.storeErr("check rate limits", err)
		}
		if !d.Allowed {
			return d, rateLimited(d)
		}
		lane = requestLane(d, s.cfg.Limits.IP)
	}
	res := s.jobs.Reserve()
	err := s.cfg.Store.Update(ctx, func(tx storage.Tx) error {
		if res != nil {
			return res.Put(tx, id, j, lane)
		}
		return s.cfg.Jobs.PutPriority(tx, id, j, lane)
	})
	switch {
	case err != nil && res != nil:
		res.Cancel()
	case res != nil:
		res.Start()
	case err == nil:
		s.cfg.Jobs.NotifyPriority(id, lane)
	}
	if err != nil {
		return d, s.storeErr("store reset job", err)
	}
	return d, nil
}

func (s *Service) checkRequest(req Request) (*job, error) {
	if req.ClientID != "" {
		if _, ok := s.site.Clients[req.ClientID]; !ok {
			return nil, fault.New(fault.Invalid, "invalid_client", "Unknown client: %s", req.ClientID)
		}
	}
	if req.Connection == "" {
		return nil, badRequest("Missing required parameter: connection")
	}
	if err := s.checkConnection(req.Connection); err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	return &job{
		ClientID: req.ClientID, Connection: req.Connection, Email: email,
		Organization: req.Organization, IP: req.IP,
		Language: templates.Preference(req.Language), UILocales: templates.Preference(req.UILocales),
		RequestedAt: s.now(), Admin: req.Admin,
	}, nil
}

// checkConnection refuses unknown connections and those without passwords.
func (s *Service) checkConnection(name string) error {
	conn, ok := s.site.Connections[name]
	if !ok {
		return fault.New(fault.Invalid, "bad.connection", "Connection does not exist: %s", name)
	}
	if conn.Kind != users.Database {
		return fault.New(fault.Invalid, "bad.connection",
			"%s is a %s connection: its users sign in with their identity provider, so there is no password to reset here", name, conn.Kind)
	}
	return nil
}

func newJobID(now time.Time) string {
	return fmt.Sprintf("%016x-%s", now.UnixNano(), strings.ToLower(rand.Text()[:10]))
}

// jobConcurrency is how many reset jobs run at once: each spends most of its
// time waiting for the app's get_user answer, so many overlap on few cores.
const jobConcurrency = 32

func (s *Service) jobWorker() *queue.Worker {
	return &queue.Worker{
		Queue:       s.cfg.Jobs,
		Concurrency: jobConcurrency,
		OnFinish:    s.admit.leave,
		MaxRun:      time.Minute,
		MinBackoff:  time.Second,
		MaxBackoff:  30 * time.Second,
		MaxAge:      24 * time.Hour,
		Logger:      s.log,
		Handler:     s.runJob,
	}
}

// runJob does the work of one reset request: look the user up, issue a ticket and
// queue the email, committing the ticket, the email and the job's removal together.
// An app that does not answer leaves the job to be retried. The job's commits
// are relaxed (storage.Relax): the request's own commit was the promise, and a
// job result lost to a power cut leaves the job in the store, to run again (a
// second email, whose link works; the first one's ticket was lost with it).
func (s *Service) runJob(ctx context.Context, it *queue.Item) error {
	j, ok := it.Local().(*job) // stored by this process's storeJob
	if !ok {
		j = new(job)
		if err := json.Unmarshal(it.Payload, j); err != nil {
			return queue.Permanent(fmt.Errorf("decode reset job: %w", err))
		}
	}
	conn, ok := s.site.Connections[j.Connection]
	if !ok || conn.Kind != users.Database {
		return s.failJob(ctx, it, j, nil, "the connection is no longer configured")
	}
	user, err := conn.Users.LookupUser(ctx, j.Email)
	switch {
	case errors.Is(err, users.ErrNotFound):
		return s.failJob(ctx, it, j, nil, "no user has this address")
	case err != nil:
		return err
	case user.Blocked:
		return s.failJob(ctx, it, j, user, "the user is blocked")
	}
	lane, err := s.spendUserLimit(ctx, it, conn, user)
	if err != nil {
		return err
	}
	return s.issueAndMail(ctx, it, j, conn, user, lane)
}

// spendUserLimit takes one email from the user's own bucket and says which lane
// the email goes in: the High lane for a user's first email in a while. Past the
// limit the job is postponed to when the bucket allows one more, and merged with
// the user's other requests: a job ends without email when a newer job for the
// same user has been handled or waits (the user's marker names the newest).
// Every email goes to the user's own address, so which request sends it does
// not matter; what matters is that a flood of requests for someone's address,
// from anywhere, yields at most one email per interval past the burst, and
// never none: the newest request is always served.
func (s *Service) spendUserLimit(ctx context.Context, it *queue.Item, conn *Connection, user *users.User) (queue.Priority, error) {
	if s.cfg.Limits.User.Off() {
		return queue.High, nil
	}
	newest, err := s.newestJob(ctx, conn.Name, user.UserID)
	if err != nil {
		return 0, err
	}
	if newest > it.ID {
		return 0, s.dropJob(ctx, it, "merged with a newer request for the same user")
	}
	check := s.userCheck(conn.Name, user.UserID)
	d, err := s.cfg.Limiter.Allow(ctx, check)
	if err != nil {
		return 0, err
	}
	if d.Allowed {
		if check.Limit.Off() || d.Remaining == check.Limit.Burst-1 {
			return queue.High, nil
		}
		return queue.Normal, nil
	}
	s.markNewestBestEffort(ctx, conn.Name, user.UserID, it.ID)
	return 0, queue.Later(s.now().Add(d.RetryAfter), "the user's email limit; the email goes out when it allows one more")
}

// newestKey holds the id of the newest job handled or waiting for a user. Job
// ids sort by creation time.
func newestKey(conn, userID string) string {
	sum := sha256.Sum256([]byte(conn + "\x00" + userID))
	return "rq/newest/" + hex.EncodeToString(sum[:16])
}

func (s *Service) newestJob(ctx context.Context, conn, userID string) (string, error) {
	var id string
	err := s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get(newestKey(conn, userID))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		id = string(v)
		return err
	})
	return id, err
}

// markNewest records jobID as the user's newest job unless a newer one is
// recorded. The mark outlives the limit's window, the longest a job waits.
func (s *Service) markNewest(tx storage.Tx, conn, userID, jobID string) error {
	key := newestKey(conn, userID)
	v, err := tx.Get(key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if string(v) > jobID {
		return nil
	}
	lim := s.cfg.Limits.User
	return tx.Set(key, []byte(jobID), time.Duration(lim.Burst)*lim.Every+10*time.Minute)
}

// markNewestBestEffort records jobID as the user's newest job in a commit of
// its own. The mark only lets older requests end without mail instead of
// waiting for the user's bucket, which bounds the mail either way; so it is
// kept out of the commits that matter: a job's result sharing a commit with
// the mark lost, under a flood of requests for one user, the race for it to
// the others' marks, and with it the email its limit had counted.
func (s *Service) markNewestBestEffort(ctx context.Context, conn, userID, jobID string) {
	err := storage.UpdateRelaxed(ctx, s.cfg.Store, func(tx storage.Tx) error {
		return s.markNewest(tx, conn, userID, jobID)
	})
	if err != nil {
		s.log.Warn("record the newest reset request of a user", "job", jobID, "error", err)
	}
}

// dropJob ends a job that sends nothing. The reason is logged at debug level
// without the address: whether an address has an account is not for the logs.
func (s *Service) dropJob(ctx context.Context, it *queue.Item, reason string) error {
	s.log.Debug("reset request ends without email", "job", it.ID, "reason", reason)
	return storage.UpdateRelaxed(ctx, s.cfg.Store, func(tx storage.Tx) error {
		return s.cfg.Jobs.Done(tx, it)
	})
}

// failJob ends a job that sends nothing for a reason the admins should see: the
// audit log's fcpr entry, with the address asked for, commits with the job's
// removal, so that recording it costs the request no commit of its own. Only
// the admin side reads the audit log; the requester's answer was the same 200
// long before. user is nil when no user was found.
func (s *Service) failJob(ctx context.Context, it *queue.Item, j *job, user *users.User, reason string) error {
	s.log.Debug("reset request ends without email", "job", it.ID, "reason", reason)
	entry := requestAuditEntry(j, user, audit.ResetRequestFailed, "Change password request ended without an email: "+reason)
	return storage.UpdateRelaxed(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if err := s.cfg.Jobs.Done(tx, it); err != nil {
			return err
		}
		return s.cfg.Audit.Put(tx, entry)
	})
}

// requestAuditEntry is the scpr or fcpr entry of a reset request.
func requestAuditEntry(j *job, user *users.User, typ, desc string) audit.Entry {
	e := audit.Entry{Type: typ, Description: desc, Actor: "user", IP: j.IP,
		UserName: j.Email, Connection: j.Connection, ClientID: j.ClientID}
	if j.Admin {
		e.Actor = "admin"
	}
	if user != nil {
		e.UserID, e.UserName = user.UserID, user.Email
	}
	return e
}

func (s *Service) issueAndMail(ctx context.Context, it *queue.Item, j *job, conn *Connection, user *users.User, lane queue.Priority) error {
	// The language: the request's ui_locales, the user's own as the app
	// knows it, the requester's Accept-Language, the default.
	lang := s.site.Langs().Choose(j.UILocales, user.Language, j.Language)
	tpl, err := s.cfg.Templates.ForLanguage(ctx, templates.ResetEmail, lang)
	if err != nil {
		return err
	}
	if !tpl.Template.Enabled {
		return s.failJob(ctx, it, j, user, "the reset_email template is disabled")
	}
	if wait, err := s.mailBudgetWait(ctx); err != nil || wait > 0 {
		if err != nil {
			return err
		}
		// No ticket yet: its lifetime starts when the email can go.
		return queue.Later(s.now().Add(wait), "the hourly mail budget is spent")
	}
	client, _ := s.site.Client(j.ClientID)
	now := s.now()
	token, key := tickets.New()
	t := &tickets.Ticket{
		Connection: conn.Name, ClientID: clientID(client), UserID: user.UserID, Email: user.Email,
		Name: user.Name, Nickname: user.Nickname, GivenName: user.GivenName, FamilyName: user.FamilyName,
		ResultURL:    FirstNonEmpty(tpl.Template.ResultURL, clientResultURL(client)),
		IncludeEmail: tpl.Template.IncludeEmailInRedirect, Source: tickets.FromEmail, ExpiresAt: now.Add(tpl.Template.URLLifetime()),
		Language: lang.Tag(), // the reset page speaks the email's language
	}
	msg, err := s.renderResetEmail(tpl, token, lang, conn, client, user)
	if err != nil {
		return queue.Permanent(err)
	}
	// An email that cannot be composed (the app's address is one SMTP cannot
	// carry) never will be: the request ends now rather than being retried.
	composed, err := s.cfg.Outbox.Compose(templates.ResetEmail, msg)
	if err != nil {
		return queue.Permanent(err)
	}
	// The job's place in admission goes to its mail, and the mail is claimed at
	// once by the outbox when it has a free slot.
	mailID := s.cfg.Outbox.NewID()
	s.admit.pass(it.ID, mailID)
	res := s.deliver.Reserve()
	entry := requestAuditEntry(j, user, audit.ResetRequestHandled, "Change password request: the reset email was queued")
	err = storage.UpdateRelaxed(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if err := s.cfg.Jobs.Done(tx, it); err != nil {
			return err
		}
		if err := tickets.Issue(tx, key, t, now); err != nil {
			return err
		}
		// The scpr entry rides on the job's own commit.
		if err := s.cfg.Audit.Put(tx, entry); err != nil {
			return err
		}
		return s.cfg.Outbox.PutComposed(tx, mailID, composed, lane, res)
	})
	if err != nil {
		if res != nil {
			res.Cancel()
		}
		s.admit.pass(mailID, it.ID)
		return err
	}
	s.NoteTicket(TicketIssued)
	s.cfg.Outbox.Queued(composed.Kind())
	if res != nil {
		res.Start()
	} else {
		s.cfg.Outbox.NotifyPriority(mailID, lane)
	}
	if !s.cfg.Limits.User.Off() {
		s.markNewestBestEffort(ctx, conn.Name, user.UserID, it.ID)
	}
	s.log.Info("reset email queued", "job", it.ID, "connection", conn.Name, "client_id", t.ClientID)
	return nil
}

// The hourly mail budget counts the reset emails the relay accepted. A job
// looks at it before it issues a ticket and waits while it is spent, so that a
// link's lifetime starts when its email can go; the outbox counts each email
// once it is sent, so that mail which fails spends nothing. Jobs running
// together may pass a budget with one email left, by at most the job and mail
// workers' concurrency. The password-changed notice does not count: it follows
// a completed reset, which the form's limits bound, and must not wait behind a
// flood.
func (s *Service) mailBudgetWait(ctx context.Context) (time.Duration, error) {
	d, err := s.cfg.Limiter.Peek(ctx, s.mailBudgetCheck())
	if err != nil || d.Allowed {
		return 0, err
	}
	return d.RetryAfter, nil
}

func (s *Service) mailBudgetCheck() ratelimit.Check {
	return ratelimit.Check{Name: "mail", Key: "global", Limit: s.cfg.Limits.mailBudget()}
}

// mailSent counts a mail the relay accepted against the budget.
func (s *Service) mailSent(ctx context.Context, kind string) {
	if kind != templates.ResetEmail {
		return
	}
	if err := s.cfg.Limiter.Spend(ctx, s.mailBudgetCheck()); err != nil {
		s.log.Warn("count a sent email against the hourly budget", "error", err)
	}
}

func (s *Service) renderResetEmail(tpl emailtemplates.Compiled, token string, lang *templates.Lang, conn *Connection, client *Client, user *users.User) (*mail.Message, error) {
	data := templates.EmailData{
		URL:         s.site.TicketURL(token),
		URLLifetime: lang.Duration(tpl.Template.URLLifetime()),
		CancelURL:   s.site.PageURL("/lo/cancel", url.Values{"id": {tickets.Ref(token)}, "ui_locales": {lang.Tag()}}),
		ForgotURL:   s.site.ForgotURL(clientID(client), conn.Name),
		User: templates.UserData{UserID: user.UserID, Email: user.Email, Name: user.Name,
			Nickname: user.Nickname, GivenName: user.GivenName, FamilyName: user.FamilyName,
			EmailVerified: user.EmailVerified, Language: user.Language},
		Application:     templates.ApplicationData{Name: s.site.AppName(client), ClientID: clientID(client)},
		ConnectionName:  conn.Name,
		FriendlyName:    s.site.FriendlyName,
		SupportEmail:    s.site.SupportEmail,
		SupportURL:      s.site.SupportURL,
		RequestLanguage: lang.Tag(),
	}
	r, err := tpl.Email.Render(data)
	if err != nil {
		return nil, fmt.Errorf("render reset_email version %d: %w", tpl.Version, err)
	}
	return &mail.Message{
		From: FirstNonEmpty(tpl.Template.From, s.site.DefaultFrom), To: user.Email,
		Subject: r.Subject, Text: r.Text, HTML: r.HTML,
	}, nil
}
