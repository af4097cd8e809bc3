package timing

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Probe times POST /dbconnections/change_password for known and unknown emails.
type Probe struct {
	URL        string // the endpoint, e.g. http://localhost:8080/dbconnections/change_password
	ClientID   string
	Connection string
	Known      []string // addresses that have accounts, used in turn
	Client     *http.Client
	// Warmup requests are sent first and not counted (connections, caches).
	Warmup int
}

// Run sends n requests of each kind in a shuffled order, one at a time so that
// one request's queueing does not land on the next, and returns the latencies.
// Every answer must be Auth0's 200: a rate limit in the way is an error (run the
// measurement against a config with `rate_limit off`).
func (p Probe) Run(ctx context.Context, n int) (known, unknown []time.Duration, err error) {
	if len(p.Known) == 0 {
		return nil, nil, fmt.Errorf("no known addresses")
	}
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	kinds := make([]bool, 2*n) // true: known
	for i := range n {
		kinds[i] = true
	}
	r := rand.New(rand.NewPCG(uint64(n), 42))
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for i := range p.Warmup {
		if _, err := p.one(ctx, client, fmt.Sprintf("warmup-%d@example.invalid", i)); err != nil {
			return nil, nil, err
		}
	}
	for i, isKnown := range kinds {
		email := fmt.Sprintf("nobody-%d@example.com", i)
		if isKnown {
			email = p.Known[i%len(p.Known)]
		}
		d, err := p.one(ctx, client, email)
		if err != nil {
			return nil, nil, err
		}
		if isKnown {
			known = append(known, d)
		} else {
			unknown = append(unknown, d)
		}
	}
	return known, unknown, nil
}

func (p Probe) one(ctx context.Context, client *http.Client, email string) (time.Duration, error) {
	body := fmt.Sprintf(`{"client_id":%q,"email":%q,"connection":%q}`, p.ClientID, email, p.Connection)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s answered %d (is a rate limit in the way? measure with `rate_limit off`)", p.URL, resp.StatusCode)
	}
	return elapsed, nil
}
