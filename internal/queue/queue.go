// Package queue is a durable work queue kept in a storage.Store: the reset jobs that
// the request endpoint stores before it answers, and the mail outbox. An item is
// claimed under a lease, so two workers (the old and the new config during a
// reload, or two nodes sharing a distributed store) never run it at once, and an
// item whose worker died becomes due again when its lease runs out.
package queue

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Errors of Claim and Done.
var (
	// ErrNotClaimable means the item is gone, failed, not yet due, leased to
	// another worker, or was claimed concurrently.
	ErrNotClaimable = errors.New("queue: item not claimable")
	// ErrLeaseLost means the lease ran out and the item was claimed again, or the
	// item is gone; the work must not be committed twice.
	ErrLeaseLost = errors.New("queue: lease lost")
)

// Queue is a named queue in a store. Its zero value is not usable; call New.
type Queue struct {
	store  storage.Store
	name   string
	now    func() time.Time
	notify chan string // ids put in the Normal lane
	high   chan string // ids put in the High lane
}

// New returns the queue called name in store. now is the clock (nil: time.Now).
func New(store storage.Store, name string, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{store: store, name: name, now: now, notify: make(chan string, 4096), high: make(chan string, 1024)}
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

func (q *Queue) itemKey(id string) string { return "q/" + q.name + "/item/" + id }
func (q *Queue) dataKey(id string) string { return "q/" + q.name + "/data/" + id }

// duePrefix is the due index of one lane. The Normal lane keeps the index's
// original name, so that items stored before lanes existed stay in it.
func (q *Queue) duePrefix(p Priority) string {
	if p == High {
		return "q/" + q.name + "/due-high/"
	}
	return "q/" + q.name + "/due/"
}

// dueKey sorts by due time within the item's lane: a fixed-width decimal of
// Unix nanoseconds.
func (q *Queue) dueKey(it *Item) string {
	return fmt.Sprintf("%s%020d/%s", q.duePrefix(it.Priority), max(it.dueAt().UnixNano(), 0), it.ID)
}

// Put adds a pending item in the Normal lane inside the caller's transaction, so
// that enqueueing is atomic with the caller's other writes. Call Notify after
// the transaction commits.
func (q *Queue) Put(tx storage.Tx, id string, payload any) error {
	return q.PutPriority(tx, id, payload, Normal)
}

// PutPriority is Put in the lane p.
func (q *Queue) PutPriority(tx storage.Tx, id string, payload any, p Priority) error {
	it, err := q.newItem(id, payload, p)
	if err != nil {
		return err
	}
	return q.write(tx, it, nil)
}

// jsonMarshal encodes a payload; a payload already encoded is kept as it is.
func jsonMarshal(payload any) ([]byte, error) {
	if raw, ok := payload.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(payload)
}

// write stores it (its state) and moves its due-index entry from the one of old (if
// any). The payload is written with a new item (old is nil), and when an item of
// the older layout is split.
func (q *Queue) write(tx storage.Tx, it, old *Item) error {
	if old != nil && old.State == Pending {
		if err := tx.Delete(q.dueKey(old)); err != nil {
			return err
		}
	}
	if old == nil || old.inline {
		if err := tx.Set(q.dataKey(it.ID), it.Payload, 0); err != nil {
			return err
		}
	}
	state := *it
	state.Payload = nil
	data, err := json.Marshal(&state)
	if err != nil {
		return fmt.Errorf("queue %s: encode item: %w", q.name, err)
	}
	if err := tx.Set(q.itemKey(it.ID), data, 0); err != nil {
		return err
	}
	it.state = data
	if it.State != Pending {
		return nil
	}
	if a, ok := tx.(storage.Announcer); ok && old == nil && it.LeaseOwner == "" {
		a.Announce(q.topic()) // other processes' workers look, see Worker.Run (a reserved item is claimed already)
	}
	return tx.Set(q.dueKey(it), nil, 0)
}

// topic is what new items are announced under to the other processes sharing
// the store.
func (q *Queue) topic() string { return "q/" + q.name }

// Notify tells this process's worker that id was just put in the Normal lane,
// so it runs at once instead of at the next poll. It never blocks; a full
// channel only delays the item until the next poll.
func (q *Queue) Notify(id string) { q.NotifyPriority(id, Normal) }

// NotifyPriority is Notify for an item put in lane p: the worker takes the High
// lane's announcements first, as its polls take the High lane's items first.
func (q *Queue) NotifyPriority(id string, p Priority) {
	ch := q.notify
	if p == High {
		ch = q.high
	}
	select {
	case ch <- id:
	default:
	}
}

// Get returns the item id.
func (q *Queue) Get(ctx context.Context, id string) (*Item, error) {
	var it *Item
	err := q.store.View(ctx, func(tx storage.Tx) error {
		var err error
		it, err = q.get(tx, id)
		return err
	})
	return it, err
}

// get reads the item id with its payload.
func (q *Queue) get(tx storage.Tx, id string) (*Item, error) {
	it, err := q.getState(tx, id)
	if err != nil {
		return nil, err
	}
	return it, q.loadPayload(tx, it)
}

// getState reads the item's state, without the payload unless it is of the older
// layout: enough to check or change where it stands.
func (q *Queue) getState(tx storage.Tx, id string) (*Item, error) {
	data, err := tx.Get(q.itemKey(id))
	if err != nil {
		return nil, err
	}
	return q.decode(id, data)
}

func (q *Queue) decode(id string, data []byte) (*Item, error) {
	var it Item
	if err := json.Unmarshal(data, &it); err != nil {
		return nil, fmt.Errorf("queue %s: decode item %s: %w", q.name, id, err)
	}
	it.inline = len(it.Payload) > 0
	it.state = data
	return &it, nil
}

// loadPayload reads the payload of an item whose state was read alone.
func (q *Queue) loadPayload(tx storage.Tx, it *Item) error {
	if it.inline {
		return nil
	}
	data, err := tx.Get(q.dataKey(it.ID))
	if err != nil {
		return fmt.Errorf("queue %s: payload of item %s: %w", q.name, it.ID, err)
	}
	it.Payload = data
	return nil
}

// Due returns up to limit ids of items due now: the High lane's first, each
// lane oldest due first.
func (q *Queue) Due(ctx context.Context, limit int) ([]string, error) {
	now := q.now().UnixNano()
	var ids []string
	err := q.store.View(ctx, func(tx storage.Tx) error {
		for _, p := range []Priority{High, Normal} {
			prefix := q.duePrefix(p)
			err := tx.Scan(prefix, "", func(key string, _ []byte) error {
				at, id, ok := parseDueKey(strings.TrimPrefix(key, prefix))
				if !ok {
					return nil
				}
				if at > now || len(ids) >= limit {
					return storage.ErrStop
				}
				ids = append(ids, id)
				return nil
			})
			if err != nil && !errors.Is(err, storage.ErrStop) {
				return err
			}
		}
		return nil
	})
	return ids, err
}

func parseDueKey(rest string) (nanos int64, id string, ok bool) {
	ts, id, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, "", false
	}
	nanos, err := strconv.ParseInt(ts, 10, 64)
	return nanos, id, err == nil
}

