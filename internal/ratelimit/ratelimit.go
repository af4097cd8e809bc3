// Package ratelimit limits how often a key (a client IP, an email address, a
// ticket) may do something, with the generic cell rate algorithm (GCRA): a token
// bucket kept as one timestamp per key, the theoretical arrival time (TAT) of the
// next request.
//
// The TATs live in memory, where checking a limit costs a map lookup under a lock,
// so that one busy key (a NAT's address) does not serialise requests on a storage
// transaction; they are written behind to the store every second and read back
// on a miss, so that limits survive a restart. A key whose TAT has passed is a full
// bucket and is forgotten.
//
// A store that several processes share and that applies limits itself
// (storage.Limits: PostgreSQL) keeps the TATs instead, so that every node counts
// against the same buckets: each decision is then one round trip to the store,
// and memory holds nothing.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Limit allows Burst requests at once, then one more every Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// Off reports whether the limit is disabled (its zero value).
func (l Limit) Off() bool { return l.Burst <= 0 || l.Every <= 0 }

// Validate refuses a half-set limit.
func (l Limit) Validate() error {
	if (l.Burst <= 0) != (l.Every <= 0) {
		return fmt.Errorf("a limit needs both a burst and an interval (got %d per %s)", l.Burst, l.Every)
	}
	return nil
}

// Check is one limit to apply to one key.
type Check struct {
	Name  string // the layer, e.g. "ip"; part of the store key
	Key   string // e.g. the client IP; hashed before it is stored
	Limit Limit
}

// Decision is the outcome of Allow, with what Auth0's X-RateLimit headers say.
type Decision struct {
	Allowed    bool
	Name       string        // the layer that decided: the one that refused, or the tightest
	Limit      int           // the bucket's size
	Remaining  int           // requests left right now
	Reset      time.Time     // when the bucket is full again
	RetryAfter time.Duration // when refused: how long until one request is allowed
	// Checks holds each enabled check's own decision, in the order given (what
	// a caller needs to tell, say, whether one layer was untouched).
	Checks []Decision
}

// Limiter keeps the buckets. Create it with New and run Run to write them behind.
type Limiter struct {
	store  storage.Store
	shared storage.Limits // non-nil: the store keeps the buckets
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard
}

const shardCount = 64

type shard struct {
	mu    sync.Mutex
	tats  map[string]time.Time // store key -> TAT
	dirty map[string]struct{}
}

// New returns a limiter that writes behind to store (nil: memory only). now is the
// clock (nil: time.Now).
func New(store storage.Store, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{store: store, now: now, seed: maphash.MakeSeed()}
	if limits, ok := store.(storage.Limits); ok && storage.IsShared(store) {
		l.shared = limits
	}
	for i := range l.shards {
		l.shards[i] = shard{tats: map[string]time.Time{}, dirty: map[string]struct{}{}}
	}
	return l
}

// storeKey hashes the key so that no address or email sits in the store's keys.
func storeKey(name, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "rl/" + name + "/" + hex.EncodeToString(sum[:16])
}

// Peek reports what Allow would decide for checks, without counting anything:
// for limits that count failures only, checked before the attempt.
func (l *Limiter) Peek(ctx context.Context, checks ...Check) (Decision, error) {
	return l.decide(ctx, false, checks)
}

// Allow applies every check at once: if any refuses, none is counted, so a request
// refused by one layer does not use up another's budget. Disabled limits are
// skipped. With no enabled check it allows.
func (l *Limiter) Allow(ctx context.Context, checks ...Check) (Decision, error) {
	return l.decide(ctx, true, checks)
}

// Spend counts one request against every check whether or not the limits
// allow it: for work that has been done already (a mail the relay accepted),
// counted after the fact so that work which failed counts nothing. A bucket
// spent past its burst makes later requests wait longer.
func (l *Limiter) Spend(ctx context.Context, checks ...Check) error {
	if l.shared != nil {
		_, err := l.decideShared(ctx, storage.GCRASpend, checks)
		return err
	}
	for _, c := range checks {
		if c.Limit.Off() {
			continue
		}
		k := storeKey(c.Name, c.Key)
		sh := l.shardOf(k)
		if err := l.load(ctx, sh, k); err != nil {
			return err
		}
		sh.mu.Lock()
		tat := sh.tats[k]
		if now := l.now(); tat.Before(now) {
			tat = now
		}
		sh.tats[k], sh.dirty[k] = tat.Add(c.Limit.Every), struct{}{}
		sh.mu.Unlock()
	}
	return nil
}

