package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// requestEndpoint is B1: POST /dbconnections/change_password for known users at
// 8 and 256 concurrent clients, with sync_writes on and off, against the same
// Caddy reverse_proxy-ing the same request to the app's lookup hook. The order of
// the three runs rotates with each repetition. After each plugin run the harness
// waits until every request that got 200 has its mail in the sink: the figures
// are only counted for a run whose promises were kept.
func (h *harnessRun) requestEndpoint(ctx context.Context) error {
	variants := h.opts.variants
	for rep := range h.opts.reps {
		for _, conns := range h.opts.conns {
			for i := range variants {
				v := variants[(i+rep)%len(variants)]
				var err error
				switch v {
				case "base":
					err = h.baselineRun(ctx, conns)
				case "on":
					err = h.pluginRun(ctx, h.plug, h.plugCfg.PluginPort, conns, "on", rep)
				case "off":
					err = h.pluginRun(ctx, h.nosync, h.nosyncCfg.PluginPort, conns, "off", rep)
				case "on-alone":
					// A diagnosis, not a figure of the table: the request path with
					// the app down, so that the jobs back off and leave the CPU and
					// the store's writer to the requests.
					h.app.Stop()
					err = h.pluginRun(ctx, h.plug, h.plugCfg.PluginPort, conns, "on-alone", rep)
				default:
					err = fmt.Errorf("unknown -b1 run %q", v)
				}
				if err != nil {
					return err
				}
			}
			if conns == 256 && h.opts.want("B5") {
				// B5's baseline under load: the same binary without the plugin,
				// proxying the same requests.
				peak, _, err := h.withPeakRSS(h.bare, func() (wrkResult, error) {
					return h.runWrk(ctx, h.postRun(h.bareCfg.ProxyPort, conns))
				})
				if err != nil {
					return err
				}
				h.add("B5/bare/load", float64(peak.RSS))
			}
		}
	}
	return nil
}

func (h *harnessRun) baselineRun(ctx context.Context, conns int) error {
	res, err := h.runWrk(ctx, h.postRun(h.plugCfg.ProxyPort, conns))
	if err != nil {
		return err
	}
	logf("B1 baseline, %3d clients: %7.0f req/s, p99 %v, failed %d", conns, res.RPS(), res.P99, res.Failed())
	key := fmt.Sprintf("B1/base/%d", conns)
	h.add(key+"/rps", res.RPS())
	h.add(key+"/p99", ms(res.P99))
	return nil
}

func (h *harnessRun) pluginRun(ctx context.Context, c *testenv.Caddy, port, conns int, sync string, rep int) error {
	before := h.sink.Stats()
	var profile func() error
	if h.opts.profile != "" && rep == 0 {
		profile = h.startProfile(c, fmt.Sprintf("b1-%d-sync-%s.pprof", conns, sync))
	}
	cpu0, _ := c.CPUTime()
	busy0, total0 := machineCPU()
	peak, res, err := h.withPeakRSS(c, func() (wrkResult, error) { return h.runWrk(ctx, h.postRun(port, conns)) })
	if err != nil {
		return err
	}
	cpu1, _ := c.CPUTime()
	busy1, total1 := machineCPU()
	logf("B1 sync %-3s,  %3d clients: Caddy used %.2f cores, peak RSS %.0f MB (anonymous %.0f MB, files %.0f MB); the machine was %.0f%% busy",
		sync, conns, (cpu1-cpu0).Seconds()/res.Duration.Seconds(), mb(peak.RSS), mb(peak.Anon), mb(peak.File),
		100*float64(busy1-busy0)/float64(max(total1-total0, 1)))
	if sync == "on-alone" {
		if err := h.app.Serve(); err != nil {
			return err
		}
	}
	if profile != nil {
		if err := profile(); err != nil {
			logf("profile: %v", err)
		}
	}
	drain, err := h.drain(ctx, before, res.OK())
	if err != nil {
		return fmt.Errorf("waiting for the mails of %d accepted requests: %w", res.OK(), err)
	}
	after := h.sink.Stats()
	logf("B1 sync %-3s,  %3d clients: %7.0f req/s, p50 %v p90 %v p99 %v, failed %d (timeouts %d); %d mails delivered %.1fs after the run, %d duplicates",
		sync, conns, res.RPS(), res.P50, res.P90, res.P99, res.Failed(), res.Timeouts, after.Distinct-before.Distinct,
		drain.Seconds(), after.Duplicates()-before.Duplicates())
	key := fmt.Sprintf("B1/%s/%d", sync, conns)
	h.add(key+"/rps", res.RPS())
	h.add(key+"/p99", ms(res.P99))
	h.add(key+"/failed", float64(res.Failed()))
	h.add(key+"/timeouts", float64(res.Timeouts))
	h.add(key+"/mailrate", float64(res.OK())/(res.Duration+drain).Seconds())
	// More mails than answers counted: requests in flight when wrk stopped,
	// accepted, their answers not read.
	h.add(key+"/lost", float64(max(res.OK()-(after.Distinct-before.Distinct), 0)))
	h.add(key+"/dups", float64(after.Duplicates()-before.Duplicates()))
	if sync == "on" && conns == 256 {
		h.add("B5/plugin/load", float64(peak.RSS))
		h.add("B5/plugin/load-anon", float64(peak.Anon))
		h.add("B5/plugin/load-file", float64(peak.File))
	}
	return nil
}

