package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// TestWALSyncerKeepsUpWithRotations: after every durable commit, each
// memtable WAL file in the directory is one the syncer holds open and synced,
// across rotations (new files it must find) and flushes (files gone it must
// drop).
func TestWALSyncerKeepsUpWithRotations(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SyncWrites: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 4<<10)
	seen := map[string]bool{}
	for i := range 6000 { // 24 MB: three memtables
		err := s.Update(t.Context(), func(tx storage.Tx) error {
			return tx.Set(fmt.Sprintf("k/%d", i), value, 0)
		})
		if err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, ok := memFid(e.Name()); ok {
				seen[e.Name()] = true
				if s.wal.files[e.Name()] == nil {
					t.Fatalf("commit %d returned, and WAL file %s was not synced", i, e.Name())
				}
			}
		}
	}
	if len(seen) < 3 {
		t.Fatalf("only %d memtable files seen: no rotation to test", len(seen))
	}
	if len(s.wal.files) >= len(seen) {
		t.Errorf("the syncer holds %d files of the %d seen: flushed ones are not dropped", len(s.wal.files), len(seen))
	}
}

// TestRelaxedCommitSyncedSoon: a relaxed commit returns without a sync of
// its own, and one follows within relaxDelay without anyone waiting for it;
// many relaxed commits together share it.
func TestRelaxedCommitSyncedSoon(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), SyncWrites: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	syncs := func() uint64 {
		s.durable.mu.Lock()
		defer s.durable.mu.Unlock()
		return s.durable.done
	}
	relaxed := func(key string) {
		t.Helper()
		err := storage.UpdateRelaxed(t.Context(), s, func(tx storage.Tx) error { return tx.Set(key, []byte("v"), 0) })
		if err != nil {
			t.Fatal(err)
		}
	}
	before := syncs()
	relaxed("first")
	if n := syncs() - before; n != 0 {
		t.Fatalf("%d syncs when the relaxed commit returned; want none", n)
	}
	began := time.Now()
	for i := range 50 {
		relaxed(fmt.Sprintf("k/%d", i))
	}
	took := time.Since(began)
	deadline := time.Now().Add(10 * time.Second)
	for syncs() == before {
		if time.Now().After(deadline) {
			t.Fatal("no sync followed the relaxed commits")
		}
		time.Sleep(time.Millisecond) // polls a counter that has no event to wait on
	}
	// One sync per relaxDelay at most while they were made, and the last one.
	if n, most := syncs()-before, uint64(took/relaxDelay)+2; n > most {
		t.Errorf("%d syncs after 51 relaxed commits made in %v; want them shared, at most %d", n, took, most)
	}
}
