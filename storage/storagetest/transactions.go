package storagetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

func testUpdateErrorRollsBack(t *testing.T, s storage.Store) {
	set(t, s, "kept", "v")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("k", []byte("v"), 0); err != nil {
			return err
		}
		if err := tx.Delete("kept"); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update returned %v, want the function's error %v", err, errRollback)
	}
	wantMissing(t, s, "k")
	wantValue(t, s, "kept", "v")
}

// raceReadThenWrite runs two Updates that both read through read. The first reads,
// then pauses while the second reads and commits write2; then the first tries to
// commit write1. The second must win and the first must fail with ErrConflict.
func raceReadThenWrite(t *testing.T, s storage.Store, read func(storage.Tx) error, write1, write2 func(storage.Tx) error) {
	t.Helper()
	first := startPaused(t, s, read, write1)
	errSecond := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := read(tx); err != nil {
			return err
		}
		return write2(tx)
	})
	errFirst := first.finish(t)
	if errSecond != nil {
		t.Fatalf("second Update (committed first) = %v, want nil", errSecond)
	}
	if !errors.Is(errFirst, storage.ErrConflict) {
		t.Fatalf("first Update (stale read) = %v, want ErrConflict", errFirst)
	}
}

func testConflict(t *testing.T, s storage.Store) {
	readK := func(tx storage.Tx) error { _, err := tx.Get("k"); return err }
	setK := func(v string) func(storage.Tx) error {
		return func(tx storage.Tx) error { return tx.Set("k", []byte(v), 0) }
	}
	delK := func(tx storage.Tx) error { return tx.Delete("k") }

	t.Run("SetSet", func(t *testing.T) {
		set(t, s, "k", "start")
		raceReadThenWrite(t, s, readK, setK("first"), setK("second"))
		wantValue(t, s, "k", "second")
	})
	t.Run("DeleteDelete", func(t *testing.T) {
		set(t, s, "k", "start")
		raceReadThenWrite(t, s, readK, delK, delK)
		wantMissing(t, s, "k")
	})
	t.Run("SetDelete", func(t *testing.T) {
		set(t, s, "k", "start")
		raceReadThenWrite(t, s, readK, setK("first"), delK)
		wantMissing(t, s, "k")
	})
	t.Run("DeleteSet", func(t *testing.T) {
		set(t, s, "k", "start")
		raceReadThenWrite(t, s, readK, delK, setK("second"))
		wantValue(t, s, "k", "second")
	})
	t.Run("ConflictWritesNothing", func(t *testing.T) {
		set(t, s, "k", "start")
		writeBoth := func(v string) func(storage.Tx) error {
			return func(tx storage.Tx) error {
				if err := tx.Set("side/"+v, []byte(v), 0); err != nil {
					return err
				}
				return tx.Set("k", []byte(v), 0)
			}
		}
		raceReadThenWrite(t, s, readK, writeBoth("first"), writeBoth("second"))
		wantMissing(t, s, "side/first")
		wantValue(t, s, "side/second", "second")
	})
}

func testScanConflict(t *testing.T, s storage.Store) {
	set(t, s, "q/1", "a")
	set(t, s, "q/2", "b")
	readQ := func(tx storage.Tx) error {
		return tx.Scan("q/", "", func(string, []byte) error { return nil })
	}
	first := func(tx storage.Tx) error { return tx.Set("elsewhere", []byte("first"), 0) }
	second := func(tx storage.Tx) error { return tx.Set("q/2", []byte("changed"), 0) }
	raceReadThenWrite(t, s, readQ, first, second)
	wantMissing(t, s, "elsewhere")
}

func testBlindWrites(t *testing.T, s storage.Store) {
	set(t, s, "k", "start")
	setK := func(v string) func(storage.Tx) error {
		return func(tx storage.Tx) error { return tx.Set("k", []byte(v), 0) }
	}
	nothing := func(storage.Tx) error { return nil }
	first := startPaused(t, s, setK("first"), nothing)
	errSecond := s.Update(t.Context(), setK("second"))
	errFirst := first.finish(t)
	if errSecond != nil || errFirst != nil {
		t.Fatalf("blind writes: second = %v, first = %v; want both nil", errSecond, errFirst)
	}
	// The last commit wins.
	wantValue(t, s, "k", "first")
}

