package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Outbox message states as the dashboard shows them.
const (
	MailQueued   = "queued"   // waiting for its first attempt
	MailRetrying = "retrying" // an attempt failed; another is due
	MailFailed   = "failed"   // gave up; an admin may retry it
	MailSent     = "sent"     // the relay took it (kept for a week)
)

// OutboxMessage is an email in the outbox, with its recipients masked.
type OutboxMessage struct {
	ID          string    `json:"id"`
	State       string    `json:"state"`
	Template    string    `json:"template"`
	To          []string  `json:"to"`
	Subject     string    `json:"subject"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	SentAt      time.Time `json:"sent_at,omitzero"`
}

// MaxOutboxList bounds how many messages ListOutbox returns.
const MaxOutboxList = 200

// ListOutbox returns up to limit messages in state ("" for all), newest first.
func (s *Service) ListOutbox(ctx context.Context, state string, limit int) ([]OutboxMessage, error) {
	switch state {
	case "", MailQueued, MailRetrying, MailFailed, MailSent:
	default:
		return nil, fail(fault.Invalid, "invalid_query_string", "state must be queued, retrying, failed or sent")
	}
	if limit <= 0 || limit > MaxOutboxList {
		limit = MaxOutboxList
	}
	var out []OutboxMessage
	if state != MailSent {
		err := s.cfg.Outbox.Queue().Scan(ctx, func(it *queue.Item) error {
			var rec mail.Outboxed
			if err := json.Unmarshal(it.Payload, &rec); err != nil {
				return err
			}
			m := outboxMessage(it.ID, rec)
			m.Attempts, m.LastError, m.CreatedAt = it.Attempts, mail.MaskAddresses(it.LastError), it.CreatedAt
			switch {
			case it.State == queue.Failed:
				m.State = MailFailed
			case it.LastError != "":
				m.State, m.NextAttempt = MailRetrying, it.NotBefore
			default:
				m.State = MailQueued
			}
			if state == "" || state == m.State {
				out = append(out, m)
			}
			return nil
		})
		if err != nil {
			return nil, s.storeErr("list outbox", err)
		}
	}
	if state == "" || state == MailSent {
		err := s.cfg.Outbox.Sent(ctx, func(id string, rec mail.Outboxed) error {
			m := outboxMessage(id, rec)
			m.State, m.SentAt, m.Attempts, m.CreatedAt = MailSent, rec.SentAt, rec.Attempts, rec.QueuedAt
			out = append(out, m)
			return nil
		})
		if err != nil {
			return nil, s.storeErr("list sent mail", err)
		}
	}
	// Ids sort by creation time.
	slices.SortFunc(out, func(a, b OutboxMessage) int { return strings.Compare(b.ID, a.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func outboxMessage(id string, rec mail.Outboxed) OutboxMessage {
	m := OutboxMessage{ID: id, Template: rec.Kind, Subject: rec.Subject}
	for _, to := range rec.To {
		m.To = append(m.To, mail.MaskAddress(to))
	}
	return m
}

// RetryMail queues a failed email again, due at once.
func (s *Service) RetryMail(ctx context.Context, a Actor, id string) error {
	q := s.cfg.Outbox.Queue()
	it, err := q.Get(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fail(fault.NotFound, "inexistent_message", "No such message in the outbox: %s", id)
	case err != nil:
		return s.storeErr("read outbox message", err)
	case it.State != queue.Failed:
		return fail(fault.Conflict, "not_failed", "Only a failed message can be retried; this one is %s", it.State)
	}
	if err := q.Requeue(ctx, id); err != nil {
		return s.storeErr("requeue message", err)
	}
	var rec mail.Outboxed
	_ = json.Unmarshal(it.Payload, &rec)
	s.record(ctx, audit.Entry{Type: audit.MailRetried, Target: id,
		Description: fmt.Sprintf("Failed %s email to %s queued again", rec.Kind, strings.Join(outboxMessage(id, rec).To, ", "))}.By(a))
	return nil
}
