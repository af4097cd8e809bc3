package badger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// TestGroupSyncCoversEveryWaiter checks group commit's promise: wait returns only
// after a sync that started after the caller's commit, and concurrent waiters share
// syncs.
func TestGroupSyncCoversEveryWaiter(t *testing.T) {
	var commits atomic.Int64 // commits made so far
	var covered atomic.Int64 // commits the last finished sync covers
	var runs atomic.Int64
	g := newGroupSync(func() error {
		runs.Add(1)
		seen := commits.Load()       // every commit up to here is covered by this sync
		time.Sleep(time.Millisecond) // what a disk takes: the others commit meanwhile
		covered.Store(seen)
		return nil
	})
	const waiters, rounds = 32, 50
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			for range rounds {
				mine := commits.Add(1)
				if err := g.wait(); err != nil {
					t.Error(err)
					return
				}
				if got := covered.Load(); got < mine {
					t.Errorf("wait returned after a sync covering commit %d, before commit %d", got, mine)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n >= waiters*rounds {
		t.Errorf("%d syncs for %d commits: no grouping", n, waiters*rounds)
	}
	t.Logf("%d syncs for %d commits", runs.Load(), waiters*rounds)
}

// TestGroupSyncReportsFailure checks that a failed sync fails the commits it was
// to make durable, and that the next one works again.
func TestGroupSyncReportsFailure(t *testing.T) {
	fail := errors.New("disk on fire")
	var broken atomic.Bool
	g := newGroupSync(func() error {
		if broken.Load() {
			return fail
		}
		return nil
	})
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	if err := g.wait(); !errors.Is(err, fail) {
		t.Fatalf("wait = %v, want the sync's error", err)
	}
	broken.Store(false)
	if err := g.wait(); err != nil {
		t.Fatalf("wait after recovery = %v", err)
	}
}

// TestSyncWritesAcrossMemtableRotations writes far more than one memtable holds,
// from many goroutines with SyncWrites on, so that syncs meet rotated memtables
// (whose WAL files DB.Sync does not cover); every commit must succeed and be
// there after a reopen.
func TestSyncWritesAcrossMemtableRotations(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SyncWrites: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 4<<10)
	const writers, each = 8, 1000 // 32 MB: four memtables
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := s.Update(ctx, func(tx storage.Tx) error {
					return tx.Set(fmt.Sprintf("k/%d/%d", w, i), value, 0)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	err = s.View(ctx, func(tx storage.Tx) error {
		return tx.Scan("k/", "", func(string, []byte) error { n++; return nil })
	})
	if err != nil || n != writers*each {
		t.Fatalf("after reopen: %d keys, %v; want %d", n, err, writers*each)
	}
}
