package cluster

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestClusterRateLimitShared: the per IP+email limit (Auth0's 10, then 1 a
// minute) holds for the cluster, not per node: 30 requests from one client for
// one address, spread over three nodes at once, get exactly 10 answers 200 and
// 20 answers 429, for a known address and an unknown one alike.
func TestClusterRateLimitShared(t *testing.T) {
	// The per-IP limit (20 per 6 s) would also refuse one client's 60 requests:
	// widen it, so that the per IP+email limit is the one measured.
	c := newCluster(t, clusterOptions{nodes: 3, users: 10, rateLimits: true,
		options: "\t\trate_limit {\n\t\t\tip 1000 1s\n\t\t}\n"})
	client := testenv.NewClient(32, 30*time.Second)
	for _, email := range []string{testenv.UserEmail(3), "nobody@bench.example"} {
		const requests = 30
		statuses := make([]int, requests)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range requests {
			wg.Go(func() {
				<-start
				o := testenv.PostReset(t.Context(), client, c.nodes[i%len(c.nodes)].base(), email)
				statuses[i] = o.Status
			})
		}
		close(start)
		wg.Wait()
		counts := map[int]int{}
		for _, s := range statuses {
			counts[s]++
		}
		if counts[http.StatusOK] != 10 || counts[http.StatusTooManyRequests] != 20 {
			t.Errorf("%s: answers %v, want 10 × 200 and 20 × 429 across the nodes", email, counts)
		}
	}
}
