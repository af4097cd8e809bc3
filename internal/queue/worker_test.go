package queue_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// newWorker returns a worker with test-sized settings: it polls only at start
// unless a test lowers PollInterval, so that items run because of the start-up
// poll or a Notify, not by chance.
func newWorker(q *queue.Queue, h queue.Handler) *queue.Worker {
	return &queue.Worker{
		Queue:        q,
		Handler:      h,
		Concurrency:  4,
		Lease:        time.Minute,
		PollInterval: time.Hour,
		MinBackoff:   time.Millisecond,
		MaxBackoff:   10 * time.Millisecond,
		Grace:        time.Minute,
	}
}

// doneHandler commits Done and then reports the id on handled.
func doneHandler(s storage.Store, q *queue.Queue, handled chan<- string) queue.Handler {
	return func(ctx context.Context, it *queue.Item) error {
		if err := done(ctx, s, q, it); err != nil {
			return err
		}
		handled <- it.ID
		return nil
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// collect receives n ids from handled and returns them sorted.
func collect(t *testing.T, handled <-chan string, n int) []string {
	t.Helper()
	got := make([]string, 0, n)
	for range n {
		got = append(got, recv(t, handled, fmt.Sprintf("item %d of %d", len(got)+1, n)))
	}
	slices.Sort(got)
	return got
}

func TestWorkerRunsItemsPutBeforeRun(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	want := ids("job", 20) // more than Concurrency
	put(t, s, q, want...)
	handled := make(chan string, len(want))

	r := start(t, newWorker(q, doneHandler(s, q, handled)))

	if got := collect(t, handled, len(want)); !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	r.stop(t)
	if items := scan(t, q); len(items) != 0 {
		t.Errorf("%d items left after all were done", len(items))
	}
	checkIndex(t, s, q)
}

func TestWorkerRunsNotifiedItems(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	handled := make(chan string, 16)
	put(t, s, q, "warm-up")
	start(t, newWorker(q, doneHandler(s, q, handled)))
	// Once the warm-up item is handled the start-up poll is over; with an hour
	// between polls, only Notify can bring the next items to the worker.
	recv(t, handled, "the warm-up item")

	want := ids("job", 10)
	putNotify(t, s, q, []*queue.Queue{q}, want...)
	if got := collect(t, handled, len(want)); !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
}

func TestWorkerIgnoresNotifyForUnknownIDs(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	handled := make(chan string, 4)
	start(t, newWorker(q, doneHandler(s, q, handled)))

	q.Notify("never-put")
	putNotify(t, s, q, []*queue.Queue{q}, "real")
	if got := recv(t, handled, "the real item"); got != "real" {
		t.Errorf("handled %q, want real", got)
	}
}

func TestWorkerRunsRequeuedItem(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	put(t, s, q, "job")
	if err := q.Fail(context.Background(), claim(t, q, "job", "operator", time.Minute), errors.New("gave up")); err != nil {
		t.Fatal(err)
	}
	put(t, s, q, "warm-up")
	handled := make(chan string, 2)
	start(t, newWorker(q, doneHandler(s, q, handled)))
	// Once the warm-up item is handled the start-up poll is over (it skipped the
	// failed item); no poll is due for an hour, so only Requeue's own Notify can
	// bring the item back.
	if got := recv(t, handled, "the warm-up item"); got != "warm-up" {
		t.Fatalf("handled %q first, want warm-up", got)
	}
	if err := q.Requeue(context.Background(), "job"); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	if got := recv(t, handled, "the requeued item"); got != "job" {
		t.Errorf("handled %q, want job", got)
	}
}

// holdStore passes everything to a Store, except that once armed it holds the
// next successful Update after it has committed, until proceed is closed.
type holdStore struct {
	storage.Store
	armed     atomic.Bool
	committed chan struct{}
	proceed   chan struct{}
}

func (h *holdStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	err := h.Store.Update(ctx, fn)
	if err == nil && h.armed.CompareAndSwap(true, false) {
		h.committed <- struct{}{}
		<-h.proceed
	}
	return err
}

// TestWorkerRequeueRightAfterFailureIsNotDropped shows a race in Worker.dispatch
// (worker.go): an id stays in w.inflight until runOne's goroutine returns, which
// is after settle has committed Fail. A Requeue in that window commits the item
// as pending and calls Notify, but dispatch sees the id as busy and drops the
// notification, so the item waits for the next poll instead of running at once.
// The store holds the worker right after its Fail commits, which makes the window
// deterministic; a probe item shows the notification has been consumed.
func TestWorkerRequeueRightAfterFailureIsNotDropped(t *testing.T) {
	hs := &holdStore{Store: openStore(t), committed: make(chan struct{}), proceed: make(chan struct{})}
	var release sync.Once
	proceed := func() { release.Do(func() { close(hs.proceed) }) }
	q := queue.New(hs, "jobs", nil)
	put(t, hs, q, "job")

	var jobCalls atomic.Int32
	ran := make(chan string, 4)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		if it.ID == "job" && jobCalls.Add(1) == 1 {
			hs.armed.Store(true) // hold the worker once its Fail has committed
			return queue.Permanent(errors.New("mailbox full"))
		}
		if err := done(ctx, hs, q, it); err != nil {
			return err
		}
		ran <- it.ID
		return nil
	})
	w.Concurrency = 2 // one slot stays free for the probe
	start(t, w)
	t.Cleanup(proceed) // runs before the worker is stopped

	recv(t, hs.committed, "the worker to commit Fail")
	if err := q.Requeue(context.Background(), "job"); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	putNotify(t, hs, q, []*queue.Queue{q}, "probe")
	for id := ""; id != "probe"; {
		id = recv(t, ran, "the probe") // the job's notification was dispatched before it
	}
	proceed()

	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the requeued item did not run: its Notify was dropped while the failed run was still in flight")
	}
}

