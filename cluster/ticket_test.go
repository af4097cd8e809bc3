package cluster

import (
	"net/http"
	"sync"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const newPassword = "Correct-Horse-9-battery"

// TestClusterTicketAcrossNodes: the request goes to node 1, the link is opened
// on node 2 and the form submitted to node 3, as a balancer may spread one
// user's requests; the app sees one change and the link is dead on every node.
func TestClusterTicketAcrossNodes(t *testing.T) {
	c := newCluster(t, clusterOptions{nodes: 3, users: 10})
	email := testenv.UserEmail(1)
	client := browser(t)
	c.request(client, c.nodes[0], email)
	link := c.resetLink(email, 0)

	csrf := openForm(t, client, onNode(t, link, c.nodes[1]), c.nodes[1])
	status, err := submit(t.Context(), client, c.nodes[2], csrf, newPassword)
	if err != nil || status != http.StatusSeeOther {
		t.Fatalf("submit on node 3: %d %v", status, err)
	}
	if got := c.app.PasswordChanges(); got != 1 {
		t.Errorf("the app saw %d password changes, want 1", got)
	}
	if !c.app.CheckPassword(email, newPassword) {
		t.Error("the app's password did not change")
	}
	for i, n := range c.nodes {
		if status, page := get(t, browser(t), onNode(t, link, n)); status != http.StatusGone {
			t.Errorf("the used link on node %d: %d\n%s", i+1, status, page)
		}
	}
}

// TestClusterRaceAcrossNodes: 50 submits of one ticket at once, spread over
// three nodes: exactly one password change reaches the app.
func TestClusterRaceAcrossNodes(t *testing.T) {
	c := newCluster(t, clusterOptions{nodes: 3, users: 10})
	email := testenv.UserEmail(2)
	client := browser(t)
	c.request(client, c.nodes[0], email)
	csrf := openForm(t, client, c.resetLink(email, 0), c.nodes[0])

	const submits = 50
	statuses := make([]int, submits)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range submits {
		wg.Go(func() {
			<-start
			// Every submit carries the same cookies (one browser, its form sent 50
			// times); each goes to its node.
			statuses[i], _ = submit(t.Context(), client, c.nodes[i%len(c.nodes)], csrf, newPassword)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, s := range statuses {
		if s == http.StatusSeeOther {
			won++
		}
	}
	if got := c.app.PasswordChanges(); got != 1 || won != 1 {
		t.Errorf("%d submits answered 303 and the app saw %d changes; want 1 and 1 (statuses %v)", won, got, statuses)
	}
}
