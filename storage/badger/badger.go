// Package badger is the embedded storage.Store, backed by Badger v4.
//
// It is imported as badgerstore, since the package name clashes with Badger's own:
//
//	import badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
//
// Badger's defaults are sized for large databases (a 64 MiB memtable arena allocated
// up front, five memtables, a 256 MiB block cache); this store holds small records,
// so Open tunes Badger down to about a tenth of the idle heap. Badger holds an
// exclusive lock on its directory, so a directory can be opened once per process
// and by one process at a time; callers inside Caddy share one Store across config
// reloads (caddy.UsagePool) instead of opening it again.
//
// Badger writes its files through mmap, so a full disk kills the process with
// SIGBUS instead of returning ENOSPC; Update therefore refuses writes with
// storage.ErrUnavailable while free space is below Options.MinFreeSpace.
package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// DefaultGCInterval is how often the value log is garbage-collected when
// Options.GCInterval is zero.
const DefaultGCInterval = 5 * time.Minute

// gcDiscardRatio is the share of stale data a value-log file must hold before GC
// rewrites it; 0.5 is Badger's recommendation.
const gcDiscardRatio = 0.5

// Options configures Open. The zero value is not usable: set Dir or InMemory.
type Options struct {
	// Dir is the directory that holds the database. It is created if missing.
	// It must be empty when InMemory is set.
	Dir string

	// InMemory keeps everything in memory and writes nothing to disk. For tests.
	InMemory bool

	// SyncWrites makes every commit wait until it is on disk. Without it a machine
	// crash (not a process crash) can lose the last commits. Commits that finish
	// together share one sync (group commit, see groupsync.go).
	SyncWrites bool

	// GCInterval is how often the value-log GC runs: DefaultGCInterval if zero,
	// never if negative.
	GCInterval time.Duration

	// Logger receives Badger's own log lines. Nil discards them.
	Logger *zap.Logger

	// MinFreeSpace is the number of bytes Update keeps free on Dir's filesystem:
	// below it, writes fail with storage.ErrUnavailable instead of letting Badger
	// fill the disk, which crashes the process (see DefaultMinFreeSpace).
	// DefaultMinFreeSpace if zero, no check if negative. Linux and macOS only.
	MinFreeSpace int64
}

// Store is a storage.Store backed by a Badger database. It is safe for concurrent
// use. Create it with Open and release it with Close.
type Store struct {
	db    *badger.DB
	log   *zap.Logger
	space *spaceGuard // nil when free space is not checked
	// durable makes commits durable in groups, and wal is what it syncs; nil
	// without SyncWrites.
	durable *groupSync
	wal     *walSyncer

	mu       sync.Mutex     // guards closed and the Add side of inflight
	closed   bool           // set once by Close; no transaction starts after it
	inflight sync.WaitGroup // transactions Close must wait for

	closeOnce sync.Once
	closeErr  error
	stopGC    chan struct{} // closed by Close to stop the GC goroutine
	gcDone    chan struct{} // closed by the GC goroutine when it returns
}

var _ storage.Store = (*Store)(nil)

// Open opens (or creates) the database described by opts and starts its value-log
// GC. If the directory is locked by another Badger instance, the error wraps
// ErrLocked and explains how to change the configuration of a running server.
func Open(opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	db, err := badger.Open(badgerOptions(opts, log))
	if err != nil {
		return nil, openError(opts.Dir, err)
	}
	s := &Store{
		db:     db,
		log:    log,
		space:  newSpaceGuard(opts),
		stopGC: make(chan struct{}),
		gcDone: make(chan struct{}),
	}
	if opts.SyncWrites && !opts.InMemory {
		s.wal = newWALSyncer(opts.Dir)
		s.durable = newGroupSync(s.wal.sync)
	}
	interval := opts.GCInterval
	if interval == 0 {
		interval = DefaultGCInterval
	}
	if interval > 0 && !opts.InMemory {
		go s.runGC(interval)
	} else {
		close(s.gcDone)
	}
	return s, nil
}

// validate rejects option combinations Badger would reject with a less clear error.
func (o Options) validate() error {
	switch {
	case o.InMemory && o.Dir != "":
		return errors.New("badgerstore: Dir must be empty when InMemory is set")
	case !o.InMemory && o.Dir == "":
		return errors.New("badgerstore: Dir is required unless InMemory is set")
	}
	return nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) (err error) {
	defer storage.RecordTransaction(storage.KindView, time.Now(), &err)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("badgerstore: view: %w", err)
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.inflight.Done()

	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	t := &tx{txn: txn}
	defer t.end()
	return fn(t)
}