func TestWorkerRetriesWithBackoff(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	const (
		minBackoff = 40 * time.Millisecond
		maxBackoff = 80 * time.Millisecond
		failures   = 3
		// slack covers the time between the handler's return and the worker
		// reading the clock; jitter adds up to 20% of the backoff.
		slack = 50 * time.Millisecond
	)
	type attempt struct {
		item    queue.Item
		started time.Time
		failed  time.Time // when the handler returned its error
	}
	attempts := make(chan attempt, failures+1)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		a := attempt{item: *it, started: time.Now()}
		if it.Attempts <= failures {
			a.failed = time.Now()
			attempts <- a
			return fmt.Errorf("boom %d", it.Attempts)
		}
		if err := done(ctx, s, q, it); err != nil {
			return err
		}
		attempts <- a
		return nil
	})
	w.MinBackoff, w.MaxBackoff, w.PollInterval = minBackoff, maxBackoff, 5*time.Millisecond
	put(t, s, q, "job")
	start(t, w)

	var prev attempt
	for i := 1; i <= failures+1; i++ {
		a := recv(t, attempts, fmt.Sprintf("attempt %d", i))
		if a.item.Attempts != i {
			t.Fatalf("attempt %d: item says %d attempts", i, a.item.Attempts)
		}
		if i == 1 {
			if a.item.LastError != "" {
				t.Errorf("first attempt has LastError %q", a.item.LastError)
			}
			prev = a
			continue
		}
		if want := fmt.Sprintf("boom %d", i-1); a.item.LastError != want {
			t.Errorf("attempt %d: LastError %q, want %q", i, a.item.LastError, want)
		}
		// Backoff doubles from MinBackoff and is capped at MaxBackoff: 40ms, 80ms, 80ms.
		backoff := min(minBackoff<<(i-2), maxBackoff)
		delay := a.item.NotBefore.Sub(prev.failed)
		if delay < backoff || delay > backoff+backoff/5+slack {
			t.Errorf("attempt %d: NotBefore %v after the failure, want %v plus up to 20%% jitter", i, delay, backoff)
		}
		if a.started.Before(a.item.NotBefore) {
			t.Errorf("attempt %d started %v before its NotBefore", i, a.item.NotBefore.Sub(a.started))
		}
		prev = a
	}
	testenv.Eventually(t, "the item to be removed", func() (bool, error) {
		_, err := q.Get(context.Background(), "job")
		return isNotFound(err), nil
	})
}

