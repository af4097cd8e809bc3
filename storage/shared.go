package storage

import (
	"context"
	"io"
	"time"
)

// The optional interfaces below are what a backend shared by several processes
// (several Caddy nodes on one database) offers beyond Store. The packages above
// storage look for them with a type assertion and fall back to what works for
// one process (the embedded Badger store) when they are missing.

// Shared is implemented by a store that several processes may use at once.
// The process-local shortcuts a single-process store allows (rate limits kept
// in memory, giving back a dead process's leases at start) are then wrong.
type Shared interface {
	Store
	// Shared reports whether other processes may use the store now. It is a
	// method rather than the type's mere presence so that a wrapper can pass it
	// through.
	Shared() bool
}

// IsShared reports whether s says other processes may use it.
func IsShared(s Store) bool {
	sh, ok := s.(Shared)
	return ok && sh.Shared()
}

// Announcer is implemented by a Tx that can tell the other processes sharing the
// store that work was stored under topic: the announcement is delivered after the
// transaction commits (soon after: a store may gather the announcements of many
// transactions into one), and not at all if it does not.
type Announcer interface {
	Announce(topic string)
}

// Listener is implemented by a Store that delivers the announcements of its Txs.
type Listener interface {
	// Listen returns a channel that receives a value, at least once, after a
	// transaction of any process that announced topic commits. Announcements may
	// be merged: a receiver looks at the store, not at how many it got. The
	// channel is closed when ctx ends or the store closes.
	Listen(ctx context.Context, topic string) <-chan struct{}
}

// GCRAMode says what Limits.GCRA does with the buckets it reads.
type GCRAMode int

const (
	// GCRAPeek reads the buckets and changes nothing.
	GCRAPeek GCRAMode = iota
	// GCRAAllow counts one request against every bucket if each of them allows
	// it, and none otherwise.
	GCRAAllow
	// GCRASpend counts one request against every bucket whether or not they
	// allow it (work already done).
	GCRASpend
)

// GCRABucket is one bucket of the generic cell rate algorithm: a key whose value
// is the theoretical arrival time (TAT) of the next request. A request at now is
// allowed when max(TAT, now) + Every - now <= Window; counting it stores
// max(TAT, now) + Every.
type GCRABucket struct {
	Key    string
	Every  time.Duration
	Window time.Duration // the burst times Every
}

// Limits is implemented by a store that applies rate limits itself, atomically
// across every process sharing it, in one round trip.
type Limits interface {
	// GCRA applies mode to buckets at now, atomically, and returns each bucket's
	// TAT as it was before (the zero time for a bucket never counted or full
	// again), in the order given, so that the caller can compute its decision
	// with the same formula. A counted bucket is kept until its TAT has passed.
	GCRA(ctx context.Context, now time.Time, mode GCRAMode, buckets []GCRABucket) ([]time.Time, error)
}

// Record is one key as a store keeps it: what Export yields and a migration
// writes to another store.
type Record struct {
	Key   string
	Value []byte
	// ExpiresAt is when the key's TTL lets the store delete it; zero: never.
	ExpiresAt time.Time
}

// Backuper is implemented by a store that can write a consistent copy of
// itself while it serves (Backup) and read one back (Restore).
type Backuper interface {
	Backup(w io.Writer) error
	Restore(r io.Reader) error
}

// Exporter is implemented by a store that can list every live key with its
// expiry, for copying a store into another.
type Exporter interface {
	// Export calls fn for every key that has not expired, in ascending key
	// order. It may read in several snapshots, so that a large store is not one
	// transaction: copy a store that no process writes. fn may return ErrStop.
	Export(ctx context.Context, fn func(Record) error) error
}
