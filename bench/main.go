// Command bench is the performance harness of issue 4. One command, from the
// repository's root:
//
//	go run ./bench
//
// builds Caddy with the plugin (./xcaddy.sh build), starts the bench app (the demo
// app with thousands of seeded users, plus two baseline routes that hand a request
// to its hooks) and a lean SMTP sink in this process, runs bin/caddy with the
// plugin, drives load with wrk (Debian's package; installed with apt-get when
// missing and running as root), and prints one table of figures B1-B6, E, and
// P1 and P3 (one and three nodes on one PostgreSQL the harness starts; Debian's
// postgresql package, as test.sh installs it). Every
// figure but B6 is a ratio to a baseline measured in the same run, on the same
// machine, interleaved with it, repeated (-reps) and reduced to the median: the
// machines here are shared and noisy, and absolute times mean little.
//
// The configs say `rate_limit off`: wrk is one client IP, which the per-IP limit
// (20 requests per 6 s) would refuse after its first burst; the limits are an
// in-memory map lookup per request, measured by the ratelimit package's own tests.
//
// Flags: -reps, -duration, -users, -open-tickets, -only B1,B3, -profile DIR (CPU
// profiles of Caddy during B1 and of P1's node, from the admin endpoint's pprof), -quick (a short
// smoke run of the whole harness), -out FILE (the table as Markdown).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

type options struct {
	reps        int
	duration    time.Duration
	users       int
	openTickets int
	mails       int           // B4: mails per drain
	e2e         time.Duration // M: length of the sustained run
	completions int           // B3: completions per repetition
	only        map[string]bool
	profile     string
	out         string
	keep        bool
	variants    []string // B1: which of base, on, off
	conns       []int    // B1: concurrent clients
}

func main() {
	var o options
	var only string
	quick := flag.Bool("quick", false, "a short smoke run: 1 repetition, 3s runs, small B3, B4 and B6")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of each measurement (the table shows medians)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each wrk run")
	flag.IntVar(&o.users, "users", 5000, "seeded users the load cycles through")
	flag.IntVar(&o.openTickets, "open-tickets", 1_000_000, "B6: open tickets in the store")
	flag.IntVar(&o.mails, "mails", 2000, "B4: mails per outbox drain")
	flag.DurationVar(&o.e2e, "e2e", time.Minute, "M: length of the sustained end-to-end run")
	flag.IntVar(&o.completions, "completions", 150, "B3: reset completions per repetition")
	flag.StringVar(&only, "only", "", "comma-separated figures to measure (default all: B1,B2,B3,B4,B5,B6,E,M,F,P)")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU profiles of Caddy under B1 load")
	flag.StringVar(&o.out, "out", "", "also write the table, as Markdown, to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (stores, Caddy logs)")
	variants := flag.String("b1", "base,on,off", "B1: the runs to make (base: the proxy baseline; on, off: sync_writes)")
	conns := flag.String("conns", "8,256", "B1: concurrent clients")
	flag.Parse()
	o.variants = strings.Split(*variants, ",")
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -conns:", err)
			os.Exit(2)
		}
		o.conns = append(o.conns, n)
	}
	if *quick {
		o.reps, o.duration, o.users, o.openTickets, o.mails, o.completions = 1, 3*time.Second, 2000, 20_000, 500, 30
		o.e2e = 5 * time.Second
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, id := range strings.Split(only, ",") {
			o.only[strings.ToUpper(strings.TrimSpace(id))] = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (o options) want(id string) bool { return o.only == nil || o.only[id] }

func run(ctx context.Context, o options) error {
	root, err := testenv.Root()
	if err != nil {
		return err
	}
	logf("building Caddy with the plugin (./xcaddy.sh build)")
	bin, err := testenv.Build(root)
	if err != nil {
		return err
	}
	wrk, err := ensureWrk()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory: %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	h := &harnessRun{opts: o, root: root, dir: dir, bin: bin, wrk: wrk, samples: samples{}}
	defer h.close()
	if err := h.start(ctx); err != nil {
		return err
	}
	machine := describeMachine()
	logf("machine: %s", machine)

	steps := []struct {
		id string
		fn func(context.Context) error
	}{
		{"B5", h.idleMemory}, {"B2", h.appRoutes}, {"B1", h.requestEndpoint}, {"M", h.endToEnd}, {"F", h.fairness}, {"P", h.postgresFigures}, {"E", h.enumeration},
		{"B3", h.completions}, {"B4", h.outbox}, {"B6", h.openTickets},
	}
	for _, s := range steps {
		if !o.want(s.id) && (s.id != "B5" || !o.want("B1")) {
			continue
		}
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.id, err)
		}
	}
	table := h.table(machine)
	fmt.Println(table)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(table), 0o644)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// harnessRun holds the parts of one run of the harness.
