package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// decideShared applies checks through the store's own limits, atomically
// across every process sharing the store, and decides with the same formula as
// the in-memory path from the TATs the store had.
func (l *Limiter) decideShared(ctx context.Context, mode storage.GCRAMode, checks []Check) (Decision, error) {
	enabled := make([]Check, 0, len(checks))
	buckets := make([]storage.GCRABucket, 0, len(checks))
	for _, c := range checks {
		if c.Limit.Off() {
			continue
		}
		enabled = append(enabled, c)
		buckets = append(buckets, storage.GCRABucket{
			Key:    storeKey(c.Name, c.Key),
			Every:  c.Limit.Every,
			Window: time.Duration(c.Limit.Burst) * c.Limit.Every,
		})
	}
	if len(buckets) == 0 {
		return Decision{Allowed: true, Remaining: -1}, nil
	}
	now := l.now()
	tats, err := l.shared.GCRA(ctx, now, mode, buckets)
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit: %w", err)
	}
	var best Decision
	each := make([]Decision, len(enabled))
	for i, c := range enabled {
		d, _ := gcra(tats[i], now, c.Limit)
		d.Name, each[i] = c.Name, d
		if i == 0 || tighter(d, best) {
			best = d
		}
	}
	best.Checks = each
	return best, nil
}