// TestWorkerSettlesAFailedAttempt runs one attempt that fails and checks what the
// worker records. The queue's clock is fake and does not move, so a retried item
// is never due again and each handler runs exactly once.
func TestWorkerSettlesAFailedAttempt(t *testing.T) {
	const maxAge = 24 * time.Hour
	tests := []struct {
		name       string
		age        time.Duration // how old the item is when it runs
		err        error
		wantFailed bool
		wantError  string
	}{
		{"transient error is retried", 0, errors.New("451 try later"), false, "451 try later"},
		{"transient error within MaxAge is retried", maxAge, errors.New("451 try later"), false, "451 try later"},
		{"transient error past MaxAge fails", maxAge + time.Nanosecond, errors.New("451 try later"), true, "451 try later"},
		{"permanent error fails at once", 0, queue.Permanent(errors.New("550 no such user")), true, "550 no such user"},
		{"wrapped permanent error fails at once", 0, fmt.Errorf("send: %w", queue.Permanent(errors.New("550"))), true, "send: 550"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := openStore(t), testenv.NewFrozenClock(epoch)
			q := queue.New(s, "jobs", clk.Now)
			put(t, s, q, "job")
			clk.Advance(tc.age)
			var calls atomic.Int32
			called := make(chan struct{}, 1)
			w := newWorker(q, func(context.Context, *queue.Item) error {
				calls.Add(1)
				called <- struct{}{}
				return tc.err
			})
			w.MaxAge = maxAge
			w.MinBackoff, w.MaxBackoff = time.Minute, time.Minute
			w.PollInterval = time.Millisecond
			r := start(t, w)
			recv(t, called, "the attempt")
			r.stop(t) // Run returns once the attempt is settled

			it := get(t, q, "job")
			if it.Attempts != 1 || it.LastError != tc.wantError || it.LeaseOwner != "" || !it.LeaseUntil.IsZero() {
				t.Errorf("item = %+v, want 1 attempt, LastError %q, no lease", it, tc.wantError)
			}
			if tc.wantFailed {
				if it.State != queue.Failed {
					t.Errorf("state %s, want failed", it.State)
				}
			} else {
				backoff := it.NotBefore.Sub(clk.Now())
				if it.State != queue.Pending || backoff < time.Minute || backoff > time.Minute+time.Minute/5 {
					t.Errorf("state %s, retry in %v; want pending, retry in 1m plus jitter", it.State, backoff)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("handler ran %d times, want 1", n)
			}
			checkIndex(t, s, q)
		})
	}
}

// TestWorkerStaleLeaseCannotCommit: a handler still working when its lease runs
// out loses the item to another worker; its Done fails with ErrLeaseLost and the
// item is handled (committed) once, by the new owner.
func TestWorkerStaleLeaseCannotCommit(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")

	startedA, releaseA := make(chan struct{}), make(chan struct{})
	errA := make(chan error, 1)
	wA := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		close(startedA)
		<-releaseA
		err := done(ctx, s, q, it)
		errA <- err
		return err
	})
	rA := start(t, wA)
	recv(t, startedA, "worker A to start the item")

	clk.Advance(wA.Lease) // A's lease runs out while A is still working
	handledB := make(chan string, 1)
	rB := start(t, newWorker(queue.New(s, "jobs", clk.Now), doneHandler(s, q, handledB)))
	recv(t, handledB, "worker B to finish the item")

	close(releaseA)
	if err := recv(t, errA, "worker A's Done"); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("A's Done = %v, want ErrLeaseLost", err)
	}
	rA.stop(t)
	rB.stop(t)
	if items := scan(t, q); len(items) != 0 {
		t.Errorf("items left: %v", items)
	}
	checkIndex(t, s, q)
}

func TestWorkerRespectsConcurrency(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	const concurrency, items = 3, 9
	put(t, s, q, ids("job", items)...)

	var (
		mu           sync.Mutex
		running, top int
	)
	started, release := make(chan string, items), make(chan struct{})
	handled := make(chan string, items)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		mu.Lock()
		running++
		top = max(top, running)
		mu.Unlock()
		started <- it.ID
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return doneHandler(s, q, handled)(ctx, it)
	})
	w.Concurrency = concurrency
	start(t, w)

	for range concurrency {
		recv(t, started, "a handler to start")
	}
	select {
	case id := <-started:
		t.Errorf("handler for %s started while %d were running", id, concurrency)
	default:
	}
	// Release one handler at a time; each frees a slot for the next item.
	for i := range items {
		release <- struct{}{}
		if i < items-concurrency {
			recv(t, started, "the next handler to start")
		}
	}
	collect(t, handled, items)
	mu.Lock()
	defer mu.Unlock()
	if top != concurrency {
		t.Errorf("at most %d handlers ran at once, want %d", top, concurrency)
	}
}

func TestWorkerStopWaitsForHandlersInFlight(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	put(t, s, q, "job")
	started, release := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			result <- fmt.Errorf("handler context cancelled within Grace: %w", err)
			return err
		}
		err := done(ctx, s, q, it)
		result <- err
		return err
	})
	w.Grace = time.Hour
	r := start(t, w)
	recv(t, started, "the handler to start")

	r.cancel()
	// Asserting that something does not happen needs a bound: give Run a moment
	// in which returning would be the bug. This paces nothing the test waits for.
	select {
	case <-r.done:
		t.Fatal("Run returned while a handler was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := recv(t, result, "the handler to finish"); err != nil {
		t.Errorf("handler after Run's context was cancelled: %v", err)
	}
	recv(t, r.done, "Run to return")
	if items := scan(t, q); len(items) != 0 {
		t.Errorf("the in-flight handler's Done did not commit: %v", items)
	}
}

