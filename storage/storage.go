// Package storage defines the one interface through which the product keeps its state:
// tickets, the job and mail queues, templates and their versions. The embedded default
// lives in storage/badger; a distributed backend implements the same interface.
//
// The interface is a small transactional key-value store. Everything the flow needs
// (single-use tickets, leases on queue items, versioned templates) is built above it
// from Get, Set, Delete and Scan inside Update, so a backend only has to provide
// optimistic transactions: a transaction that read a key another transaction changed
// in the meantime fails with ErrConflict and writes nothing.
package storage

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

var (
	// ErrNotFound is returned by Tx.Get for a key that does not exist or has expired.
	ErrNotFound = errors.New("storage: key not found")

	// ErrConflict is returned by Store.Update when a key the transaction read was
	// changed by another transaction before this one committed. Nothing was written.
	ErrConflict = errors.New("storage: transaction conflict")

	// ErrUnavailable wraps errors that mean the store cannot accept writes right now
	// (disk full, read-only directory, closed database). Callers answer 503.
	ErrUnavailable = errors.New("storage: unavailable")

	// ErrStop may be returned by a Scan callback to end the scan early; Scan then
	// returns nil.
	ErrStop = errors.New("storage: stop scan")
)

// Store is a transactional key-value store.
//
// Rules every backend keeps (storagetest checks them): a context already done
// makes View and Update return its error without running fn, and a context that
// ends while fn runs means nothing is committed; Set does not keep the caller's
// slice; Close is idempotent and waits for running transactions. Keys are
// non-empty and short (well under 64 KiB); values stay under 1 MiB, and one
// transaction's writes under about 1 MB, so clean-ups work in batches. fn must
// not call View, Update or Close.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error

	// Update runs fn in a read-write transaction and commits its writes atomically
	// if fn returns nil. It returns ErrConflict if a key read by fn was changed
	// concurrently; callers decide whether to retry.
	Update(ctx context.Context, fn func(Tx) error) error

	// Close releases the store. Transactions after Close fail with ErrUnavailable.
	Close() error
}

// Tx is one transaction. It must not be used after the function it was passed to
// returns. Values returned by Get and Scan are owned by the caller.
type Tx interface {
	// Get returns the value stored at key, or ErrNotFound.
	Get(key string) ([]byte, error)

	// Set stores value at key. A positive ttl lets the backend delete the key some
	// time after ttl has passed; it is clean-up only, never a security decision:
	// records that expire carry their own expiry time, checked against the clock.
	// Values are under 1 MiB; a backend refuses larger ones.
	Set(key string, value []byte, ttl time.Duration) error

	// Delete removes key. Deleting a missing key is not an error.
	Delete(key string) error

	// Scan calls fn for every key that starts with prefix and sorts at or after
	// start (all of them if start is empty), in ascending key order. The keys
	// Scan returns count as read for conflict detection in Update, but a key
	// another transaction inserts under the prefix does not: to make concurrent
	// writers conflict, have them Get and Set one shared key. (The same holds
	// for a Get that found nothing: another transaction creating that key is a
	// conflict only if this one writes it too.)
	Scan(prefix, start string, fn func(key string, value []byte) error) error
}

// maxConflictRetries bounds how often UpdateRetry retries after ErrConflict.
const maxConflictRetries = 8

// Relaxer is implemented by a Tx whose commit can skip waiting for the disk.
// Relax says that the transaction's writes need not survive a power cut or a
// crash of the machine: they still commit whole or not at all, they survive a
// crash of the process, and they are on disk a moment later (Badger: within
// 200 ms; PostgreSQL: synchronous_commit off, its WAL writer's delay); a later
// transaction that does wait for the disk makes them durable too. Use it for
// writes whose loss redoes work without breaking a promise: a claim, the
// record of a mail sent (lost, the mail goes again), the results of a job
// that would run again.
type Relaxer interface {
	Relax()
}

// Relax relaxes tx's commit if its backend can (see Relaxer).
func Relax(tx Tx) {
	if r, ok := tx.(Relaxer); ok {
		r.Relax()
	}
}

// UpdateRelaxed is Update with the commit relaxed (see Relaxer), retried on
// conflict as UpdateRetry.
func UpdateRelaxed(ctx context.Context, s Store, fn func(Tx) error) error {
	return UpdateRetry(ctx, s, func(tx Tx) error {
		Relax(tx)
		return fn(tx)
	})
}

// UpdateRetry runs Update until it commits, fn fails with an error other than
// ErrConflict, or the attempts are used up. Use it for writes whose conflicts are
// benign (two workers touching one user's index), never for single-use claims,
// where a conflict means another caller won.
func UpdateRetry(ctx context.Context, s Store, fn func(Tx) error) error {
	var err error
	for attempt := range maxConflictRetries {
		if err = s.Update(ctx, fn); !errors.Is(err, ErrConflict) {
			return err
		}
		// A short random pause keeps the losers of a conflict from meeting
		// again at once.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return err
}
