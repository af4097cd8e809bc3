package storage

import (
	"errors"
	"sync/atomic"
	"time"
)

// Transaction kinds and outcomes, as an observer (ObserveTransactions) sees
// them.
const (
	KindView   = "view"
	KindUpdate = "update"

	OutcomeCommitted   = "ok"          // a View that returned nil, an Update committed
	OutcomeConflict    = "conflict"    // ErrConflict: another transaction won the race
	OutcomeUnavailable = "unavailable" // ErrUnavailable: the store refused (closed, disk full)
	OutcomeAborted     = "aborted"     // fn's own error, or the caller's context ended
)

type txObserver = func(kind, outcome string, d time.Duration)

var observer atomic.Pointer[txObserver]

// ObserveTransactions sets fn to be told of every transaction of the backends
// that report them (RecordTransaction), by kind, outcome and duration: for
// metrics. It is the process's, as the stores are shared across configs; nil
// stops telling. fn must not block.
func ObserveTransactions(fn func(kind, outcome string, d time.Duration)) {
	if fn == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&fn)
}

// RecordTransaction reports a transaction of kind that began at start and
// ended with *err to the observer, if one is set. A backend defers it at the
// top of View and Update, with its named error result:
//
//	defer storage.RecordTransaction(storage.KindUpdate, time.Now(), &err)
func RecordTransaction(kind string, start time.Time, err *error) {
	fn := observer.Load()
	if fn == nil {
		return
	}
	outcome := OutcomeCommitted
	switch {
	case *err == nil:
	case errors.Is(*err, ErrConflict):
		outcome = OutcomeConflict
	case errors.Is(*err, ErrUnavailable):
		outcome = OutcomeUnavailable
	default:
		outcome = OutcomeAborted
	}
	(*fn)(kind, outcome, time.Since(start))
}
