package queue_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// TestMain checks that no test leaves a goroutine behind: not the worker's
// dispatch loop, its handlers, its grace timer, nor Badger's (every store is closed
// by t.Cleanup). No goroutine needs to be ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is where the tests' frozen clocks start.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)

// openStore opens a Badger store on disk, closed when the test ends.
func openStore(t testing.TB) storage.Store {
	t.Helper()
	s, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// put enqueues ids in one transaction.
func put(t testing.TB, s storage.Store, q *queue.Queue, ids ...string) {
	t.Helper()
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		for _, id := range ids {
			if err := q.Put(tx, id, map[string]string{"id": id}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put %v: %v", ids, err)
	}
}

// putNotify enqueues ids and announces each to the given queues' workers.
func putNotify(t testing.TB, s storage.Store, q *queue.Queue, notify []*queue.Queue, ids ...string) {
	t.Helper()
	put(t, s, q, ids...)
	for _, id := range ids {
		for _, n := range notify {
			n.Notify(id)
		}
	}
}

func claim(t testing.TB, q *queue.Queue, id, owner string, lease time.Duration) *queue.Item {
	t.Helper()
	it, err := q.Claim(context.Background(), id, owner, lease)
	if err != nil {
		t.Fatalf("claim %s as %s: %v", id, owner, err)
	}
	return it
}

// done commits q.Done for it in its own transaction.
func done(ctx context.Context, s storage.Store, q *queue.Queue, it *queue.Item) error {
	return s.Update(ctx, func(tx storage.Tx) error { return q.Done(tx, it) })
}

func get(t testing.TB, q *queue.Queue, id string) *queue.Item {
	t.Helper()
	it, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return it
}

func due(t testing.TB, q *queue.Queue) []string {
	t.Helper()
	ids, err := q.Due(context.Background(), 1000)
	if err != nil {
		t.Fatalf("due: %v", err)
	}
	return ids
}

// scan returns every item of q by id.
func scan(t testing.TB, q *queue.Queue) map[string]*queue.Item {
	t.Helper()
	items := map[string]*queue.Item{}
	err := q.Scan(context.Background(), func(it *queue.Item) error {
		items[it.ID] = it
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return items
}

// checkIndex asserts the queue's invariant: every pending item has exactly one
// entry in the due index, failed items have none, and no entry outlives its item.
// It reads the raw keys under q/<name>/due/, the only layout detail the tests use.
func checkIndex(t testing.TB, s storage.Store, q *queue.Queue) {
	t.Helper()
	var indexed []string
	err := s.View(context.Background(), func(tx storage.Tx) error {
		for _, lane := range []string{"/due/", "/due-high/"} {
			err := tx.Scan("q/"+q.Name()+lane, "", func(key string, _ []byte) error {
				indexed = append(indexed, key[strings.LastIndex(key, "/")+1:])
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan due index: %v", err)
	}
	var pending []string
	for id, it := range scan(t, q) {
		if it.State == queue.Pending {
			pending = append(pending, id)
		}
	}
	slices.Sort(indexed)
	slices.Sort(pending)
	if !slices.Equal(indexed, pending) {
		t.Errorf("due index holds %v, want one entry per pending item %v", indexed, pending)
	}
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testenv.Timeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// running is a Worker started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs w until the test ends (or stop is called).
func start(t testing.TB, w *queue.Worker) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		w.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run's context and waits for Run to return.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	recv(t, r.done, "Run to return")
}

// isNotFound reports a missing item.
func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