// Claim leases the item id to owner for lease and counts an attempt. It returns
// ErrNotClaimable if the item cannot run now, including when another worker
// claimed it concurrently.
func (q *Queue) Claim(ctx context.Context, id, owner string, lease time.Duration) (*Item, error) {
	var claimed *Item
	err := q.store.Update(ctx, func(tx storage.Tx) error {
		storage.Relax(tx) // a claim lost to a power cut only makes the item claimable again
		var err error
		claimed, err = q.claim(tx, id, owner, lease)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		return nil, fmt.Errorf("%w: %s", ErrNotClaimable, id)
	}
	return claimed, err
}

// ClaimMany claims those of ids that are claimable, in one transaction: a batch
// costs one commit (and one sync) instead of one per item. Ids that are not
// claimable are left out of the result. If the batch cannot commit (another
// worker changed one of the items meanwhile, or one item cannot be read), each
// is claimed on its own, so that one bad item does not hold up the others; the
// items claimed are returned with the errors of those that failed.
func (q *Queue) ClaimMany(ctx context.Context, ids []string, owner string, lease time.Duration) ([]*Item, error) {
	var claimed []*Item
	if len(ids) > 1 {
		err := q.store.Update(ctx, func(tx storage.Tx) error {
			storage.Relax(tx)
			claimed = claimed[:0]
			for _, id := range ids {
				it, err := q.claim(tx, id, owner, lease)
				if errors.Is(err, storage.ErrNotFound) || errors.Is(err, ErrNotClaimable) {
					continue
				}
				if err != nil {
					return err
				}
				claimed = append(claimed, it)
			}
			return nil
		})
		if err == nil {
			return claimed, nil
		}
	}
	claimed = claimed[:0]
	var errs []error
	for _, id := range ids {
		it, err := q.Claim(ctx, id, owner, lease)
		switch {
		case err == nil:
			claimed = append(claimed, it)
		case !errors.Is(err, ErrNotClaimable):
			errs = append(errs, err)
		}
	}
	return claimed, errors.Join(errs...)
}

// claim leases the item id to owner inside tx, if it is pending and due.
func (q *Queue) claim(tx storage.Tx, id, owner string, lease time.Duration) (*Item, error) {
	it, err := q.get(tx, id)
	if err != nil {
		return nil, err
	}
	now := q.now()
	if it.State != Pending || now.Before(it.dueAt()) {
		return nil, ErrNotClaimable
	}
	next := *it
	next.LeaseOwner, next.LeaseUntil, next.Attempts = owner, now.Add(lease), it.Attempts+1
	next.LeaseID = newLeaseID()
	next.Postponed = ""
	next.inline = false // write splits an item of the older layout
	return &next, q.write(tx, &next, it)
}

// newLeaseID names one claim.
func newLeaseID() string { return strings.ToLower(crand.Text()[:16]) }

// checkLease reads the current version of claimed inside tx and fails with
// ErrLeaseLost unless it is still leased to claimed's owner under the same
// claim (Extend may have moved its end since).
func (q *Queue) checkLease(tx storage.Tx, claimed *Item) (*Item, error) {
	data, err := tx.Get(q.itemKey(claimed.ID))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrLeaseLost
	}
	if err != nil {
		return nil, err
	}
	if claimed.state != nil && bytes.Equal(data, claimed.state) {
		// Unchanged since this process wrote or read it (most items: no
		// renewal came between the claim and the result), so no decoding.
		cur := *claimed
		return &cur, nil
	}
	cur, err := q.decode(claimed.ID, data)
	if err != nil {
		return nil, err
	}
	if cur.State != Pending || cur.LeaseOwner != claimed.LeaseOwner || cur.LeaseID != claimed.LeaseID {
		return nil, ErrLeaseLost
	}
	return cur, nil
}

