package queue

import (
	"context"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Handler does the work of one claimed item. It returns nil after it has committed
// the item's results together with q.Done. An error makes the worker retry the
// item after a backoff; an error wrapped with Permanent fails it at once.
type Handler func(ctx context.Context, it *Item) error

// permanent marks an error that retrying cannot cure.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that the worker fails the item instead of retrying it.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanent)) }

// Worker runs a queue's items with a handler.
type Worker struct {
	Queue   *Queue
	Handler Handler
	// Concurrency is how many items run at once (default 4).
	Concurrency int
	// Lease is how long a claim lasts; it must exceed the handler's worst case
	// (default 2 minutes).
	Lease time.Duration
	// PollInterval is how often the store is scanned for due items that no
	// Notify announced: retries, items left by a crash or by another worker
	// (default 1 second).
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between attempts
	// (defaults 1 second and 1 minute).
	MinBackoff, MaxBackoff time.Duration
	// MaxAge is how long an item is retried before it fails (default 24 hours).
	MaxAge time.Duration
	// Grace is how long items in flight may go on after Run's context is done
	// before their own contexts are cancelled (default 10 seconds).
	Grace  time.Duration
	Logger *zap.Logger
	// Busy, if set, reports that the process has foreground work: requests that
	// wait for their answers. While it does, at most BusyConcurrency items run
	// (default 1), so that a backlog of background work does not take the CPU
	// and the store's syncs from the answers; when the requests stop, the worker
	// goes back to Concurrency and works the backlog off.
	Busy            func() bool
	BusyConcurrency int

	owner    string
	running  atomic.Int64  // items running now
	finished chan struct{} // a token each time an item finishes, for Busy waits
	inflight sync.Map      // id -> struct{}: ids this worker is running
	again    sync.Map      // id -> struct{}: ids announced while running, to run once more
}

func (w *Worker) defaults() {
	w.Concurrency = cmpOr(w.Concurrency, 4)
	w.Lease = cmpOr(w.Lease, 2*time.Minute)
	w.PollInterval = cmpOr(w.PollInterval, time.Second)
	w.MinBackoff = cmpOr(w.MinBackoff, time.Second)
	w.MaxBackoff = cmpOr(w.MaxBackoff, time.Minute)
	w.MaxAge = cmpOr(w.MaxAge, 24*time.Hour)
	w.Grace = cmpOr(w.Grace, 10*time.Second)
	w.BusyConcurrency = cmpOr(w.BusyConcurrency, 1)
	w.finished = make(chan struct{}, 1)
	if w.Logger == nil {
		w.Logger = zap.NewNop()
	}
	w.owner = crand.Text()
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Run works until ctx is done, then waits for the items in flight to finish. Items
// in flight are not cut off at once, so that a config reload does not abort an SMTP
// transaction half-way; they get Grace to finish.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	sem := make(chan struct{}, w.Concurrency)
	var wg sync.WaitGroup
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	defer wg.Wait()
	stopAfterGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(w.Grace, stopWork)
		<-work.Done()
		t.Stop()
	})
	defer stopAfterGrace()
	tick := time.NewTicker(w.PollInterval)
	defer tick.Stop()
	dispatch := func(id string) {
		if _, busy := w.inflight.LoadOrStore(id, struct{}{}); busy {
			// The item may have been requeued while this run settles it: look at
			// it again when the run ends rather than at the next poll.
			w.again.Store(id, struct{}{})
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			w.inflight.Delete(id)
			return
		}
		if !w.waitWhileBusy(ctx) {
			<-sem
			w.inflight.Delete(id)
			return
		}
		w.running.Add(1)
		wg.Go(func() {
			defer func() {
				w.running.Add(-1)
				select {
				case w.finished <- struct{}{}:
				default:
				}
				<-sem
				w.inflight.Delete(id)
				if _, ok := w.again.LoadAndDelete(id); ok {
					w.Queue.Notify(id)
				}
			}()
			w.runOne(ctx, work, id)
		})
	}
	w.poll(ctx, dispatch)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-w.Queue.notify:
			dispatch(id)
		case <-tick.C:
			w.poll(ctx, dispatch)
		}
	}
}

