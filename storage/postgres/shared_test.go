package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
)

// TestTwoStoresShareTables: two stores on the same tables are two nodes: each
// sees the other's commits, and their transactions conflict as one store's do.
func TestTwoStoresShareTables(t *testing.T) {
	a, b := openPair(t)
	if !a.(storage.Shared).Shared() {
		t.Fatal("Shared() = false")
	}
	set(t, a, "k", "from a", 0)
	if v, ok := get(t, b, "k"); !ok || v != "from a" {
		t.Fatalf("b reads %q, %v; want a's write", v, ok)
	}
	other := open(t, postgres.Options{}) // other tables
	if _, ok := get(t, other, "k"); ok {
		t.Fatal("a store with another TablePrefix sees the key")
	}

	// a reads k and waits while b reads it and commits a change: a's commit
	// must fail.
	read, resume := make(chan struct{}), make(chan struct{})
	errA := make(chan error, 1)
	go func() {
		errA <- a.Update(context.Background(), func(tx storage.Tx) error {
			if _, err := tx.Get("k"); err != nil {
				return err
			}
			close(read)
			<-resume
			return tx.Set("k", []byte("a's"), 0)
		})
	}()
	<-read
	err := b.Update(t.Context(), func(tx storage.Tx) error {
		if _, err := tx.Get("k"); err != nil {
			return err
		}
		return tx.Set("k", []byte("b's"), 0)
	})
	close(resume)
	if err != nil {
		t.Fatalf("b's Update: %v", err)
	}
	if err := <-errA; !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a's Update after b changed what it read = %v, want ErrConflict", err)
	}
	if v, _ := get(t, a, "k"); v != "b's" {
		t.Fatalf("k = %q, want b's", v)
	}

	// Consumers on both stores race for one ticket: one wins.
	set(t, a, "ticket", "t", 0)
	const consumers = 16
	errs := make([]error, consumers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range consumers {
		s := []storage.Store{a, b}[i%2]
		wg.Go(func() {
			<-start
			errs[i] = s.Update(context.Background(), func(tx storage.Tx) error {
				if _, err := tx.Get("ticket"); err != nil {
					return err
				}
				return tx.Delete("ticket")
			})
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		default:
			t.Errorf("consumer %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d consumers on two stores committed, want 1", winners)
	}
}

// TestScanAcrossPages scans more keys than fit in Scan's pages, with pending
// writes and deletes on both sides of page boundaries.
func TestScanAcrossPages(t *testing.T) {
	s := open(t, postgres.Options{})
	const n = 1500
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		for i := range n {
			if err := tx.Set(fmt.Sprintf("p/%04d", i), []byte{byte(i)}, 0); err != nil {
				return err
			}
		}
		return tx.Set("q/after", nil, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for i := range n {
		if i%7 != 3 {
			want = append(want, fmt.Sprintf("p/%04d", i))
		}
		if i%100 == 15 {
			want = append(want, fmt.Sprintf("p/%04d+", i))
		}
	}
	err = s.Update(t.Context(), func(tx storage.Tx) error {
		for i := range n {
			if i%7 == 3 {
				if err := tx.Delete(fmt.Sprintf("p/%04d", i)); err != nil {
					return err
				}
			}
			if i%100 == 15 {
				if err := tx.Set(fmt.Sprintf("p/%04d+", i), []byte("new"), 0); err != nil {
					return err
				}
			}
		}
		return tx.Scan("p/", "", func(k string, _ []byte) error { got = append(got, k); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan across pages: %d keys, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestCloseLeavesNoGoroutine: Close stops the janitor, the listener and its
// subscribers, and the pool.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := postgres.Open(t.Context(), postgres.Options{DSN: server.DSN(), TablePrefix: newPrefix(),
		JanitorInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Listen(context.Background(), "jobs")
	announce(t, s, "jobs")
	<-ch
	if _, err := s.GCRA(t.Context(), time.Now(), storage.GCRAAllow, []storage.GCRABucket{{Key: "b", Every: 1, Window: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("the listener's channel is open after Close")
	}
}

// racePaused runs first until it has read, then second to its commit, then the
// rest of first, and returns both results.
func racePaused(t *testing.T, s storage.Store, firstRead, firstRest, second func(storage.Tx) error) (errFirst, errSecond error) {
	t.Helper()
	read, resume := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(tx storage.Tx) error {
			if err := firstRead(tx); err != nil {
				return err
			}
			close(read)
			<-resume
			return firstRest(tx)
		})
	}()
	select {
	case <-read:
	case err := <-done:
		t.Fatalf("the first Update returned before its pause: %v", err)
	}
	errSecond = s.Update(t.Context(), second)
	close(resume)
	return <-done, errSecond
}

// TestConflictRules: what counts as read for conflicts, beyond storagetest's
// cases.
func TestConflictRules(t *testing.T) {
	getK := func(tx storage.Tx) error {
		_, err := tx.Get("k")
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
	setTo := func(key, v string) func(storage.Tx) error {
		return func(tx storage.Tx) error { return tx.Set(key, []byte(v), 0) }
	}
	nothing := func(storage.Tx) error { return nil }
	cases := []struct {
		name                 string
		seed                 bool // k exists before
		firstRest, second    func(storage.Tx) error
		wantConflict         bool
		wantK, wantElsewhere string // "" : missing
	}{
		{"ReadKeyChangedWriteOther", true, setTo("elsewhere", "first"), setTo("k", "second"), true, "second", ""},
		{"ReadKeyDeletedWriteOther", true, setTo("elsewhere", "first"), func(tx storage.Tx) error { return tx.Delete("k") }, true, "", ""},
		{"MissingKeyCreatedBoth", false, setTo("k", "first"), setTo("k", "second"), true, "second", ""},
		{"ReadOnlyUpdateCommits", true, nothing, setTo("k", "second"), false, "second", ""},
		{"UnrelatedWritesCommit", true, setTo("elsewhere", "first"), setTo("other", "second"), false, "start", "first"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, postgres.Options{})
			if c.seed {
				set(t, s, "k", "start", 0)
			}
			errFirst, errSecond := racePaused(t, s, getK, c.firstRest, c.second)
			if errSecond != nil {
				t.Fatalf("second Update: %v", errSecond)
			}
			if c.wantConflict != errors.Is(errFirst, storage.ErrConflict) || (!c.wantConflict && errFirst != nil) {
				t.Fatalf("first Update = %v, want conflict %v", errFirst, c.wantConflict)
			}
			if v, _ := get(t, s, "k"); v != c.wantK {
				t.Errorf("k = %q, want %q", v, c.wantK)
			}
			if v, _ := get(t, s, "elsewhere"); v != c.wantElsewhere {
				t.Errorf("elsewhere = %q, want %q", v, c.wantElsewhere)
			}
		})
	}
}
