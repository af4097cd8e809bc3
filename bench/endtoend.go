package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// endToEnd is M: known users at 8 clients, sustained (-e2e, 60 s), on the
// plugin with sync_writes on and the default backlog. It counts, in the same
// window, the requests answered 200 and the mails the sink received: the
// ratio is what the user waits for (the mail) against what the endpoint
// answered. The accepted requests without a mail when the run ends are the
// queue's depth, bounded by the backlog; the harness then waits for them.
func (h *harnessRun) endToEnd(ctx context.Context) error {
	for rep := range h.opts.reps {
		var profile func() error
		if h.opts.profile != "" && rep == 0 {
			profile = h.startProfile(h.plug, "m.pprof")
		}
		before := h.sink.Stats()
		cpu0, _ := h.plug.CPUTime()
		busy0, total0 := machineCPU()
		run := h.postRun(h.plugCfg.PluginPort, 8)
		run.Duration = h.opts.e2e
		res, err := h.runWrk(ctx, run)
		if err != nil {
			return err
		}
		atEnd := h.sink.Stats()
		cpu1, _ := h.plug.CPUTime()
		busy1, total1 := machineCPU()
		if profile != nil {
			if err := profile(); err != nil {
				logf("profile: %v", err)
			}
		}
		mailed := atEnd.Distinct - before.Distinct
		depth := res.OK() - mailed
		drain, err := h.drain(ctx, before, res.OK())
		if err != nil {
			return fmt.Errorf("waiting for the mails of %d accepted requests: %w", res.OK(), err)
		}
		after := h.sink.Stats()
		mailRate := float64(mailed) / res.Duration.Seconds()
		logf("M: %7.0f answered/s (p99 %v, %d failed), %7.0f mailed/s in the same %v; %d accepted without mail at the end, delivered %.1fs later; %d duplicates; Caddy %.2f cores, %.0f µs of its CPU per mail; the machine %.0f%% busy",
			res.RPS(), res.P99, res.Failed(), mailRate, res.Duration.Round(time.Second), depth, drain.Seconds(),
			after.Duplicates()-before.Duplicates(), (cpu1-cpu0).Seconds()/res.Duration.Seconds(),
			float64((cpu1-cpu0).Microseconds())/float64(max(mailed, 1)), 100*float64(busy1-busy0)/float64(max(total1-total0, 1)))
		h.add("M/answered", res.RPS())
		h.add("M/mailed", mailRate)
		h.add("M/depth", float64(depth))
		h.add("M/p99", ms(res.P99))
		h.add("M/failed", float64(res.Failed()))
		h.add("M/lost", float64(max(res.OK()-(after.Distinct-before.Distinct), 0)))
		h.add("M/dups", float64(after.Duplicates()-before.Duplicates()))
		h.add("M/cpu-per-mail", float64((cpu1-cpu0).Microseconds())/float64(max(mailed, 1)))
	}
	return nil
}

// The flood of F: floodIPs source addresses, each sending its per-IP burst
// (the default limit, 20 per 6 s).
const (
	floodIPs   = 3000
	floodEach  = 20
	realEvery  = 200 * time.Millisecond
	realBefore = 25 // real users' requests measured before the flood: the baseline
)

