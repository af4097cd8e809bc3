// Package storagetest is the conformance suite for storage.Store backends.
//
// Every backend (the embedded Badger store today, a distributed one later) runs the
// same suite, so the packages above storage can rely on the documented semantics
// (single-use claims through ErrConflict, ErrUnavailable after Close, copies of
// values) without knowing which backend they got.
//
// A backend's test calls Run with a function that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store {
//			s, err := Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Run closes every store it opens when the subtest ends, so Close must be
// idempotent. The suite never sleeps to synchronise: concurrent transactions are
// ordered with channels, and waits are bounded only to turn a deadlock into a
// failure instead of a hung test.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// waitLimit bounds every wait on another goroutine. It is a failure detector, not a
// synchronisation: no test depends on it elapsing.
const waitLimit = 30 * time.Second

// consumers is the number of goroutines racing to consume one key.
const consumers = 16

// errRollback is returned by update functions that must not commit.
var errRollback = errors.New("storagetest: rollback")

// Run runs the conformance suite against the stores returned by open. Each subtest
// calls open once and expects an empty store.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"GetMissingIsNotFound", testGetMissing},
		{"SetGetRoundTrip", testSetGet},
		{"SetOverwrites", testSetOverwrites},
		{"EmptyValue", testEmptyValue},
		{"GetReturnsCopy", testGetReturnsCopy},
		{"SetCopiesValue", testSetCopiesValue},
		{"ReadYourWritesInUpdate", testReadYourWrites},
		{"Delete", testDelete},
		{"DeleteMissingIsNoError", testDeleteMissing},
		{"ScanPrefixAscending", testScanPrefix},
		{"ScanEmptyPrefixSeesAll", testScanEmptyPrefix},
		{"ScanFromStart", testScanStart},
		{"ScanStopEarly", testScanStop},
		{"ScanCallbackError", testScanCallbackError},
		{"ScanReturnsCopies", testScanReturnsCopies},
		{"ScanSeesPendingWrites", testScanPending},
		{"ScanCallbackCanWrite", testScanCallbackWrites},
		{"UpdateErrorWritesNothing", testUpdateErrorRollsBack},
		{"ConflictOnReadThenWrite", testConflict},
		{"ConflictOnScannedKey", testScanConflict},
		{"BlindWritesDoNotConflict", testBlindWrites},
		{"ConcurrentConsumeExactlyOnce", testConcurrentConsume},
		{"ViewCannotWrite", testViewReadOnly},
		{"CancelledContext", testCancelledContext},
		{"ContextCancelledDuringUpdate", testCancelledDuringUpdate},
		{"TTLKeyReadableBeforeExpiry", testTTL},
		{"ClosedStoreIsUnavailable", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// set commits one key outside the transaction under test.
func set(t *testing.T, s storage.Store, key, value string) {
	t.Helper()
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		return tx.Set(key, []byte(value), 0)
	})
	if err != nil {
		t.Fatalf("Update(Set %q): %v", key, err)
	}
}

// get reads one key in its own View; ok is false for ErrNotFound.
func get(t *testing.T, s storage.Store, key string) (value string, ok bool) {
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
		t.Fatalf("View(Get %q): %v", key, err)
	}
	return string(v), true
}

// wantValue fails unless key holds want.
func wantValue(t *testing.T, s storage.Store, key, want string) {
	t.Helper()
	got, ok := get(t, s, key)
	if !ok {
		t.Fatalf("Get(%q): not found, want %q", key, want)
	}
	if got != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

// wantMissing fails unless key is absent.
func wantMissing(t *testing.T, s storage.Store, key string) {
	t.Helper()
	if got, ok := get(t, s, key); ok {
		t.Fatalf("Get(%q) = %q, want ErrNotFound", key, got)
	}
}

// kv is one key and value seen by Scan.
type kv struct{ key, value string }

// scan collects what Scan yields in a View.
func scan(t *testing.T, s storage.Store, prefix, start string) []kv {
	t.Helper()
	var got []kv
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan(prefix, start, func(k string, v []byte) error {
			got = append(got, kv{k, string(v)})
			return nil
		})
	})
	if err != nil {
		t.Fatalf("View(Scan %q from %q): %v", prefix, start, err)
	}
	return got
}

// keys returns the keys of kvs in order.
func keys(kvs []kv) []string {
	out := make([]string, 0, len(kvs))
	for _, e := range kvs {
		out = append(out, e.key)
	}
	return out
}

