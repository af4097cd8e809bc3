package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// TestReleaseLeases: an item leased by a worker that died is due again at once
// after ReleaseLeases, with the dead worker's attempt still counted; items not
// leased and failed items are left alone.
func TestReleaseLeases(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "leased", "free", "failed")
	claim(t, q, "leased", "dead-worker", time.Hour)
	f := claim(t, q, "failed", "w", time.Hour)
	if err := q.Fail(context.Background(), f, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	if got := due(t, q); !slices.Equal(got, []string{"free"}) {
		t.Fatalf("Due before = %v, want [free]", got)
	}
	n, err := q.ReleaseLeases(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("ReleaseLeases = %d, %v; want 1", n, err)
	}
	if got := due(t, q); !slices.Equal(got, []string{"free", "leased"}) {
		t.Fatalf("Due after = %v, want [free leased]", got)
	}
	it := claim(t, q, "leased", "new-worker", time.Hour)
	if it.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (the dead worker's counts)", it.Attempts)
	}
	if st := get(t, q, "failed").State; st != queue.Failed {
		t.Errorf("failed item is %s", st)
	}
	checkIndex(t, s, q)
}

// TestBacklogLargerThanNotify: items put without Notify, more than one poll
// returns, all run after a single poll; none waits for the next PollInterval
// (an hour here).
func TestBacklogLargerThanNotify(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	const n = 700 // over two scans of 256
	put(t, s, q, ids("job", n)...)
	handled := make(chan string, n)
	w := newWorker(q, doneHandler(s, q, handled))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	deadline := time.After(20 * time.Second)
	for range n {
		select {
		case <-handled:
		case <-deadline:
			t.Fatalf("not every item ran after one poll: %d left", len(due(t, q)))
		}
	}
}

// TestOlderLayoutItem: an item stored before payloads were kept apart (payload
// inside the state record) is claimed with its payload, split on that write, and
// leaves nothing behind when done.
func TestOlderLayoutItem(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	old := fmt.Sprintf(`{"id":"old-1","payload":{"email":"alice@example.com"},"state":"pending","attempts":0,`+
		`"created_at":%q,"not_before":%q}`, clk.Now().Format(time.RFC3339Nano), clk.Now().Format(time.RFC3339Nano))
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		if err := tx.Set("q/jobs/item/old-1", []byte(old), 0); err != nil {
			return err
		}
		return tx.Set(fmt.Sprintf("q/jobs/due/%020d/old-1", clk.Now().UnixNano()), nil, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	it := claim(t, q, "old-1", "w", time.Hour)
	if string(it.Payload) != `{"email":"alice@example.com"}` {
		t.Fatalf("payload = %s", it.Payload)
	}
	if got := get(t, q, "old-1"); string(got.Payload) != string(it.Payload) {
		t.Fatalf("after the claim, payload = %s", got.Payload)
	}
	if err := done(context.Background(), s, q, it); err != nil {
		t.Fatal(err)
	}
	err = s.View(context.Background(), func(tx storage.Tx) error {
		return tx.Scan("q/jobs/", "", func(key string, _ []byte) error {
			t.Errorf("left behind: %s", key)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
