package badger

import (
	"fmt"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// DefaultMinFreeSpace is the free space Update keeps on the database's filesystem
// when Options.MinFreeSpace is zero. It covers what Badger may still write after
// the last accepted commit: two memtable WAL files (2 × 16 MiB, sparse), a value-log
// file (2 × 16 MiB mmapped), and an L0 compaction that writes new tables (about
// 4 × 8.5 MiB) before it deletes the old ones.
const DefaultMinFreeSpace = 128 << 20

// Badger writes its files through mmap. When the filesystem fills up, the kernel
// does not return ENOSPC to Badger: it sends SIGBUS, and the whole Caddy process
// dies (verified on a full tmpfs, in a memtable flush). So the store refuses
// writes, with storage.ErrUnavailable, while free space is below a margin, rather
// than wait for an error Badger cannot report.
const (
	// spaceCheckInterval and spaceCheckBytes bound how stale the cached answer
	// may be: statfs is re-run after this long or after this many bytes were
	// committed, whichever comes first.
	spaceCheckInterval = time.Second
	spaceCheckBytes    = 4 << 20
)

// spaceGuard caches whether the filesystem holding dir has room for more writes.
type spaceGuard struct {
	dir  string
	min  uint64
	free func(dir string) (uint64, error) // bytes available; freeSpace in production

	mu      sync.Mutex
	checked time.Time // when free last ran; zero forces a check
	written int       // bytes committed since then
	err     error     // the answer cached at checked
}

// newSpaceGuard returns a guard for dir, or nil when there is nothing to guard:
// an in-memory store, a negative minimum, or a platform without freeSpace.
func newSpaceGuard(o Options) *spaceGuard {
	if o.InMemory || o.MinFreeSpace < 0 || freeSpace == nil {
		return nil
	}
	min := uint64(o.MinFreeSpace)
	if min == 0 {
		min = DefaultMinFreeSpace
	}
	return &spaceGuard{dir: o.Dir, min: min, free: freeSpace}
}

// allow reports whether a commit of n more bytes may go ahead. A nil guard allows
// everything. If statfs itself fails the write is allowed: the guard exists to
// avoid a crash, not to add a new way to fail.
func (g *spaceGuard) allow(now time.Time, n int) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.written += n
	if !g.checked.IsZero() && now.Sub(g.checked) < spaceCheckInterval && g.written < spaceCheckBytes {
		return g.err
	}
	g.checked, g.written, g.err = now, 0, nil
	free, err := g.free(g.dir)
	if err == nil && free < g.min {
		g.err = fmt.Errorf("badgerstore: %w: %d MiB free on the storage filesystem, below the %d MiB kept free",
			storage.ErrUnavailable, free>>20, g.min>>20)
	}
	return g.err
}
