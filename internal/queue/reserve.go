package queue

import (
	"fmt"
	"log/slog"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Reservation is a free slot of a running worker, taken for an item that the
// caller is about to put: the item is stored already claimed by the worker,
// in the caller's transaction, and handed to the worker once that transaction
// has committed. The item then runs at once and costs no claim commit of its
// own: under load, one commit fewer per item. If the process dies before the
// item runs, the item is claimed again when its lease runs out (or at the next
// start, see ReleaseLeases), as any item whose worker died.
//
// Exactly one of Start and Cancel must be called.
type Reservation struct {
	w  *Worker
	r  *run
	it *Item
}

// Reserve returns a slot of w for an item about to be put, or nil when w is
// not running, every slot is busy, or items announced to it wait: an item
// handed over directly must not pass those already waiting, so a reservation
// is only had when there is no backlog. Put the item as usual then.
func (w *Worker) Reserve() *Reservation {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.cur
	if r == nil || r.ctx.Err() != nil || len(w.Queue.notify)+len(w.Queue.high) > 0 {
		return nil
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return nil
	}
	r.wg.Add(1) // Run waits for it; Run clears w.cur under w.mu before it waits
	return &Reservation{w: w, r: r}
}

// Put adds the pending item id in lane p inside tx, claimed by the
// reservation's worker: its first attempt, under a lease. A transaction that
// is retried may call Put again, with the same id.
func (res *Reservation) Put(tx storage.Tx, id string, payload any, p Priority) error {
	q := res.w.Queue
	it, err := q.newItem(id, payload, p)
	if err != nil {
		return err
	}
	it.LeaseOwner, it.LeaseID, it.LeaseUntil = res.w.owner, newLeaseID(), it.CreatedAt.Add(res.w.Lease)
	it.Attempts = 1
	it.local = payload
	res.it = it
	return q.write(tx, it, nil)
}

// Start runs the item that Put stored, once the transaction has committed.
// Without a Put it gives the slot back.
func (res *Reservation) Start() {
	w, r, it := res.w, res.r, res.it
	if it == nil {
		res.Cancel()
		return
	}
	if _, busy := w.inflight.LoadOrStore(it.ID, struct{}{}); busy {
		// Cannot happen for a fresh id; a bug must not run an item twice.
		w.Logger.Error("reserved queue item already in flight", slog.String("queue", w.Queue.name), slog.String("item", it.ID))
		res.Cancel()
		return
	}
	go func() {
		defer func() {
			<-r.slots
			w.finish(it.ID)
			r.wg.Done()
		}()
		w.runItem(r.ctx, r.work, it)
	}()
}

// Cancel gives the slot back: the transaction that Put wrote in did not
// commit.
func (res *Reservation) Cancel() {
	<-res.r.slots
	res.r.wg.Done()
}

// newItem is a pending item due now, not yet stored.
func (q *Queue) newItem(id string, payload any, p Priority) (*Item, error) {
	data, err := jsonMarshal(payload)
	if err != nil {
		return nil, fmt.Errorf("queue %s: encode payload: %w", q.name, err)
	}
	now := q.now()
	return &Item{ID: id, Payload: data, State: Pending, CreatedAt: now, NotBefore: now, Priority: p}, nil
}
