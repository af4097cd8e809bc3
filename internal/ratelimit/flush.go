package ratelimit

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// flushBatch bounds one write-behind transaction (storage keeps transactions small).
const flushBatch = 1000

// Run writes the buckets behind to the store every interval and forgets full
// ones, until ctx is done; then it writes once more.
func (l *Limiter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.Flush(context.WithoutCancel(ctx)) //nolint:errcheck // best effort on the way out
			return
		case <-t.C:
			l.Flush(ctx) //nolint:errcheck // a failed flush is retried at the next tick
		}
	}
}

// Flush writes the changed buckets to the store, with a TTL that lets the store
// drop them once they are full again, and forgets full buckets from memory.
func (l *Limiter) Flush(ctx context.Context) error {
	if l.shared != nil {
		return nil // the store has them already
	}
	now := l.now()
	var writes []write
	for i := range l.shards {
		writes = l.shards[i].takeDirty(now, writes)
	}
	if l.store == nil {
		return nil
	}
	for start := 0; start < len(writes); start += flushBatch {
		batch := writes[start:min(start+flushBatch, len(writes))]
		err := l.store.Update(ctx, func(tx storage.Tx) error {
			for _, w := range batch {
				if err := tx.Set(w.key, w.value, w.ttl); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			l.redirty(batch)
			return err
		}
	}
	return nil
}

type write struct {
	key   string
	value []byte
	ttl   time.Duration
}

// takeDirty collects the shard's changed buckets and forgets those already full.
func (s *shard) takeDirty(now time.Time, out []write) []write {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.dirty {
		tat := s.tats[key]
		if ttl := tat.Sub(now); ttl > 0 {
			v := make([]byte, 8)
			binary.BigEndian.PutUint64(v, uint64(tat.UnixNano()))
			out = append(out, write{key: key, value: v, ttl: ttl + time.Second})
		}
		delete(s.dirty, key)
	}
	for key, tat := range s.tats {
		if !tat.After(now) {
			delete(s.tats, key) // full again: the same as never seen
		}
	}
	return out
}

// redirty marks the keys of a failed write as changed again.
func (l *Limiter) redirty(batch []write) {
	for _, w := range batch {
		sh := l.shardOf(w.key)
		sh.mu.Lock()
		sh.dirty[w.key] = struct{}{}
		sh.mu.Unlock()
	}
}
