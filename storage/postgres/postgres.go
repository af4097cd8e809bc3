// Package postgres is a storage.Store on PostgreSQL, for several Caddy nodes
// sharing one database. It also offers the optional interfaces of a shared
// store (storage/shared.go): Shared, Listener (LISTEN/NOTIFY), Limits (GCRA in
// one statement) and Exporter, and its Update's Tx is a storage.Announcer.
//
// Keys are bytea, so they sort as Go strings do. An Update is a REPEATABLE
// READ transaction (one snapshot) whose commit locks, in key order, every key
// it read from the database: PostgreSQL fails the commit with 40001 when one of
// them was changed or deleted by a transaction that committed since the
// snapshot, which is storage.ErrConflict, as storage.Store's rule wants (a
// key read and changed meanwhile), and nothing is written. SERIALIZABLE would
// add conflicts of its own: its predicate locks cover index pages, so two
// Updates of different keys on one page abort each other (BenchmarkUpdateGetSet
// at 8 goroutines on disjoint keys: 0.15% of them). A Get that found no key
// counts as read only if the transaction writes the key (then a concurrent
// insert of it is a conflict), as a key inserted under a scanned prefix does
// not count: to make writers conflict, have them Get and Set one shared key.
//
// An Update's writes are buffered and sent with the COMMIT in one batch, and
// its first read is sent with the BEGIN, so that an Update that reads a key and
// writes one costs two round trips, one that only writes one.
//
// The schema (tables named TablePrefix + kv and schema, and functions
// TablePrefix + commit and gcra) is created and migrated by Open, under an advisory lock,
// so that nodes starting at once do not race. A janitor deletes expired keys;
// one node at a time does it (pg_try_advisory_lock).
//
// The GCRA buckets are keys of kv like any other: the value is the TAT as 8
// bytes big-endian unix nanoseconds, as internal/ratelimit stores a bucket in
// Badger, with a TTL that ends when the TAT passes. Export lists them, and a
// store copied either way with Export and Tx.Set keeps its rate limits.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Defaults of Options.
const (
	DefaultMaxConns        = 16
	DefaultTablePrefix     = "password_reset_"
	DefaultJanitorInterval = time.Minute
)

// connectTimeout bounds a connection attempt when the DSN sets none
// (connect_timeout), so that a database that does not answer fails
// transactions with ErrUnavailable instead of holding them until the kernel
// gives up on the TCP handshake.
const connectTimeout = 10 * time.Second

// validPrefix is what TablePrefix may be: a lower-case SQL identifier short
// enough that every name built on it stays under PostgreSQL's 63 bytes.
var validPrefix = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// Options configures Open. DSN is required.
type Options struct {
	// DSN is a libpq key=value connection string or a postgres:// URL. It is
	// secret (it may hold a password): it is never logged, and its password
	// never appears in an error.
	DSN string

	// MaxConns is the size of the connection pool: DefaultMaxConns if zero. An
	// Update holds one connection from its first statement to its commit. The
	// listener has one more connection of its own.
	MaxConns int32

	// TablePrefix starts the name of every table and function of the store:
	// DefaultTablePrefix if empty. Stores with different prefixes are
	// independent, in one database.
	TablePrefix string

	// Logger receives the janitor's and the listener's troubles. Nil discards
	// them.
	Logger *zap.Logger

	// JanitorInterval is how often expired keys are deleted:
	// DefaultJanitorInterval if zero, never if negative.
	JanitorInterval time.Duration
}

// Store is a storage.Store on a PostgreSQL database. It is safe for concurrent
// use. Create it with Open and release it with Close.
type Store struct {
	pool    *pgxpool.Pool
	log     *zap.Logger
	sql     statements
	prefix  string
	secrets []string // the DSN's passwords, removed from every error's text

	mu       sync.Mutex     // guards closed and the Add side of inflight
	closed   bool           // set once by Close; no transaction starts after it
	inflight sync.WaitGroup // transactions and calls Close must wait for

	stop      context.Context // ends when Close has waited for the transactions
	cancel    context.CancelFunc
	bg        sync.WaitGroup // the janitor and the listener
	listener  *listener
	notifier  *notifier
	closeOnce sync.Once
}

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Shared   = (*Store)(nil)
	_ storage.Listener = (*Store)(nil)
	_ storage.Limits   = (*Store)(nil)
	_ storage.Exporter = (*Store)(nil)
)

