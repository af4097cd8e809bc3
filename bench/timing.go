package main

import (
	"context"
	"net/http"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/timing"
)

// enumeration is the headline's third part: known and unknown addresses answered
// in times an observer cannot tell apart, without padding. 1,000 requests of each
// kind, shuffled, one at a time (internal/timing, as tools/enumeration), against
// the plugin with sync_writes on.
func (h *harnessRun) enumeration(ctx context.Context) error {
	known := make([]string, 200)
	for i := range known {
		known[i] = testenv.UserEmail(i)
	}
	before := h.sink.Stats()
	probe := timing.Probe{URL: base(h.plugCfg.PluginPort) + "/dbconnections/change_password", ClientID: testenv.ClientID,
		Connection: testenv.Conn, Known: known, Client: &http.Client{Timeout: 10 * time.Second}, Warmup: 100}
	k, u, err := probe.Run(ctx, 1000)
	if err != nil {
		return err
	}
	c := timing.Compare(k, u)
	logf("E: known median %v, unknown median %v, difference %.2f%%, KS p %.3f", c.A.Median, c.B.Median, 100*c.MedianRatio, c.P)
	h.add("E/known", ms(c.A.Median))
	h.add("E/unknown", ms(c.B.Median))
	h.add("E/diff", 100*c.MedianRatio)
	h.add("E/p", c.P)
	_, err = h.drain(ctx, before, len(k)) // the known addresses' mails, before the next figure
	return err
}
