package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// waitSampler samples, during a P run, what the nodes' backends are doing
// (pg_stat_activity: running, waiting on a lock, on the WAL's flush, or idle
// waiting for the node's next statement): where a request's time goes on the
// server's side. A diagnosis for the log, not a figure: the samples are few
// and the sampler takes some CPU of its own.
type waitSampler struct {
	counts map[string]int
	total  int
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// sampleWaits starts sampling every 50 ms on a connection of its own (to the
// database postgres, so that its statements are not counted).
func (h *harnessRun) sampleWaits(ctx context.Context) (*waitSampler, error) {
	conn, err := pgx.Connect(ctx, h.pgc.pg.DSN())
	if err != nil {
		return nil, err
	}
	w := &waitSampler{counts: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer conn.Close(context.Background())
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			// The lock a committing NOTIFY takes (on the database object 0,
			// in PostgreSQL 15) is named: it is held through the commit's
			// WAL flush, so the commits that notify queue for it one by one.
			rows, err := conn.Query(ctx, `SELECT CASE
				WHEN a.state = 'active' AND a.wait_event IS NULL THEN 'running'
				WHEN a.wait_event = 'object' AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted
					AND l.locktype = 'object' AND l.classid = 'pg_database'::regclass AND l.objid = 0) THEN 'Lock: NOTIFY''s, at commit'
				WHEN a.state = 'active' THEN a.wait_event_type || ': ' || a.wait_event
				ELSE a.state END
				FROM pg_stat_activity a WHERE a.datname = $1 AND a.backend_type = 'client backend'`, pgDB)
			if err != nil {
				return
			}
			for rows.Next() {
				var what string
				if rows.Scan(&what) == nil {
					w.counts[what]++
					w.total++
				}
			}
			rows.Close()
		}
	}()
	return w, nil
}

// end stops the sampler, if it runs; a nil sampler is none.
func (w *waitSampler) end() {
	if w != nil {
		w.once.Do(func() { close(w.stop) })
		<-w.done
	}
}

// report stops the sampler and says what share of the samples each state had.
func (w *waitSampler) report() string {
	w.end()
	if w.total == 0 {
		return "no samples"
	}
	whats := slices.SortedFunc(maps.Keys(w.counts), func(a, b string) int { return cmp.Compare(w.counts[b], w.counts[a]) })
	var parts []string
	for _, what := range whats {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", what, 100*float64(w.counts[what])/float64(w.total)))
	}
	return strings.Join(parts, ", ")
}
