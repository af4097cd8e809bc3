package cluster

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// load sends reset requests for distinct seeded users from clients goroutines,
// through a balancer, until stop is closed or limit requests were sent. It
// records each answer by address.
type load struct {
	mu       sync.Mutex
	answers  map[string]int // email -> status (0: no answer)
	bodies   map[int]string // status -> one body, for the report
	sent     atomic.Int64
	failures atomic.Int64 // no HTTP answer at all
}

func runLoad(ctx context.Context, b *balancer, clients, limit int, stop <-chan struct{}) *load {
	l := &load{answers: map[string]int{}, bodies: map[int]string{}}
	client := testenv.NewClient(clients, 30*time.Second)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(l.sent.Add(1)) - 1
				if i >= limit {
					return
				}
				n, done := b.pick(i)
				email := testenv.UserEmail(i)
				o := testenv.PostReset(ctx, client, n.base(), email)
				done()
				l.record(email, o)
			}
		})
	}
	wg.Wait()
	return l
}

func (l *load) record(email string, o testenv.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers[email] = o.Status
	if _, ok := l.bodies[o.Status]; !ok {
		l.bodies[o.Status] = o.Body
	}
	if o.Err != nil {
		l.failures.Add(1)
	}
}

// balancer spreads requests round robin over the nodes that up says are up
// (nil: all), and can drain a node as a load balancer does before a rolling
// restart: no new request goes to it, and the drain returns once the requests
// already sent to it are answered.
type balancer struct {
	nodes    []*node
	up       func(i int) bool
	draining atomic.Int32 // the drained node's index, -1: none
	inflight []atomic.Int64
}

func newBalancer(c *cluster, up func(i int) bool) *balancer {
	b := &balancer{nodes: c.nodes, up: up, inflight: make([]atomic.Int64, len(c.nodes))}
	b.draining.Store(-1)
	return b
}

// pick chooses the i'th request's node; done must be called once it is
// answered. The request is counted in flight before the drain flag is read,
// and drain sets the flag before it reads the count, so a request either sees
// the drain or is waited for.
func (b *balancer) pick(i int) (n *node, done func()) {
	for k := range len(b.nodes) {
		j := (i + k) % len(b.nodes)
		b.inflight[j].Add(1)
		if int(b.draining.Load()) != j && (b.up == nil || b.up(j)) {
			return b.nodes[j], func() { b.inflight[j].Add(-1) }
		}
		b.inflight[j].Add(-1)
	}
	return b.nodes[i%len(b.nodes)], func() {}
}

// drain takes node j out of rotation and waits for its requests in flight.
func (b *balancer) drain(t *testing.T, j int) {
	t.Helper()
	b.draining.Store(int32(j))
	poll.Eventually(t, fmt.Sprintf("node %d's requests in flight answered", j+1), func() (bool, error) {
		return b.inflight[j].Load() == 0, nil
	})
}

// restore puts the drained node back into rotation.
func (b *balancer) restore() { b.draining.Store(-1) }

// byStatus splits the answered addresses: those answered 200 (promised a
// mail) and the others.
func (l *load) byStatus() (promised, others []string, counts map[int]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts = map[int]int{}
	for email, status := range l.answers {
		counts[status]++
		if status == http.StatusOK {
			promised = append(promised, email)
		} else {
			others = append(others, email)
		}
	}
	return promised, others, counts
}

// mails counts, for the promised addresses, those without a mail (lost) and
// the deliveries beyond one per address (duplicates: a mail sent again after
// its node died before it could record it).
func (c *cluster) mails(promised []string) (lost, duplicates int) {
	for _, e := range promised {
		ids := c.sink.MessageIDs(e)
		if len(ids) == 0 {
			lost++
		}
		duplicates += max(len(ids)-1, 0)
	}
	return lost, duplicates
}

// waitAllMailed waits until every promised address has a mail.
func (c *cluster) waitAllMailed(promised []string) {
	c.t.Helper()
	poll.Eventually(c.t, fmt.Sprintf("a mail to each of %d addresses", len(promised)), func() (bool, error) {
		lost, _ := c.mails(promised)
		return lost == 0, nil
	})
}

