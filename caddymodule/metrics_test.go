package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// TestMetricsSurviveReload: a reload gives the new config a registry of its
// own while the old one runs; both hold the same counters, so a count made
// through either is seen once in each, and provisioning twice in one registry
// is no error. Caddy's registries are pedantic: Gather checks every
// collector's descriptions.
func TestMetricsSurviveReload(t *testing.T) {
	oldCtx, cancelOld := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancelOld()
	newCtx, cancelNew := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancelNew()
	oldApp, newApp := &App{}, &App{}
	for _, p := range []struct {
		app *App
		ctx caddy.Context
	}{{oldApp, oldCtx}, {newApp, newCtx}, {newApp, newCtx}} {
		cfg := service.Config{Site: reset.Site{Connections: map[string]*reset.Connection{}}}
		if err := p.app.provisionMetrics(p.ctx, &cfg); err != nil {
			t.Fatalf("provision metrics: %v", err)
		}
		if cfg.OnMail == nil {
			t.Fatal("no mail observer handed to the service")
		}
	}
	sent := mailsTotal.WithLabelValues("reset_email", "sent")
	start := counterValue(t, sent)
	countMail("reset_email", "sent")
	publicMetrics{}.Request("change_password", "accepted")
	for name, reg := range map[string]*prometheus.Registry{"old": oldCtx.GetMetricsRegistry(), "new": newCtx.GetMetricsRegistry()} {
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("%s registry: %v", name, err)
		}
		found := map[string]bool{}
		for _, f := range families {
			found[f.GetName()] = true
		}
		for _, want := range []string{"password_reset_mails_total", "password_reset_requests_total"} {
			if !found[want] {
				t.Errorf("%s registry lacks %s", name, want)
			}
		}
	}
	if got := counterValue(t, sent) - start; got != 1 {
		t.Errorf("one mail sent counted %v times", got)
	}
}

func TestHookOutcome(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{fmt.Errorf("lookup: %w", users.ErrNotFound), "not_found"},
		{&users.RefusedError{Message: "too short"}, "refused"},
		{fmt.Errorf("get_user hook: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("get_user hook: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), "unreachable"},
		{fmt.Errorf("%w; %w", errors.New("answered 502"), users.ErrOutcomeUnknown), "unconfirmed"},
		{errors.New("get_user answered 500"), "error"},
	} {
		if got := hookOutcome(c.err); got != c.want {
			t.Errorf("hookOutcome(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestObservedDirectoryCountsCalls: the wrapper counts and times each call.
func TestObservedDirectoryCountsCalls(t *testing.T) {
	d := observedDirectory{stubDirectory{}}
	calls := hookCallsTotal.WithLabelValues("get_user", "not_found")
	timed := observations(t, "get_user")
	start := counterValue(t, calls)
	if _, err := d.LookupUser(context.Background(), "x@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Fatal(err)
	}
	if got := counterValue(t, calls) - start; got != 1 {
		t.Errorf("get_user not_found counted %v times", got)
	}
	if observations(t, "get_user") != timed+1 {
		t.Error("the call was not timed")
	}
}

type stubDirectory struct{}

func (stubDirectory) LookupUser(context.Context, string) (*users.User, error) {
	return nil, users.ErrNotFound
}
func (stubDirectory) LookupUserByID(context.Context, string) (*users.User, error) {
	return nil, users.ErrNotFound
}
func (stubDirectory) ChangePassword(context.Context, users.ChangeRequest) error { return nil }

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func observations(t *testing.T, hook string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := hookDuration.WithLabelValues(hook).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
