// Package audit is the audit log: who did what to which user, from where, kept in
// the store for a retention period. It never holds a password, a ticket or a
// token: what changed is named, not shown.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// DefaultRetention is how long entries are kept unless configured.
const DefaultRetention = 90 * 24 * time.Hour

// MaxPage is the largest page Page returns (Auth0's per_page limit).
const MaxPage = 100

const prefix = "audit/"

// Actor is who does an admin action: the name of the admin token (or of the user
// Caddy's own authentication let in) and the client's address.
type Actor struct {
	Name string
	IP   string
}

// Entry types. The first are Auth0's log codes; the others are ours, for what
// Auth0 records only as a generic API operation.
const (
	PasswordReset       = "scp"  // a user completed a reset with a ticket
	PasswordResetFailed = "fcp"  // the app refused or could not set the password a user chose with a ticket
	ResetRequestHandled = "scpr" // a reset request was handled: its email was queued
	ResetRequestFailed  = "fcpr" // a reset request ended without an email (no such user, blocked, ...)
	// APIOperation and APIOperationFailed record each Management API write
	// (POST, PUT, PATCH, DELETE) by an authenticated admin, as Auth0 does; reads
	// are not recorded. They are written in addition to the entry of the change.
	APIOperation        = "sapi"
	APIOperationFailed  = "fapi"
	PasswordSet         = "admin_password" // an admin set a password
	TicketCreated       = "admin_ticket"   // an admin created a password-change ticket
	ResetRequested      = "admin_reset"    // an admin had a reset email sent
	TemplateChanged     = "admin_template" // an email template changed (put, patch, restore)
	MailRetried         = "admin_outbox"   // a failed email was queued again
	AdminLogin          = "admin_login"    // a dashboard sign-in
	ResetCancelled      = "reset_cancelled"
	TicketsRevoked      = "tickets_revoked" // the app said the password changed
	AdminSessionRefused = "admin_session_refused"
	// PasswordUnconfirmed: the change_password hook was called but gave no
	// valid answer (a timeout, a broken connection): the password may have
	// changed, so the ticket was closed as if it had.
	PasswordUnconfirmed = "scp_unconfirmed"
	// TicketCancelled: a link was cancelled before use because the account
	// changed (blocked, gone, another address) since it was sent.
	TicketCancelled = "ticket_cancelled"
)

// Entry is one line of the log.
type Entry struct {
	ID          string    `json:"log_id"`
	Date        time.Time `json:"date"`
	Type        string    `json:"type"`
	Description string    `json:"description"`
	Actor       string    `json:"actor"` // the admin token's name, "user" for a reset, "app"
	IP          string    `json:"ip,omitempty"`
	UserID      string    `json:"user_id,omitempty"`
	UserName    string    `json:"user_name,omitempty"` // Auth0's field: the user's email
	Connection  string    `json:"connection,omitempty"`
	ClientID    string    `json:"client_id,omitempty"`
	Target      string    `json:"target,omitempty"` // a template's name, an outbox message
}

// By returns e as done by a.
func (e Entry) By(a Actor) Entry {
	e.Actor, e.IP = a.Name, a.IP
	return e
}

// Log is the audit log in a store.
type Log struct {
	store     storage.Store
	retention time.Duration
	now       func() time.Time
}

// New returns the log kept in store for retention (zero: DefaultRetention). now
// is the clock (nil: time.Now).
func New(store storage.Store, retention time.Duration, now func() time.Time) *Log {
	if retention <= 0 {
		retention = DefaultRetention
	}
	if now == nil {
		now = time.Now
	}
	return &Log{store: store, retention: retention, now: now}
}

// key sorts newest first: the time is written as MaxInt64 minus Unix
// nanoseconds, in fixed width, and a random tail keeps keys unique.
func key(at time.Time) string {
	return fmt.Sprintf("%s%019d-%s", prefix, math.MaxInt64-at.UnixNano(), strings.ToLower(rand.Text()[:8]))
}

// Put appends e to the log inside tx, so that an entry commits with the change
// it records.
func (l *Log) Put(tx storage.Tx, e Entry) error {
	e.Date = l.now().UTC()
	k := key(e.Date)
	e.ID = strings.TrimPrefix(k, prefix)
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	return tx.Set(k, data, l.retention)
}

// Write appends e in a transaction of its own, whatever ctx's cancellation:
// the action it records has happened.
func (l *Log) Write(ctx context.Context, e Entry) error {
	return storage.UpdateRetry(context.WithoutCancel(ctx), l.store, func(tx storage.Tx) error {
		return l.Put(tx, e)
	})
}

// Page returns the page'th page (from 0) of perPage entries, newest first, and
// the number of entries kept.
func (l *Log) Page(ctx context.Context, page, perPage int) ([]Entry, int, error) {
	if perPage <= 0 || perPage > MaxPage {
		perPage = MaxPage
	}
	skip := max(page, 0) * perPage
	entries := []Entry{}
	total := 0
	err := l.store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(prefix, "", func(_ string, value []byte) error {
			total++
			if total <= skip || len(entries) >= perPage {
				return nil
			}
			var e Entry
			if err := json.Unmarshal(value, &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			entries = append(entries, e)
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read the audit log: %w", err)
	}
	return entries, total, nil
}
