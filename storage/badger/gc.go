package badger

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// runGC garbage-collects the value log every interval until Close. Values larger
// than valueThreshold live in the value log, and their space is reclaimed only by
// this GC.
func (s *Store) runGC(interval time.Duration) {
	defer close(s.gcDone)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-ticker.C:
			s.collectGarbage()
		}
	}
}

// collectGarbage rewrites value-log files while Badger finds one worth rewriting
// (RunValueLogGC returns nil), as Badger's documentation recommends.
func (s *Store) collectGarbage() {
	for {
		select {
		case <-s.stopGC:
			return
		default:
		}
		err := s.db.RunValueLogGC(gcDiscardRatio)
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite),
			errors.Is(err, badger.ErrRejected),
			errors.Is(err, badger.ErrGCInMemoryMode):
			// Nothing to do, already running, or not applicable.
		default:
			s.log.Warn("badger value log GC failed", zap.Error(err))
		}
		return
	}
}