func TestWorkerGraceCancelsHandlers(t *testing.T) {
	s := openStore(t)
	q := queue.New(s, "jobs", nil)
	put(t, s, q, "job")
	const grace = 50 * time.Millisecond
	started := make(chan struct{})
	type outcome struct {
		err error
		at  time.Time
	}
	cut := make(chan outcome, 1)
	w := newWorker(q, func(ctx context.Context, _ *queue.Item) error {
		close(started)
		<-ctx.Done()
		cut <- outcome{ctx.Err(), time.Now()}
		return ctx.Err()
	})
	w.Grace, w.Lease = grace, time.Hour
	r := start(t, w)
	recv(t, started, "the handler to start")

	stopped := time.Now()
	r.stop(t) // returns only after the handler gave up
	o := recv(t, cut, "the handler's context to be cancelled")
	if !errors.Is(o.err, context.Canceled) {
		t.Errorf("handler context ended with %v, want context.Canceled (not the lease timeout)", o.err)
	}
	if waited := o.at.Sub(stopped); waited < grace {
		t.Errorf("handler cancelled %v after stop, before the %v grace period", waited, grace)
	}
	// The cut-off attempt is recorded and the lease released, so the item is due
	// again soon instead of after the whole lease.
	it := get(t, q, "job")
	if it.State != queue.Pending || it.Attempts != 1 || it.LastError != context.Canceled.Error() || it.LeaseOwner != "" {
		t.Errorf("item after the cut-off attempt = %+v", it)
	}
	if it.NotBefore.After(time.Now().Add(w.MaxBackoff + w.MaxBackoff/5)) {
		t.Errorf("retry at %v, later than one backoff from now", it.NotBefore)
	}
	checkIndex(t, s, q)
}

// TestTwoWorkersRunEachItemOnce: the old and new config overlap during a reload,
// each with its own Queue and Worker on the same store. Every item must be
// handled exactly once.
func TestTwoWorkersRunEachItemOnce(t *testing.T) {
	s := openStore(t)
	qOld, qNew := queue.New(s, "jobs", nil), queue.New(s, "jobs", nil)
	const total = 200
	all := ids("job", total)
	put(t, s, qOld, all[:total/2]...) // waiting when both start

	var (
		mu       sync.Mutex
		calls    = map[string]int{}
		byWorker = map[string]int{}
		errs     []error
	)
	handled := make(chan string, total)
	handler := func(name string, q *queue.Queue) queue.Handler {
		return func(ctx context.Context, it *queue.Item) error {
			mu.Lock()
			calls[it.ID]++
			byWorker[name]++
			mu.Unlock()
			if err := done(ctx, s, q, it); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: Done %s: %w", name, it.ID, err))
				mu.Unlock()
				return err
			}
			handled <- it.ID
			return nil
		}
	}
	workers := []*queue.Worker{newWorker(qOld, handler("old", qOld)), newWorker(qNew, handler("new", qNew))}
	for _, w := range workers {
		w.Concurrency, w.PollInterval = 8, time.Millisecond // poll often to race each other
	}
	rOld, rNew := start(t, workers[0]), start(t, workers[1])

	// The rest arrive while both run, announced to both, as a request handled by
	// either config would be seen by the other's poll.
	for i := total / 2; i < total; i += 10 {
		putNotify(t, s, qNew, []*queue.Queue{qOld, qNew}, all[i:i+10]...)
	}
	if got := collect(t, handled, total); !slices.Equal(got, all) {
		t.Errorf("handled %d distinct items, want %d", len(slices.Compact(got)), total)
	}
	rOld.stop(t)
	rNew.stop(t)

	mu.Lock()
	defer mu.Unlock()
	for _, id := range all {
		if calls[id] != 1 {
			t.Errorf("%s handled %d times, want 1", id, calls[id])
		}
	}
	if len(calls) != total {
		t.Errorf("handled %d ids, want %d", len(calls), total)
	}
	if len(errs) > 0 {
		t.Errorf("Done failed: %v", errs)
	}
	t.Logf("items per worker: %v", byWorker)
	if items := scan(t, qOld); len(items) != 0 {
		t.Errorf("%d items left: %v", len(items), slices.Collect(maps.Keys(items)))
	}
	checkIndex(t, s, qOld)
}
