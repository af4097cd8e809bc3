package badger

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

func TestNewEntryTTLNeverEarly(t *testing.T) {
	for _, ttl := range []time.Duration{time.Nanosecond, time.Millisecond, 999 * time.Millisecond, time.Second, time.Hour} {
		before := time.Now()
		e := newEntry("k", []byte("v"), ttl)
		expires := time.Unix(int64(e.ExpiresAt), 0)
		// Badger treats the key as gone once time.Now().Unix() >= ExpiresAt.
		if !expires.After(before.Add(ttl)) {
			t.Errorf("ttl %v: expires at %v, before the ttl has passed (%v)", ttl, expires, before.Add(ttl))
		}
		if limit := before.Add(ttl + 3*time.Second); expires.After(limit) {
			t.Errorf("ttl %v: expires at %v, later than %v", ttl, expires, limit)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if e := newEntry("k", nil, ttl); e.ExpiresAt != 0 {
			t.Errorf("ttl %v: ExpiresAt = %d, want 0 (no expiry)", ttl, e.ExpiresAt)
		}
	}
}

func TestNewEntryCopiesValue(t *testing.T) {
	v := []byte("abc")
	e := newEntry("k", v, 0)
	v[0] = 'X'
	if string(e.Value) != "abc" {
		t.Fatalf("entry value changed with the caller's buffer: %q", e.Value)
	}
}

// badgerText formats err the way Badger's y.Wrap does outside debug builds: with
// %v, so the cause is in the text but not in the chain.
func badgerText(msg string, err error) error { return fmt.Errorf("%s err: %v", msg, err) }

func TestWrapErrorMapsSentinels(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"conflict", badger.ErrConflict, storage.ErrConflict},
		{"closed", badger.ErrDBClosed, storage.ErrUnavailable},
		{"blocked writes", badger.ErrBlockedWrites, storage.ErrUnavailable},
		{"disk full", badgerText("write failed", syscall.ENOSPC), storage.ErrUnavailable},
		{"disk full, wrapped", fmt.Errorf("sync: %w", syscall.ENOSPC), storage.ErrUnavailable},
		{"read-only fs", badgerText("open", syscall.EROFS), storage.ErrUnavailable},
		{"permission", badgerText("open", syscall.EACCES), storage.ErrUnavailable},
	}
	for _, c := range cases {
		got := wrapError("commit", c.err, "")
		if !errors.Is(got, c.want) {
			t.Errorf("%s: wrapError(%v) = %v, want it to wrap %v", c.name, c.err, got, c.want)
		}
		if !strings.HasPrefix(got.Error(), "badgerstore: commit: ") {
			t.Errorf("%s: %q lacks the operation", c.name, got)
		}
	}
	other := errors.New("corrupt table")
	got := wrapError("get", other, "")
	if errors.Is(got, storage.ErrUnavailable) || errors.Is(got, storage.ErrConflict) || !errors.Is(got, other) {
		t.Errorf("wrapError(other) = %v, want it to wrap only the cause", got)
	}
}

func TestWrapErrorRedactsKey(t *testing.T) {
	const key = "ticket/5f2b9c"
	cause := fmt.Errorf("DB::Get key: %q err: %w", key, syscall.EIO)
	got := wrapError("get", cause, key)
	if strings.Contains(got.Error(), key) {
		t.Errorf("error text %q contains the key", got)
	}
	if !errors.Is(got, syscall.EIO) {
		t.Errorf("redacted error %v lost its cause", got)
	}
}

func TestIsLocked(t *testing.T) {
	lock := badgerText(`Cannot acquire directory lock on "/x".  Another process is using this Badger database.`, syscall.EWOULDBLOCK)
	if !isLocked(lock) {
		t.Error("Badger's lock error not recognised")
	}
	if isLocked(errors.New("manifest has unsupported version")) {
		t.Error("unrelated error recognised as a lock error")
	}
}

func TestLoggerLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := zapLogger{zap.New(core)}
	l.Errorf("e %d\n", 1)
	l.Warningf("w %d", 2)
	l.Infof("i %d", 3)
	l.Debugf("d %d", 4)
	want := []struct {
		level zapcore.Level
		msg   string
	}{{zapcore.ErrorLevel, "e 1"}, {zapcore.WarnLevel, "w 2"}, {zapcore.DebugLevel, "i 3"}, {zapcore.DebugLevel, "d 4"}}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Level != w.level || got[i].Message != w.msg {
			t.Errorf("entry %d = %v %q, want %v %q", i, got[i].Level, got[i].Message, w.level, w.msg)
		}
	}
}

