package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// P1 and P3 (issue 9): change_password for known users, 8 clients in all, on
// PostgreSQL: one node (P1), and three nodes on the one database (P3, wrk at
// 3+3+2 connections, one process per node, run at once). Each repetition also
// runs B1's Badger run (sync_writes on, 8 clients), the baseline of the ratio,
// in an order that rotates with the repetition.
//
// The server is durable (fsync on, synchronous_commit on), as Badger's
// sync_writes on is: the tests' PostgreSQL has fsync off, which would compare
// a commit that reaches the disk with one that does not.

// pgConns is the nodes' pool size: the product's default, written out.
const pgConns = 16

// pgSettle outlasts PostgreSQL's PGSTAT_IDLE_INTERVAL (10 s): a backend that
// went idle keeps its last second of counts (xact_commit) that long before it
// flushes them to pg_stat_database.
const pgSettle = 11 * time.Second

// pgCluster is P's PostgreSQL and its Caddy nodes.
type pgCluster struct {
	pg    *testenv.Postgres
	stats *pgx.Conn // to database postgres: its own statements are not counted in the nodes' database
	cfgs  []testenv.CaddyConfig
	nodes []*testenv.Caddy
	env   []string

	// Per figure (P/1, P/3), over its repetitions: each statement's calls
	// and time, and the requests accepted, for the log's breakdown.
	byStatement map[string]map[string]stmtCount
	accepted    map[string]int
}

// stmtCount is one statement's counts in pg_stat_statements.
type stmtCount struct {
	calls int64
	ms    float64 // total execution time
}

// statements are the nodes' statements' cumulative counts, by their text.
func (c *pgCluster) statements(ctx context.Context) (map[string]stmtCount, error) {
	rows, err := c.stats.Query(ctx, `SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 110), sum(calls)::bigint, sum(total_exec_time)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) GROUP BY 1`, pgDB)
	if err != nil {
		return nil, err
	}
	out := map[string]stmtCount{}
	for rows.Next() {
		var q string
		var n stmtCount
		if err := rows.Scan(&q, &n.calls, &n.ms); err != nil {
			return nil, err
		}
		out[q] = n
	}
	return out, rows.Err()
}

// pgDB is the nodes' database.
const pgDB = "bench"

// pgCounters are the cumulative counts of the nodes' database.
type pgCounters struct {
	xacts int64 // xact_commit + xact_rollback
	calls int64 // pg_stat_statements calls, top-level statements
}

func (c *pgCluster) counters(ctx context.Context) (pgCounters, error) {
	var n pgCounters
	err := c.stats.QueryRow(ctx, `SELECT d.xact_commit + d.xact_rollback,
		coalesce((SELECT sum(calls) FROM pg_stat_statements s WHERE s.dbid = d.datid), 0)::bigint
		FROM pg_stat_database d WHERE d.datname = $1`, pgDB).Scan(&n.xacts, &n.calls)
	return n, err
}

func (h *harnessRun) startPostgres(ctx context.Context) error {
	logf("P: starting a durable PostgreSQL (fsync on) with pg_stat_statements")
	pg, err := testenv.ListenPostgresWith(testenv.PostgresOptions{Durable: true, Settings: map[string]string{
		"shared_preload_libraries": "pg_stat_statements",
		// PostgreSQL's own default; the tests' 32 MB suits many servers at once.
		"shared_buffers": "128MB",
	}})
	if err != nil {
		return err
	}
	c := &pgCluster{pg: pg, byStatement: map[string]map[string]stmtCount{}, accepted: map[string]int{}}
	h.pgc = c
	if c.stats, err = pgx.Connect(ctx, pg.DSN()); err != nil {
		return err
	}
	for _, sql := range []string{"CREATE DATABASE " + pgDB, "CREATE EXTENSION pg_stat_statements"} {
		if _, err := c.stats.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	if err := c.stats.QueryRow(ctx, "SHOW server_version").Scan(&h.pgcVersion); err != nil {
		return err
	}
	ports, err := testenv.FreePorts(6)
	if err != nil {
		return err
	}
	c.env = []string{"TESTENV_PG_DSN=" + pg.DSNFor(pgDB), "TESTENV_KEY=bench-encryption-key-0123456789abcdef0123"}
	for i := range 3 {
		cfg := testenv.CaddyConfig{Admin: ports[2*i], Plugin: true, PluginPort: ports[2*i+1], App: h.app.Addr,
			SMTP: h.sink.Addr, PublicURL: base(ports[1]),
			Storage: fmt.Sprintf("postgres {env.TESTENV_PG_DSN} {\n\t\t\tmax_conns %d\n\t\t}", pgConns),
			Options: "\t\tencryption_key {env.TESTENV_KEY}\n"}
		node := h.caddy(fmt.Sprintf("pg-node%d", i+1), cfg.Admin)
		node.Env = c.env
		c.cfgs, c.nodes = append(c.cfgs, cfg), append(c.nodes, node)
	}
	if err := h.startNodes(ctx, 1); err != nil {
		return err
	}
	// The background work of one idle node (its workers' polls, the janitor,
	// the listener), which the per-request counts include over their span.
	c0, err := c.counters(ctx)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(pgSettle):
	}
	c1, err := c.counters(ctx)
	if err != nil {
		return err
	}
	h.add("P/idle/xacts", float64(c1.xacts-c0.xacts)/pgSettle.Seconds())
	h.add("P/idle/calls", float64(c1.calls-c0.calls)/pgSettle.Seconds())
	logf("P: one idle node's background: %.1f transactions/s, %.1f statements/s",
		h.samples["P/idle/xacts"][0], h.samples["P/idle/calls"][0])
	return nil
}

// startNodes starts the nodes up to n that are not running. P1 runs with the
// other two stopped: their workers would otherwise take a share of node 1's
// mails.
func (h *harnessRun) startNodes(ctx context.Context, n int) error {
	c := h.pgc
	for i, node := range c.nodes[:n] {
		if !node.Running() {
			if err := node.Start(ctx, c.cfgs[i].Caddyfile(), ready(c.cfgs[i])...); err != nil {
				return fmt.Errorf("postgres node %d: %w", i+1, err)
			}
		}
	}
	for _, node := range c.nodes[n:] {
		if err := node.Stop(); err != nil {
			return err
		}
	}
	return nil
}

func (h *harnessRun) stopPostgres() {
	c := h.pgc
	if c == nil {
		return
	}
	h.pgc = nil
	for _, node := range c.nodes {
		if err := node.Stop(); err != nil {
			logf("stop caddy: %v", err)
		}
	}
	if c.stats != nil {
		c.stats.Close(context.Background())
	}
	if err := c.pg.Close(); err != nil {
		logf("stop postgres: %v", err)
	}
}

// postgresFigures is P: per repetition, the Badger run, P1 and P3, rotated.
func (h *harnessRun) postgresFigures(ctx context.Context) error {
	if err := h.startPostgres(ctx); err != nil {
		return err
	}
	defer h.stopPostgres()
	runs := []string{"badger", "P1", "P3"}
	for rep := range h.opts.reps {
		for i := range runs {
			v := runs[(i+rep)%len(runs)]
			var err error
			switch v {
			case "badger":
				err = h.mailedRun(ctx, "P/badger", rep, []*testenv.Caddy{h.plug}, []int{h.plugCfg.PluginPort}, []int{8})
			case "P1":
				if err = h.startNodes(ctx, 1); err == nil {
					err = h.mailedRun(ctx, "P/1", rep, h.pgc.nodes[:1], []int{h.pgc.cfgs[0].PluginPort}, []int{8})
				}
			case "P3":
				if err = h.startNodes(ctx, 3); err == nil {
					ports := []int{h.pgc.cfgs[0].PluginPort, h.pgc.cfgs[1].PluginPort, h.pgc.cfgs[2].PluginPort}
					err = h.mailedRun(ctx, "P/3", rep, h.pgc.nodes, ports, []int{3, 3, 2})
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", v, err)
			}
		}
	}
	h.logStatements()
	return nil
}

// mailedRun runs wrk against each of ports at once (conns[i] connections to
// ports[i]), waits until every request answered 200 has its mail, and records
// the figures under key. On PostgreSQL (key P/1, P/3) it also counts the
// database's transactions and statements from before the run to after the
// mails and pgSettle, per accepted request: the request's own work and what
// it queued (the mail's job) are both in it, and so is what the nodes do
// meanwhile in the background (the janitor, autovacuum).
func (h *harnessRun) mailedRun(ctx context.Context, key string, rep int, nodes []*testenv.Caddy, ports, conns []int) error {
	onPG := key != "P/badger"
	before := h.sink.Stats()
	var c0 pgCounters
	var s0 map[string]stmtCount
	if onPG {
		var err error
		if c0, err = h.pgc.counters(ctx); err != nil {
			return err
		}
		if s0, err = h.pgc.statements(ctx); err != nil {
			return err
		}
	}
	var profile func() error
	if h.opts.profile != "" && rep == 0 && key == "P/1" {
		profile = h.startProfile(nodes[0], "p1-node1.pprof")
	}
	var waits *waitSampler
	if onPG {
		var err error
		if waits, err = h.sampleWaits(ctx); err != nil {
			return err
		}
		defer waits.end()
	}
	cpu0, pgCPU0 := caddyCPU(nodes), h.postgresCPU()
	busy0, total0 := machineCPU()
	results := make([]wrkResult, len(ports))
	errs := make([]error, len(ports))
	var wg sync.WaitGroup
	for i, port := range ports {
		run := h.postRun(port, conns[i])
		// Disjoint users for each process, so that no two requests in flight
		// name the same user.
		run.Offset = (run.Offset + i*h.opts.users/len(ports)) % h.opts.users
		run.Quantiles = filepath.Join(h.dir, fmt.Sprintf("quantiles-%d", i))
		wg.Go(func() { results[i], errs[i] = h.runWrk(ctx, run) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cpu1, pgCPU1 := caddyCPU(nodes), h.postgresCPU()
	busy1, total1 := machineCPU()
	if waits != nil {
		logf("%s: the nodes' backends during the run: %s", key, waits.report())
	}
	var sum wrkResult
	var rps float64
	var p99max time.Duration
	var lat latencies
	for i, r := range results {
		rps += r.RPS() // the processes ran at once: their rates add up
		sum.Requests, sum.BadStatus, sum.SocketErrors, sum.Timeouts = sum.Requests+r.Requests,
			sum.BadStatus+r.BadStatus, sum.SocketErrors+r.SocketErrors, sum.Timeouts+r.Timeouts
		sum.Duration = max(sum.Duration, r.Duration)
		p99max = max(p99max, r.P99)
		if r.Requests > 0 {
			if err := lat.add(filepath.Join(h.dir, fmt.Sprintf("quantiles-%d", i)), r.Requests); err != nil {
				return err
			}
		}
	}
	p99 := lat.percentile(99)
	secs := sum.Duration.Seconds()
	logf("%s: Caddy used %.2f cores, PostgreSQL %.2f; the machine was %.0f%% busy", key,
		(cpu1-cpu0).Seconds()/secs, (pgCPU1-pgCPU0).Seconds()/secs, 100*float64(busy1-busy0)/float64(max(total1-total0, 1)))
	if profile != nil {
		if err := profile(); err != nil {
			logf("profile: %v", err)
		}
	}
	drain, err := h.drain(ctx, before, sum.OK())
	if err != nil {
		return fmt.Errorf("waiting for the mails of %d accepted requests: %w", sum.OK(), err)
	}
	after := h.sink.Stats()
	logf("%s: %7.0f req/s, p50 %v p99 %v (max of the wrk processes' %v), failed %d (timeouts %d); %d mails delivered %.1fs after the run, %d duplicates",
		key, rps, lat.percentile(50), p99, p99max, sum.Failed(), sum.Timeouts, after.Distinct-before.Distinct,
		drain.Seconds(), after.Duplicates()-before.Duplicates())
	if onPG && sum.OK() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pgSettle):
		}
		c1, err := h.pgc.counters(ctx)
		if err != nil {
			return err
		}
		s1, err := h.pgc.statements(ctx)
		if err != nil {
			return err
		}
		if h.pgc.byStatement[key] == nil {
			h.pgc.byStatement[key] = map[string]stmtCount{}
		}
		for q, n := range s1 {
			t := h.pgc.byStatement[key][q]
			t.calls, t.ms = t.calls+n.calls-s0[q].calls, t.ms+n.ms-s0[q].ms
			h.pgc.byStatement[key][q] = t
		}
		h.pgc.accepted[key] += sum.OK()
		perReq := func(d int64) float64 { return float64(d) / float64(sum.OK()) }
		logf("%s: per accepted request %.2f transactions, %.2f statements", key, perReq(c1.xacts-c0.xacts), perReq(c1.calls-c0.calls))
		h.add(key+"/xacts", perReq(c1.xacts-c0.xacts))
		h.add(key+"/calls", perReq(c1.calls-c0.calls))
	}
	h.add(key+"/rps", rps)
	h.add(key+"/p99", ms(p99))
	h.add(key+"/p99max", ms(p99max))
	h.add(key+"/failed", float64(sum.Failed()))
	h.add(key+"/timeouts", float64(sum.Timeouts))
	h.add(key+"/mailrate", float64(sum.OK())/(sum.Duration+drain).Seconds())
	h.add(key+"/lost", float64(max(sum.OK()-(after.Distinct-before.Distinct), 0))) // more mails: requests wrk left in flight
	h.add(key+"/dups", float64(after.Duplicates()-before.Duplicates()))
	return nil
}

// logStatements logs, for P1 and P3, the statements the nodes sent most, per
// accepted request, and their time in the server.
func (h *harnessRun) logStatements() {
	for _, key := range []string{"P/1", "P/3"} {
		n := h.pgc.accepted[key]
		if n == 0 {
			continue
		}
		m := h.pgc.byStatement[key]
		qs := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Compare(m[b].calls, m[a].calls) })
		var b strings.Builder
		for _, q := range qs[:min(len(qs), 8)] {
			if m[q].calls == 0 {
				break
			}
			fmt.Fprintf(&b, "\n  %5.2f per request, %6.3f ms each: %s", float64(m[q].calls)/float64(n), m[q].ms/float64(m[q].calls), q)
		}
		logf("%s: the nodes' statements, most called first, over %d accepted requests:%s", key, n, b.String())
	}
}