// TestClusterNodeKilledMidSend: 500 requests for known users spread over three
// nodes; node 2 is killed (SIGKILL) while the outboxes are sending. Every
// request answered 200 gets its mail: the dead node's claimed jobs and mails
// are taken over by the others when their leases run out. A mail the relay
// accepted from the dead node before it could record it is sent again:
// duplicates are at most the dead node's mails in flight (its outbox's
// concurrency, 32), and reported.
func TestClusterNodeKilledMidSend(t *testing.T) {
	const requests = 500
	c := newCluster(t, clusterOptions{nodes: 3, users: requests})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		// Kill once mail is flowing: a tenth of it delivered.
		c.sink.Wait(ctx, func(s testenv.SinkStats) bool { return s.Deliveries >= requests/10 }) //nolint:errcheck // killed either way
		c.nodes[1].caddy.Kill()                                                                 //nolint:errcheck // checked below
	}()
	l := runLoad(t.Context(), newBalancer(c, func(i int) bool { return i != 1 || c.nodes[1].caddy.Running() }), 8, requests, nil)
	<-killed
	if c.nodes[1].caddy.Running() {
		t.Fatal("node 2 is still running")
	}
	promised, _, counts := l.byStatus()
	t.Logf("answers %v; %d requests got no answer (sent to node 2 as it died)", counts, l.failures.Load())
	if len(promised) < requests*8/10 {
		t.Fatalf("only %d of %d requests answered 200", len(promised), requests)
	}
	c.waitAllMailed(promised)
	lost, dups := c.mails(promised)
	t.Logf("%d promised, %d lost, %d duplicate deliveries", len(promised), lost, dups)
	if lost != 0 || dups > 32 {
		t.Errorf("%d lost and %d duplicates, want 0 and at most 32", lost, dups)
	}
}

// TestClusterRollingRestart: each node in turn is drained (the balancer sends
// it nothing new), stopped gracefully and started again, under 8 clients: no
// request fails, and every request answered 200 gets its mail.
func TestClusterRollingRestart(t *testing.T) {
	const requests = 3000
	c := newCluster(t, clusterOptions{nodes: 3, users: requests})
	b := newBalancer(c, nil)
	stop := make(chan struct{})
	done := make(chan *load)
	go func() { done <- runLoad(t.Context(), b, 8, requests, stop) }()
	for i, n := range c.nodes {
		delivered := c.sink.Stats().Deliveries
		poll.Eventually(t, "load reaching the nodes", func() (bool, error) {
			return c.sink.Stats().Deliveries > delivered+20, nil
		})
		b.drain(t, i)
		if err := n.caddy.Stop(); err != nil {
			t.Fatalf("stop node %d: %v", i+1, err)
		}
		c.start(n)
		b.restore()
	}
	close(stop)
	l := <-done
	promised, others, counts := l.byStatus()
	t.Logf("answers %v over %d requests", counts, len(promised)+len(others))
	if len(others) != 0 || l.failures.Load() != 0 {
		t.Errorf("%d requests not answered 200 (%d without an answer): %v", len(others), l.failures.Load(), l.bodies)
	}
	c.waitAllMailed(promised)
}

// TestPostgresDown: the database stops under load and comes back. While it is
// down, requests are answered 503 with a clear message and promise nothing;
// every request answered 200, before or after, gets its mail; the nodes serve
// again without a restart once the database is back.
func TestPostgresDown(t *testing.T) {
	const users = 20000 // a bound: the load runs until stopped
	c := newCluster(t, clusterOptions{nodes: 2, users: users})
	stop := make(chan struct{})
	done := make(chan *load)
	go func() { done <- runLoad(t.Context(), newBalancer(c, nil), 8, users-1, stop) }()
	poll.Eventually(t, "mail flowing", func() (bool, error) { return c.sink.Stats().Deliveries > 20, nil })
	c.pg.Stop(t)
	// While it is down: every node answers 503 at once, with the reason.
	for _, n := range c.nodes {
		o := testenv.PostReset(t.Context(), testenv.NewClient(1, 30*time.Second), n.base(), "nobody@bench.example")
		if o.Status != http.StatusServiceUnavailable || !strings.Contains(o.Body, "try again") {
			t.Errorf("with the database down, %s answered %d %q", n.base(), o.Status, o.Body)
		}
	}
	c.pg.Start(t)
	close(stop)
	l := <-done
	promised, _, counts := l.byStatus()
	t.Logf("answers %v", counts)
	if counts[http.StatusServiceUnavailable] == 0 {
		t.Error("no request was answered 503 while the database was down")
	}
	// After: requests succeed again without a restart.
	for _, n := range c.nodes {
		email := testenv.UserEmail(users - 1)
		poll.Eventually(t, "a 200 from "+n.base()+" after the database is back", func() (bool, error) {
			o := testenv.PostReset(t.Context(), testenv.NewClient(1, 30*time.Second), n.base(), email)
			return o.Status == http.StatusOK, nil
		})
	}
	c.waitAllMailed(promised)
}