// Extend moves the end of claimed's lease to lease from now, for work that
// runs longer than one lease: a worker that holds an item renews its lease
// while it works, so that the lease can be short and an item whose worker died
// (a node killed) is claimed again soon. ErrLeaseLost means the lease ran out
// and the item was claimed again.
func (q *Queue) Extend(ctx context.Context, claimed *Item, lease time.Duration) error {
	return storage.UpdateRelaxed(ctx, q.store, func(tx storage.Tx) error {
		cur, err := q.checkLease(tx, claimed)
		if err != nil {
			return err
		}
		next := *cur
		next.LeaseUntil = q.now().Add(lease)
		return q.write(tx, &next, cur)
	})
}

// Done removes a claimed item inside the caller's transaction, so the item's
// removal commits together with the work's results.
func (q *Queue) Done(tx storage.Tx, claimed *Item) error {
	cur, err := q.checkLease(tx, claimed)
	if err != nil {
		return err
	}
	if err := tx.Delete(q.dueKey(cur)); err != nil {
		return err
	}
	if err := tx.Delete(q.dataKey(cur.ID)); err != nil {
		return err
	}
	return tx.Delete(q.itemKey(cur.ID))
}

// Retry releases a claimed item to run again at notBefore, recording why it failed.
func (q *Queue) Retry(ctx context.Context, claimed *Item, cause error, notBefore time.Time) error {
	return q.release(ctx, claimed, func(it *Item) {
		it.NotBefore, it.LastError = notBefore, cause.Error()
	})
}

