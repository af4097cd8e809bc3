package postgres

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// runJanitor deletes expired keys, passed GCRA buckets among them, every
// interval until the store closes.
func (s *Store) runJanitor(interval time.Duration) {
	defer s.bg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop.Done():
			return
		case <-tick.C:
		}
		n, err := s.expire(s.stop)
		switch {
		case err != nil && s.stop.Err() == nil:
			s.log.Warn("postgres: deleting expired keys", zap.Error(err))
		case n > 0:
			s.log.Debug("postgres: deleted expired keys", zap.Int64("rows", n))
		}
	}
}

// expire deletes expired rows in batches, unless another node (or another
// Store on the same tables) is doing it: the session advisory lock makes one
// janitor at a time work, and is released by the server if this node dies
// holding it. It returns how many rows it deleted.
func (s *Store) expire(ctx context.Context) (int64, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, s.wrap(ctx, "janitor", err)
	}
	defer conn.Release()
	key := lockKey(s.prefix, "janitor")
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&locked); err != nil {
		return 0, s.wrap(ctx, "janitor", err)
	}
	if !locked {
		return 0, nil
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			// A connection back in the pool still holding the lock would
			// keep every janitor out while it lives: close it, which
			// releases the lock.
			conn.Conn().Close(unlockCtx) //nolint:errcheck // closing is all that is left
		}
	}()
	var deleted int64
	for {
		tag, err := conn.Exec(ctx, s.sql.expireKV)
		if err != nil {
			return deleted, s.wrap(ctx, "janitor", err)
		}
		deleted += tag.RowsAffected()
		if tag.RowsAffected() < janitorBatch {
			return deleted, nil
		}
	}
}
