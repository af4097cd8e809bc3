package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
)

// The benchmarks run on the test server (TestMain): loopback TCP, fsync off,
// synchronous_commit on, so a commit waits for its WAL write but not for a
// disk flush. Besides ns/op they report roundtrips/op, counted on the
// connections' sockets (a write after a read starts one) once the connections
// are open and their statements prepared.
//
// Run: go test -run '^$' -bench . -benchmem ./storage/postgres/

// benchValue is about the size of a ticket or queue record.
var benchValue = make([]byte, 300)

const benchKeys = 1000

// openBench opens a counting store with benchKeys keys per worker.
func openBench(b *testing.B, workers int) (*postgres.Store, *postgres.RoundTrips) {
	b.Helper()
	s, rt, err := postgres.OpenCounting(b.Context(), postgres.Options{DSN: server.DSN(), TablePrefix: newPrefix(),
		JanitorInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for w := range workers {
		err := s.Update(b.Context(), func(tx storage.Tx) error {
			for i := range benchKeys {
				if err := tx.Set(benchKey(w, i), benchValue, time.Hour); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, rt
}

func benchKey(worker, i int) string { return fmt.Sprintf("ticket/%02d/%06d", worker, i%benchKeys) }

// runWorkers runs op b.N times over workers goroutines, each with keys of its
// own (no conflicts), after a warm-up that opens and prepares every
// connection, and reports the round trips per op.
func runWorkers(b *testing.B, workers int, s *postgres.Store, rt *postgres.RoundTrips, op func(worker, i int) error) {
	b.Helper()
	var conflicts atomic.Int64
	run := func(n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					err := op(w, i)
					if errors.Is(err, storage.ErrConflict) {
						// The workers' keys are disjoint: a conflict is the
						// database's false positive, counted, not fatal.
						conflicts.Add(1)
						continue
					}
					if err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	run(20 * workers)
	before := rt.Load()
	conflicts.Store(0)
	b.ResetTimer()
	run(b.N)
	b.StopTimer()
	b.ReportMetric(float64(rt.Load()-before)/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(conflicts.Load())/float64(b.N), "conflicts/op")
}

// BenchmarkUpdateGetSet is the shape of most of the flow's transactions: read
// a record, write it back.
func BenchmarkUpdateGetSet(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			s, rt := openBench(b, workers)
			runWorkers(b, workers, s, rt, func(w, i int) error {
				return s.Update(context.Background(), func(tx storage.Tx) error {
					key := benchKey(w, i)
					if _, err := tx.Get(key); err != nil {
						return err
					}
					return tx.Set(key, benchValue, time.Hour)
				})
			})
		})
	}
}

// BenchmarkUpdateSet writes without reading: BEGIN, the write and COMMIT go
// in one batch.
func BenchmarkUpdateSet(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			s, rt := openBench(b, workers)
			runWorkers(b, workers, s, rt, func(w, i int) error {
				return s.Update(context.Background(), func(tx storage.Tx) error {
					return tx.Set(benchKey(w, i), benchValue, time.Hour)
				})
			})
		})
	}
}

// BenchmarkView reads one key in a View: BEGIN with the read, then COMMIT.
func BenchmarkView(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			s, rt := openBench(b, workers)
			runWorkers(b, workers, s, rt, func(w, i int) error {
				return s.View(context.Background(), func(tx storage.Tx) error {
					_, err := tx.Get(benchKey(w, i))
					return err
				})
			})
		})
	}
}

// BenchmarkGCRA counts a request against two buckets, as the flow's limits
// (per address, per account) do.
func BenchmarkGCRA(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			s, rt := openBench(b, 0)
			runWorkers(b, workers, s, rt, func(w, i int) error {
				_, err := s.GCRA(context.Background(), time.Now(), storage.GCRAAllow, []storage.GCRABucket{
					{Key: fmt.Sprintf("ip/%02d/%03d", w, i%100), Every: time.Millisecond, Window: time.Hour},
					{Key: fmt.Sprintf("user/%02d/%03d", w, i%100), Every: time.Millisecond, Window: time.Hour},
				})
				return err
			})
		})
	}
}