func TestLoggerSkipsDisabledLevels(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	l := zapLogger{zap.New(core)}
	l.Infof("routine %d", 1)
	l.Debugf("routine %d", 2)
	if n := logs.Len(); n != 0 {
		t.Fatalf("%d entries below the enabled level were written", n)
	}
}

func TestGCLoopRunsAndStops(t *testing.T) {
	// A tiny interval makes the loop run many times; Close must still stop it.
	s, err := Open(Options{Dir: t.TempDir(), GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.collectGarbage() // directly, so at least one pass runs regardless of scheduling
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.gcDone:
	default:
		t.Fatal("GC goroutine still running after Close")
	}
}

// idleHeap returns the live heap that opening a database with opts adds, measured
// after a GC so only what Badger keeps is counted.
func idleHeap(tb testing.TB, opts badger.Options) uint64 {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db, err := badger.Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

func TestIdleHeap(t *testing.T) {
	nop := zapLogger{zap.NewNop()}
	tuned := idleHeap(t, badgerOptions(Options{Dir: t.TempDir()}, zap.NewNop()))
	defaults := idleHeap(t, badger.DefaultOptions(t.TempDir()).WithLogger(nop))
	t.Logf("idle heap after Open: tuned %.1f MiB, Badger defaults %.1f MiB", mib(tuned), mib(defaults))
	// The memtable arena alone is memTableSize plus about 30%; allow the rest of
	// Badger's structures a few MiB more.
	if limit := uint64(memTableSize * 2); tuned > limit {
		t.Errorf("tuned idle heap %.1f MiB exceeds %.1f MiB", mib(tuned), mib(limit))
	}
	if tuned*4 > defaults {
		t.Errorf("tuned idle heap %.1f MiB is not under a quarter of the defaults' %.1f MiB", mib(tuned), mib(defaults))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func TestSpaceGuard(t *testing.T) {
	var free uint64
	var statErr error
	calls := 0
	g := &spaceGuard{dir: "d", min: 100 << 20, free: func(string) (uint64, error) {
		calls++
		return free, statErr
	}}
	now := time.Unix(1_000_000, 0)
	step := func(name string, d time.Duration, n int, wantErr bool, wantCalls int) {
		t.Helper()
		now = now.Add(d)
		err := g.allow(now, n)
		if gotErr := err != nil; gotErr != wantErr {
			t.Fatalf("%s: allow = %v, want error: %v", name, err, wantErr)
		}
		if err != nil && !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("%s: %v does not wrap ErrUnavailable", name, err)
		}
		if calls != wantCalls {
			t.Fatalf("%s: statfs ran %d times, want %d", name, calls, wantCalls)
		}
	}
	free = 200 << 20
	step("first write checks", 0, 10, false, 1)
	free = 50 << 20
	step("cached within the interval", 10*time.Millisecond, 10, false, 1)
	step("rechecked after the interval", spaceCheckInterval, 10, true, 2)
	step("refusal is cached too", time.Millisecond, 10, true, 2)
	free = 200 << 20
	step("rechecked after many bytes", time.Millisecond, spaceCheckBytes, false, 3)
	statErr, free = errors.New("statfs failed"), 0
	step("statfs failure allows", spaceCheckInterval, 10, false, 4)

	var none *spaceGuard
	if err := none.allow(now, 1); err != nil {
		t.Fatalf("nil guard: %v", err)
	}
}

func TestUpdateRefusedWhenDiskLow(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.space == nil {
		t.Skip("no free-space guard on this platform")
	}
	s.space.free = func(string) (uint64, error) { return 1 << 20, nil }
	s.space.checked = time.Time{}

	err = s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("k", []byte("v"), 0) })
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Update with the disk nearly full = %v, want ErrUnavailable", err)
	}
	err = s.Update(t.Context(), func(tx storage.Tx) error {
		_, err := tx.Get("k")
		if !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("refused write landed: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read-only Update with the disk nearly full = %v, want nil", err)
	}
}

// TestSetRefusesValuesForTheValueLog checks that a value large enough to go to
// Badger's value log, which the group sync does not cover, is refused with a
// clear error and leaves nothing written, and that one just below is stored.
func TestSetRefusesValuesForTheValueLog(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), SyncWrites: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	err = s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Set("small", []byte("x"), 0); err != nil {
			return err
		}
		return tx.Set("big", make([]byte, valueThreshold), 0)
	})
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("Set of %d bytes = %v, want an error about the limit", valueThreshold, err)
	}
	err = s.View(ctx, func(tx storage.Tx) error {
		_, err := tx.Get("small")
		return err
	})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the refused transaction's other write: Get = %v, want ErrNotFound", err)
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.Set("big", make([]byte, valueThreshold-1), 0)
	})
	if err != nil {
		t.Errorf("Set of %d bytes = %v", valueThreshold-1, err)
	}
}