func testConcurrentConsume(t *testing.T, s storage.Store) {
	set(t, s, "ticket", "secret-state")
	var (
		ready sync.WaitGroup
		done  sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, consumers)
		got   = make([]string, consumers)
	)
	for i := range consumers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = s.Update(context.Background(), func(tx storage.Tx) error {
				v, err := tx.Get("ticket")
				if err != nil {
					return err
				}
				got[i] = string(v)
				return tx.Delete("ticket")
			})
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()

	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			if got[i] != "secret-state" {
				t.Errorf("winner %d read %q", i, got[i])
			}
		case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		default:
			t.Errorf("consumer %d: %v, want nil, ErrConflict or ErrNotFound", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d of %d consumers committed, want exactly 1", winners, consumers)
	}
	wantMissing(t, s, "ticket")
}

func testViewReadOnly(t *testing.T, s storage.Store) {
	set(t, s, "k", "v")
	var setErr, delErr error
	err := s.View(t.Context(), func(tx storage.Tx) error {
		setErr = tx.Set("new", []byte("v"), 0)
		delErr = tx.Delete("k")
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	if setErr == nil {
		t.Error("Set in View returned nil, want an error")
	}
	if delErr == nil {
		t.Error("Delete in View returned nil, want an error")
	}
	wantMissing(t, s, "new")
	wantValue(t, s, "k", "v")
}

func testCancelledContext(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Set("k", []byte("v"), 0) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context = %v, want context.Canceled", err)
	}
	err = s.View(ctx, func(tx storage.Tx) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("View with a cancelled context = %v, want context.Canceled", err)
	}
	wantMissing(t, s, "k")
}

func testCancelledDuringUpdate(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Set("k", []byte("v"), 0); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update whose context was cancelled before commit = %v, want context.Canceled", err)
	}
	wantMissing(t, s, "k")
}

func testTTL(t *testing.T, s storage.Store) {
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("ttl/hour", []byte("h"), time.Hour); err != nil {
			return err
		}
		return tx.Set("ttl/negative", []byte("n"), -time.Second)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "ttl/hour", "h")
	wantValue(t, s, "ttl/negative", "n")
	if got := keys(scan(t, s, "ttl/", "")); !slices.Equal(got, []string{"ttl/hour", "ttl/negative"}) {
		t.Fatalf("Scan(ttl/) = %v", got)
	}
}

func testClosed(t *testing.T, s storage.Store) {
	set(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil (Close is idempotent)", err)
	}
	called := false
	err := s.View(t.Context(), func(tx storage.Tx) error { called = true; return nil })
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("View after Close = %v, want ErrUnavailable", err)
	}
	err = s.Update(t.Context(), func(tx storage.Tx) error { called = true; return nil })
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Update after Close = %v, want ErrUnavailable", err)
	}
	if called {
		t.Error("a transaction function ran after Close")
	}
}

// testRelaxed: a relaxed commit (storage.Relax) is a commit like any other,
// whether or not the backend can relax it: seen at once, all or nothing, and
// in conflict with a concurrent change to what it read.
func testRelaxed(t *testing.T, s storage.Store) {
	err := storage.UpdateRelaxed(t.Context(), s, func(tx storage.Tx) error {
		if err := tx.Set("a", []byte("1"), 0); err != nil {
			return err
		}
		return tx.Set("b", []byte("2"), 0)
	})
	if err != nil {
		t.Fatalf("relaxed update: %v", err)
	}
	wantValue(t, s, "a", "1")
	wantValue(t, s, "b", "2")
	err = s.Update(t.Context(), func(tx storage.Tx) error {
		storage.Relax(tx)
		if err := tx.Set("c", []byte("3"), 0); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("relaxed update returning an error: %v", err)
	}
	wantMissing(t, s, "c")
	set(t, s, "k", "start")
	readK := func(tx storage.Tx) error { storage.Relax(tx); _, err := tx.Get("k"); return err }
	setK := func(v string) func(storage.Tx) error {
		return func(tx storage.Tx) error { return tx.Set("k", []byte(v), 0) }
	}
	raceReadThenWrite(t, s, readK, setK("first"), setK("second"))
	wantValue(t, s, "k", "second")
}
