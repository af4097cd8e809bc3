package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// RunExporter runs the conformance suite of storage.Exporter on the stores
// returned by open, which must be fresh and empty.
func RunExporter(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store, e storage.Exporter)
	}{
		{"EmptyStore", testExportEmpty},
		{"LiveKeysInOrderWithExpiry", testExportOrder},
		{"ExpiredKeysLeftOut", testExportExpired},
		{"ManyKeys", testExportMany},
		{"StopEarly", testExportStop},
		{"CallbackError", testExportError},
		{"ValuesAreCopies", testExportCopies},
		{"CancelledContext", testExportCancelled},
		{"ClosedStoreIsUnavailable", testExportClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			e, ok := s.(storage.Exporter)
			if !ok {
				t.Fatalf("%T does not implement storage.Exporter", s)
			}
			tc.fn(t, s, e)
		})
	}
}

// export collects every record Export yields.
func export(t *testing.T, e storage.Exporter) []storage.Record {
	t.Helper()
	var got []storage.Record
	if err := e.Export(t.Context(), func(r storage.Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return got
}

func recordKeys(rs []storage.Record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Key)
	}
	return out
}

// eventually polls cond every 10 ms until it holds, failing the test after
// waitLimit: for an effect that nothing signals, such as a TTL running out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
		<-tick.C
	}
}

func testExportEmpty(t *testing.T, _ storage.Store, e storage.Exporter) {
	if got := export(t, e); len(got) != 0 {
		t.Fatalf("Export of an empty store: %v", recordKeys(got))
	}
}

func testExportOrder(t *testing.T, s storage.Store, e storage.Exporter) {
	const ttl = time.Hour
	before := time.Now()
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		for _, k := range []string{"b/2", "a/10", "c", "a/2", "binary/\x00\xff", "a/1"} {
			var keyTTL time.Duration
			if k[0] == 'a' {
				keyTTL = ttl
			}
			if err := tx.Set(k, []byte("v:"+k), keyTTL); err != nil {
				return err
			}
		}
		return tx.Set("empty", nil, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got := export(t, e)
	want := []string{"a/1", "a/10", "a/2", "b/2", "binary/\x00\xff", "c", "empty"}
	if !slices.Equal(recordKeys(got), want) {
		t.Fatalf("Export keys = %q, want %q", recordKeys(got), want)
	}
	for _, r := range got {
		wantValue := "v:" + r.Key
		if r.Key == "empty" {
			wantValue = ""
		}
		if string(r.Value) != wantValue {
			t.Errorf("%q: value %q, want %q", r.Key, r.Value, wantValue)
		}
		if r.Key[0] != 'a' {
			if !r.ExpiresAt.IsZero() {
				t.Errorf("%q (no TTL): ExpiresAt %v, want zero", r.Key, r.ExpiresAt)
			}
			continue
		}
		// A store may keep expiries in whole seconds and round them up, as
		// Badger does.
		lo, hi := before.Add(ttl).Add(-time.Second), after.Add(ttl).Add(2*time.Second)
		if r.ExpiresAt.Before(lo) || r.ExpiresAt.After(hi) {
			t.Errorf("%q (TTL %v): ExpiresAt %v, want between %v and %v", r.Key, ttl, r.ExpiresAt, lo, hi)
		}
	}
}

func testExportExpired(t *testing.T, s storage.Store, e storage.Exporter) {
	set(t, s, "live", "v")
	err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Set("expiring", []byte("v"), time.Nanosecond) })
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a key with a TTL of 1 ns to expire", func() bool {
		_, ok := get(t, s, "expiring")
		return !ok
	})
	if got := recordKeys(export(t, e)); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("Export after a key expired = %q, want only live", got)
	}
}

// testExportMany exports more keys than a backend would sensibly read at
// once, written in batches.
func testExportMany(t *testing.T, s storage.Store, e storage.Exporter) {
	const n, batch = 2500, 500
	for start := 0; start < n; start += batch {
		err := s.Update(t.Context(), func(tx storage.Tx) error {
			for i := start; i < start+batch; i++ {
				if err := tx.Set(fmt.Sprintf("k/%05d", i), []byte{byte(i)}, 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := export(t, e)
	if len(got) != n {
		t.Fatalf("Export yielded %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if want := fmt.Sprintf("k/%05d", i); r.Key != want || len(r.Value) != 1 || r.Value[0] != byte(i) {
			t.Fatalf("record %d: %q = %v, want %q = [%d]", i, r.Key, r.Value, want, byte(i))
		}
	}
}

func testExportStop(t *testing.T, s storage.Store, e storage.Exporter) {
	for _, k := range []string{"a", "b", "c"} {
		set(t, s, k, "v")
	}
	var seen []string
	err := e.Export(t.Context(), func(r storage.Record) error {
		seen = append(seen, r.Key)
		if len(seen) == 2 {
			return storage.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Export stopped with ErrStop = %v, want nil", err)
	}
	if !slices.Equal(seen, []string{"a", "b"}) {
		t.Fatalf("Export visited %q before stopping, want [a b]", seen)
	}
}

func testExportError(t *testing.T, s storage.Store, e storage.Exporter) {
	set(t, s, "a", "v")
	set(t, s, "b", "v")
	boom := errors.New("boom")
	calls := 0
	err := e.Export(t.Context(), func(storage.Record) error { calls++; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Export = %v, want the callback's %v", err, boom)
	}
	if calls != 1 {
		t.Fatalf("callback called %d times after returning an error, want 1", calls)
	}
}

func testExportCopies(t *testing.T, s storage.Store, e storage.Exporter) {
	set(t, s, "a", "value-a")
	set(t, s, "b", "value-b")
	got := export(t, e)
	for _, r := range got {
		clear(r.Value)
	}
	wantValue(t, s, "a", "value-a")
	for _, r := range export(t, e) {
		if want := "value-" + r.Key; string(r.Value) != want {
			t.Fatalf("%q after the first export's values were cleared: %q, want %q", r.Key, r.Value, want)
		}
	}
}

func testExportCancelled(t *testing.T, s storage.Store, e storage.Exporter) {
	set(t, s, "a", "v")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := e.Export(ctx, func(storage.Record) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Export with a cancelled context = %v, want context.Canceled", err)
	}
	if called {
		t.Fatal("Export called fn with a cancelled context")
	}
}

func testExportClosed(t *testing.T, s storage.Store, e storage.Exporter) {
	set(t, s, "a", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := e.Export(t.Context(), func(storage.Record) error { return nil })
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Export after Close = %v, want ErrUnavailable", err)
	}
}
