package reset

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// admission bounds the reset requests this process has accepted and not yet
// finished: a request holds a place from before its job is stored until the
// job ends without mail, or its mail's first delivery attempt ends (sent,
// retried later, failed), or it waits on a limit (postponed). A request that
// finds every place taken waits for one, so that under a sustained load the
// endpoint accepts requests as fast as the mail goes out instead of growing a
// backlog that a real user's mail would wait behind. The wait depends only on
// the work in flight, never on the address asked for: known and unknown
// addresses wait alike.
type admission struct {
	places  chan struct{}
	maxWait time.Duration
	// opened is closed when the workers stop (a reload or a shutdown): the
	// places they would have freed never will be, and the requests still
	// arriving are stored without one, for the next config's workers.
	opened   chan struct{}
	openOnce sync.Once

	mu   sync.Mutex
	held map[string]time.Time // job or mail id -> since when it holds a place
}

// staleHold is how long a place may stay held before admission takes it back:
// a hold whose item this process never ran (another process took it) would
// otherwise keep its place for good. Every item's run is bounded well below it.
const staleHold = 5 * time.Minute

// ErrBusy: every place is taken for longer than a request waits; nothing was
// stored.
var ErrBusy = &fault.Error{Kind: fault.Unavailable, Code: "temporarily_unavailable", RetryAfter: time.Second,
	Message: "The password reset service is busy. Nothing was sent; please try again in a moment."}

func newAdmission(places int, maxWait time.Duration) *admission {
	return &admission{places: make(chan struct{}, places), maxWait: maxWait, held: map[string]time.Time{},
		opened: make(chan struct{})}
}

// open lets every request in from now on, without a place.
func (a *admission) open() { a.openOnce.Do(func() { close(a.opened) }) }

// enter waits for a place for the item id, at most maxWait: ErrBusy then. ctx
// ending (the client hung up) ends the wait too.
func (a *admission) enter(ctx context.Context, id string, now time.Time) error {
	select {
	case <-a.opened:
		return nil
	case a.places <- struct{}{}:
	default:
		a.reclaimStale(now)
		t := time.NewTimer(a.maxWait)
		defer t.Stop()
		select {
		case <-a.opened:
			return nil
		case a.places <- struct{}{}:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return ErrBusy.With(context.Cause(ctx))
		}
	}
	a.mu.Lock()
	a.held[id] = now
	a.mu.Unlock()
	return nil
}

// pass moves the place that from holds to to: a job's place to its mail.
func (a *admission) pass(from, to string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if since, ok := a.held[from]; ok {
		delete(a.held, from)
		a.held[to] = since
	}
}

// leave frees the place that id holds, if it holds one.
func (a *admission) leave(id string) {
	a.mu.Lock()
	_, ok := a.held[id]
	delete(a.held, id)
	a.mu.Unlock()
	if ok {
		<-a.places
	}
}

// reclaimStale frees the places held since before staleHold.
func (a *admission) reclaimStale(now time.Time) {
	a.mu.Lock()
	var stale []string
	for id, since := range a.held {
		if now.Sub(since) > staleHold {
			stale = append(stale, id)
		}
	}
	a.mu.Unlock()
	for _, id := range stale {
		a.leave(id)
	}
}
