package postgres

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Scan reads in pages of growing size: callers often stop after a key or two
// (the next due item of a queue), and a page is read whole before fn sees its
// first key, so that fn can run statements of its own on the connection.
const (
	firstPage = 16
	maxPage   = 512
)

// row is one key and value read by Scan.
type row struct {
	key   string
	value []byte
}

// Scan calls fn for every live key under prefix from start on, in ascending
// byte order, merging the transaction's pending writes into what the database
// holds. The pending writes are taken as they are when Scan begins, as Badger's
// iterators do: what fn writes during the scan is not visited by it.
func (t *tx) Scan(prefix, start string, fn func(key string, value []byte) error) error {
	if err := t.usable(); err != nil {
		return err
	}
	lo := max(start, prefix)
	hi, bounded := prefixEnd(prefix)
	pend := t.pendingFrom(prefix, lo)

	var (
		page   []row
		at     int    // the next row of page
		more   = true // the database may hold keys after page
		next   = lo   // where the next page starts
		size   = firstPage
		pendAt int
	)
	for {
		if at == len(page) && more {
			var err error
			if page, err = t.fetch(next, hi, bounded, size); err != nil {
				return err
			}
			at, more = 0, len(page) == size
			if len(page) > 0 {
				// The smallest key after the page's last.
				next = page[len(page)-1].key + "\x00"
			}
			size = min(2*size, maxPage)
		}
		haveRow, havePend := at < len(page), pendAt < len(pend)
		var key string
		var value []byte
		switch {
		case !haveRow && !havePend:
			return nil
		case havePend && (!haveRow || pend[pendAt].key <= page[at].key):
			p := pend[pendAt]
			pendAt++
			if haveRow && p.key == page[at].key {
				at++ // overwritten or deleted by this transaction
			}
			if p.deleted {
				continue
			}
			key, value = p.key, bytes.Clone(p.value)
		default:
			key, value = page[at].key, page[at].value
			at++
			t.read(key)
		}
		if err := fn(key, value); err != nil {
			if errors.Is(err, storage.ErrStop) {
				return nil
			}
			return err
		}
	}
}

// fetch reads up to limit live keys from lo on (and before hi when bounded).
func (t *tx) fetch(lo, hi string, bounded bool, limit int) ([]row, error) {
	var page []row
	collect := func(rows pgx.Rows) error {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if v == nil {
			v = []byte{}
		}
		page = append(page, row{key: string(k), value: v})
		return nil
	}
	var err error
	if bounded {
		err = t.query("scan", collect, t.s.sql.scan, []byte(lo), []byte(hi), limit)
	} else {
		err = t.query("scan", collect, t.s.sql.scanAll, []byte(lo), limit)
	}
	return page, err
}

// pendingKey is a pending write as Scan merges it.
type pendingKey struct {
	key string
	pendingWrite
}

// pendingFrom returns the pending writes under prefix from lo on, sorted.
func (t *tx) pendingFrom(prefix, lo string) []pendingKey {
	var out []pendingKey
	for k, w := range t.pending {
		if k >= lo && strings.HasPrefix(k, prefix) {
			out = append(out, pendingKey{k, w})
		}
	}
	slices.SortFunc(out, func(a, b pendingKey) int { return strings.Compare(a.key, b.key) })
	return out
}

// prefixEnd returns the smallest string greater than every string starting
// with prefix, and false when there is none (prefix empty or all 0xff).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