// withPeakRSS runs fn while sampling c's resident memory every 50 ms, and returns
// the largest sample of each kind.
func (h *harnessRun) withPeakRSS(c *testenv.Caddy, fn func() (wrkResult, error)) (testenv.Memory, wrkResult, error) {
	stop := make(chan struct{})
	var peak testenv.Memory
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if m, err := c.Memory(); err == nil {
				peak.RSS, peak.Anon, peak.File = max(peak.RSS, m.RSS), max(peak.Anon, m.Anon), max(peak.File, m.File)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	res, err := fn()
	close(stop)
	wg.Wait()
	return peak, res, err
}

// startProfile fetches a CPU profile of c covering most of one wrk run; the
// returned function waits for it and writes it under -profile.
func (h *harnessRun) startProfile(c *testenv.Caddy, name string) func() error {
	secs := max(int(h.opts.duration.Seconds())-2, 1)
	done := make(chan error, 1)
	go func() {
		data, err := c.AdminGet(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs))
		if err == nil {
			if err = os.MkdirAll(h.opts.profile, 0o755); err == nil {
				err = os.WriteFile(filepath.Join(h.opts.profile, name), data, 0o644)
			}
		}
		done <- err
	}()
	return func() error { return <-done }
}

// appRoutes is B2: GET /login, an app page, through the site with the
// password_reset directive and through the same app's site without it, in the
// same Caddy.
func (h *harnessRun) appRoutes(ctx context.Context) error {
	const conns = 32
	for rep := range h.opts.reps {
		ports := []int{h.plugCfg.PlainPort, h.plugCfg.PluginPort}
		if rep%2 == 1 {
			ports[0], ports[1] = ports[1], ports[0]
		}
		for _, port := range ports {
			res, err := h.runWrk(ctx, wrkRun{URL: base(port) + "/login", Method: "GET", Conns: conns, Duration: h.opts.duration})
			if err != nil {
				return err
			}
			if res.Failed() > 0 {
				return fmt.Errorf("GET /login: %d failed", res.Failed())
			}
			key := "B2/plain"
			if port == h.plugCfg.PluginPort {
				key = "B2/plugin"
			}
			logf("%s: %7.0f req/s, p99 %v", key, res.RPS(), res.P99)
			h.add(key+"/rps", res.RPS())
			h.add(key+"/p99", ms(res.P99))
		}
	}
	return nil
}

// idleMemory is B5's idle half: each Caddy after 100 requests for an app page
// and two quiet seconds.
func (h *harnessRun) idleMemory(ctx context.Context) error {
	for _, c := range []struct {
		name  string
		caddy *testenv.Caddy
		port  int
	}{{"plugin", h.plug, h.plugCfg.PlainPort}, {"bare", h.bare, h.bareCfg.PlainPort}} {
		client := testenv.NewClient(4, 10*time.Second)
		for range 100 {
			resp, err := client.Get(base(c.port) + "/login")
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // warming up
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /login: %s", resp.Status)
			}
		}
		client.CloseIdleConnections()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second): // let the process settle: this is a reading, not a wait for an event
		}
		m, err := c.caddy.Memory()
		if err != nil {
			return err
		}
		logf("B5 idle %s: %.1f MB (anonymous %.1f MB, files %.1f MB)", c.name, mb(m.RSS), mb(m.Anon), mb(m.File))
		h.add("B5/"+c.name+"/idle", float64(m.RSS))
	}
	return nil
}

// machineCPU returns the busy and total jiffies of all CPUs, from /proc/stat.
func machineCPU() (busy, total int64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle and iowait
			busy += n
		}
	}
	return busy, total
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }
