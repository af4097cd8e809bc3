package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one line of the table.
type row struct {
	id, figure, ours, base, ratio, target, met, note string
}

// samples holds one value per repetition of each figure.
type samples map[string][]float64

func (s samples) have(key string) bool      { return len(s[key]) > 0 }
func (s samples) median(key string) float64 { return median(s[key]) }

// ratio is the median of the per-repetition ratios a/b.
func (s samples) ratio(a, b string) float64 {
	var rs []float64
	for i := range min(len(s[a]), len(s[b])) {
		if s[b][i] != 0 {
			rs = append(rs, s[a][i]/s[b][i])
		}
	}
	return median(rs)
}

// sum is the total of a figure over the repetitions.
func (s samples) sum(key string) int {
	t := 0.0
	for _, v := range s[key] {
		t += v
	}
	return int(t)
}

// yes marks a target met or not.
func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// table renders the figures measured, as Markdown.
func (h *harnessRun) table(machine string) string {
	var rows []row
	s := h.samples
	have, med, ratio, sum := s.have, s.median, s.ratio, s.sum

	for _, sync := range []string{"on", "off"} {
		for _, conns := range []int{8, 256} {
			k := fmt.Sprintf("B1/%s/%d", sync, conns)
			b := fmt.Sprintf("B1/base/%d", conns)
			if !have(k + "/rps") {
				continue
			}
			rr, pr := ratio(k+"/rps", b+"/rps"), ratio(k+"/p99", b+"/p99")
			rps, p99 := med(k+"/rps"), med(k+"/p99")
			target, ok := "ratio >= 0.8", rr >= 0.8
			ptarget, pok := "<= 2x", pr <= 2
			if conns == 8 {
				target, ok = "ratio >= 0.8; >= 4,500/s", ok && rps >= 4500
				ptarget, pok = "<= 2x; <= 10 ms", pok && p99 <= 10
			} else {
				ptarget, pok = "<= 2x; < 100 ms; no timeout", pok && p99 < 100 && sum(k+"/timeouts") == 0
			}
			note := fmt.Sprintf("%d failed, %d timeouts; every 200 mailed: %d lost, %d duplicated; end to end %.0f mails/s",
				sum(k+"/failed"), sum(k+"/timeouts"), sum(k+"/lost"), sum(k+"/dups"), med(k+"/mailrate"))
			rows = append(rows,
				row{"B1", fmt.Sprintf("change_password, known users, %d clients, sync_writes %s: req/s", conns, sync),
					fmt.Sprintf("%.0f", rps), fmt.Sprintf("%.0f", med(b+"/rps")), fmt.Sprintf("%.2f", rr), target, yes(ok), note},
				row{"B1", fmt.Sprintf("... p99 latency, %d clients, sync_writes %s", conns, sync),
					fmt.Sprintf("%.2f ms", p99), fmt.Sprintf("%.2f ms", med(b+"/p99")), fmt.Sprintf("%.2fx", pr), ptarget, yes(pok), ""})
		}
	}
	if have("M/mailed") {
		r := ratio("M/mailed", "M/answered")
		mailed := med("M/mailed")
		rows = append(rows,
			row{"M", fmt.Sprintf("end to end, known users, 8 clients for %v, sync_writes on: mails delivered per s in the run", h.opts.e2e),
				fmt.Sprintf("%.0f", mailed), fmt.Sprintf("%.0f answered/s", med("M/answered")), fmt.Sprintf("%.2f", r),
				"ratio >= 0.9; >= 4,500 mails/s", yes(r >= 0.9 && mailed >= 4500),
				fmt.Sprintf("answers p99 %.2f ms, %d failed; every 200 mailed: %d lost, %d duplicated; Caddy's CPU per mail %.0f µs",
					med("M/p99"), sum("M/failed"), sum("M/lost"), sum("M/dups"), med("M/cpu-per-mail"))},
			row{"M", "... accepted without a mail when the run ended (the queue's depth)", fmt.Sprintf("%.0f", med("M/depth")), "-", "-",
				"<= the backlog (256)", yes(med("M/depth") <= 256), "the largest of the repetitions: " + fmt.Sprintf("%.0f", slices.Max(s["M/depth"]))})
	}
	if have("F/flood/p99") {
		p99 := med("F/flood/p99")
		rows = append(rows, row{"F", fmt.Sprintf("a real user's mail (request to delivery) while %d addresses flood, %d requests each (default limits): p99", floodIPs, floodEach),
			fmt.Sprintf("%.0f ms", p99), fmt.Sprintf("%.0f ms", med("F/quiet/p99")), fmt.Sprintf("%.1fx", p99/max(med("F/quiet/p99"), 0.001)),
			"<= 2 s", yes(p99 <= 2000), fmt.Sprintf("baseline: no flood; p50 %.0f ms; the flood at %.0f req/s, %d answered 200",
				med("F/flood/p50"), med("F/flood/rps"), sum("F/flood/ok"))})
	}
	pgRows, pgNote := h.postgresRows()
	rows = append(rows, pgRows...)
	if have("E/diff") {
		d, p := med("E/diff"), med("E/p")
		rows = append(rows, row{"E", "known vs unknown addresses, 1,000 each, one at a time: median answer",
			fmt.Sprintf("%.3f ms", med("E/known")), fmt.Sprintf("%.3f ms", med("E/unknown")), fmt.Sprintf("%.2f%%", d),
			"indistinguishable: medians within 2%, KS p > 0.01", yes(d <= 2 && p > 0.01), fmt.Sprintf("KS p-value %.3f; no padding", p)})
	}
	if have("B2/plugin/rps") {
		r := ratio("B2/plugin/rps", "B2/plain/rps")
		rows = append(rows, row{"B2", "the app's GET /login, 32 clients: req/s",
			fmt.Sprintf("%.0f", med("B2/plugin/rps")), fmt.Sprintf("%.0f", med("B2/plain/rps")), fmt.Sprintf("%.3f", r),
			"ratio >= 0.98", yes(r >= 0.98), fmt.Sprintf("p99 %.2f ms vs %.2f ms", med("B2/plugin/p99"), med("B2/plain/p99"))})
	}
	if have("B3/plugin/rate") {
		r := ratio("B3/plugin/rate", "B3/base/rate")
		rows = append(rows, row{"B3", "reset completions (GET link, GET form, POST), 8 clients: per s",
			fmt.Sprintf("%.1f", med("B3/plugin/rate")), fmt.Sprintf("%.1f", med("B3/base/rate")), fmt.Sprintf("%.2f", r),
			"ratio >= 0.7", yes(r >= 0.7), fmt.Sprintf("p99 %.0f ms vs %.0f ms", med("B3/plugin/p99"), med("B3/base/p99"))})
	}
	if have("B4/plugin/rate") {
		r := ratio("B4/plugin/rate", "B4/base/rate")
		rows = append(rows, row{"B4", fmt.Sprintf("mails from the outbox to a local SMTP server (%d queued): per s", h.opts.mails),
			fmt.Sprintf("%.0f", med("B4/plugin/rate")), fmt.Sprintf("%.0f", med("B4/base/rate")), fmt.Sprintf("%.2f", r),
			"ratio >= 0.8", yes(r >= 0.8), "baseline: go-smtp client, one connection"})
	}
	if have("B5/plugin/idle") {
		d := mb(int64(med("B5/plugin/idle") - med("B5/bare/idle")))
		rows = append(rows, row{"B5", "resident memory, idle", fmt.Sprintf("%.1f MB", mb(int64(med("B5/plugin/idle")))),
			fmt.Sprintf("%.1f MB", mb(int64(med("B5/bare/idle")))), fmt.Sprintf("%+.1f MB", d), "<= +30 MB", yes(d <= 30),
			"baseline: the same binary, plugin not configured"})
	}
	if have("B5/plugin/load") && have("B5/bare/load") {
		d := mb(int64(med("B5/plugin/load") - med("B5/bare/load")))
		rows = append(rows, row{"B5", "resident memory, peak under B1 load (256 clients)", fmt.Sprintf("%.1f MB", mb(int64(med("B5/plugin/load")))),
			fmt.Sprintf("%.1f MB", mb(int64(med("B5/bare/load")))), fmt.Sprintf("%+.1f MB", d), "<= +100 MB", yes(d <= 100),
			fmt.Sprintf("peaks: anonymous %.0f MB, mapped files %.0f MB", mb(int64(med("B5/plugin/load-anon"))), mb(int64(med("B5/plugin/load-file"))))})
	}
	if have("B6/disk-MB") {
		rows = append(rows,
			row{"B6", fmt.Sprintf("%d open tickets: disk used", h.opts.openTickets), fmt.Sprintf("%.0f MB", med("B6/disk-MB")), "-", "-",
				"<= 500 MB", yes(med("B6/disk-MB") <= 500), "absolute, on the machine below"},
			row{"B6", "... consuming one (CompleteReset, sync_writes on): p99", fmt.Sprintf("%.2f ms", med("B6/p99-ms")), "-", "-",
				"<= 2 ms", yes(med("B6/p99-ms") <= 2), fmt.Sprintf("p50 %.2f ms", med("B6/p50-ms"))})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nMachine: %s\nRun: %d repetitions of %s per wrk run, %d seeded users; medians; ratio = ours / baseline, per repetition, then the median.\n\n",
		machine, h.opts.reps, h.opts.duration, h.opts.users)
	b.WriteString("| id | figure | ours | baseline | ratio | target | met | notes |\n|---|---|---:|---:|---:|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.figure, r.ours, r.base, r.ratio, r.target, r.met, r.note)
	}
	for _, n := range h.notes {
		fmt.Fprintf(&b, "\n%s", n)
	}
	if pgNote != "" {
		fmt.Fprintf(&b, "\n%s\n", pgNote)
	}
	return b.String()
}

// describeMachine says what the figures were measured on: CPU, cores, kernel, Go,
// the date, and the fsync latency of the work directory's disk.
func describeMachine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d cores, Linux %s, %s, %s, fsync p50 %s", cpu, runtime.NumCPU(),
		strings.TrimSpace(string(kernel)), runtime.Version(), time.Now().UTC().Format("2006-01-02"), fsyncLatency())
}

// fsyncLatency times 200 small appends, each followed by fsync, in the temp dir.
func fsyncLatency() string {
	f, err := os.CreateTemp("", "fsync-")
	if err != nil {
		return "unknown"
	}
	defer os.Remove(f.Name())
	defer f.Close()
	ds := make([]time.Duration, 200)
	buf := make([]byte, 512)
	for i := range ds {
		if _, err := f.Write(buf); err != nil {
			return "unknown"
		}
		t := time.Now()
		if err := f.Sync(); err != nil {
			return "unknown"
		}
		ds[i] = time.Since(t)
	}
	slices.Sort(ds)
	return ds[len(ds)/2].Round(time.Microsecond).String() + " (" + filepath.Dir(f.Name()) + ")"
}
