package queue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// countingStore counts the store's write transactions.
type countingStore struct {
	storage.Store
	updates atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	c.updates.Add(1)
	return c.Store.Update(ctx, fn)
}

// reserve waits for the started worker to give a reservation.
func reserve(t *testing.T, w *queue.Worker) *queue.Reservation {
	t.Helper()
	var res *queue.Reservation
	testenv.Eventually(t, "a reservation of the running worker", func() (bool, error) {
		res = w.Reserve()
		return res != nil, nil
	})
	return res
}

// putReserved stores id claimed through res and starts it.
func putReserved(t *testing.T, s storage.Store, res *queue.Reservation, id string) {
	t.Helper()
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		return res.Put(tx, id, map[string]string{"id": id}, queue.Normal)
	})
	if err != nil {
		res.Cancel()
		t.Fatalf("put %s reserved: %v", id, err)
	}
	res.Start()
}

// TestReservedItemRunsWithoutClaim: an item put through a reservation runs at
// once, on its first attempt, under the worker's lease, and no transaction but
// the put and the handler's own commits it: the claim commit is saved. While
// it runs no one else can claim it.
func TestReservedItemRunsWithoutClaim(t *testing.T) {
	cs := &countingStore{Store: openStore(t)}
	q := queue.New(cs, "jobs", nil)
	running, release := make(chan *queue.Item, 1), make(chan struct{})
	handled := make(chan string, 1)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		running <- it
		<-release
		return doneHandler(cs, q, handled)(ctx, it)
	})
	var finished atomic.Int64
	w.OnFinish = func(string) { finished.Add(1) }
	start(t, w)
	res := reserve(t, w)
	before := cs.updates.Load()
	putReserved(t, cs, res, "job")
	it := recv(t, running, "the reserved item to run")
	if it.Attempts != 1 || it.LeaseOwner == "" || it.LeaseUntil.IsZero() || string(it.Payload) != `{"id":"job"}` {
		t.Errorf("the reserved item runs as %+v; want its first attempt under a lease, with its payload", it)
	}
	if n := cs.updates.Load() - before; n != 1 {
		t.Errorf("%d write transactions from the put to the run; want 1 (the put itself)", n)
	}
	if _, err := q.Claim(context.Background(), "job", "other", time.Minute); !errors.Is(err, queue.ErrNotClaimable) {
		t.Errorf("another worker's claim of the running reserved item: %v, want ErrNotClaimable", err)
	}
	close(release)
	recv(t, handled, "the item done")
	testenv.Eventually(t, "OnFinish told", func() (bool, error) { return finished.Load() == 1, nil })
	if items := scan(t, q); len(items) != 0 {
		t.Errorf("items left: %v", items)
	}
	checkIndex(t, cs, q)
}

// TestReserveOnlyWithoutBacklog: no reservation while every slot is busy, or
// while announced items wait for the worker: a reserved item must not pass
// them. A cancelled reservation gives its slot back.
func TestReserveOnlyWithoutBacklog(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	release := make(chan struct{})
	handled := make(chan string, 4)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		<-release
		return doneHandler(s, q, handled)(ctx, it)
	})
	w.Concurrency = 1
	start(t, w)
	res := reserve(t, w)
	if again := w.Reserve(); again != nil {
		again.Cancel()
		t.Fatal("a second reservation with one slot, taken")
	}
	res.Cancel()
	res = reserve(t, w)
	putReserved(t, s, res, "first")
	if again := w.Reserve(); again != nil {
		again.Cancel()
		t.Fatal("a reservation while the only slot runs an item")
	}
	// An item announced while the slot is busy waits; until it has run, no
	// reservation passes it.
	putNotify(t, s, q, []*queue.Queue{q}, "waiting")
	if again := w.Reserve(); again != nil {
		again.Cancel()
		t.Fatal("a reservation while an announced item waits")
	}
	close(release)
	if got := collect(t, handled, 2); got[0] != "first" || got[1] != "waiting" {
		t.Errorf("handled %v", got)
	}
	reserve(t, w).Cancel()
}

// TestReservedItemOfDeadWorkerRunsAgain: a reserved item committed by a
// process that died before running it is claimed by another worker once its
// lease runs out, and runs on its second attempt.
func TestReservedItemOfDeadWorkerRunsAgain(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	dead := newWorker(q, func(context.Context, *queue.Item) error { return errors.New("never runs") })
	dead.Lease = time.Minute
	r := start(t, dead)
	res := reserve(t, dead)
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		return res.Put(tx, "job", map[string]string{"id": "job"}, queue.Normal)
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Cancel() // the process dies with the item committed, not run
	r.stop(t)

	attempts := make(chan int, 1)
	other := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		attempts <- it.Attempts
		return done(ctx, s, q, it)
	})
	other.PollInterval = 5 * time.Millisecond
	start(t, other)
	if ids := due(t, q); len(ids) != 0 {
		t.Fatalf("due while the dead worker's lease runs: %v", ids)
	}
	clk.Advance(time.Minute + time.Second)
	if n := recv(t, attempts, "the other worker to run the item"); n != 2 {
		t.Errorf("the item ran again on attempt %d, want 2", n)
	}
}

// TestReserveWhenStopped: a worker that is not running gives no reservation.
func TestReserveWhenStopped(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	w := newWorker(q, func(context.Context, *queue.Item) error { return nil })
	if res := w.Reserve(); res != nil {
		t.Fatal("a reservation before Run")
	}
	r := start(t, w)
	reserve(t, w).Cancel()
	r.stop(t)
	if res := w.Reserve(); res != nil {
		t.Fatal("a reservation after Run returned")
	}
}