// wait blocks until ch is closed, failing the test if that takes implausibly long.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("timed out after %v waiting for %s (do concurrent Updates block each other?)", waitLimit, what)
	}
}

// paused is an Update running in another goroutine that stops inside its function
// until resume is called, so a second transaction can commit in between.
type paused struct {
	reached chan struct{} // closed when the function reaches the pause
	resume  func()        // lets the function continue; safe to call twice
	done    chan struct{} // closed when Update has returned
	err     error         // Update's result, valid once done is closed
}

// startPaused runs Update(before; pause; after) in a new goroutine and waits until
// it reaches the pause. The test's cleanup resumes it, so a failing test does not
// leave a transaction open for Close to wait on.
func startPaused(t *testing.T, s storage.Store, before, after func(storage.Tx) error) *paused {
	t.Helper()
	p := &paused{reached: make(chan struct{}), done: make(chan struct{})}
	release := make(chan struct{})
	var once sync.Once
	p.resume = func() { once.Do(func() { close(release) }) }
	t.Cleanup(func() { p.resume(); <-p.done })
	go func() {
		defer close(p.done)
		p.err = s.Update(context.Background(), func(tx storage.Tx) error {
			if err := before(tx); err != nil {
				return err
			}
			close(p.reached)
			<-release
			return after(tx)
		})
	}()
	select {
	case <-p.reached:
	case <-p.done:
		t.Fatalf("paused Update returned before pausing: %v", p.err)
	case <-time.After(waitLimit):
		t.Fatalf("timed out after %v waiting for an Update to start", waitLimit)
	}
	return p
}

// finish resumes p and returns Update's result.
func (p *paused) finish(t *testing.T) error {
	t.Helper()
	p.resume()
	wait(t, p.done, "the paused Update to return")
	return p.err
}

func testGetMissing(t *testing.T, s storage.Store) {
	err := s.View(t.Context(), func(tx storage.Tx) error {
		_, err := tx.Get("missing")
		return err
	})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
}

func testSetGet(t *testing.T, s storage.Store) {
	values := map[string]string{
		"a":               "1",
		"ticket/abc":      "some value",
		"binary/\x00\xff": "\x00\x01\x02\xff",
		"long":            string(make([]byte, 64<<10)),
	}
	for k, v := range values {
		set(t, s, k, v)
	}
	for k, v := range values {
		wantValue(t, s, k, v)
	}
}

func testSetOverwrites(t *testing.T, s storage.Store) {
	set(t, s, "k", "first")
	set(t, s, "k", "second")
	wantValue(t, s, "k", "second")
}

func testEmptyValue(t *testing.T, s storage.Store) {
	set(t, s, "empty", "")
	wantValue(t, s, "empty", "")
}

func testGetReturnsCopy(t *testing.T, s storage.Store) {
	set(t, s, "k", "value")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		v, err := tx.Get("k")
		if err != nil {
			return err
		}
		clear(v)
		v2, err := tx.Get("k")
		if err != nil {
			return err
		}
		if string(v2) != "value" {
			return fmt.Errorf("second Get in the same transaction = %q after mutating the first result", v2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "k", "value")
}

func testSetCopiesValue(t *testing.T, s storage.Store) {
	buf := []byte("original")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("k", buf, 0); err != nil {
			return err
		}
		copy(buf, "MUTATED!")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "k", "original")
}

func testReadYourWrites(t *testing.T, s storage.Store) {
	set(t, s, "gone", "x")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("new", []byte("v"), 0); err != nil {
			return err
		}
		if v, err := tx.Get("new"); err != nil || string(v) != "v" {
			return fmt.Errorf("Get(new) after Set in the same Update = %q, %v", v, err)
		}
		if err := tx.Delete("gone"); err != nil {
			return err
		}
		if _, err := tx.Get("gone"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("Get(gone) after Delete in the same Update: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testDelete(t *testing.T, s storage.Store) {
	set(t, s, "k", "v")
	set(t, s, "other", "v")
	err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Delete("k") })
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, "k")
	wantValue(t, s, "other", "v")
}

func testDeleteMissing(t *testing.T, s storage.Store) {
	err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Delete("never-set") })
	if err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}

// seedScan stores keys in an order unrelated to their sort order.
func seedScan(t *testing.T, s storage.Store) {
	t.Helper()
	for _, k := range []string{"b/2", "a/3", "c", "a/1", "b/1", "a/10", "a/2", "a", "ab/1"} {
		set(t, s, k, "v:"+k)
	}
}

