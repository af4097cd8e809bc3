package badger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// TestTransactionsAreObserved: every View and Update reaches the observer
// with its outcome; a commit that lost a race is a conflict.
func TestTransactionsAreObserved(t *testing.T) {
	store, err := badgerstore.Open(badgerstore.Options{InMemory: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var mu sync.Mutex
	seen := map[string]int{}
	storage.ObserveTransactions(func(kind, outcome string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if d < 0 {
			t.Errorf("%s %s took %v", kind, outcome, d)
		}
		seen[kind+" "+outcome]++
	})
	defer storage.ObserveTransactions(nil)

	ctx := context.Background()
	set := func(tx storage.Tx) error { return tx.Set("k", []byte("v"), 0) }
	if err := store.Update(ctx, set); err != nil {
		t.Fatal(err)
	}
	if err := store.View(ctx, func(tx storage.Tx) error { _, err := tx.Get("k"); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := store.Update(ctx, func(storage.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	// Read k, let another transaction change it, then write: a conflict.
	err = store.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get("k"); err != nil {
			return err
		}
		if err := store.Update(ctx, func(tx storage.Tx) error { return tx.Set("k", []byte("w"), 0) }); err != nil {
			return err
		}
		return tx.Set("k", []byte("x"), 0)
	})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("racing update: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"update ok": 2, "view ok": 1, "update aborted": 1, "update conflict": 1}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, seen[k], n, seen)
		}
	}
}
