package mail

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/queue"
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
type Outbox struct {
	queue *queue.Queue
	store storage.Store
	now   func() time.Time
}

// Outboxed is a message as the outbox keeps it.
type Outboxed struct {
	From      string    `json:"from"` // envelope sender
	To        []string  `json:"to"`
	Subject   string    `json:"subject"`
	MessageID string    `json:"message_id"`
	Raw       []byte    `json:"raw"`
	Kind      string    `json:"kind"` // which email: "reset_email", ...
	SentAt    time.Time `json:"sent_at,omitzero"`
}

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

// NewOutbox returns the outbox kept in store. now is the clock (nil: time.Now).
func NewOutbox(store storage.Store, now func() time.Time) *Outbox {
	if now == nil {
		now = time.Now
	}
	return &Outbox{queue: queue.New(store, "mail", now), store: store, now: now}
}

// Queue returns the outbox's queue, for listing and requeueing.
func (o *Outbox) Queue() *queue.Queue { return o.queue }

// Put composes m and adds it to the outbox inside the caller's transaction. Call
// Notify with the returned id once the transaction has committed.
func (o *Outbox) Put(tx storage.Tx, kind string, m *Message) (string, error) {
	if m.MessageID == "" {
		id, err := NewMessageID(m.From)
		if err != nil {
			return "", err
		}
		m.MessageID = id
	}
	if m.Date.IsZero() {
		m.Date = o.now()
	}
	raw, err := m.Bytes()
	if err != nil {
		return "", fmt.Errorf("compose %s: %w", kind, err)
	}
	from, to, err := m.Envelope()
	if err != nil {
		return "", fmt.Errorf("compose %s: %w", kind, err)
	}
	id := newItemID(o.now())
	rec := Outboxed{From: from, To: to, Subject: m.Subject, MessageID: m.MessageID, Raw: raw, Kind: kind}
	return id, o.queue.Put(tx, id, rec)
}

// newItemID makes ids that sort by creation time, so the dashboard lists the
// outbox in order, with a random tail so ids never collide.
func newItemID(now time.Time) string {
	return fmt.Sprintf("%016x-%s", now.UnixNano(), strings.ToLower(rand.Text()[:10]))
}

// Notify wakes the outbox worker for id.
func (o *Outbox) Notify(id string) { o.queue.Notify(id) }

// Worker returns a queue worker that delivers the outbox through t. A nil
// logger discards log output.
func (o *Outbox) Worker(t Transport, logger *zap.Logger) *queue.Worker {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &queue.Worker{
		Queue:       o.queue,
		Concurrency: OutboxConcurrency,
		Lease:       2 * time.Minute,
		MinBackoff:  2 * time.Second,
		MaxBackoff:  time.Minute,
		MaxAge:      72 * time.Hour,
		Logger:      logger,
		Handler: func(ctx context.Context, it *queue.Item) error {
			return o.deliver(ctx, t, logger, it)
		},
	}
}

func (o *Outbox) deliver(ctx context.Context, t Transport, logger *zap.Logger, it *queue.Item) error {
	var rec Outboxed
	if err := json.Unmarshal(it.Payload, &rec); err != nil {
		return queue.Permanent(fmt.Errorf("decode outbox message: %w", err))
	}
	if err := t.Send(ctx, rec.From, rec.To, rec.Raw); err != nil {
		if IsPermanent(err) {
			return queue.Permanent(err)
		}
		return err
	}
	rec.SentAt = o.now()
	record := func() error {
		return storage.UpdateRetry(ctx, o.store, func(tx storage.Tx) error {
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
	if err != nil {
		// The server has the message; it must not be sent again, but the record
		// could not be written. The lease expiring would resend it: say so loudly.
		logger.Error("mail sent but not recorded; it may be sent again",
			zap.String("message_id", rec.MessageID), zap.Error(err))
		return queue.ErrLeaseLost
	}
	logger.Info("mail sent", zap.String("kind", rec.Kind), zap.String("message_id", rec.MessageID),
		zap.Int("attempt", it.Attempts))
	return nil
}

func putSent(tx storage.Tx, id string, rec Outboxed) error {
	rec.Raw = nil // the dashboard needs the envelope, not the content
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