func testScanPrefix(t *testing.T, s storage.Store) {
	seedScan(t, s)
	got := scan(t, s, "a/", "")
	want := []kv{{"a/1", "v:a/1"}, {"a/10", "v:a/10"}, {"a/2", "v:a/2"}, {"a/3", "v:a/3"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan(a/) = %v, want %v", got, want)
	}
	if got := scan(t, s, "zzz/", ""); len(got) != 0 {
		t.Fatalf("Scan(zzz/) = %v, want nothing", got)
	}
}

func testScanEmptyPrefix(t *testing.T, s storage.Store) {
	seedScan(t, s)
	got := keys(scan(t, s, "", ""))
	want := []string{"a", "a/1", "a/10", "a/2", "a/3", "ab/1", "b/1", "b/2", "c"}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan(\"\") = %v, want %v", got, want)
	}
}

func testScanStart(t *testing.T, s storage.Store) {
	seedScan(t, s)
	cases := []struct {
		prefix, start string
		want          []string
	}{
		{"a/", "a/2", []string{"a/2", "a/3"}},           // start is a key: included
		{"a/", "a/15", []string{"a/2", "a/3"}},          // start between keys
		{"a/", "a/4", nil},                              // start after every key
		{"b/", "a/5", []string{"b/1", "b/2"}},           // start sorts before the prefix
		{"a/", "b", nil},                                // start sorts after the prefix
		{"", "ab", []string{"ab/1", "b/1", "b/2", "c"}}, // no prefix
	}
	for _, c := range cases {
		got := keys(scan(t, s, c.prefix, c.start))
		if !slices.Equal(got, c.want) {
			t.Errorf("Scan(%q, start %q) = %v, want %v", c.prefix, c.start, got, c.want)
		}
	}
}

func testScanStop(t *testing.T, s storage.Store) {
	seedScan(t, s)
	var seen []string
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(k string, _ []byte) error {
			seen = append(seen, k)
			if len(seen) == 2 {
				return storage.ErrStop
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("Scan stopped with ErrStop returned %v, want nil", err)
	}
	if want := []string{"a/1", "a/10"}; !slices.Equal(seen, want) {
		t.Fatalf("Scan visited %v before stopping, want %v", seen, want)
	}
}

func testScanCallbackError(t *testing.T, s storage.Store) {
	seedScan(t, s)
	boom := errors.New("boom")
	calls := 0
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(string, []byte) error {
			calls++
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Scan callback error: View returned %v, want %v", err, boom)
	}
	if calls != 1 {
		t.Fatalf("callback called %d times after returning an error, want 1", calls)
	}
}

func testScanReturnsCopies(t *testing.T, s storage.Store) {
	seedScan(t, s)
	var kept [][]byte
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(_ string, v []byte) error {
			kept = append(kept, v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v:a/1", "v:a/10", "v:a/2", "v:a/3"}
	for i, v := range kept {
		if string(v) != want[i] {
			t.Fatalf("value %d kept from Scan changed to %q after the View, want %q", i, v, want[i])
		}
		clear(v)
	}
	wantValue(t, s, "a/1", "v:a/1")
}

func testScanPending(t *testing.T, s storage.Store) {
	seedScan(t, s)
	var got []kv
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("a/25", []byte("new"), 0); err != nil {
			return err
		}
		if err := tx.Set("a/1", []byte("changed"), 0); err != nil {
			return err
		}
		if err := tx.Delete("a/3"); err != nil {
			return err
		}
		return tx.Scan("a/", "", func(k string, v []byte) error {
			got = append(got, kv{k, string(v)})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []kv{{"a/1", "changed"}, {"a/10", "v:a/10"}, {"a/2", "v:a/2"}, {"a/25", "new"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan in Update after writes = %v, want %v", got, want)
	}
}

func testScanCallbackWrites(t *testing.T, s storage.Store) {
	seedScan(t, s)
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(k string, _ []byte) error {
			if err := tx.Delete(k); err != nil {
				return err
			}
			return tx.Set("done/"+k, []byte("x"), 0)
		})
	})
	if err != nil {
		t.Fatalf("writing from a Scan callback: %v", err)
	}
	if got := scan(t, s, "a/", ""); len(got) != 0 {
		t.Fatalf("after deleting every a/ key from the callback, Scan(a/) = %v", got)
	}
	if got := keys(scan(t, s, "done/", "")); len(got) != 4 {
		t.Fatalf("Scan(done/) = %v, want the 4 keys set from the callback", got)
	}
}

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
