package e2e

import (
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/timing"
)

// TestEnumerationSmoke runs the enumeration measurement (tools/enumeration) at a
// small N through Caddy: every answer is Auth0's 200 for both kinds, and the
// figures come out. The full N=2000 run is a benchmark, not a gate: timing on a
// shared CI machine is too noisy to fail a build on.
func TestEnumerationSmoke(t *testing.T) {
	s := newStack(t, "\t\trate_limit off")
	probe := timing.Probe{URL: base + "/dbconnections/change_password", ClientID: "demo-app", Connection: conn,
		Known: []string{"alice@example.com", "bob@example.com"}, Client: s.tester.Client, Warmup: 10}
	known, unknown, err := probe.Run(t.Context(), 60)
	if err != nil {
		t.Fatal(err)
	}
	c := timing.Compare(known, unknown)
	if c.A.N != 60 || c.B.N != 60 || c.P <= 0 || c.P > 1 {
		t.Fatalf("bad figures:\n%s", c)
	}
	t.Logf("enumeration at n=60:\n%s", c)
	s.drained()
}
