package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wrkScript is the Lua script wrk runs. For POST it sends Auth0's change_password
// request for a different seeded user each time (user i, then i+1, ...), so that
// no two requests in flight name the same user; done prints the figures on one
// line for the harness to read and, given BENCH_QUANTILES, writes the latency
// at each 0.01th percentile, so that the latencies of several wrk processes run
// at once can be merged (Debian's wrk 4.1.0 does not give the histogram itself
// to the script: latency[i] is i).
const wrkScript = `
local method = os.getenv("BENCH_METHOD") or "GET"
local users = tonumber(os.getenv("BENCH_USERS") or "1")
local counter = tonumber(os.getenv("BENCH_OFFSET") or "0")
local prefix = '{"client_id":"bench-app","email":"user'
local suffix = '@bench.example","connection":"Username-Password-Authentication"}'
wrk.method = method
if method == "POST" then
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  if method ~= "POST" then
    return wrk.format()
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, prefix .. string.format("%06d", counter % users) .. suffix)
end
function done(summary, latency, requests)
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
  local quantiles = os.getenv("BENCH_QUANTILES") or ""
  if quantiles ~= "" and summary.requests > 0 then
    local f = assert(io.open(quantiles, "w"))
    for i = 1, 10000 do
      f:write(string.format("%d\n", latency:percentile(i / 100)))
    end
    f:close()
  end
end
`

// wrkResult is what one wrk run measured.
type wrkResult struct {
	Requests      int
	Duration      time.Duration
	P50, P90, P99 time.Duration
	Max           time.Duration
	BadStatus     int // answers other than 2xx and 3xx
	SocketErrors  int // connect, read and write errors
	Timeouts      int // requests without an answer within wrk's --timeout (2s)
}

// Failed is every request that did not get a 2xx or 3xx answer in time.
func (r wrkResult) Failed() int { return r.BadStatus + r.SocketErrors + r.Timeouts }

// RPS is requests per second.
func (r wrkResult) RPS() float64 { return float64(r.Requests) / r.Duration.Seconds() }

// OK is how many requests got a 2xx or 3xx answer.
func (r wrkResult) OK() int { return r.Requests - r.BadStatus }

// wrkRun describes one run.
type wrkRun struct {
	URL       string
	Method    string // GET or POST (change_password for seeded users)
	Conns     int
	Duration  time.Duration
	Users     int    // POST: how many seeded users to cycle through
	Offset    int    // POST: the first user
	Quantiles string // if set, wrk writes its latency quantiles here (latencies.add)
}

// ensureWrk finds wrk, installing Debian's package when it is missing and the
// harness runs as root.
func ensureWrk() (string, error) {
	if path, err := exec.LookPath("wrk"); err == nil {
		return path, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("wrk is missing: install Debian's package (apt-get install wrk)")
	}
	fmt.Fprintln(os.Stderr, "bench: installing Debian's wrk")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return exec.LookPath("wrk")
}

// runWrk runs wrk with one thread (a second thread would only take CPU from the
// server on a 2-core machine; one thread drives 256 connections easily) and the
// script above,
// script, written once: wrk processes run at once (P3) must not read a file
// being rewritten.
func (h *harnessRun) runWrk(ctx context.Context, run wrkRun) (wrkResult, error) {
	script := filepath.Join(h.dir, "bench.lua")
	h.scriptOnce.Do(func() { h.scriptErr = os.WriteFile(script, []byte(wrkScript), 0o644) })
	if h.scriptErr != nil {
		return wrkResult{}, h.scriptErr
	}
	cmd := exec.CommandContext(ctx, h.wrk, "-t1", "-c"+strconv.Itoa(run.Conns),
		"-d"+strconv.Itoa(int(run.Duration.Seconds()))+"s", "--timeout", "2s", "-s", script, run.URL)
	cmd.Env = append(os.Environ(), "BENCH_METHOD="+run.Method, "BENCH_USERS="+strconv.Itoa(max(run.Users, 1)),
		"BENCH_OFFSET="+strconv.Itoa(run.Offset), "BENCH_QUANTILES="+run.Quantiles)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "BENCH ")
		if !ok {
			continue
		}
		v := map[string]int64{}
		for _, f := range strings.Fields(line) {
			k, val, _ := strings.Cut(f, "=")
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return wrkResult{}, fmt.Errorf("wrk: bad figure %q", f)
			}
			v[k] = n
		}
		us := func(k string) time.Duration { return time.Duration(v[k]) * time.Microsecond }
		return wrkResult{
			Requests: int(v["requests"]), Duration: us("duration_us"),
			P50: us("p50_us"), P90: us("p90_us"), P99: us("p99_us"), Max: us("max_us"),
			BadStatus: int(v["status"]), SocketErrors: int(v["connect"] + v["read"] + v["write"]),
			Timeouts: int(v["timeout"]),
		}, nil
	}
	return wrkResult{}, fmt.Errorf("wrk printed no figures:\n%s", out)
}

// latencies merge the quantiles of several wrk runs: each of a run's 10,000
// quantiles stands for a 10,000th of its answers.
type latencies []quantile

// quantile is one of a run's quantiles, weighted by the answers it stands for.
type quantile struct {
	d      time.Duration
	weight float64
}

// add reads the quantiles a run of answered requests wrote (wrkRun.Quantiles).
func (l *latencies) add(path string, answered int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Fields(string(data))
	for _, line := range lines {
		us, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		*l = append(*l, quantile{time.Duration(us) * time.Microsecond, float64(answered) / float64(len(lines))})
	}
	return nil
}

// percentile is the smallest latency at or under which p% of the answers are;
// for one run, the same as wrk's own.
func (l latencies) percentile(p float64) time.Duration {
	s := slices.Clone(l)
	slices.SortFunc(s, func(a, b quantile) int { return cmp.Compare(a.d, b.d) })
	var total, sum float64
	for _, q := range s {
		total += q.weight
	}
	for _, q := range s {
		// A little slack, for the weights' rounding.
		if sum += q.weight; sum >= p/100*total*(1-1e-9) {
			return q.d
		}
	}
	return 0
}
