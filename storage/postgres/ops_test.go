package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
)

// execAs runs sql on dsn, in a read-write transaction whatever the database's
// defaults.
func execAs(t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, stmt := range []string{"SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", sql} {
		if _, err := conn.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// queryInt returns the one integer sql yields on dsn.
func queryInt(t *testing.T, dsn, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestMigrationConcurrentAndRepeated(t *testing.T) {
	dsn := server.NewDatabase(t)
	opts := postgres.Options{DSN: dsn, TablePrefix: "m_"}
	const nodes = 4
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(context.Background(), opts)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d of %d at once: %v", i+1, nodes, err)
		}
	}
	s := open(t, opts) // once more, on the migrated schema
	set(t, s, "k", "v", 0)
	if n := queryInt(t, dsn, "SELECT count(*) FROM m_schema"); n != 1 {
		t.Errorf("%d rows in m_schema, want 1", n)
	}
	if v := queryInt(t, dsn, "SELECT version FROM m_schema"); v != 1 {
		t.Errorf("schema version %d, want 1", v)
	}
	// The GCRA buckets are keys of kv: there is no table of their own.
	for name, want := range map[string]int{"m_kv": 1, "m_schema": 1, "m_limits": 0} {
		if n := queryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE tablename = $1", name); n != want {
			t.Errorf("table %s: %d, want %d", name, n, want)
		}
	}

	execAs(t, dsn, "UPDATE m_schema SET version = 99")
	_, err := postgres.Open(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("Open on a newer schema = %v, want an error naming version 99", err)
	}
}

func TestUnavailableWhileDatabaseDown(t *testing.T) {
	pg := testenv.StartPostgres(t)
	core, logs := observer.New(zap.DebugLevel)
	s := open(t, postgres.Options{DSN: pg.DSN(), Logger: zap.New(core), JanitorInterval: 10 * time.Millisecond})
	set(t, s, "kept", "v", 0)
	jobs := s.Listen(t.Context(), "jobs")

	for _, down := range []struct {
		name string
		stop func(testing.TB)
	}{{"stopped", pg.Stop}, {"killed", pg.Kill}} {
		down.stop(t)
		errs := map[string]error{
			"Update": s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("k", []byte("v"), 0) }),
			"View":   s.View(t.Context(), func(tx storage.Tx) error { _, err := tx.Get("kept"); return err }),
			"Export": s.Export(t.Context(), func(storage.Record) error { return nil }),
		}
		_, errs["GCRA"] = s.GCRA(t.Context(), time.Now(), storage.GCRAAllow, []storage.GCRABucket{{Key: "b", Every: 1, Window: 1}})
		for op, err := range errs {
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("database %s: %s = %v, want ErrUnavailable", down.name, op, err)
			} else if strings.Contains(err.Error(), pg.Password) {
				t.Errorf("database %s: %s's error shows the password: %v", down.name, op, err)
			}
		}

		pg.Start(t)
		testenv.Eventually(t, "an Update to succeed once the database is back", func() (bool, error) {
			err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("after/"+down.name, []byte("v"), 0) })
			if errors.Is(err, storage.ErrUnavailable) {
				return false, nil
			}
			return err == nil, err
		})
		if v, ok := get(t, s, "kept"); !ok || v != "v" {
			t.Fatalf("after the database was %s and started: kept = %q, %v", down.name, v, ok)
		}
		// Announcements may have been lost while the listener was away: it
		// says so once it is back, then delivers again.
		waitWoken(t, jobs, "the wake-up after the listener reconnected")
		announce(t, s, "jobs")
		waitWoken(t, jobs, "an announcement after the listener reconnected")
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, pg.Password) || strings.Contains(line, pg.DSN()) {
			t.Errorf("a log line shows the DSN or its password: %s", line)
		}
	}
	if logs.FilterMessageSnippet("listener").Len() == 0 {
		t.Error("the listener's reconnection was not logged")
	}
}

// announce commits an Update that announces topic.
func announce(t *testing.T, s storage.Store, topic string) {
	t.Helper()
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		tx.(storage.Announcer).Announce(topic)
		return nil
	})
	if err != nil {
		t.Fatalf("announce %q: %v", topic, err)
	}
}

func waitWoken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the channel was closed", what)
		}
	case <-time.After(testenv.Timeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestReadOnlyDatabaseIsUnavailable(t *testing.T) {
	dsn := server.NewDatabase(t)
	prefix := newPrefix()
	set(t, open(t, postgres.Options{DSN: dsn, TablePrefix: prefix}), "k", "v", 0)
	alter := "DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I %s', current_database()); END $$"
	execAs(t, dsn, fmt.Sprintf(alter, "SET default_transaction_read_only = on"))

	// A schema already there needs no write: Open works, reads work, writes
	// are refused as unavailable.
	s := open(t, postgres.Options{DSN: dsn, TablePrefix: prefix})
	if v, ok := get(t, s, "k"); !ok || v != "v" {
		t.Fatalf("Get on a read-only database = %q, %v", v, ok)
	}
	err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("k", []byte("new"), 0) })
	if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Update on a read-only database = %v, want ErrUnavailable saying read-only", err)
	}
	_, err = s.GCRA(t.Context(), time.Now(), storage.GCRAAllow, []storage.GCRABucket{{Key: "b", Every: 1, Window: 1}})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("GCRA on a read-only database = %v, want ErrUnavailable", err)
	}
	if _, err := postgres.Open(t.Context(), postgres.Options{DSN: dsn, TablePrefix: newPrefix()}); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Open of new tables on a read-only database = %v, want ErrUnavailable", err)
	}

	execAs(t, dsn, fmt.Sprintf(alter, "RESET default_transaction_read_only"))
	testenv.Eventually(t, "writes once the database is writable again", func() (bool, error) {
		err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("k", []byte("new"), 0) })
		if errors.Is(err, storage.ErrUnavailable) {
			return false, nil
		}
		return err == nil, err
	})
}

