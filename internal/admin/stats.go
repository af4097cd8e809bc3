package admin

import (
	"context"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
)

// QueueStats counts a queue's items.
type QueueStats struct {
	Pending  int `json:"pending"`  // waiting to run, including retries
	Retrying int `json:"retrying"` // pending after at least one failed attempt
	// Postponed are pending items held back though nothing failed: a user's
	// email past the user's limit, mail past the hourly budget.
	Postponed int `json:"postponed"`
	Failed    int `json:"failed"` // gave up; kept until requeued
	// OldestPending is when the oldest pending item was put (zero: none
	// pending): how long the queue has not drained.
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// Stats is the state of the service's queues.
type Stats struct {
	Jobs QueueStats `json:"jobs"` // reset requests not yet looked up
	Mail QueueStats `json:"mail"` // emails not yet accepted by the SMTP server
}

// Stats counts the work in the store's queues. It scans the queues, which hold
// only unfinished work, so it stays cheap while the service keeps up.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	var err error
	if st.Jobs, err = countQueue(ctx, s.cfg.Jobs); err != nil {
		return st, err
	}
	st.Mail, err = countQueue(ctx, s.cfg.Outbox.Queue())
	return st, err
}

func countQueue(ctx context.Context, q *queue.Queue) (QueueStats, error) {
	var qs QueueStats
	err := q.ScanStates(ctx, func(it *queue.Item) error {
		switch {
		case it.State == queue.Failed:
			qs.Failed++
			return nil
		case it.Postponed != "":
			qs.Pending++
			qs.Postponed++
		case it.LastError != "":
			qs.Pending++
			qs.Retrying++
		default:
			qs.Pending++
		}
		if qs.OldestPending.IsZero() || it.CreatedAt.Before(qs.OldestPending) {
			qs.OldestPending = it.CreatedAt
		}
		return nil
	})
	return qs, err
}
