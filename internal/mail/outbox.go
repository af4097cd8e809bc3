package mail

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Transport sends one composed message. *Sender is the SMTP transport.
type Transport interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Outbox is the durable mail queue. A message put in the outbox is composed once
// (its Message-ID and Date are fixed then), survives a crash, is retried with
// backoff while the SMTP server is down, and leaves the queue in the same
// transaction that records it as sent.
//
// The composed message holds the reset link, whose ticket resets a password:
// the outbox keeps it sealed (keyring.Sealer, with a key kept outside the
// store), so that a copy of the store, its files or a backup of them, sends no
// one a live link. What the dashboard lists (the envelope, the subject, the
// kind) stays in clear.
type Outbox struct {
	queue  *queue.Queue
	store  storage.Store
	sealer *keyring.Sealer
	now    func() time.Time
	// observe, if set, is told of each message's events (MailQueued...).
	observe func(Event)
}

// The events of a message that Observe reports.
const (
	MailQueued  = "queued"  // put in the outbox (reported once its transaction committed)
	MailSent    = "sent"    // the relay accepted it
	MailRetried = "retried" // an attempt failed; it is tried again after a backoff
	MailFailed  = "failed"  // failed for good (the relay refused it, or retries ran out)
)

// Event is one event of a message in the outbox.
type Event struct {
	Kind  string // the email template's name
	Event string // MailQueued, MailSent, MailRetried or MailFailed
	// ID is the outbox item's, Attempts its delivery attempts so far, and
	// Error the last attempt's error with its addresses masked (MailRetried,
	// MailFailed); all empty for MailQueued.
	ID       string
	Attempts int
	Error    string
}

// Observe sets fn to be told of each message's events: for metrics and
// Caddy's events. Set it before the worker starts; fn must not block.
func (o *Outbox) Observe(fn func(Event)) { o.observe = fn }

// Queued reports that a message of kind, put with PutComposed, is in the
// outbox: call it once the transaction committed.
func (o *Outbox) Queued(kind string) { o.note(Event{Kind: kind, Event: MailQueued}) }

func (o *Outbox) note(e Event) {
	if o.observe != nil {
		o.observe(e)
	}
}

// SealPurpose is the keyring purpose of the outbox's sealer: NewOutbox takes
// keys.Sealer(SealPurpose). Changing it makes the queued mail unreadable.
const SealPurpose = "outbox/v1"

// Outboxed is a message as the outbox keeps it.
type Outboxed struct {
	From      string   `json:"from"` // envelope sender
	To        []string `json:"to"`
	Subject   string   `json:"subject"` // SubjectWithheld if it looked like it held a secret
	MessageID string   `json:"message_id"`
	// Sealed is the composed message (headers and body, the reset link with its
	// ticket) sealed by the outbox's sealer, with the outbox item's id as
	// additional data: it opens only with the key and only in its own item.
	Sealed []byte `json:"sealed,omitempty"`
	// Raw is the composed message in clear, as the outbox kept it before
	// messages were sealed. It is read, so that mail queued before an upgrade is
	// still delivered, and never written.
	Raw    []byte    `json:"raw,omitempty"`
	Kind   string    `json:"kind"` // which email: "reset_email", ...
	SentAt time.Time `json:"sent_at,omitzero"`
	// QueuedAt and Attempts, for a sent mail: when it was queued, and how many
	// delivery attempts it took (since its last retry by an operator).
	QueuedAt time.Time `json:"queued_at,omitzero"`
	Attempts int       `json:"attempts,omitempty"`

	// open is the composed message in clear, kept in memory only, for an
	// item handed to this process's worker as it was put (queue.Reserve): it
	// need not be opened again.
	open []byte
}

// SubjectWithheld is the subject the outbox keeps in clear in place of one that
// looks like it holds a link or a token (an email template can put its link in
// the subject): the sealed message keeps the real one.
const SubjectWithheld = "(subject withheld: it holds a link or a token)"

// OutboxConcurrency is how many mails the outbox has in flight at once. They
// share the Sender's one connection; what runs in parallel is the store's work
// around each transaction (the claim, the record of it), which dominates a
// mail's cost: 32 in flight deliver about twice as many mails per second as 4
// (BenchmarkOutboxDrain). It also bounds the mails that a crash between the
// relay's 250 and the record's commit can send twice.
const OutboxConcurrency = 32

// sentRetention is how long the record of a sent message is kept for the dashboard.
const sentRetention = 7 * 24 * time.Hour

const sentPrefix = "mail/sent/"

// NewOutbox returns the outbox kept in store, whose messages sealer seals (get
// it with keys.Sealer(SealPurpose)). now is the clock (nil: time.Now). A nil
// sealer panics: nothing may be queued in clear.
func NewOutbox(store storage.Store, sealer *keyring.Sealer, now func() time.Time) *Outbox {
	if sealer == nil {
		panic("mail: NewOutbox needs a sealer")
	}
	if now == nil {
		now = time.Now
	}
	return &Outbox{queue: queue.New(store, "mail", now), store: store, sealer: sealer, now: now}
}

