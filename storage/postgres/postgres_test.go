package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
	"github.com/caddy-password-reset/caddy-password-reset/storage/storagetest"
)

// server is the PostgreSQL the package's tests share; each store gets tables
// of its own (a fresh TablePrefix), which is cheaper than a database. The
// tests that stop the server or change a database's settings make their own.
var server *testenv.Postgres

func TestMain(m *testing.M) {
	pg, err := testenv.ListenPostgres()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = pg
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "postgres log (tail):\n%s\n", pg.LogTail(40))
	}
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "stop postgres:", err)
		code = 1
	}
	os.Exit(code)
}

var prefixes atomic.Int64

// newPrefix returns a TablePrefix no other store of the test binary uses.
func newPrefix() string { return fmt.Sprintf("t%d_", prefixes.Add(1)) }

// open opens a store with opts, on the shared server and tables of its own
// unless opts says otherwise, and closes it when the test ends.
func open(t testing.TB, opts postgres.Options) *postgres.Store {
	t.Helper()
	if opts.DSN == "" {
		opts.DSN = server.DSN()
	}
	if opts.TablePrefix == "" {
		opts.TablePrefix = newPrefix()
	}
	s, err := postgres.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openPair opens two stores on the same new tables, as two nodes would.
func openPair(t *testing.T) (storage.Store, storage.Store) {
	prefix := newPrefix()
	return open(t, postgres.Options{TablePrefix: prefix}), open(t, postgres.Options{TablePrefix: prefix})
}

func TestPostgresConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, postgres.Options{}) })
}

func TestPostgresLimits(t *testing.T) { storagetest.RunLimits(t, openPair) }

func TestPostgresListener(t *testing.T) { storagetest.RunListener(t, openPair) }

func TestPostgresExporter(t *testing.T) {
	storagetest.RunExporter(t, func(t *testing.T) storage.Store { return open(t, postgres.Options{}) })
}

// set commits one key.
func set(t testing.TB, s storage.Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set(key, []byte(value), ttl) }); err != nil {
		t.Fatalf("Set %q: %v", key, err)
	}
}

// get reads one key; ok is false for ErrNotFound.
func get(t testing.TB, s storage.Store, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := s.View(t.Context(), func(tx storage.Tx) error {
		var err error
		v, err = tx.Get(key)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("Get %q: %v", key, err)
	}
	return string(v), true
}

// rows counts the rows of one of a store's tables on the shared server whose
// key is key, past the store's filter of expired keys.
func rows(t testing.TB, table, key string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), server.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()+" WHERE key = $1",
		[]byte(key)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenRejectsOptions(t *testing.T) {
	for name, opts := range map[string]postgres.Options{
		"no DSN":         {TablePrefix: "x_"},
		"upper case":     {DSN: server.DSN(), TablePrefix: "Reset_"},
		"a digit first":  {DSN: server.DSN(), TablePrefix: "1_"},
		"a quote":        {DSN: server.DSN(), TablePrefix: `x"_`},
		"too long":       {DSN: server.DSN(), TablePrefix: strings.Repeat("x", 41)},
		"negative conns": {DSN: server.DSN(), MaxConns: -1},
	} {
		if s, err := postgres.Open(t.Context(), opts); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestValueAndKeyLimits(t *testing.T) {
	s := open(t, postgres.Options{})
	big := strings.Repeat("v", 1<<20-1) // the largest value the store takes, as Badger
	set(t, s, "big", big, 0)
	if v, ok := get(t, s, "big"); !ok || v != big {
		t.Fatalf("Get(big): %d bytes, found %v", len(v), ok)
	}
	err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("huge", make([]byte, 1<<20), 0) })
	if err == nil {
		t.Error("a value of 1 MiB was stored")
	}
	err = s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set(strings.Repeat("k", 4096), nil, 0) })
	if err == nil {
		t.Error("a key of 4 KiB was stored")
	}
	err = s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("", nil, 0) })
	if err == nil {
		t.Error("an empty key was stored")
	}
}

func TestTxUsedAfterFunctionReturns(t *testing.T) {
	s := open(t, postgres.Options{})
	var leaked storage.Tx
	if err := s.Update(t.Context(), func(tx storage.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.Get("k"); err == nil {
		t.Error("Get on a finished transaction succeeded")
	}
	if err := leaked.Set("k", nil, 0); err == nil {
		t.Error("Set on a finished transaction succeeded")
	}
	if err := leaked.Scan("", "", func(string, []byte) error { return nil }); err == nil {
		t.Error("Scan on a finished transaction succeeded")
	}
}

// TestFailedStatementFailsUpdate: once a statement failed, the database's
// transaction is aborted; an Update whose function swallowed the error must
// not report a commit.
func TestFailedStatementFailsUpdate(t *testing.T) {
	s := open(t, postgres.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Set("k", []byte("v"), 0); err != nil {
			return err
		}
		cancel()
		tx.Get("other") //nolint:errcheck // the error is swallowed on purpose
		return nil
	})
	if err == nil {
		t.Fatal("Update committed after a failed statement")
	}
	if _, ok := get(t, s, "k"); ok {
		t.Fatal("the write after a failed statement was committed")
	}
}

func TestCloseWaitsForTransaction(t *testing.T) {
	s := open(t, postgres.Options{})
	inside, release := make(chan struct{}), make(chan struct{})
	updated := make(chan error, 1)
	go func() {
		updated <- s.Update(t.Context(), func(tx storage.Tx) error {
			if _, err := tx.Get("k"); !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			close(inside)
			<-release
			return tx.Set("k", []byte("v"), 0)
		})
	}()
	<-inside
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	err := s.View(t.Context(), func(storage.Tx) error { return nil })
	if err != nil && !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("View during Close = %v", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a transaction was running", err)
	default:
	}
	close(release)
	if err := <-updated; err != nil {
		t.Fatalf("Update that was running when Close began = %v, want nil", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.GCRA(t.Context(), time.Now(), storage.GCRAPeek, nil); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("GCRA after Close = %v, want ErrUnavailable", err)
	}
	err = s.Export(t.Context(), func(storage.Record) error { return nil })
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Export after Close = %v, want ErrUnavailable", err)
	}
	if _, ok := <-s.Listen(t.Context(), "topic"); ok {
		t.Error("Listen after Close returned an open channel")
	}
}
