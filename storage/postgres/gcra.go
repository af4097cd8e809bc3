package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// gcraAttempts bounds the retries of a GCRA call that PostgreSQL aborted
// (serialization failure under a default isolation above READ COMMITTED, or a
// broken pooled connection): the call is one statement, so nothing of a failed
// attempt was written.
const gcraAttempts = 3

// GCRA applies mode to buckets at now in one statement (the gcra function of
// the schema), atomically across every process on the database: the buckets'
// rows are locked in key order, so concurrent calls queue on shared buckets and
// cannot deadlock. It returns each bucket's TAT before the call, the zero time
// for none or passed, in the order given. A key may appear only once.
//
// A bucket is a key of the store, which GCRA reads and, when it counts,
// overwrites with the TAT (8 bytes big-endian unix nanoseconds) and a TTL to
// it: the caller keeps bucket keys apart from other data (internal/ratelimit:
// "rl/..."). A live key of 8 bytes that a Tx wrote, a bucket copied from
// another store, is honoured as a TAT.
func (s *Store) GCRA(ctx context.Context, now time.Time, mode storage.GCRAMode, buckets []storage.GCRABucket) ([]time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: gcra: %w", err)
	}
	if mode < storage.GCRAPeek || mode > storage.GCRASpend {
		return nil, fmt.Errorf("postgres: gcra: unknown mode %d", mode)
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.inflight.Done()

	order := make([]int, len(buckets))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(buckets[a].Key, buckets[b].Key) })
	keys := make([][]byte, len(order))
	every := make([]int64, len(order))
	window := make([]int64, len(order))
	for i, b := range order {
		bucket := buckets[b]
		if err := checkKey("gcra", bucket.Key); err != nil {
			return nil, err
		}
		if i > 0 && bucket.Key == buckets[order[i-1]].Key {
			return nil, fmt.Errorf("postgres: gcra: bucket key given twice")
		}
		keys[i], every[i], window[i] = []byte(bucket.Key), int64(bucket.Every), int64(bucket.Window)
	}
	out := make([]time.Time, len(buckets))
	if len(buckets) == 0 {
		return out, nil
	}
	var tats []int64
	var err error
	for attempt := 1; ; attempt++ {
		err = s.pool.QueryRow(ctx, s.sql.gcra, now.UnixNano(), int32(mode), keys, every, window).Scan(&tats)
		if err == nil || attempt == gcraAttempts || !(isConflict(err) || pgconn.SafeToRetry(err)) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, s.wrap(ctx, "gcra", err)
	}
	if len(tats) != len(order) {
		return nil, fmt.Errorf("postgres: gcra: %d TATs for %d buckets", len(tats), len(order))
	}
	for i, b := range order {
		if tats[i] != 0 {
			out[b] = time.Unix(0, tats[i])
		}
	}
	return out, nil
}
