package badger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
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
	lazy      *time.Timer // the sync that soon scheduled, until it starts
	stopped   bool
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
		if g.stopped {
			return fmt.Errorf("badgerstore: %w: store is closed", storage.ErrUnavailable)
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

// relaxDelay bounds how long a relaxed commit (storage.Relax) stays off the
// disk: PostgreSQL's WAL writer runs every 200 ms by default too.
const relaxDelay = 200 * time.Millisecond

// soon makes the commits taken so far durable within relaxDelay, without
// waiting: a sync starts then unless one is already scheduled. Its failure
// has no one to be reported to; the next durable commit's own sync meets the
// same disk and reports it.
func (g *groupSync) soon() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lazy != nil || g.stopped {
		return
	}
	g.lazy = time.AfterFunc(relaxDelay, func() {
		g.mu.Lock()
		g.lazy = nil
		g.mu.Unlock()
		g.wait() //nolint:errcheck // no one waits on a relaxed commit; see soon
	})
}

// stop cancels the scheduled sync and waits for a running one: no sync runs
// after it returns.
func (g *groupSync) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	if g.lazy != nil {
		g.lazy.Stop()
		g.lazy = nil
	}
	for g.running {
		g.cond.Wait()
	}
}

// walSyncer makes every commit Badger has taken durable: it fsyncs the WAL
// file of every memtable not yet flushed to a table, the current one and any
// rotated out (a memtable whose file is gone has been written to a table,
// which Badger syncs). It does not call DB.Sync, which would also msync the
// value log: values all stay in the LSM tree (tx.Set refuses any that would
// not), so the value log holds nothing, and its sync costs a second device
// flush per group (a quarter of a durable commit's time,
// BenchmarkSetSyncWrites).
//
// It keeps the WAL files open between syncs and lists the directory again only
// when it may hold a new one: its modification time moved, or the file Badger
// names its next memtable with (the highest number plus one) exists. A sync is
// then a stat, a failed open and one fsync per WAL file, where listing and
// opening every time cost a third as much again as the fsyncs (the request
// endpoint's CPU profile). Not safe for concurrent use: the group sync runs
// one sync at a time.
type walSyncer struct {
	dir    string
	listed time.Time           // the directory's modification time when last listed
	files  map[string]*os.File // the WAL files, by name
	next   string              // the name of the memtable after the newest
}

func newWALSyncer(dir string) *walSyncer {
	return &walSyncer{dir: dir, files: map[string]*os.File{}}
}

func (w *walSyncer) sync() error {
	if err := w.refresh(); err != nil {
		return err
	}
	for name, f := range w.files {
		// A file Badger deleted since (flushed to a table) still syncs.
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
	}
	return nil
}

// refresh lists the directory again if it may hold a WAL file not yet open.
func (w *walSyncer) refresh() error {
	st, err := os.Stat(w.dir)
	if err != nil {
		return err
	}
	if st.ModTime().Equal(w.listed) && w.next != "" {
		if _, err := os.Stat(filepath.Join(w.dir, w.next)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	newest := -1
	for _, e := range entries {
		name := e.Name()
		fid, ok := memFid(name)
		if !ok {
			continue
		}
		present[name], newest = true, max(newest, fid)
		if w.files[name] != nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // flushed and deleted since the listing
		}
		if err != nil {
			return err
		}
		w.files[name] = f
	}
	for name, f := range w.files {
		if !present[name] {
			f.Close()
			delete(w.files, name)
		}
	}
	w.listed, w.next = st.ModTime(), fmt.Sprintf("%05d%s", newest+1, memExt)
	return nil
}

// close closes the files kept open.
func (w *walSyncer) close() {
	for name, f := range w.files {
		f.Close()
		delete(w.files, name)
	}
}

// memExt is the extension of Badger's memtable WAL files, named by a number
// that grows by one with each new memtable.
const memExt = ".mem"

func memFid(name string) (int, bool) {
	num, ok := strings.CutSuffix(name, memExt)
	if !ok {
		return 0, false
	}
	fid, err := strconv.Atoi(num)
	return fid, err == nil
}
