package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// leaseUntil reads the item's lease end from the store.
func leaseUntil(t *testing.T, q *queue.Queue, id string) time.Time {
	t.Helper()
	it, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it.LeaseUntil
}

// TestWorkerRenewsLeaseWhileRunning: a worker keeps the lease of an item it
// runs longer than the lease, so that the lease can be short (a dead worker's
// items are claimed again soon) without a long run being taken over.
func TestWorkerRenewsLeaseWhileRunning(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	started, release := make(chan struct{}), make(chan struct{})
	handled := make(chan string, 1)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		close(started)
		<-release
		return doneHandler(s, q, handled)(ctx, it)
	})
	w.Lease = 60 * time.Millisecond // renewed every 20 ms of real time
	start(t, w)
	recv(t, started, "the worker to start the item")

	for range 3 {
		clk.Advance(w.Lease / 2)
		want := clk.Now().Add(w.Lease)
		testenv.Eventually(t, "the lease renewed", func() (bool, error) {
			return !leaseUntil(t, q, "job").Before(want), nil
		})
		// Past the claim's own lease by now: without the renewals, another
		// worker could claim the item.
		if _, err := q.Claim(context.Background(), "job", "other", w.Lease); !errors.Is(err, queue.ErrNotClaimable) {
			t.Fatalf("another worker's claim while the item runs: %v, want ErrNotClaimable", err)
		}
	}
	close(release)
	recv(t, handled, "the item done")
	if items := scan(t, q); len(items) != 0 {
		t.Errorf("items left: %v", items)
	}
}

// TestWorkerStopsRunWhenLeaseLost: a worker whose lease ran out before it
// could renew it (the store was unreachable, the process stalled) and whose
// item another worker claimed stops its run: the handler's context ends.
func TestWorkerStopsRunWhenLeaseLost(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	started := make(chan struct{})
	stopped := make(chan error, 1)
	w := newWorker(q, func(ctx context.Context, _ *queue.Item) error {
		close(started)
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return ctx.Err()
	})
	w.Lease = 60 * time.Millisecond
	start(t, w)
	recv(t, started, "the worker to start the item")
	// Past the lease at once, and claimed by another: a renewal that slips in
	// between extends the lease first, so try again.
	testenv.Eventually(t, "another worker's claim", func() (bool, error) {
		clk.Advance(2 * w.Lease)
		_, err := q.Claim(context.Background(), "job", "other", time.Hour)
		return err == nil, nil
	})
	if err := recv(t, stopped, "the run to stop"); !errors.Is(err, context.Canceled) {
		t.Errorf("the handler's context ended with %v, want cancelled", err)
	}
}
