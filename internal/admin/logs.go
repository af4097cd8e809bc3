package admin

import (
	"context"
	"fmt"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// LogFilter selects audit entries (ParseLogQuery makes one from Auth0's q).
type LogFilter = audit.Filter

// SearchAuditLog returns the page'th page (from 0) of perPage entries that f
// selects, newest first (oldest first with ascending), and how many it selects.
func (s *Service) SearchAuditLog(ctx context.Context, f LogFilter, page, perPage int, ascending bool) ([]AuditEntry, int, error) {
	entries, total, err := s.cfg.Audit.Search(ctx, f, page, perPage, ascending)
	if err != nil {
		return nil, 0, s.storeErr("search audit log", err)
	}
	return entries, total, nil
}

// AuditLogAfter returns up to take entries written after the entry whose log_id
// is from, oldest first (Auth0's checkpoint reading).
func (s *Service) AuditLogAfter(ctx context.Context, from string, take int) ([]AuditEntry, error) {
	if !audit.ValidID(from) {
		return nil, fail(fault.Invalid, "invalid_query_string", "from must be a log_id from this log, such as the last one read (%s)",
			quoteForMessage(from))
	}
	entries, err := s.cfg.Audit.After(ctx, from, take)
	if err != nil {
		return nil, s.storeErr("read audit log", err)
	}
	return entries, nil
}

// APICall is a Management API write, as the audit log records it: the method
// and path (never the body), the status, and the error code of a refusal.
type APICall struct {
	Method, Path string
	Status       int
	ErrorCode    string
}

// maxLoggedPath bounds the path an entry keeps.
const maxLoggedPath = 256

// RecordAPICall writes the sapi (success) or fapi (failure) entry of a
// Management API write by a, as Auth0 does for POST, PUT, PATCH and DELETE.
func (s *Service) RecordAPICall(ctx context.Context, a Actor, c APICall) {
	if len(c.Path) > maxLoggedPath {
		c.Path = c.Path[:maxLoggedPath] + "..."
	}
	c.Path = strings.ToValidUTF8(c.Path, "?")
	e := audit.Entry{Type: audit.APIOperation, Target: c.Path,
		Description: fmt.Sprintf("%s %s: %d", c.Method, c.Path, c.Status)}
	if c.Status >= 400 {
		e.Type = audit.APIOperationFailed
		if c.ErrorCode != "" {
			e.Description += " " + c.ErrorCode
		}
	}
	s.record(ctx, e.By(a))
}