// Update runs fn in a read-write transaction and commits it if fn returns nil and
// ctx is still live. An error from fn is returned as is. A commit that lost a race
// on a key fn read returns an error wrapping storage.ErrConflict.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) (err error) {
	defer storage.RecordTransaction(storage.KindUpdate, time.Now(), &err)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("badgerstore: update: %w", err)
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.inflight.Done()

	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	t := &tx{txn: txn}
	err = fn(t)
	t.end()
	if err != nil {
		return err
	}
	// A caller that gave up (client gone, shutdown) must not have its writes land
	// after it has already answered.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("badgerstore: update: not committed: %w", err)
	}
	if t.written > 0 {
		if err := s.space.allow(time.Now(), t.written); err != nil {
			return err
		}
	}
	if err := txn.Commit(); err != nil {
		return wrapError("commit", err, "")
	}
	switch {
	case s.durable == nil || t.written == 0:
	case t.relaxed:
		s.durable.soon()
	default:
		if err := s.durable.wait(); err != nil {
			return wrapError("sync", err, "")
		}
	}
	return nil
}

// Close stops the GC, waits for running transactions and closes the database.
// Later transactions fail with storage.ErrUnavailable. Close is idempotent and
// every call returns the first call's result. It must not be called from inside a
// transaction function, which it would wait for.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()

		close(s.stopGC)
		<-s.gcDone
		s.inflight.Wait()
		if s.durable != nil {
			// A relaxed commit not yet synced is made durable by Badger's close.
			s.durable.stop()
			defer s.wal.close()
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("badgerstore: close: %w", err)
		}
	})
	return s.closeErr
}

// begin registers a transaction, or fails if the store is closed. A mutex and a
// WaitGroup are used rather than an RWMutex so that a transaction started from
// inside another one while Close waits fails fast instead of deadlocking.
func (s *Store) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("badgerstore: %w: store is closed", storage.ErrUnavailable)
	}
	s.inflight.Add(1)
	return nil
}

// tx adapts a Badger transaction to storage.Tx.
type tx struct {
	txn     *badger.Txn
	done    bool // set when the transaction function returned
	written int  // bytes of keys and values written, for the free-space guard
	relaxed bool // Relax was called: the commit does not wait for a sync
}

// Relax implements storage.Relaxer: the commit returns without waiting for a
// sync, which follows within relaxDelay.
func (t *tx) Relax() { t.relaxed = true }

// errTxDone is returned when a Tx is used after its function returned, which
// would otherwise make Badger panic.
var errTxDone = errors.New("badgerstore: transaction used after its function returned")

func (t *tx) end() { t.done = true }

// Get returns a copy of the value at key, or storage.ErrNotFound.
func (t *tx) Get(key string) ([]byte, error) {
	if t.done {
		return nil, errTxDone
	}
	item, err := t.txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, wrapError("get", err, key)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, wrapError("get", err, key)
	}
	return v, nil
}

// Set stores a copy of value at key: Badger keeps a reference to the slice until
// commit, and callers may reuse their buffers before that.
func (t *tx) Set(key string, value []byte, ttl time.Duration) error {
	if t.done {
		return errTxDone
	}
	// A value this large would go to Badger's value log, which the group sync
	// does not cover (walSyncer); none of the store's users comes near it.
	if len(value) >= valueThreshold {
		return fmt.Errorf("storage: set: a value of %d bytes is over the limit of %d", len(value), valueThreshold-1)
	}
	if err := t.txn.SetEntry(newEntry(key, value, ttl)); err != nil {
		return wrapError("set", err, key)
	}
	t.written += len(key) + len(value)
	return nil
}

// newEntry builds the Badger entry for Set. Badger stores expiry in whole seconds
// and treats a key as gone once the current second reaches it, so WithTTL(ttl)
// alone can expire a key up to a second early; adding a second guarantees the key
// lives at least ttl, as storage.Tx promises.
func newEntry(key string, value []byte, ttl time.Duration) *badger.Entry {
	e := badger.NewEntry([]byte(key), bytes.Clone(value))
	if ttl > 0 {
		e = e.WithTTL(ttl + time.Second)
	}
	return e
}

// Delete removes key; a missing key is not an error.
func (t *tx) Delete(key string) error {
	if t.done {
		return errTxDone
	}
	if err := t.txn.Delete([]byte(key)); err != nil {
		return wrapError("delete", err, key)
	}
	t.written += len(key)
	return nil
}

// Scan calls fn with copies of every key and value under prefix, from start on,
// in ascending order. Values are not prefetched: callers often stop early, and
// small values live in the LSM tree where reading them costs no extra I/O.
func (t *tx) Scan(prefix, start string, fn func(key string, value []byte) error) error {
	if t.done {
		return errTxDone
	}
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = []byte(prefix)
	it := t.txn.NewIterator(opts)
	defer it.Close()

	// Seeking to a start that sorts before the prefix would land on a key outside
	// it and end the scan at once.
	seek := max(start, prefix)
	for it.Seek([]byte(seek)); it.Valid(); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			return wrapError("scan", err, string(item.Key()))
		}
		if err := fn(string(item.Key()), v); err != nil {
			if errors.Is(err, storage.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}
