package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// RunListener runs the conformance suite of storage.Listener and of the
// storage.Announcer an Update's Tx is, on both stores of a pair: an
// announcement reaches the other store's listeners when its transaction
// commits, and not when it does not.
//
// A wake-up that must not come is checked after one that must, announced
// later on another topic: the suite expects a store to deliver announcements
// in commit order, as PostgreSQL does, rather than to sleep for a while.
func RunListener(t *testing.T, open OpenPair) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b storage.Store)
	}{
		{"CommitWakesOtherStore", testAnnounceOtherStore},
		{"CommitWakesOwnStore", testAnnounceOwnStore},
		{"RollbackAnnouncesNothing", testAnnounceRollback},
		{"EverySubscriberWoken", testAnnounceSubscribers},
		{"ClosedWhenContextEnds", testListenContext},
		{"ClosedWhenStoreCloses", testListenClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := openBoth(t, open)
			mustListener(t, a)
			mustListener(t, b)
			tc.fn(t, a, b)
		})
	}
}

func mustListener(t *testing.T, s storage.Store) storage.Listener {
	t.Helper()
	l, ok := s.(storage.Listener)
	if !ok {
		t.Fatalf("%T does not implement storage.Listener", s)
	}
	return l
}

// listen subscribes to topic on s until the test ends.
func listen(t *testing.T, s storage.Store, topic string) <-chan struct{} {
	t.Helper()
	return mustListener(t, s).Listen(t.Context(), topic)
}

// announce runs an Update on s that stores a key and announces topic; it
// commits only when commit is set.
func announce(t *testing.T, s storage.Store, topic string, commit bool) {
	t.Helper()
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		a, ok := tx.(storage.Announcer)
		if !ok {
			return fmt.Errorf("the Tx of %T's Update (%T) is not a storage.Announcer", s, tx)
		}
		if err := tx.Set("work/"+topic, []byte("x"), 0); err != nil {
			return err
		}
		a.Announce(topic)
		if !commit {
			return errRollback
		}
		return nil
	})
	if commit && err != nil {
		t.Fatalf("Update announcing %q: %v", topic, err)
	}
	if !commit && !errors.Is(err, errRollback) {
		t.Fatalf("rolled-back Update announcing %q = %v, want %v", topic, err, errRollback)
	}
}

// woken waits for a wake-up on ch.
func woken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the channel was closed", what)
		}
	case <-time.After(waitLimit):
		t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
	}
}

// pending reports whether a wake-up is waiting on ch.
func pending(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// closed waits until ch is closed, taking any wake-up still in it.
func closed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
	}
}

func testAnnounceOtherStore(t *testing.T, a, b storage.Store) {
	ch := listen(t, b, "jobs")
	announce(t, a, "jobs", true)
	woken(t, ch, "the other store's listener")
}

func testAnnounceOwnStore(t *testing.T, a, _ storage.Store) {
	ch := listen(t, a, "jobs")
	announce(t, a, "jobs", true)
	woken(t, ch, "the announcing store's own listener")
}

func testAnnounceRollback(t *testing.T, a, b storage.Store) {
	rolledBack := listen(t, b, "rolled")
	committed := listen(t, b, "committed")
	announce(t, a, "rolled", false)
	announce(t, a, "committed", true)
	woken(t, committed, "the committed announcement")
	if pending(rolledBack) {
		t.Fatal("a rolled-back transaction's announcement woke a listener")
	}
	if pending(committed) {
		t.Fatal("one announcement on another topic woke its listener twice")
	}
}

func testAnnounceSubscribers(t *testing.T, a, b storage.Store) {
	reader := listen(t, b, "mail")
	idle := listen(t, b, "mail") // never read: must not hold up the reader
	other := listen(t, a, "mail")
	for i := range 3 {
		announce(t, a, "mail", true)
		woken(t, reader, fmt.Sprintf("announcement %d", i+1))
	}
	woken(t, idle, "the subscriber that did not read")
	woken(t, other, "a subscriber on the announcing store")
}

func testListenContext(t *testing.T, a, b storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := mustListener(t, b).Listen(ctx, "jobs")
	kept := listen(t, b, "jobs")
	cancel()
	closed(t, ch, "the channel to close after its context ended")
	announce(t, a, "jobs", true)
	woken(t, kept, "the subscriber whose context is live")
}

func testListenClose(t *testing.T, _, b storage.Store) {
	ch := listen(t, b, "jobs")
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed(t, ch, "the channel to close with its store")
	ch = mustListener(t, b).Listen(t.Context(), "jobs")
	closed(t, ch, "a channel from Listen after Close to be closed")
}
