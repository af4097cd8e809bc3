package badger

import (
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Sizes chosen for a store of small records (tickets, queue items, templates) that
// must not dominate the memory of the Caddy process it lives in. Badger's defaults
// allocate an 85 MB heap at idle; these keep it near 10 MB (see BenchmarkOpenIdleHeap).
const (
	// memTableSize is the size of each memtable arena, allocated up front and
	// counted by the Go GC. Badger's default is 64 MiB.
	memTableSize = 8 << 20

	// valueThreshold: values up to this size stay in the LSM tree, so reads need
	// no value-log lookup. Badger requires it to be at most 15% of memTableSize
	// (its max batch size) and InMemory stores reject larger values, so it is
	// also the largest value such a store accepts.
	valueThreshold = 1 << 20

	// blockCacheSize holds decompressed table blocks: the hot ones (recent
	// tickets, the queues' due index) fit.
	blockCacheSize = 4 << 20

	// baseTableSize is the size of every table (Badger's default for the first
	// level).
	baseTableSize = 2 << 20

	// valueLogFileSize bounds each value-log file, and so how much space one GC
	// rewrite must reclaim at once. Badger's default is 1 GiB.
	valueLogFileSize = 16 << 20
)

// badgerOptions turns Options into Badger's options.
func badgerOptions(o Options, log *zap.Logger) badger.Options {
	opts := badger.DefaultOptions(o.Dir)
	if o.InMemory {
		opts = badger.DefaultOptions("").WithInMemory(true)
	}
	// Badger's own SyncWrites syncs once per transaction; Store.Update syncs
	// once per group of commits instead (groupsync.go).
	return tune(opts).
		WithSyncWrites(false).
		WithLogger(zapLogger{log.Named("badger")})
}

// tune applies the memory-conscious settings to opts. It is separate from
// badgerOptions so benchmarks can compare a raw Badger with the same settings.
func tune(opts badger.Options) badger.Options {
	opts = opts.
		WithMemTableSize(memTableSize).
		WithValueThreshold(valueThreshold).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		// Tickets, jobs and mails are JSON with the same field names over and
		// over: Snappy stores a ticket in about half the space (253 instead of
		// 543 bytes, BenchmarkConsumeAmongOpenTickets), for little CPU. Badger
		// wants a block cache with compression: it holds decompressed blocks.
		WithCompression(options.Snappy).
		WithBlockCacheSize(blockCacheSize).
		// 0 keeps every table index in memory; for a small store they are tiny
		// and a cache would cost more than it saves.
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		// Every level's tables the same size: a compaction builds each table
		// in a buffer twice its size, up to 8 at once, and keeps 8 such buffers
		// pooled. With Badger's default (tables doubling per level) they were 32
		// MB apiece in a store of a few hundred MB: 450 MB of heap under B1's
		// load (heap profile), 165 MB with these. Smaller tables (1 MB) saved
		// little more and made consuming a ticket among a million freshly
		// loaded ones slower (p99 20 ms instead of 8: more compactions).
		WithBaseTableSize(baseTableSize).
		WithValueLogFileSize(valueLogFileSize).
		WithMetricsEnabled(false).
		WithDetectConflicts(true)
	opts.TableSizeMultiplier = 1 // see WithBaseTableSize above; Badger has no With for it
	return opts
}

// zapLogger sends Badger's log lines to zap. Badger logs routine work (compactions,
// flushes, replay) at info, which is debug for the Caddy operator.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Errorf(f string, a ...any)   { z.log(zapcore.ErrorLevel, f, a) }
func (z zapLogger) Warningf(f string, a ...any) { z.log(zapcore.WarnLevel, f, a) }
func (z zapLogger) Infof(f string, a ...any)    { z.log(zapcore.DebugLevel, f, a) }
func (z zapLogger) Debugf(f string, a ...any)   { z.log(zapcore.DebugLevel, f, a) }

// log formats only when the level is enabled, since Badger's debug lines are
// frequent, and drops the trailing newlines Badger puts on many of them.
func (z zapLogger) log(level zapcore.Level, format string, args []any) {
	if !z.l.Core().Enabled(level) {
		return
	}
	z.l.Log(level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}

var _ badger.Logger = zapLogger{}