type harnessRun struct {
	opts                options
	root, dir, bin, wrk string

	app  *testenv.App
	sink *testenv.Sink
	// plug is Caddy with the plugin (sync_writes on, the default), the proxy
	// baseline site and the plain site; nosync the same with sync_writes off;
	// bare the same binary without the plugin configured.
	plug, nosync, bare          *testenv.Caddy
	plugCfg, nosyncCfg, bareCfg testenv.CaddyConfig

	pgc        *pgCluster // P: PostgreSQL and its nodes, while P runs
	pgcVersion string     // P: the server's version, for the table's note

	scriptOnce sync.Once // writes wrk's script (runWrk)
	scriptErr  error

	next    int     // the next seeded user a POST run starts at
	samples samples // figure -> one value per repetition
	notes   []string
}

func (h *harnessRun) add(key string, v float64) { h.samples[key] = append(h.samples[key], v) }

func (h *harnessRun) start(ctx context.Context) error {
	var err error
	logf("seeding %d users in the bench app", h.opts.users)
	if h.app, err = testenv.ListenSeededApp("127.0.0.1:0", h.opts.users); err != nil {
		return err
	}
	if h.sink, err = testenv.ListenSink(testenv.SinkConfig{SMTPUTF8: true}); err != nil {
		return err
	}
	ports, err := testenv.FreePorts(13)
	if err != nil {
		return err
	}
	h.plugCfg = testenv.CaddyConfig{Admin: ports[0], Plugin: true, PluginPort: ports[1], AdminSitePort: ports[2],
		PlainPort: ports[3], ProxyPort: ports[4], App: h.app.Addr, SMTP: h.sink.Addr,
		StoreDir: filepath.Join(h.dir, "store-sync"), SyncWrites: true}
	h.nosyncCfg = testenv.CaddyConfig{Admin: ports[5], Plugin: true, PluginPort: ports[6], PlainPort: ports[7],
		App: h.app.Addr, SMTP: h.sink.Addr, StoreDir: filepath.Join(h.dir, "store-nosync"), SyncWrites: false}
	h.bareCfg = testenv.CaddyConfig{Admin: ports[8], PlainPort: ports[9], ProxyPort: ports[10], App: h.app.Addr}
	h.plug = h.caddy("plugin", h.plugCfg.Admin)
	h.nosync = h.caddy("nosync", h.nosyncCfg.Admin)
	h.bare = h.caddy("bare", h.bareCfg.Admin)
	logf("starting Caddy three ways: the plugin with sync_writes on, with sync_writes off, and without the plugin")
	for _, c := range []struct {
		c   *testenv.Caddy
		cfg testenv.CaddyConfig
	}{{h.plug, h.plugCfg}, {h.nosync, h.nosyncCfg}, {h.bare, h.bareCfg}} {
		if err := c.c.Start(ctx, c.cfg.Caddyfile(), ready(c.cfg)...); err != nil {
			return err
		}
	}
	return nil
}

func (h *harnessRun) caddy(name string, admin int) *testenv.Caddy {
	return &testenv.Caddy{Bin: h.bin, Dir: filepath.Join(h.dir, name), Admin: fmt.Sprintf("127.0.0.1:%d", admin)}
}

func ready(c testenv.CaddyConfig) []string {
	var out []string
	for _, p := range []int{c.PluginPort, c.PlainPort, c.ProxyPort, c.AdminSitePort} {
		if p != 0 {
			out = append(out, fmt.Sprintf("127.0.0.1:%d", p))
		}
	}
	return out
}

func (h *harnessRun) close() {
	h.stopPostgres()
	for _, c := range []*testenv.Caddy{h.plug, h.nosync, h.bare} {
		if c != nil {
			if err := c.Stop(); err != nil {
				logf("stop caddy: %v", err)
			}
		}
	}
	if h.sink != nil {
		h.sink.Close()
	}
	if h.app != nil {
		h.app.Stop()
	}
}

func base(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// postRun is a wrk run of change_password for seeded users, each run starting
// where the last one stopped so that the users cycle.
func (h *harnessRun) postRun(port, conns int) wrkRun {
	r := wrkRun{URL: base(port) + "/dbconnections/change_password", Method: "POST", Conns: conns,
		Duration: h.opts.duration, Users: h.opts.users, Offset: h.next}
	h.next = (h.next + 50_000) % h.opts.users
	return r
}

// drain waits until the sink has received want more distinct messages than it
// had at before, and returns how long that took after the call.
func (h *harnessRun) drain(ctx context.Context, before testenv.SinkStats, want int) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	err := h.sink.Wait(ctx, func(st testenv.SinkStats) bool { return st.Distinct-before.Distinct >= want })
	return time.Since(start), err
}

// median returns the median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