// Queue returns the outbox's queue, for listing and requeueing.
func (o *Outbox) Queue() *queue.Queue { return o.queue }

// Composed is a message ready for the outbox: its bytes, Message-ID and Date
// fixed, its envelope checked.
type Composed struct {
	kind, from, subject, messageID string
	to                             []string
	raw                            []byte
}

// Kind is the message's kind, as given to Compose.
func (c *Composed) Kind() string { return c.kind }

// Compose fixes m's Message-ID and Date and composes it. A message that cannot
// be composed (an address the envelope cannot carry, say) never will be: the
// caller should give up on it at once rather than retry.
func (o *Outbox) Compose(kind string, m *Message) (*Composed, error) {
	if m.MessageID == "" {
		id, err := NewMessageID(m.From)
		if err != nil {
			return nil, fmt.Errorf("compose %s: %w", kind, err)
		}
		m.MessageID = id
	}
	if m.Date.IsZero() {
		m.Date = o.now()
	}
	raw, err := m.Bytes()
	if err != nil {
		return nil, fmt.Errorf("compose %s: %w", kind, err)
	}
	from, to, err := m.Envelope()
	if err != nil {
		return nil, fmt.Errorf("compose %s: %w", kind, err)
	}
	return &Composed{kind: kind, from: from, to: to, subject: m.Subject, messageID: m.MessageID, raw: raw}, nil
}

// Put composes m and adds it to the outbox's Normal lane inside the caller's
// transaction. Call Notify with the returned id once the transaction has
// committed.
func (o *Outbox) Put(tx storage.Tx, kind string, m *Message) (string, error) {
	c, err := o.Compose(kind, m)
	if err != nil {
		return "", err
	}
	id := o.NewID()
	return id, o.PutComposed(tx, id, c, queue.Normal, nil)
}

// NewID returns an id for a new outbox item.
func (o *Outbox) NewID() string { return newItemID(o.now()) }

// PutComposed adds c to the outbox as item id (from NewID) in lane p inside
// the caller's transaction, sealed. With a reservation of the outbox's worker
// (queue.Reserve) the item is stored claimed by it: call res.Start once the
// transaction has committed. Without one, call Notify.
func (o *Outbox) PutComposed(tx storage.Tx, id string, c *Composed, p queue.Priority, res *queue.Reservation) error {
	rec := Outboxed{From: c.from, To: c.to, Subject: clearSubject(c.subject), MessageID: c.messageID,
		Sealed: o.sealer.Seal(c.raw, []byte(id)), Kind: c.kind}
	if res != nil {
		rec.open = c.raw
		return res.Put(tx, id, rec, p)
	}
	return o.queue.PutPriority(tx, id, rec, p)
}

// tokenRun is the length of a run of base64url characters (or of hex) from which
// a subject is taken to hold a token: a ticket is 43 of them, a cancel id 64,
// and words in a subject are shorter.
const tokenRun = 20

// clearSubject returns the subject as the outbox keeps it in clear: s, unless it
// holds a link or a run of tokenRun token characters.
func clearSubject(s string) string {
	if strings.Contains(s, "://") {
		return SubjectWithheld
	}
	run := 0
	for _, r := range s {
		if r < 0x80 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			if run++; run >= tokenRun {
				return SubjectWithheld
			}
			continue
		}
		run = 0
	}
	return s
}

// Open returns the composed message of the outbox item id whose record is rec:
// it opens the sealed message, or returns the clear one of an item queued before
// messages were sealed. It fails, without revealing anything of the message or
// the key, if the message was sealed with another key (the key file was
// replaced, the encryption_key changed) or belongs to another item.
func (o *Outbox) Open(id string, rec *Outboxed) ([]byte, error) {
	switch {
	case len(rec.Sealed) > 0:
		raw, err := o.sealer.Open(rec.Sealed, []byte(id))
		if err != nil {
			return nil, fmt.Errorf("open the sealed message of outbox item %s (is the encryption key the one it was sealed with?): %w", id, err)
		}
		return raw, nil
	case len(rec.Raw) > 0:
		return rec.Raw, nil
	}
	return nil, fmt.Errorf("outbox item %s holds no message", id)
}

// newItemID makes ids that sort by creation time, so the dashboard lists the
// outbox in order, with a random tail so ids never collide.
func newItemID(now time.Time) string {
	return fmt.Sprintf("%016x-%s", now.UnixNano(), strings.ToLower(rand.Text()[:10]))
}

// Notify wakes the outbox worker for id, put in the Normal lane.
func (o *Outbox) Notify(id string) { o.queue.Notify(id) }

// NotifyPriority wakes the outbox worker for id, put in lane p.
func (o *Outbox) NotifyPriority(id string, p queue.Priority) { o.queue.NotifyPriority(id, p) }