func TestPasswordNeverInErrors(t *testing.T) {
	const secret = "S3cret-Pa55w0rd-never-shown"
	good, err := url.Parse(server.DSN())
	if err != nil {
		t.Fatal(err)
	}
	withPassword := func(host string) string {
		u := *good
		u.User = url.UserPassword(server.User, secret)
		u.Host = host
		return u.String() + "&connect_timeout=5"
	}
	dsns := map[string]string{
		"wrong password":     withPassword(server.Addr),
		"nothing listening":  withPassword(testenv.FreeAddr(t)),
		"unresolvable host":  withPassword("no-such-host.invalid:5432"),
		"key=value, refused": "host=127.0.0.1 port=1 user=postgres password=" + secret + " dbname=postgres sslmode=disable",
		"unparsable URL":     "postgres://postgres:" + secret + "@127.0.0.1:notaport/postgres",
		"unparsable key=val": "host=127.0.0.1 password=" + secret + " port=",
	}
	for name, dsn := range dsns {
		s, err := postgres.Open(t.Context(), postgres.Options{DSN: dsn, TablePrefix: newPrefix()})
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if text := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(text, secret) {
			t.Errorf("%s: the error shows the password: %s", name, text)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestTTLExpiryAndJanitor(t *testing.T) {
	prefix := newPrefix()
	s := open(t, postgres.Options{TablePrefix: prefix, JanitorInterval: 10 * time.Millisecond})
	set(t, s, "ttl/short", "x", time.Millisecond)
	set(t, s, "ttl/long", "y", time.Hour)
	set(t, s, "plain", "z", 0)
	_, err := s.GCRA(t.Context(), time.Now(), storage.GCRAAllow, []storage.GCRABucket{
		{Key: "bucket/short", Every: time.Millisecond, Window: time.Second},
		{Key: "bucket/long", Every: time.Hour, Window: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the janitor to delete the expired key and the passed bucket", func() (bool, error) {
		return rows(t, prefix+"kv", "ttl/short") == 0 && rows(t, prefix+"kv", "bucket/short") == 0, nil
	})
	if _, ok := get(t, s, "ttl/short"); ok {
		t.Error("the expired key is readable")
	}
	for _, k := range []string{"ttl/long", "plain"} {
		if _, ok := get(t, s, k); !ok {
			t.Errorf("%s is gone", k)
		}
	}
	if rows(t, prefix+"kv", "bucket/long") != 1 {
		t.Error("the janitor deleted a bucket whose TAT is an hour away")
	}
}

func TestExpiredKeyHiddenBeforeTheJanitor(t *testing.T) {
	prefix := newPrefix()
	s := open(t, postgres.Options{TablePrefix: prefix, JanitorInterval: -1})
	set(t, s, "ttl/a", "x", time.Microsecond)
	set(t, s, "ttl/b", "y", 0)
	testenv.Eventually(t, "the key to expire", func() (bool, error) {
		_, ok := get(t, s, "ttl/a")
		return !ok, nil
	})
	var seen []string
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("ttl/", "", func(k string, _ []byte) error { seen = append(seen, k); return nil })
	})
	if err != nil || len(seen) != 1 || seen[0] != "ttl/b" {
		t.Fatalf("Scan after expiry = %v, %v; want [ttl/b]", seen, err)
	}
	if rows(t, prefix+"kv", "ttl/a") != 1 {
		t.Fatal("the expired row is gone without a janitor")
	}
	set(t, s, "ttl/a", "again", 0)
	if v, ok := get(t, s, "ttl/a"); !ok || v != "again" {
		t.Fatalf("Set over an expired key: %q, %v", v, ok)
	}
}

// TestOneJanitorAtATime holds the janitor's advisory lock as another node
// would: this store's janitor then deletes nothing.
func TestOneJanitorAtATime(t *testing.T) {
	prefix := newPrefix()
	s := open(t, postgres.Options{TablePrefix: prefix, JanitorInterval: -1})
	set(t, s, "gone", "x", time.Microsecond)
	testenv.Eventually(t, "the key to expire", func() (bool, error) {
		_, ok := get(t, s, "gone")
		return !ok, nil
	})
	other, err := pgx.Connect(t.Context(), server.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	if _, err := other.Exec(t.Context(), "SELECT pg_advisory_lock($1)", postgres.JanitorLock(prefix)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireNow(t.Context()); err != nil || n != 0 {
		t.Fatalf("janitor while another holds the lock: %d rows, %v; want 0", n, err)
	}
	if _, err := other.Exec(t.Context(), "SELECT pg_advisory_unlock($1)", postgres.JanitorLock(prefix)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireNow(t.Context()); err != nil || n != 1 {
		t.Fatalf("janitor once the lock is free: %d rows, %v; want 1", n, err)
	}
}
