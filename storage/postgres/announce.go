package postgres

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// notifyDelay is how long announcements gather before one NOTIFY sends them.
// PostgreSQL serialises the commits of transactions that NOTIFY on one
// database-wide lock held from before the commit through its WAL flush: with
// NOTIFY inside every committing transaction (two per reset request), commits
// queued behind each other instead of sharing a flush. An announcement is a
// hint (its receivers look at the store a moment later and poll anyway), so it
// goes after the commit, at most one statement per notifyDelay.
const notifyDelay = 10 * time.Millisecond

// notifyTimeout bounds one NOTIFY statement.
const notifyTimeout = 5 * time.Second

// notifier sends the channels of committed transactions' announcements,
// gathered, from one goroutine.
type notifier struct {
	s       *Store
	mu      sync.Mutex
	pending map[string]struct{}
	wake    chan struct{}
}

func newNotifier(s *Store) *notifier {
	return &notifier{s: s, pending: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

// add queues channels for the next NOTIFY; it never blocks.
func (n *notifier) add(channels map[string]struct{}) {
	n.mu.Lock()
	for c := range channels {
		n.pending[c] = struct{}{}
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run sends the queued channels until stop ends, then once more.
func (n *notifier) run(stop context.Context) {
	defer n.s.bg.Done()
	for {
		select {
		case <-stop.Done():
			n.flush(context.Background())
			return
		case <-n.wake:
		}
		select {
		case <-stop.Done():
		case <-time.After(notifyDelay):
		}
		n.flush(stop)
	}
}

func (n *notifier) flush(ctx context.Context) {
	n.mu.Lock()
	channels := make([]string, 0, len(n.pending))
	for c := range n.pending {
		channels = append(channels, c)
	}
	clear(n.pending)
	n.mu.Unlock()
	if len(channels) == 0 {
		return
	}
	slices.Sort(channels)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if _, err := n.s.pool.Exec(ctx, n.s.sql.notify, channels); err != nil {
		// The receivers poll: a lost hint delays work by a poll at most.
		n.s.log.Debug("announce to the other nodes", zap.Error(n.s.redact(err)))
	}
}
