package queue

import (
	"context"
	crand "crypto/rand"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

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

// later is a handler's answer that the item cannot run before a time.
type later struct {
	at  time.Time
	why string
}

func (l later) Error() string { return "postponed: " + l.why }

// Later is returned by a handler that finds its item too early (a rate limit
// that refills at at): the worker postpones it to at without counting a failed
// attempt or backing off.
func Later(at time.Time, why string) error { return later{at: at, why: why} }

// Worker runs a queue's items with a handler.
type Worker struct {
	Queue   *Queue
	Handler Handler
	// Concurrency is how many items run at once (default 4).
	Concurrency int
	// Lease is how long a claim lasts unless renewed: the worker renews it
	// every third of it while the handler runs, so it bounds how long an item
	// whose worker died (a node killed) waits before another claims it
	// (default 15 seconds).
	Lease time.Duration
	// MaxRun bounds one run of the handler: its context ends then (default 2
	// minutes).
	MaxRun time.Duration
	// PollInterval is how often the store is scanned for due items that no
	// Notify announced: retries, items left by a crash or by another worker
	// (default 1 second).
	PollInterval time.Duration
	// AnnounceDelay is how long after another process announced a new item
	// (storage.Listener: a store shared by several Caddy nodes) this worker
	// scans the store: the process that stored the item claims it at once, so
	// the others look a moment later, for what it could not take, instead of
	// racing it for every item. Announcements within the delay share one scan
	// (default 200 ms).
	AnnounceDelay time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between attempts
	// (defaults 1 second and 1 minute).
	MinBackoff, MaxBackoff time.Duration
	// MaxAge is how long an item is retried before it fails (default 24 hours).
	MaxAge time.Duration
	// Grace is how long items in flight may go on after Run's context is done
	// before their own contexts are cancelled (default 10 seconds).
	Grace  time.Duration
	Logger *slog.Logger

	// OnFinish, if set, is told of each item whose run by this worker ended,
	// whatever came of it (done, retried, failed, postponed, or not claimable
	// after all): the reset flow bounds the work it has accepted and not yet
	// finished with it.
	OnFinish func(id string)

	owner    string
	inflight sync.Map // id -> struct{}: ids this worker is running
	again    sync.Map // id -> struct{}: ids announced while running, to run once more

	mu  sync.Mutex
	cur *run // the running Run, for Reserve; nil when not running
}

func (w *Worker) defaults() {
	w.Concurrency = cmpOr(w.Concurrency, 4)
	w.Lease = cmpOr(w.Lease, 15*time.Second)
	w.MaxRun = cmpOr(w.MaxRun, 2*time.Minute)
	w.PollInterval = cmpOr(w.PollInterval, time.Second)
	w.AnnounceDelay = cmpOr(w.AnnounceDelay, 200*time.Millisecond)
	w.MinBackoff = cmpOr(w.MinBackoff, time.Second)
	w.MaxBackoff = cmpOr(w.MaxBackoff, time.Minute)
	w.MaxAge = cmpOr(w.MaxAge, 24*time.Hour)
	w.Grace = cmpOr(w.Grace, 10*time.Second)
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
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
//
// Items that are due together are claimed together, in one transaction: under a
// backlog each item then costs one commit (its result) instead of two.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	r := &run{w: w, ctx: ctx, work: work, slots: make(chan struct{}, w.Concurrency)}
	w.mu.Lock()
	w.cur = r
	w.mu.Unlock()
	// Run returns only once ctx is done: the items in flight get Grace from
	// then. (An AfterFunc on ctx, stopped when Run returned, could be stopped
	// before it ran: Run sees ctx done before ctx's children are cancelled,
	// and a handler waiting on its context then kept Run from returning.)
	defer func() {
		w.mu.Lock()
		w.cur = nil // no Reserve adds to r.wg once Wait may have begun
		w.mu.Unlock()
		grace := time.AfterFunc(w.Grace, stopWork)
		defer grace.Stop()
		r.wg.Wait()
	}()
	tick := time.NewTicker(w.PollInterval)
	defer tick.Stop()
	announced := w.listen(ctx)
	var look <-chan time.Time // a scan after another process's announcement
	w.poll(ctx, r.dispatch)
	for {
		select { // the High lane's announcements first
		case id := <-w.Queue.high:
			r.dispatch(w.moreNotified(id))
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return
		case id := <-w.Queue.high:
			r.dispatch(w.moreNotified(id))
		case id := <-w.Queue.notify:
			r.dispatch(w.moreNotified(id))
		case <-tick.C:
			w.poll(ctx, r.dispatch)
		case _, ok := <-announced:
			if !ok {
				announced = nil
			} else if look == nil {
				look = time.After(w.AnnounceDelay)
			}
		case <-look:
			look = nil
			w.poll(ctx, r.dispatch)
		}
	}
}

// listen returns the announcements of new items by the other processes sharing
// the store, or nil when the store is this process's alone.
func (w *Worker) listen(ctx context.Context) <-chan struct{} {
	l, ok := w.Queue.store.(storage.Listener)
	if !ok || !storage.IsShared(w.Queue.store) {
		return nil
	}
	return l.Listen(ctx, w.Queue.topic())
}

// moreNotified returns id with the other ids already announced, High lane
// first, up to Concurrency of them, so that they are claimed in one
// transaction.
func (w *Worker) moreNotified(id string) []string {
	ids := []string{id}
	for _, ch := range []chan string{w.Queue.high, w.Queue.notify} {
		for len(ids) < w.Concurrency {
			select {
			case id := <-ch:
				ids = append(ids, id)
				continue
			default:
			}
			break
		}
	}
	return ids
}

// run is one Run's state: its contexts, its slots (a token per item running) and
// the items' goroutines.
type run struct {
	w         *Worker
	ctx, work context.Context
	slots     chan struct{}
	wg        sync.WaitGroup
}

// dispatch claims and starts ids, as many at a time as there are free slots;
// it blocks while every slot is taken.
func (r *run) dispatch(ids []string) {
	ids = r.w.admit(ids)
	for len(ids) > 0 {
		n := r.acquire(len(ids))
		if n == 0 { // ctx is done
			for _, id := range ids {
				r.w.inflight.Delete(id)
			}
			return
		}
		r.start(ids[:n])
		ids = ids[n:]
	}
}

// admit marks ids as in flight and returns them, leaving out those already in
// flight: an item may have been requeued while its run settles it, so it is
// looked at again when that run ends rather than at the next poll.
func (w *Worker) admit(ids []string) []string {
	fresh := ids[:0:0]
	for _, id := range ids {
		if _, busy := w.inflight.LoadOrStore(id, struct{}{}); busy {
			w.again.Store(id, struct{}{})
			continue
		}
		fresh = append(fresh, id)
	}
	return fresh
}

// acquire takes at least one slot, waiting for it, and up to want of them if they
// are free. It returns how many it took: 0 if ctx ended.
func (r *run) acquire(want int) int {
	select {
	case r.slots <- struct{}{}:
	case <-r.ctx.Done():
		return 0
	}
	n := 1
	for n < want {
		select {
		case r.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

// start claims ids, for which it holds a slot each, and runs the items claimed;
// the others give their slots back.
func (r *run) start(ids []string) {
	w := r.w
	items, err := w.Queue.ClaimMany(r.ctx, ids, w.owner, w.Lease)
	if err != nil && r.ctx.Err() == nil {
		w.Logger.Error("claim queue items", slog.String("queue", w.Queue.name), slog.Any("error", err))
	}
	for range len(ids) - len(items) {
		<-r.slots
	}
	claimed := make(map[string]bool, len(items))
	for _, it := range items {
		claimed[it.ID] = true
	}
	for _, id := range ids {
		if !claimed[id] {
			w.finish(id)
		}
	}
	for _, it := range items {
		r.wg.Go(func() {
			defer func() {
				<-r.slots
				w.finish(it.ID)
			}()
			w.runItem(r.ctx, r.work, it)
		})
	}
}

// finish marks id as no longer in flight, and announces it again if it was
// announced while it ran.
func (w *Worker) finish(id string) {
	w.inflight.Delete(id)
	if w.OnFinish != nil {
		w.OnFinish(id)
	}
	if _, ok := w.again.LoadAndDelete(id); ok {
		w.Queue.Notify(id)
	}
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
func (w *Worker) poll(ctx context.Context, dispatch func([]string)) {
	for range pollRounds {
		if ctx.Err() != nil {
			return
		}
		ids, err := w.Queue.Due(ctx, pollBatch)
		if err != nil && ctx.Err() == nil {
			w.Logger.Error("scan queue", slog.String("queue", w.Queue.name), slog.Any("error", err))
		}
		dispatch(ids)
		if len(ids) < pollBatch {
			return
		}
	}
}

// runItem runs one claimed item. The work runs under work, which outlives ctx by
// the grace period, and under the lease.
func (w *Worker) runItem(ctx, work context.Context, it *Item) {
	hctx, cancel := context.WithTimeoutCause(work, w.MaxRun, errors.New("queue: the item ran longer than MaxRun"))
	renewed := w.renew(hctx, cancel, it)
	err := w.Handler(hctx, it)
	cancel()
	<-renewed
	if err == nil || errors.Is(err, ErrLeaseLost) {
		return
	}
	// Record the attempt even if the work was cut off: otherwise the item would
	// wait for its whole lease before anyone retried it.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	w.settle(sctx, it, err)
}

// renew extends it's lease every third of Lease until ctx ends, and cancels
// the handler's context through stop if the lease was lost. The returned
// channel closes when it has stopped. A renewal the store refuses is tried
// again at the next tick: the lease has two more thirds to run.
func (w *Worker) renew(ctx context.Context, stop context.CancelFunc, it *Item) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(w.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			err := w.Queue.Extend(ctx, it, w.Lease)
			switch {
			case errors.Is(err, ErrLeaseLost):
				w.Logger.Warn("queue item lease lost; stopping its run", slog.String("queue", w.Queue.name),
					slog.String("item", it.ID))
				stop()
				return
			case err != nil && ctx.Err() == nil:
				w.Logger.Error("renew queue item lease", slog.String("queue", w.Queue.name),
					slog.String("item", it.ID), slog.Any("error", err))
			}
		}
	}()
	return done
}

// settle records a failed attempt: retry with backoff, or fail for good; or
// postpones an item that was too early.
func (w *Worker) settle(ctx context.Context, it *Item, cause error) {
	log := w.Logger.With(slog.String("queue", w.Queue.name), slog.String("item", it.ID),
		slog.Int("attempt", it.Attempts), slog.Any("error", cause))
	var l later
	if errors.As(cause, &l) {
		log.Debug("queue item postponed", slog.Time("until", l.at))
		if err := w.Queue.Postpone(ctx, it, l.why, l.at); err != nil {
			log.Error("postpone queue item", slog.Any("store_error", err))
		}
		return
	}
	now := w.Queue.now()
	if IsPermanent(cause) || now.Sub(it.since()) > w.MaxAge {
		log.Error("queue item failed; not retrying")
		if err := w.Queue.Fail(ctx, it, cause); err != nil {
			log.Error("mark queue item failed", slog.Any("store_error", err))
		}
		return
	}
	delay := w.backoff(it.Attempts)
	log.Warn("queue item failed; will retry", slog.Duration("retry_in", delay))
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
		log.Error("reschedule queue item", slog.Any("store_error", err))
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
