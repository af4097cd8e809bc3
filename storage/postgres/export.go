package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// exportBatch is how many keys Export reads in one statement (one snapshot).
const exportBatch = 1000

// Export calls fn for every live key in ascending order, with its expiry. It
// reads in batches of exportBatch keys, each its own snapshot, and calls fn
// between them, outside any transaction: copy a store that no process writes.
func (s *Store) Export(ctx context.Context, fn func(storage.Record) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: export: %w", err)
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.inflight.Done()

	from := ""
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("postgres: export: %w", err)
		}
		var batch []storage.Record
		err := readRows(s.pool.Query(ctx, s.sql.export, []byte(from), exportBatch))(func(rows pgx.Rows) error {
			var (
				k, v    []byte
				expires *time.Time
			)
			if err := rows.Scan(&k, &v, &expires); err != nil {
				return err
			}
			r := storage.Record{Key: string(k), Value: v}
			if r.Value == nil {
				r.Value = []byte{}
			}
			if expires != nil {
				r.ExpiresAt = *expires
			}
			batch = append(batch, r)
			return nil
		})
		if err != nil {
			return s.wrap(ctx, "export", err)
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				if errors.Is(err, storage.ErrStop) {
					return nil
				}
				return err
			}
		}
		if len(batch) < exportBatch {
			return nil
		}
		from = batch[len(batch)-1].Key + "\x00"
	}
}
