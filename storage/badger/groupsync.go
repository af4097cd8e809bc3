package badger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Group commit. With Badger's own SyncWrites, its single writer goroutine calls
// msync on the memtable's WAL once per transaction, one after another, even when
// it writes many transactions in one batch: every commit in the process queues
// behind every other commit's msync (the CPU profile of the request endpoint
// under load showed that writer busy in msync, while the CPUs were a third
// idle). So Badger runs without SyncWrites, and Update, after Badger has taken the
// commit, waits for a sync that started after it: one sync makes every commit
// that finished before it durable, however many there are. The guarantee is the
// same as SyncWrites' (Update returns only once its writes are on disk); the cost
// is one sync per group of commits instead of one per commit.

// groupSync runs syncs for waiters, one at a time; a waiter is served by the
// first sync that starts after it asked.
type groupSync struct {
	run func() error // the sync itself

	mu        sync.Mutex
	cond      *sync.Cond
	started   uint64 // syncs started so far; the running one, if any, is the last
	done      uint64 // the last sync finished
	running   bool
	failedGen uint64 // the last sync that failed, and why
	failedErr error
}

func newGroupSync(run func() error) *groupSync {
	g := &groupSync{run: run}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// wait returns once a sync that started after the call has finished, with its
// error. The caller's commit must have returned before wait is called. The first
// waiter to find no sync running runs the next one itself, for everyone waiting.
func (g *groupSync) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1 // a sync already running may have started before the commit
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := g.run()
		g.mu.Lock()
		g.running, g.done = false, gen
		if err != nil {
			g.failedGen, g.failedErr = gen, err
		}
		g.cond.Broadcast()
	}
	// Syncs finish in order and the waiter was served by sync number need; a
	// failure of that one or of a later one (it cannot tell them apart once
	// both are over) is reported: claiming durability that may be missing
	// would be worse than a spurious error.
	if g.failedGen >= need {
		return g.failedErr
	}
	return nil
}

// syncDB makes every commit Badger has taken durable: it fsyncs the WAL file of
// every memtable not yet flushed to a table, the current one and any rotated out
// (a memtable whose file is gone has been written to a table, which Badger
// syncs). It does not call DB.Sync, which would also msync the value log: values
// all stay in the LSM tree (tx.Set refuses any that would not), so the value log
// holds nothing, and its sync costs a second device flush per group (a quarter
// of a durable commit's time, BenchmarkSetSyncWrites).
func syncDB(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".mem") {
			continue
		}
		if err := fsyncFile(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// fsyncFile flushes a file's dirty pages (those written through Badger's mmap
// included: they are the same page cache). A file deleted meanwhile was
// flushed to a table.
func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	return nil
}
