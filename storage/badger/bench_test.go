package badger

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// Each benchmark runs the same operation three ways, so results read as ratios
// measured in one run rather than as absolute claims about a machine:
//
//	store         this package's Store (tuned options, copies, error mapping)
//	raw-tuned     a bare *badger.DB with the same options: the wrapper's cost
//	raw-defaults  a bare *badger.DB with badger.DefaultOptions: the tuning's cost
//
// Run: go test -run '^$' -bench . -benchmem ./storage/badger/

// benchValue is about the size of a ticket or queue record.
var benchValue = make([]byte, 300)

// preloaded is the number of keys Get reads from.
const preloaded = 1000

// keySink keeps the raw Scan baseline from optimising away the key copy Store makes.
var keySink string

func benchKey(prefix string, i int) string { return fmt.Sprintf("%s/%08d", prefix, i) }

// openBenchStore opens a Store on disk without the GC goroutine.
func openBenchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(Options{Dir: b.TempDir(), GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// openRaw opens a bare Badger database, tuned like Store or with Badger's defaults.
func openRaw(b *testing.B, tuned bool) *badger.DB {
	b.Helper()
	opts := badger.DefaultOptions(b.TempDir()).WithLogger(nil)
	if tuned {
		opts = tune(opts)
	}
	db, err := badger.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// preload writes n keys under prefix outside the timed section.
func preload(b *testing.B, db *badger.DB, prefix string, n int) {
	b.Helper()
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for i := range n {
		if err := wb.Set([]byte(benchKey(prefix, i)), benchValue); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
}

// runThreeWays runs the store variant and both raw variants as sub-benchmarks.
// setup prepares a database before the timer starts.
func runThreeWays(b *testing.B, setup func(b *testing.B, db *badger.DB),
	store func(b *testing.B, s *Store), raw func(b *testing.B, db *badger.DB)) {
	b.Run("store", func(b *testing.B) {
		s := openBenchStore(b)
		setup(b, s.db)
		b.ReportAllocs()
		b.ResetTimer()
		store(b, s)
	})
	for _, tuned := range []bool{true, false} {
		name := "raw-defaults"
		if tuned {
			name = "raw-tuned"
		}
		b.Run(name, func(b *testing.B) {
			db := openRaw(b, tuned)
			setup(b, db)
			b.ReportAllocs()
			b.ResetTimer()
			raw(b, db)
		})
	}
}

func noSetup(*testing.B, *badger.DB) {}

func BenchmarkSet(b *testing.B) {
	ctx := context.Background()
	runThreeWays(b, noSetup,
		func(b *testing.B, s *Store) {
			for i := range b.N {
				err := s.Update(ctx, func(tx storage.Tx) error {
					return tx.Set(benchKey("set", i), benchValue, 0)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		},
		func(b *testing.B, db *badger.DB) {
			for i := range b.N {
				err := db.Update(func(txn *badger.Txn) error {
					return txn.Set([]byte(benchKey("set", i)), benchValue)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	setup := func(b *testing.B, db *badger.DB) { preload(b, db, "get", preloaded) }
	runThreeWays(b, setup,
		func(b *testing.B, s *Store) {
			for i := range b.N {
				err := s.View(ctx, func(tx storage.Tx) error {
					_, err := tx.Get(benchKey("get", i%preloaded))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		},
		func(b *testing.B, db *badger.DB) {
			for i := range b.N {
				err := db.View(func(txn *badger.Txn) error {
					item, err := txn.Get([]byte(benchKey("get", i%preloaded)))
					if err != nil {
						return err
					}
					_, err = item.ValueCopy(nil)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
}

// BenchmarkConsume is the single-use claim: read a key and delete it in one
// Update, as a reset ticket is consumed.
func BenchmarkConsume(b *testing.B) {
	ctx := context.Background()
	setup := func(b *testing.B, db *badger.DB) { preload(b, db, "consume", b.N) }
	runThreeWays(b, setup,
		func(b *testing.B, s *Store) {
			for i := range b.N {
				err := s.Update(ctx, func(tx storage.Tx) error {
					k := benchKey("consume", i)
					if _, err := tx.Get(k); err != nil {
						return err
					}
					return tx.Delete(k)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		},
		func(b *testing.B, db *badger.DB) {
			for i := range b.N {
				err := db.Update(func(txn *badger.Txn) error {
					k := []byte(benchKey("consume", i))
					item, err := txn.Get(k)
					if err != nil {
						return err
					}
					if _, err := item.ValueCopy(nil); err != nil {
						return err
					}
					return txn.Delete(k)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
}

// BenchmarkScan100 reads 100 keys under one prefix among 1000 others, as a queue
// or a user's tickets are listed.
func BenchmarkScan100(b *testing.B) {
	ctx := context.Background()
	setup := func(b *testing.B, db *badger.DB) {
		preload(b, db, "scan", 100)
		preload(b, db, "other", preloaded)
	}
	check := func(b *testing.B, n int) {
		if n != 100 {
			b.Fatalf("scanned %d keys, want 100", n)
		}
	}
	runThreeWays(b, setup,
		func(b *testing.B, s *Store) {
			for range b.N {
				n := 0
				err := s.View(ctx, func(tx storage.Tx) error {
					return tx.Scan("scan/", "", func(string, []byte) error { n++; return nil })
				})
				if err != nil {
					b.Fatal(err)
				}
				check(b, n)
			}
		},
		func(b *testing.B, db *badger.DB) {
			for range b.N {
				n := 0
				err := db.View(func(txn *badger.Txn) error {
					opts := badger.DefaultIteratorOptions
					opts.PrefetchValues = false
					opts.Prefix = []byte("scan/")
					it := txn.NewIterator(opts)
					defer it.Close()
					for it.Rewind(); it.Valid(); it.Next() {
						item := it.Item()
						keySink = string(item.Key()) // Tx.Scan hands out keys as strings
						if _, err := item.ValueCopy(nil); err != nil {
							return err
						}
						n++
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				check(b, n)
			}
		})
}

// BenchmarkOpenIdleHeap reports, as heap-bytes, the live Go heap an idle database
// holds right after Open, with this package's options and with Badger's defaults.
func BenchmarkOpenIdleHeap(b *testing.B) {
	variants := []struct {
		name string
		opts func(dir string) badger.Options
	}{
		{"tuned", func(dir string) badger.Options { return badgerOptions(Options{Dir: dir}, zap.NewNop()) }},
		{"defaults", func(dir string) badger.Options { return badger.DefaultOptions(dir).WithLogger(nil) }},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			dir := b.TempDir()
			var total uint64
			for range b.N {
				total += idleHeap(b, v.opts(dir))
			}
			b.ReportMetric(float64(total)/float64(b.N), "heap-bytes")
		})
	}
}

// BenchmarkSetSyncWrites is BenchmarkSet with SyncWrites on, as the Caddy module
// configures it by default: each commit waits for the WAL to reach the disk.
func BenchmarkSetSyncWrites(b *testing.B) {
	ctx := context.Background()
	b.Run("store", func(b *testing.B) {
		s, err := Open(Options{Dir: b.TempDir(), GCInterval: -1, SyncWrites: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			err := s.Update(ctx, func(tx storage.Tx) error {
				return tx.Set(benchKey("set", i), benchValue, 0)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-tuned", func(b *testing.B) {
		db, err := badger.Open(tune(badger.DefaultOptions(b.TempDir())).WithLogger(nil).WithSyncWrites(true))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			err := db.Update(func(txn *badger.Txn) error {
				return txn.Set([]byte(benchKey("set", i)), benchValue)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSetSyncWritesParallel is BenchmarkSetSyncWrites with 8 goroutines
// committing at once per CPU, as the request endpoint and the workers do: the
// store's group commit (one sync for every commit that finished before it) against
// Badger's own SyncWrites (one msync per transaction, one after another).
func BenchmarkSetSyncWritesParallel(b *testing.B) {
	ctx := context.Background()
	var next atomic.Int64
	b.Run("store", func(b *testing.B) {
		s, err := Open(Options{Dir: b.TempDir(), GCInterval: -1, SyncWrites: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		setParallel(b, &next, func(i int) error {
			return s.Update(ctx, func(tx storage.Tx) error {
				return tx.Set(benchKey("set", i), benchValue, 0)
			})
		})
	})
	b.Run("raw-tuned", func(b *testing.B) {
		db, err := badger.Open(tune(badger.DefaultOptions(b.TempDir())).WithLogger(nil).WithSyncWrites(true))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		setParallel(b, &next, func(i int) error {
			return db.Update(func(txn *badger.Txn) error {
				return txn.Set([]byte(benchKey("set", i)), benchValue)
			})
		})
	})
}

// setParallel runs set with 8 goroutines per CPU, each call with a fresh index.
func setParallel(b *testing.B, next *atomic.Int64, set func(i int) error) {
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := set(int(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