// busyRecheck is how often a dispatch held back by Busy looks again: the
// foreground work may have ended without any item finishing.
const busyRecheck = 10 * time.Millisecond

// waitWhileBusy holds a dispatch back while Busy reports foreground work and
// BusyConcurrency items already run. It returns false if ctx ended.
func (w *Worker) waitWhileBusy(ctx context.Context) bool {
	if w.Busy == nil {
		return true
	}
	var t *time.Timer
	for w.running.Load() >= int64(w.BusyConcurrency) && w.Busy() {
		if t == nil {
			t = time.NewTimer(busyRecheck)
			defer t.Stop()
		} else {
			t.Reset(busyRecheck)
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.finished:
		case <-t.C:
		}
	}
	return true
}

// pollBatch is how many due items one scan of the queue returns; one poll scans
// at most pollRounds times (a bound in case due entries cannot be claimed).
const (
	pollBatch  = 256
	pollRounds = 64
)

// poll dispatches the items due now. While a scan comes back full it scans
// again at once: a backlog larger than the notify channel (items put faster
// than they run) would otherwise be worked off at one batch per PollInterval.
// Dispatch blocks while every slot is busy, so the scans keep pace with the
// work rather than run ahead of it.
func (w *Worker) poll(ctx context.Context, dispatch func(string)) {
	for range pollRounds {
		if ctx.Err() != nil {
			return
		}
		ids, err := w.Queue.Due(ctx, pollBatch)
		if err != nil && ctx.Err() == nil {
			w.Logger.Error("scan queue", zap.String("queue", w.Queue.name), zap.Error(err))
		}
		for _, id := range ids {
			dispatch(id)
		}
		if len(ids) < pollBatch {
			return
		}
	}
}

// runOne claims and runs one item. Claiming stops with ctx; the work itself runs
// under work, which outlives ctx by the grace period, and under the lease.
func (w *Worker) runOne(ctx, work context.Context, id string) {
	it, err := w.Queue.Claim(ctx, id, w.owner, w.Lease)
	if err != nil {
		if !errors.Is(err, ErrNotClaimable) && ctx.Err() == nil {
			w.Logger.Error("claim queue item", zap.String("queue", w.Queue.name), zap.Error(err))
		}
		return
	}
	hctx, cancel := context.WithTimeout(work, w.Lease)
	err = w.Handler(hctx, it)
	cancel()
	if err == nil || errors.Is(err, ErrLeaseLost) {
		return
	}
	// Record the attempt even if the work was cut off: otherwise the item would
	// wait for its whole lease before anyone retried it.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	w.settle(sctx, it, err)
}

// settle records a failed attempt: retry with backoff, or fail for good.
func (w *Worker) settle(ctx context.Context, it *Item, cause error) {
	log := w.Logger.With(zap.String("queue", w.Queue.name), zap.String("item", it.ID),
		zap.Int("attempt", it.Attempts), zap.Error(cause))
	now := w.Queue.now()
	if IsPermanent(cause) || now.Sub(it.since()) > w.MaxAge {
		log.Error("queue item failed; not retrying")
		if err := w.Queue.Fail(ctx, it, cause); err != nil {
			log.Error("mark queue item failed", zap.NamedError("store_error", err))
		}
		return
	}
	delay := w.backoff(it.Attempts)
	log.Warn("queue item failed; will retry", zap.Duration("retry_in", delay))
	err := w.Queue.Retry(ctx, it, cause, now.Add(delay))
	// A store refusing writes for a while (a full disk) is retried within ctx;
	// otherwise the item would wait for its whole lease.
	for wait := 100 * time.Millisecond; errors.Is(err, storage.ErrUnavailable) && ctx.Err() == nil; wait = min(2*wait, 2*time.Second) {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			err = w.Queue.Retry(ctx, it, cause, now.Add(delay))
		}
	}
	if err != nil {
		log.Error("reschedule queue item", zap.NamedError("store_error", err))
	}
}

// backoff doubles from MinBackoff up to MaxBackoff, with up to 20% jitter so that
// many items failing together do not retry in lockstep.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.MinBackoff
	for i := 1; i < attempt && d < w.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.MaxBackoff)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}