func (l *Limiter) decide(ctx context.Context, record bool, checks []Check) (Decision, error) {
	if l.shared != nil {
		mode := storage.GCRAPeek
		if record {
			mode = storage.GCRAAllow
		}
		return l.decideShared(ctx, mode, checks)
	}
	type item struct {
		check Check
		key   string
		idx   int
		sh    *shard
	}
	items := make([]item, 0, len(checks))
	for _, c := range checks {
		if c.Limit.Off() {
			continue
		}
		k := storeKey(c.Name, c.Key)
		idx := l.shardIndex(k)
		items = append(items, item{c, k, idx, &l.shards[idx]})
	}
	if len(items) == 0 {
		return Decision{Allowed: true, Remaining: -1}, nil
	}
	for _, it := range items {
		if err := l.load(ctx, it.sh, it.key); err != nil {
			return Decision{}, err
		}
	}
	var locked [shardCount]bool
	for _, it := range items {
		locked[it.idx] = true
	}
	l.lock(&locked)
	defer l.unlock(&locked)
	now := l.now()
	var best Decision
	next := make([]time.Time, len(items))
	each := make([]Decision, len(items))
	for i, it := range items {
		d, tat := gcra(it.sh.tats[it.key], now, it.check.Limit)
		d.Name, next[i], each[i] = it.check.Name, tat, d
		if i == 0 || tighter(d, best) {
			best = d
		}
	}
	best.Checks = each
	if !best.Allowed || !record {
		return best, nil
	}
	for i, it := range items {
		it.sh.tats[it.key] = next[i]
		it.sh.dirty[it.key] = struct{}{}
	}
	return best, nil
}

// tighter reports whether a says more than b: a refusal over an allowance, a
// longer wait, fewer requests left.
func tighter(a, b Decision) bool {
	if a.Allowed != b.Allowed {
		return !a.Allowed
	}
	if !a.Allowed {
		return a.RetryAfter > b.RetryAfter
	}
	return a.Remaining < b.Remaining
}

// gcra decides one request at now for a bucket whose TAT is tat, and returns the
// TAT to store if it is allowed.
func gcra(tat, now time.Time, lim Limit) (Decision, time.Time) {
	if tat.Before(now) {
		tat = now
	}
	window := time.Duration(lim.Burst) * lim.Every
	next := tat.Add(lim.Every)
	d := Decision{Limit: lim.Burst}
	if used := next.Sub(now); used > window {
		d.RetryAfter = used - window
		d.Reset = tat
		d.Remaining = 0
		return d, tat
	}
	d.Allowed = true
	d.Reset = next
	d.Remaining = int((window - next.Sub(now)) / lim.Every)
	return d, next
}

func (l *Limiter) shardIndex(key string) int {
	return int(maphash.String(l.seed, key) % shardCount)
}

func (l *Limiter) shardOf(key string) *shard { return &l.shards[l.shardIndex(key)] }

// lock locks the marked shards in index order, so that two calls sharing shards
// cannot deadlock.
func (l *Limiter) lock(marked *[shardCount]bool) {
	for i, m := range marked {
		if m {
			l.shards[i].mu.Lock()
		}
	}
}

func (l *Limiter) unlock(marked *[shardCount]bool) {
	for i, m := range marked {
		if m {
			l.shards[i].mu.Unlock()
		}
	}
}

// load reads key's TAT from the store if memory does not have it. A bucket that
// was never stored is full; it gets a zero TAT so the store is read only once.
func (l *Limiter) load(ctx context.Context, sh *shard, key string) error {
	sh.mu.Lock()
	_, ok := sh.tats[key]
	sh.mu.Unlock()
	if ok || l.store == nil {
		return nil
	}
	var tat time.Time
	err := l.store.View(ctx, func(tx storage.Tx) error {
		data, err := tx.Get(key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(data) == 8 {
			tat = time.Unix(0, int64(binary.BigEndian.Uint64(data)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read rate limit: %w", err)
	}
	sh.mu.Lock()
	if _, raced := sh.tats[key]; !raced {
		sh.tats[key] = tat
	}
	sh.mu.Unlock()
	return nil
}