// Worker returns a queue worker that delivers the outbox through t. onSent, if
// set, is told of each message the relay accepted (the hourly mail budget
// counts them: a message that could not be sent spends nothing). A nil logger
// discards log output.
func (o *Outbox) Worker(t Transport, onSent func(ctx context.Context, kind string), logger *slog.Logger) *queue.Worker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &queue.Worker{
		Queue:       o.queue,
		Concurrency: OutboxConcurrency,
		MaxRun:      2 * time.Minute,
		MinBackoff:  2 * time.Second,
		MaxBackoff:  time.Minute,
		MaxAge:      72 * time.Hour,
		Logger:      logger,
	}
	w.Handler = func(ctx context.Context, it *queue.Item) error {
		kind, sent, err := o.deliver(ctx, t, onSent, logger, it)
		e := Event{Kind: kind, ID: it.ID, Attempts: it.Attempts}
		if err != nil {
			e.Error = MaskAddresses(err.Error())
		}
		switch {
		case sent:
			e.Event = MailSent
		case queue.IsPermanent(err) || o.now().Sub(it.Since()) > w.MaxAge:
			e.Event = MailFailed
		case ctx.Err() == nil:
			e.Event = MailRetried
		default:
			return err
		}
		o.note(e)
		return err
	}
	return w
}

// deliver sends the item's message; sent reports whether the relay took it
// (even if its record then failed).
func (o *Outbox) deliver(ctx context.Context, t Transport, onSent func(context.Context, string), logger *slog.Logger, it *queue.Item) (kind string, sent bool, err error) {
	rec, raw, err := o.message(it)
	if err != nil {
		// Retrying cannot help until an operator restores the key; the item
		// stays in the outbox as failed, to be retried from the dashboard then.
		logger.Error("mail cannot be opened; it stays in the outbox as failed",
			slog.String("kind", rec.Kind), slog.String("message_id", rec.MessageID), slog.Any("error", err))
		return rec.Kind, false, queue.Permanent(err)
	}
	if err := t.Send(ctx, rec.From, rec.To, raw); err != nil {
		if IsPermanent(err) {
			return rec.Kind, false, queue.Permanent(err)
		}
		return rec.Kind, false, err
	}
	if onSent != nil {
		onSent(ctx, rec.Kind)
	}
	rec.SentAt, rec.QueuedAt, rec.Attempts = o.now(), it.CreatedAt, it.Attempts
	if err := o.recordSent(ctx, it, rec); err != nil {
		// The server has the message; it must not be sent again, but the record
		// could not be written. The lease expiring would resend it: say so loudly.
		logger.Error("mail sent but not recorded; it may be sent again",
			slog.String("message_id", rec.MessageID), slog.Any("error", err))
		return rec.Kind, true, queue.ErrLeaseLost
	}
	logger.Info("mail sent", slog.String("kind", rec.Kind), slog.String("message_id", rec.MessageID),
		slog.Int("attempt", it.Attempts))
	return rec.Kind, true, nil
}

// message returns the item's record and its composed message: as they were
// put, for an item handed over in this process, or decoded and opened.
func (o *Outbox) message(it *queue.Item) (Outboxed, []byte, error) {
	if rec, ok := it.Local().(Outboxed); ok && rec.open != nil {
		return rec, rec.open, nil
	}
	var rec Outboxed
	if err := json.Unmarshal(it.Payload, &rec); err != nil {
		return rec, nil, fmt.Errorf("decode outbox message: %w", err)
	}
	raw, err := o.Open(it.ID, &rec)
	return rec, raw, err
}

// recordSent removes the item and records rec as sent, in one transaction.
func (o *Outbox) recordSent(ctx context.Context, it *queue.Item, rec Outboxed) error {
	// Relaxed: a record lost to a power cut (not to a crash of Caddy) sends
	// the mail again after the restart, as a crash before the record does.
	record := func() error {
		return storage.UpdateRelaxed(ctx, o.store, func(tx storage.Tx) error {
			if err := o.queue.Done(tx, it); err != nil {
				return err
			}
			return putSent(tx, it.ID, rec)
		})
	}
	// The relay has the message: until the record commits, a crash or the lease
	// running out would send it again. A store refusing writes for a while (a
	// full disk) is waited out, within the lease, rather than given up on.
	err := record()
	for wait := 100 * time.Millisecond; errors.Is(err, storage.ErrUnavailable) && ctx.Err() == nil; wait = min(2*wait, 5*time.Second) {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			err = record()
		}
	}
	return err
}

func putSent(tx storage.Tx, id string, rec Outboxed) error {
	rec.Sealed, rec.Raw = nil, nil // the dashboard needs the envelope, not the content
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Set(sentPrefix+id, data, sentRetention)
}

// Sent calls fn for each message recorded as sent, oldest first.
func (o *Outbox) Sent(ctx context.Context, fn func(id string, m Outboxed) error) error {
	return o.store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(sentPrefix, "", func(key string, value []byte) error {
			var rec Outboxed
			if err := json.Unmarshal(value, &rec); err != nil {
				return err
			}
			err := fn(strings.TrimPrefix(key, sentPrefix), rec)
			if errors.Is(err, storage.ErrStop) {
				return storage.ErrStop
			}
			return err
		})
	})
}
