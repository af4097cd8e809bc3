package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Filter selects entries: an entry matches when it matches every field that is
// set. The zero Filter matches every entry.
type Filter struct {
	// Types: the entry's type is one of them.
	Types []string
	// UserID, Connection, ClientID and IP are compared exactly; UserName (an
	// email) ignoring case.
	UserID, UserName, Connection, ClientID, IP string
	// Since and Until bound the date, both included; zero is unbounded.
	Since, Until time.Time
}

// Match reports whether e matches f.
func (f Filter) Match(e Entry) bool {
	switch {
	case len(f.Types) > 0 && !slices.Contains(f.Types, e.Type),
		f.UserID != "" && e.UserID != f.UserID,
		f.UserName != "" && !strings.EqualFold(e.UserName, f.UserName),
		f.Connection != "" && e.Connection != f.Connection,
		f.ClientID != "" && e.ClientID != f.ClientID,
		f.IP != "" && e.IP != f.IP,
		!f.Since.IsZero() && e.Date.Before(f.Since),
		!f.Until.IsZero() && e.Date.After(f.Until):
		return false
	}
	return true
}

// startKey is the first key that can hold an entry dated at or before until:
// keys sort newest first, so the scan skips every newer entry without reading it.
func startKey(until time.Time) string {
	switch {
	case until.IsZero() || until.Year() > 2261: // past UnixNano's range: no bound
		return ""
	case until.Before(time.Unix(0, 0)): // before any entry: after every key
		return prefix + "~"
	}
	return fmt.Sprintf("%s%019d", prefix, math.MaxInt64-until.UnixNano())
}

// Search returns the page'th page (from 0) of perPage entries matching f,
// newest first (oldest first with ascending), and how many match. Only the
// filter's date range is read from the store.
func (l *Log) Search(ctx context.Context, f Filter, page, perPage int, ascending bool) ([]Entry, int, error) {
	if perPage <= 0 || perPage > MaxPage {
		perPage = MaxPage
	}
	all := []Entry{}
	err := l.store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(prefix, startKey(f.Until), func(_ string, value []byte) error {
			var e Entry
			if err := json.Unmarshal(value, &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			if !f.Since.IsZero() && e.Date.Before(f.Since) {
				return storage.ErrStop // every later key is older still
			}
			if f.Match(e) {
				all = append(all, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("search the audit log: %w", err)
	}
	if ascending {
		slices.Reverse(all)
	}
	skip := min(max(page, 0)*perPage, len(all))
	out := all[skip:min(skip+perPage, len(all))]
	return slices.Clip(out), len(all), nil
}

// ValidID reports whether id has the form of an entry's log_id.
func ValidID(id string) bool {
	num, tail, ok := strings.Cut(id, "-")
	if !ok || len(num) != 19 || len(tail) != 8 {
		return false
	}
	return strings.Trim(num, "0123456789") == "" && strings.Trim(tail, "abcdefghijklmnopqrstuvwxyz234567") == ""
}

// After returns up to take entries written after the entry with log_id id,
// oldest first: Auth0's checkpoint reading (from, take), for a reader that
// keeps the last id it saw. The entry id itself need not still be kept.
func (l *Log) After(ctx context.Context, id string, take int) ([]Entry, error) {
	if take <= 0 || take > MaxPage {
		take = MaxPage
	}
	end := prefix + id
	// Newer entries sort first: keep the last take values before end, the ones
	// nearest the checkpoint.
	var ring [][]byte
	err := l.store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(prefix, "", func(key string, value []byte) error {
			if key >= end {
				return storage.ErrStop
			}
			ring = append(ring, value)
			if len(ring) > take {
				ring = ring[1:]
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit log after %s: %w", id, err)
	}
	out := make([]Entry, 0, len(ring))
	for i := len(ring) - 1; i >= 0; i-- {
		var e Entry
		if err := json.Unmarshal(ring[i], &e); err != nil {
			return nil, fmt.Errorf("decode audit entry: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}