// Open connects to the database, creates or migrates the schema, and starts
// the janitor and the listener. An unreachable or read-only database is an
// error wrapping storage.ErrUnavailable.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return open(ctx, opts, nil)
}

// open is Open; tweak, if set, changes the pool's configuration (the
// benchmarks count round trips with a dialer of their own).
func open(ctx context.Context, opts Options, tweak func(*pgxpool.Config)) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// pgx masks the password of a DSN it cannot parse only as well as it
		// can guess where the password is: its error is not shown.
		return nil, errors.New("postgres: the DSN cannot be parsed: want a libpq key=value string or a " +
			"postgres:// URL (the DSN is not shown: it may hold a password)")
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "caddy-password-reset"
	}
	// Every error is checked for these. A very short password may blank out
	// more of a message than itself: readable errors lose to secret ones.
	secrets := []string{opts.DSN, cfg.ConnConfig.Password}
	if tweak != nil {
		tweak(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", redactSecrets(err, secrets))
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{pool: pool, log: log, sql: newStatements(opts.TablePrefix), prefix: opts.TablePrefix, secrets: secrets}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.stop, s.cancel = context.WithCancel(context.Background())
	s.listener, err = startListener(ctx, s)
	if err != nil {
		s.cancel()
		pool.Close()
		return nil, err
	}
	s.notifier = newNotifier(s)
	s.bg.Add(1)
	go s.notifier.run(s.stop)
	if opts.JanitorInterval > 0 {
		s.bg.Add(1)
		go s.runJanitor(opts.JanitorInterval)
	}
	return s, nil
}

// setDefaults fills in the zero fields and rejects invalid ones.
func (o *Options) setDefaults() error {
	if o.DSN == "" {
		return errors.New("postgres: Options.DSN is required")
	}
	switch {
	case o.MaxConns == 0:
		o.MaxConns = DefaultMaxConns
	case o.MaxConns < 0:
		return fmt.Errorf("postgres: Options.MaxConns is %d, want a positive number", o.MaxConns)
	}
	if o.TablePrefix == "" {
		o.TablePrefix = DefaultTablePrefix
	}
	if !validPrefix.MatchString(o.TablePrefix) {
		return fmt.Errorf("postgres: Options.TablePrefix %q: want lower-case letters, digits and _, "+
			"not starting with a digit, at most 40 of them", o.TablePrefix)
	}
	if o.JanitorInterval == 0 {
		o.JanitorInterval = DefaultJanitorInterval
	}
	return nil
}

// Shared reports true: other processes may use the database.
func (s *Store) Shared() bool { return true }

// View runs fn in a read-only transaction on one snapshot (REPEATABLE READ
// READ ONLY), begun with fn's first read.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) (err error) {
	defer storage.RecordTransaction(storage.KindView, time.Now(), &err)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: view: %w", err)
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.inflight.Done()

	t := &tx{s: s, ctx: ctx}
	defer t.release()
	err = fn(t)
	t.done = true
	if err != nil {
		return err
	}
	return t.err
}

// Update runs fn in a read-write transaction and commits it if fn returns nil
// and ctx is still live. An error from fn is returned as is. A transaction
// that read a key another one changed since its snapshot returns an error
// wrapping storage.ErrConflict; nothing of it was written.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) (err error) {
	defer storage.RecordTransaction(storage.KindUpdate, time.Now(), &err)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: update: %w", err)
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.inflight.Done()

	t := &tx{s: s, ctx: ctx, write: true}
	defer t.release()
	err = fn(updateTx{t})
	t.done = true
	if err != nil {
		return err
	}
	// A statement that failed aborted the database's transaction, whether or
	// not fn looked at the error.
	if t.err != nil {
		return t.err
	}
	// A caller that gave up (client gone, shutdown) must not have its writes
	// land after it has already answered.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: update: not committed: %w", err)
	}
	return t.commit()
}

// Close waits for running transactions, stops the janitor and the listener
// (closing the listeners' channels) and closes the pool. Later transactions
// fail with storage.ErrUnavailable. Close is idempotent. It must not be called
// from inside a transaction function, which it would wait for.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()

		s.inflight.Wait()
		s.cancel()
		s.bg.Wait()
		s.pool.Close()
	})
	return nil
}

// begin registers a transaction, or fails if the store is closed. A mutex and a
// WaitGroup are used rather than an RWMutex so that a transaction started while
// Close waits fails fast instead of deadlocking.
func (s *Store) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.inflight.Add(1)
	return nil
}