// caddyCPU is the CPU time the nodes have used.
func caddyCPU(nodes []*testenv.Caddy) time.Duration {
	var t time.Duration
	for _, n := range nodes {
		d, _ := n.CPUTime()
		t += d
	}
	return t
}

// postgresCPU is the CPU time of the server's processes: those alive and,
// through the postmaster's children's times, those that have exited.
func (h *harnessRun) postgresCPU() time.Duration {
	if h.pgc == nil {
		return 0
	}
	var ticks int64
	for i, pid := range h.pgc.pg.Processes() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile: counted in the postmaster's children's time
		}
		// After the command's name: utime, stime, cutime and cstime are the
		// 12th to 15th fields, in clock ticks (100 a second).
		_, rest, _ := strings.Cut(string(data), ") ")
		f := strings.Fields(rest)
		if len(f) < 15 {
			continue
		}
		fields := f[11:13]
		if i == 0 { // the postmaster
			fields = f[11:15]
		}
		for _, v := range fields {
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// postgresRows are P1's and P3's rows of the table, and the note under it.
func (h *harnessRun) postgresRows() ([]row, string) {
	s := h.samples
	if len(s["P/1/rps"]) == 0 && len(s["P/3/rps"]) == 0 {
		return nil, ""
	}
	med, ratio, total := s.median, s.ratio, s.sum
	var rows []row
	for _, n := range []int{1, 3} {
		k := fmt.Sprintf("P/%d", n)
		if len(s[k+"/rps"]) == 0 {
			continue
		}
		rps, p99 := med(k+"/rps"), med(k+"/p99")
		figure, target, ok := "change_password, known users, 8 clients, PostgreSQL (durable), 1 node: req/s",
			">= 11,250/s (5x Supabase Auth)", rps >= 11_250
		p99note := ""
		if n == 3 {
			r := ratio("P/3/rps", "P/1/rps")
			figure = "... 3 nodes on one database, 8 clients in all (3+3+2): req/s"
			target, ok = fmt.Sprintf(">= P1 (P3/P1 %.2f)", r), len(s["P/1/rps"]) > 0 && r >= 1
			p99note = fmt.Sprintf("the three wrk processes' latencies merged; the largest of their own p99s %.2f ms", med(k+"/p99max"))
		}
		note := fmt.Sprintf("per accepted request: %.2f commits, %.2f statements; %d failed, %d timeouts; every 200 mailed: %d lost, %d duplicated; end to end %.0f mails/s",
			med(k+"/xacts"), med(k+"/calls"), total(k+"/failed"), total(k+"/timeouts"), total(k+"/lost"), total(k+"/dups"), med(k+"/mailrate"))
		rows = append(rows,
			row{fmt.Sprintf("P%d", n), figure, fmt.Sprintf("%.0f", rps), fmt.Sprintf("%.0f", med("P/badger/rps")),
				fmt.Sprintf("%.2f", ratio(k+"/rps", "P/badger/rps")), target, yes(ok), note},
			row{fmt.Sprintf("P%d", n), fmt.Sprintf("... p99 latency, %s, 8 clients", map[int]string{1: "1 node", 3: "3 nodes"}[n]), fmt.Sprintf("%.2f ms", p99),
				fmt.Sprintf("%.2f ms", med("P/badger/p99")), fmt.Sprintf("%.2fx", ratio(k+"/p99", "P/badger/p99")),
				"<= 20 ms", yes(p99 <= 20), p99note})
	}
	note := fmt.Sprintf("P1, P3: PostgreSQL %s, durable (fsync on, synchronous_commit on) as Badger's sync_writes on is, "+
		"so that both pay for a commit that reaches the disk; max_conns %d per node; rate_limit off as B1. "+
		"Baseline: B1's Badger run (sync_writes on, 1 node, 8 clients), measured in the same step, its order rotated with P1's and P3's. "+
		"Commits: xact_commit + xact_rollback of the nodes' database, from before the run until its mails are sent and the counts settled "+
		"(the mail's job and the nodes' background work included). Statements: pg_stat_statements calls of top-level statements "+
		"over the same span, an upper bound of round trips: a pipelined batch is several statements in one round trip. "+
		"One idle node's background, in both counts: %.1f commits/s, %.1f statements/s.",
		h.pgcVersion, pgConns, med("P/idle/xacts"), med("P/idle/calls"))
	return rows, note
}
