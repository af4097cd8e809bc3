package storagetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// seedScan stores keys in an order unrelated to their sort order.
func seedScan(t *testing.T, s storage.Store) {
	t.Helper()
	for _, k := range []string{"b/2", "a/3", "c", "a/1", "b/1", "a/10", "a/2", "a", "ab/1"} {
		set(t, s, k, "v:"+k)
	}
}

func testScanPrefix(t *testing.T, s storage.Store) {
	seedScan(t, s)
	got := scan(t, s, "a/", "")
	want := []kv{{"a/1", "v:a/1"}, {"a/10", "v:a/10"}, {"a/2", "v:a/2"}, {"a/3", "v:a/3"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan(a/) = %v, want %v", got, want)
	}
	if got := scan(t, s, "zzz/", ""); len(got) != 0 {
		t.Fatalf("Scan(zzz/) = %v, want nothing", got)
	}
}

func testScanEmptyPrefix(t *testing.T, s storage.Store) {
	seedScan(t, s)
	got := keys(scan(t, s, "", ""))
	want := []string{"a", "a/1", "a/10", "a/2", "a/3", "ab/1", "b/1", "b/2", "c"}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan(\"\") = %v, want %v", got, want)
	}
}

func testScanStart(t *testing.T, s storage.Store) {
	seedScan(t, s)
	cases := []struct {
		prefix, start string
		want          []string
	}{
		{"a/", "a/2", []string{"a/2", "a/3"}},           // start is a key: included
		{"a/", "a/15", []string{"a/2", "a/3"}},          // start between keys
		{"a/", "a/4", nil},                              // start after every key
		{"b/", "a/5", []string{"b/1", "b/2"}},           // start sorts before the prefix
		{"a/", "b", nil},                                // start sorts after the prefix
		{"", "ab", []string{"ab/1", "b/1", "b/2", "c"}}, // no prefix
	}
	for _, c := range cases {
		got := keys(scan(t, s, c.prefix, c.start))
		if !slices.Equal(got, c.want) {
			t.Errorf("Scan(%q, start %q) = %v, want %v", c.prefix, c.start, got, c.want)
		}
	}
}

func testScanStop(t *testing.T, s storage.Store) {
	seedScan(t, s)
	var seen []string
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(k string, _ []byte) error {
			seen = append(seen, k)
			if len(seen) == 2 {
				return storage.ErrStop
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("Scan stopped with ErrStop returned %v, want nil", err)
	}
	if want := []string{"a/1", "a/10"}; !slices.Equal(seen, want) {
		t.Fatalf("Scan visited %v before stopping, want %v", seen, want)
	}
}

func testScanCallbackError(t *testing.T, s storage.Store) {
	seedScan(t, s)
	boom := errors.New("boom")
	calls := 0
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(string, []byte) error {
			calls++
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Scan callback error: View returned %v, want %v", err, boom)
	}
	if calls != 1 {
		t.Fatalf("callback called %d times after returning an error, want 1", calls)
	}
}

func testScanReturnsCopies(t *testing.T, s storage.Store) {
	seedScan(t, s)
	var kept [][]byte
	err := s.View(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(_ string, v []byte) error {
			kept = append(kept, v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v:a/1", "v:a/10", "v:a/2", "v:a/3"}
	for i, v := range kept {
		if string(v) != want[i] {
			t.Fatalf("value %d kept from Scan changed to %q after the View, want %q", i, v, want[i])
		}
		clear(v)
	}
	wantValue(t, s, "a/1", "v:a/1")
}

func testScanPending(t *testing.T, s storage.Store) {
	seedScan(t, s)
	var got []kv
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("a/25", []byte("new"), 0); err != nil {
			return err
		}
		if err := tx.Set("a/1", []byte("changed"), 0); err != nil {
			return err
		}
		if err := tx.Delete("a/3"); err != nil {
			return err
		}
		return tx.Scan("a/", "", func(k string, v []byte) error {
			got = append(got, kv{k, string(v)})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []kv{{"a/1", "changed"}, {"a/10", "v:a/10"}, {"a/2", "v:a/2"}, {"a/25", "new"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan in Update after writes = %v, want %v", got, want)
	}
}

func testScanCallbackWrites(t *testing.T, s storage.Store) {
	seedScan(t, s)
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		return tx.Scan("a/", "", func(k string, _ []byte) error {
			if err := tx.Delete(k); err != nil {
				return err
			}
			return tx.Set("done/"+k, []byte("x"), 0)
		})
	})
	if err != nil {
		t.Fatalf("writing from a Scan callback: %v", err)
	}
	if got := scan(t, s, "a/", ""); len(got) != 0 {
		t.Fatalf("after deleting every a/ key from the callback, Scan(a/) = %v", got)
	}
	if got := keys(scan(t, s, "done/", "")); len(got) != 4 {
		t.Fatalf("Scan(done/) = %v, want the 4 keys set from the callback", got)
	}
}
