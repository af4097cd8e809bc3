package queue_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// TestHighLaneRunsFirst: items of the High lane due now come before every Normal
// item, however old, and a High item not yet due does not.
func TestHighLaneRunsFirst(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "mail", clk.Now)
	put(t, s, q, "bulk-1", "bulk-2")
	clk.Advance(time.Second)
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		return q.PutPriority(tx, "first", "x", queue.High)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := due(t, q), []string{"first", "bulk-1", "bulk-2"}; !slices.Equal(got, want) {
		t.Fatalf("Due = %v, want %v", got, want)
	}
	if got, _ := q.Due(context.Background(), 1); !slices.Equal(got, []string{"first"}) {
		t.Errorf("Due(1) = %v, want the High item", got)
	}
	checkIndex(t, s, q)

	// Retried later, the High item waits its turn like any other.
	it := claim(t, q, "first", "w1", lease)
	if err := q.Retry(context.Background(), it, context.DeadlineExceeded, clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, want := due(t, q), []string{"bulk-1", "bulk-2"}; !slices.Equal(got, want) {
		t.Errorf("Due with the High item retried later = %v, want %v", got, want)
	}
	if got := get(t, q, "first"); got.Priority != queue.High {
		t.Errorf("priority after a retry = %v, want High", got.Priority)
	}
	checkIndex(t, s, q)
}

// TestPostponeCountsNoAttempt: an item postponed by a rate limit runs at the
// given time with its attempt count unchanged, so that its later backoff is not
// stretched by waits that were no failure.
func TestPostponeCountsNoAttempt(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	it := claim(t, q, "job", "w1", lease)
	at := clk.Now().Add(5 * time.Minute)
	if err := q.Postpone(context.Background(), it, "user limit", at); err != nil {
		t.Fatal(err)
	}
	got := get(t, q, "job")
	if got.Attempts != 0 || !got.NotBefore.Equal(at) || got.LeaseOwner != "" || got.Postponed != "user limit" || got.LastError != "" {
		t.Errorf("after Postpone = %+v", got)
	}
	if len(due(t, q)) != 0 {
		t.Error("a postponed item is due before its time")
	}
	clk.Advance(5 * time.Minute)
	if got, want := due(t, q), []string{"job"}; !slices.Equal(got, want) {
		t.Errorf("Due at its time = %v, want %v", got, want)
	}
	checkIndex(t, s, q)
}

// TestWorkerPostponesLater: a handler answering queue.Later is run again at that
// time, not after a backoff, and the attempt is not counted.
func TestWorkerPostponesLater(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	ran := make(chan int, 4)
	at := clk.Now().Add(time.Minute)
	w := newWorker(q, func(ctx context.Context, it *queue.Item) error {
		ran <- it.Attempts
		if clk.Now().Before(at) {
			return queue.Later(at, "not yet")
		}
		return done(ctx, s, q, it)
	})
	w.PollInterval = 5 * time.Millisecond
	start(t, w)
	if n := recv(t, ran, "first run"); n != 1 {
		t.Errorf("first run attempt %d", n)
	}
	testenv.Eventually(t, "the item to be postponed", func() (bool, error) {
		it := get(t, q, "job")
		return it.LeaseOwner == "" && it.NotBefore.Equal(at), nil
	})
	clk.Advance(time.Minute)
	if n := recv(t, ran, "second run"); n != 1 {
		t.Errorf("second run counted attempt %d, want 1 (the postponement is no attempt)", n)
	}
}