// fairness is F: while floodIPs source addresses (127.1.0.1 and up; Linux
// routes all of 127.0.0.0/8 to the loopback) send floodEach requests each, for
// seeded users, with the default rate limits (but the hourly mail budget, which
// is a flood's other brake), a real user (a seeded user the flood does not
// name, a new one each time, from 127.0.0.1) asks every 200 ms. Its figure is
// the time from its request to its mail in the sink, p99 over the flood,
// against the same with no flood.
func (h *harnessRun) fairness(ctx context.Context) error {
	ports, err := testenv.FreePorts(2)
	if err != nil {
		return err
	}
	cfg := testenv.CaddyConfig{Admin: ports[0], Plugin: true, PluginPort: ports[1], App: h.app.Addr, SMTP: h.sink.Addr,
		StoreDir: filepath.Join(h.dir, "store-fair"), SyncWrites: true, RateLimits: true,
		Options: "\t\trate_limit {\n\t\t\tmail_per_hour 100000000\n\t\t}\n"}
	c := h.caddy("fair", cfg.Admin)
	if err := c.Start(ctx, cfg.Caddyfile(), ready(cfg)...); err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			logf("F: stop caddy: %v", err)
		}
	}()
	site := base(cfg.PluginPort)
	real := &realUser{h: h, site: site, next: h.opts.users - 1}
	pace := time.NewTicker(realEvery)
	defer pace.Stop()
	for range realBefore {
		if err := real.ask(ctx); err != nil {
			return err
		}
		<-pace.C
	}
	quiet, err := real.latencies(ctx)
	if err != nil {
		return err
	}
	real.sent, real.asked = len(real.asked), nil
	floodUsers := h.opts.users - 2*realBefore - 1000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var probeErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			if err := real.ask(ctx); err != nil {
				probeErr = err
				return
			}
		}
	})
	began := time.Now()
	answers := flood(ctx, site, floodUsers)
	took := time.Since(began)
	close(stop)
	wg.Wait()
	if probeErr != nil {
		return probeErr
	}
	during, err := real.latencies(ctx)
	if err != nil {
		return err
	}
	logf("F: flood of %d requests from %d addresses in %.1fs (%v); a real user's mail: p50 %v p99 %v over %d requests (quiet: p50 %v p99 %v)",
		floodIPs*floodEach, floodIPs, took.Seconds(), answers, pct(during, 50), pct(during, 99), len(during),
		pct(quiet, 50), pct(quiet, 99))
	h.add("F/flood/p99", ms(pct(during, 99)))
	h.add("F/flood/p50", ms(pct(during, 50)))
	h.add("F/quiet/p99", ms(pct(quiet, 99)))
	h.add("F/flood/rps", float64(floodIPs*floodEach)/took.Seconds())
	h.add("F/flood/ok", float64(answers[http.StatusOK]))
	return nil
}

// realUser is F's probe: one request at a time, each for a seeded user that
// no one else names, from an address of its own (127.2.0.1 and up): each is
// another person.
type realUser struct {
	h      *harnessRun
	site   string
	next   int // the next seeded user, counting down from the last
	client *http.Client
	asked  []asked
	sent   int // requests made before asked was last emptied
}

type asked struct {
	email string
	at    time.Time
}

func (r *realUser) ask(ctx context.Context) error {
	if r.client == nil {
		r.client = sourceClient()
	}
	email := testenv.UserEmail(r.next)
	k := len(r.asked) + r.sent
	r.next--
	at := time.Now()
	src := &net.TCPAddr{IP: net.IPv4(127, 2, byte(k/250), byte(k%250+1))}
	o := testenv.PostReset(context.WithValue(ctx, sourceKey{}, src), r.client, r.site, email)
	if o.Err != nil || o.Status != http.StatusOK {
		return fmt.Errorf("the real user's request: %d %v %s", o.Status, o.Err, o.Body)
	}
	r.asked = append(r.asked, asked{email, at})
	return nil
}

// sourceClient sends each request on a new connection from the address its
// context holds (sourceKey).
func sourceClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: ctx.Value(sourceKey{}).(*net.TCPAddr)}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// latencies waits for every asked mail and returns each one's time from its
// request to its arrival.
func (r *realUser) latencies(ctx context.Context) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var out []time.Duration
	for _, a := range r.asked {
		err := r.h.sink.Wait(ctx, func(testenv.SinkStats) bool {
			_, ok := r.h.sink.ArrivalAfter(a.email, a.at)
			return ok
		})
		if err != nil {
			return nil, fmt.Errorf("no mail for the real user %s: %w", a.email, err)
		}
		got, _ := r.h.sink.ArrivalAfter(a.email, a.at)
		out = append(out, got.Sub(a.at))
	}
	slices.Sort(out)
	return out, nil
}

type sourceKey struct{}

// flood sends floodEach requests from each of floodIPs loopback addresses,
// round robin over the addresses and over users seeded users, 64 at a time,
// each on a new connection from its address; it returns the answers by status.
func flood(ctx context.Context, site string, users int) map[int]int {
	client := sourceClient()
	var next atomic.Int64
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= floodIPs*floodEach || ctx.Err() != nil {
					return
				}
				k := i % floodIPs
				src := &net.TCPAddr{IP: net.IPv4(127, 1, byte(k/250), byte(k%250+1))}
				o := testenv.PostReset(context.WithValue(ctx, sourceKey{}, src), client, site, testenv.UserEmail(i%users))
				mu.Lock()
				answers[o.Status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return answers
}
