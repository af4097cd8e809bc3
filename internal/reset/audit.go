package reset

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// DefaultAuditRetention is how long audit entries are kept unless configured.
const DefaultAuditRetention = 90 * 24 * time.Hour

const auditPrefix = "audit/"

// Actor is who does an admin action: the name of the admin token (or of the user
// Caddy's own authentication let in) and the client's address.
type Actor struct {
	Name string
	IP   string
}

// Audit log event types. The first are Auth0's log codes; the others are ours,
// for what Auth0 records only as a generic API operation.
const (
	AuditPasswordReset   = "scp"            // a user completed a reset with a ticket
	AuditPasswordSet     = "admin_password" // an admin set a password
	AuditTicketCreated   = "admin_ticket"   // an admin created a password-change ticket
	AuditResetRequested  = "admin_reset"    // an admin had a reset email sent
	AuditTemplateChanged = "admin_template" // an email template changed (put, patch, restore)
	AuditMailRetried     = "admin_outbox"   // a failed email was queued again
	AuditAdminLogin      = "admin_login"    // a dashboard sign-in
	// AuditAdminSessionRefused: a session cookie came from a client the
	// session is not bound to.
	AuditAdminSessionRefused = "admin_session_refused"
	// AuditPasswordUncertain: the change_password hook was called but gave no
	// valid answer (a timeout, a broken connection): the password may have
	// changed, so the ticket was closed as if it had.
	AuditPasswordUncertain = "scp_unconfirmed"
	// AuditTicketCancelled: a link was cancelled before use because the
	// account changed (blocked, gone, another address) since it was sent.
	AuditTicketCancelled = "ticket_cancelled"
)

// AuditEntry is one line of the audit log. It never holds a password, a ticket or
// a token: what changed is named, not shown.
type AuditEntry struct {
	ID          string    `json:"log_id"`
	Date        time.Time `json:"date"`
	Type        string    `json:"type"`
	Description string    `json:"description"`
	Actor       string    `json:"actor"` // the admin token's name, or "user" for a reset
	IP          string    `json:"ip,omitempty"`
	UserID      string    `json:"user_id,omitempty"`
	UserName    string    `json:"user_name,omitempty"` // Auth0's field: the user's email
	Connection  string    `json:"connection,omitempty"`
	ClientID    string    `json:"client_id,omitempty"`
	Target      string    `json:"target,omitempty"` // a template's name, an outbox message
}

// auditKey sorts newest first: the time is written as MaxInt64 minus Unix
// nanoseconds, in fixed width, and a random tail keeps keys unique.
func auditKey(at time.Time) string {
	return fmt.Sprintf("%s%019d-%s", auditPrefix, math.MaxInt64-at.UnixNano(), strings.ToLower(randomText(8)))
}

func (s *Service) auditRetention() time.Duration {
	if s.cfg.AuditRetention > 0 {
		return s.cfg.AuditRetention
	}
	return DefaultAuditRetention
}

// audit appends e to the log. A failure is logged, never returned: the action it
// records has already happened.
func (s *Service) audit(ctx context.Context, e AuditEntry) {
	err := storage.UpdateRetry(context.WithoutCancel(ctx), s.cfg.Store, func(tx storage.Tx) error {
		return s.putAudit(tx, e)
	})
	if err != nil {
		s.log.Error("could not write the audit log", zap.String("type", e.Type), zap.Error(err))
	}
}

// putAudit appends e to the log inside tx, so that an entry commits with the
// change it records.
func (s *Service) putAudit(tx storage.Tx, e AuditEntry) error {
	e.Date = s.now().UTC()
	key := auditKey(e.Date)
	e.ID = strings.TrimPrefix(key, auditPrefix)
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	return tx.Set(key, data, s.auditRetention())
}

// auditAdmin appends an entry for an admin action by a.
func (s *Service) auditAdmin(ctx context.Context, a Actor, e AuditEntry) {
	e.Actor, e.IP = a.Name, a.IP
	s.audit(ctx, e)
}

// MaxAuditPage is the largest page AuditLog returns (Auth0's per_page limit).
const MaxAuditPage = 100

// AuditLog returns the page'th page (from 0) of perPage entries, newest first,
// and the number of entries kept.
func (s *Service) AuditLog(ctx context.Context, page, perPage int) ([]AuditEntry, int, error) {
	if perPage <= 0 || perPage > MaxAuditPage {
		perPage = MaxAuditPage
	}
	page = max(page, 0)
	skip := page * perPage
	entries := []AuditEntry{}
	total := 0
	err := s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(auditPrefix, "", func(_ string, value []byte) error {
			total++
			if total <= skip || len(entries) >= perPage {
				return nil
			}
			var e AuditEntry
			if err := json.Unmarshal(value, &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			entries = append(entries, e)
			return nil
		})
	})
	if err != nil {
		return nil, 0, s.storeErr("read audit log", err)
	}
	return entries, total, nil
}

// resetAuditEntry records a completed reset (or one whose outcome the app did
// not confirm).
func resetAuditEntry(t *Ticket, ip string, confirmed bool) AuditEntry {
	desc := "Password changed with an emailed link"
	if t.Source == "admin" {
		desc = "Password changed with an admin ticket"
	}
	typ := AuditPasswordReset
	if !confirmed {
		typ = AuditPasswordUncertain
		desc += ", but the app's change_password hook did not confirm it (no valid answer): the link was closed"
	}
	return AuditEntry{
		Type: typ, Description: desc, Actor: "user", IP: ip,
		UserID: t.UserID, UserName: t.Email, Connection: t.Connection, ClientID: t.ClientID,
	}
}