// Postpone releases a claimed item to run again at notBefore without counting
// the attempt: the item was not tried, only found too early (a rate limit).
func (q *Queue) Postpone(ctx context.Context, claimed *Item, why string, notBefore time.Time) error {
	return q.release(ctx, claimed, func(it *Item) {
		it.NotBefore, it.Postponed = notBefore, why
		it.Attempts = max(it.Attempts-1, 0)
	})
}

// Fail marks a claimed item failed: it will not run again unless Requeue is called.
func (q *Queue) Fail(ctx context.Context, claimed *Item, cause error) error {
	return q.release(ctx, claimed, func(it *Item) {
		it.State, it.LastError = Failed, cause.Error()
	})
}

// release settles a claimed item. A conflict is retried: the lease is this
// worker's, so whoever else wrote the item meanwhile (a concurrent commit
// nearby, which a shared store may count as a conflict) did not take it, and
// checkLease says so again on the retry. The commit is relaxed: lost to a
// power cut, the item runs again when its lease has run out.
func (q *Queue) release(ctx context.Context, claimed *Item, change func(*Item)) error {
	return storage.UpdateRelaxed(ctx, q.store, func(tx storage.Tx) error {
		cur, err := q.checkLease(tx, claimed)
		if err != nil {
			return err
		}
		next := *cur
		next.LeaseOwner, next.LeaseID, next.LeaseUntil = "", "", time.Time{}
		change(&next)
		return q.write(tx, &next, cur)
	})
}

// Requeue makes a failed item pending and due now, with its attempts reset.
func (q *Queue) Requeue(ctx context.Context, id string) error {
	err := q.store.Update(ctx, func(tx storage.Tx) error {
		cur, err := q.getState(tx, id)
		if err != nil {
			return err
		}
		if cur.State != Failed {
			return fmt.Errorf("queue %s: item %s is %s, not failed", q.name, id, cur.State)
		}
		next := *cur
		now := q.now()
		next.State, next.Attempts, next.NotBefore, next.RequeuedAt = Pending, 0, now, now
		return q.write(tx, &next, cur)
	})
	if err == nil {
		q.Notify(id)
	}
	return err
}

// ReleaseLeases makes every leased item due again at once, as if its worker had
// given it back, and returns how many it released. An item whose worker died
// (the process was killed) otherwise waits for its lease to run out, minutes
// after a restart. Call it only when no live worker can hold a lease: before
// starting the workers, on a store that this process has just opened and that no
// other process can open (Badger locks its directory). The attempt the dead
// worker made stays counted.
func (q *Queue) ReleaseLeases(ctx context.Context) (int, error) {
	var leased []string
	err := q.ScanStates(ctx, func(it *Item) error {
		if it.State == Pending && it.LeaseOwner != "" {
			leased = append(leased, it.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	released := 0
	for start := 0; start < len(leased); start += releaseBatch {
		batch := leased[start:min(start+releaseBatch, len(leased))]
		n := 0
		err := storage.UpdateRetry(ctx, q.store, func(tx storage.Tx) error {
			n = 0
			for _, id := range batch {
				it, err := q.getState(tx, id)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if it.State != Pending || it.LeaseOwner == "" {
					continue
				}
				next := *it
				next.LeaseOwner, next.LeaseID, next.LeaseUntil = "", "", time.Time{}
				if err := q.write(tx, &next, it); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return released, err
		}
		released += n
	}
	return released, nil
}

// releaseBatch bounds one ReleaseLeases transaction.
const releaseBatch = 100

// Scan calls fn for every item in the queue, with its payload, in id order.
func (q *Queue) Scan(ctx context.Context, fn func(*Item) error) error {
	return q.scan(ctx, true, fn)
}

// ScanStates is Scan without reading the payloads (Item.Payload may be empty):
// for counting and for looking at where items stand.
func (q *Queue) ScanStates(ctx context.Context, fn func(*Item) error) error {
	return q.scan(ctx, false, fn)
}

func (q *Queue) scan(ctx context.Context, payloads bool, fn func(*Item) error) error {
	prefix := "q/" + q.name + "/item/"
	return q.store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(prefix, "", func(key string, value []byte) error {
			it, err := q.decode(strings.TrimPrefix(key, prefix), value)
			if err != nil {
				return err
			}
			if payloads {
				if err := q.loadPayload(tx, it); err != nil {
					return err
				}
			}
			return fn(it)
		})
	})
}
