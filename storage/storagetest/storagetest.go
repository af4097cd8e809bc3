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
		{"RelaxedCommitIsACommit", testRelaxed},
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
