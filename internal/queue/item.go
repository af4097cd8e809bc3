package queue

import (
	"encoding/json"
	"time"
)

// State is where an item stands.
type State string

const (
	// Pending items run when due.
	Pending State = "pending"
	// Failed items gave up; they stay visible until requeued or purged.
	Failed State = "failed"
)

// Item is one unit of work.
//
// The store keeps an item's payload, written once, apart from its state, which
// every claim, retry and release rewrites: a mail in the outbox is kilobytes, its
// state a few hundred bytes. (Items written before the split carry the payload
// inside the state record; they are read as they are and split on their next
// write.)
type Item struct {
	ID         string          `json:"id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	State      State           `json:"state"`
	Attempts   int             `json:"attempts"`
	CreatedAt  time.Time       `json:"created_at"`
	NotBefore  time.Time       `json:"not_before"`
	LeaseOwner string          `json:"lease_owner,omitempty"`
	// LeaseID names one claim: a worker's run that lost its lease (it ran
	// out and the item was claimed again, by this worker or another) cannot
	// settle the item, though the same owner may hold the new claim.
	LeaseID    string    `json:"lease_id,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	// RequeuedAt is when an operator last requeued the failed item; the worker's
	// MaxAge counts from it, so a requeued item gets a full round of retries.
	RequeuedAt time.Time `json:"requeued_at,omitzero"`
	// Priority orders items that are due together: every High item due now
	// runs before any Normal one.
	Priority Priority `json:"priority,omitempty"`
	// Postponed says why the item waits though nothing failed (a rate limit),
	// until it is claimed again.
	Postponed string `json:"postponed,omitempty"`

	inline bool   // the payload came inside the state record (the older layout)
	local  any    // the payload as Reservation.Put was given it
	state  []byte // the state record as this process last wrote or read it
}

// Local returns the payload as the caller gave it to Reservation.Put, for an
// item handed over within this process, so that its handler can skip decoding
// Payload; nil for an item claimed from the store. Payload holds the same.
func (it *Item) Local() any { return it.local }

// since is when the item's current round of attempts began.
// Since is when the item's round of retries began: when it was put, or last
// requeued by an operator. A worker gives up on it MaxAge after.
func (it *Item) Since() time.Time { return it.since() }

func (it *Item) since() time.Time {
	if it.RequeuedAt.After(it.CreatedAt) {
		return it.RequeuedAt
	}
	return it.CreatedAt
}

// dueAt is when the item may next be claimed: after its backoff and after any lease.
func (it *Item) dueAt() time.Time {
	if it.LeaseUntil.After(it.NotBefore) {
		return it.LeaseUntil
	}
	return it.NotBefore
}

// Priority is an item's lane. Items due now are claimed High lane first, each
// lane oldest due first, so that work that must not wait behind a backlog (a
// user's first mail in a while, a security notice) passes it.
type Priority int

// The lanes.
const (
	Normal Priority = iota
	High
)
