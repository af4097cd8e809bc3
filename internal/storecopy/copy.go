// Package storecopy copies the whole state of one store into another: what an
// operator runs to move from the embedded Badger store to PostgreSQL (one node
// to several) or back, without losing open links, queued mail, templates and
// their versions, the audit log or the rate limits.
package storecopy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// ErrTargetNotEmpty is returned when the target holds keys and Overwrite is off.
var ErrTargetNotEmpty = errors.New("the target store is not empty")

// Options tune Copy.
type Options struct {
	// Overwrite allows copying into a store that already holds keys: keys of
	// the source replace the target's, the target's other keys stay.
	Overwrite bool
	// Now is the clock that turns expiry times back into TTLs (nil: time.Now).
	Now func() time.Time
}

// Result says what Copy did.
type Result struct {
	Keys, Bytes int // copied
	Expired     int // in the source but past their expiry: not copied
}

// Batch bounds one write transaction of the target (storage keeps transactions
// under about 1 MB).
const (
	batchKeys  = 500
	batchBytes = 512 << 10
)

// Copy writes every live key of src into dst, with its remaining TTL, in
// batches. Neither store may be written by anything else meanwhile: stop the
// Caddy nodes first (Badger's directory lock makes sure of it for Badger).
func Copy(ctx context.Context, src storage.Exporter, dst storage.Store, opts Options) (Result, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if !opts.Overwrite {
		empty, err := IsEmpty(ctx, dst)
		if err != nil {
			return Result{}, fmt.Errorf("read the target: %w", err)
		}
		if !empty {
			return Result{}, ErrTargetNotEmpty
		}
	}
	var res Result
	var batch []storage.Record
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := write(ctx, dst, batch, opts.Now()); err != nil {
			return fmt.Errorf("write the target: %w", err)
		}
		res.Keys += len(batch)
		res.Bytes += size
		batch, size = batch[:0], 0
		return nil
	}
	err := src.Export(ctx, func(r storage.Record) error {
		if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(opts.Now()) {
			res.Expired++
			return nil
		}
		batch = append(batch, r)
		size += len(r.Key) + len(r.Value)
		if len(batch) >= batchKeys || size >= batchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return res, err
}

// IsEmpty reports whether s holds no key.
func IsEmpty(ctx context.Context, s storage.Store) (bool, error) {
	empty := true
	err := s.View(ctx, func(tx storage.Tx) error {
		return tx.Scan("", "", func(string, []byte) error {
			empty = false
			return storage.ErrStop
		})
	})
	return empty, err
}

// write stores a batch in one transaction. A record whose expiry passed since
// it was read is skipped rather than given a TTL of zero, which means never.
func write(ctx context.Context, dst storage.Store, batch []storage.Record, now time.Time) error {
	return dst.Update(ctx, func(tx storage.Tx) error {
		for _, r := range batch {
			var ttl time.Duration
			if !r.ExpiresAt.IsZero() {
				if ttl = r.ExpiresAt.Sub(now); ttl <= 0 {
					continue
				}
			}
			if err := tx.Set(r.Key, r.Value, ttl); err != nil {
				return err
			}
		}
		return nil
	})
}
