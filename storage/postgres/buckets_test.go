package postgres_test

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
)

// tatValue is a bucket's value as internal/ratelimit writes it to Badger.
func tatValue(tat time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(tat.UnixNano()))
}

// exported returns the records Export yields under prefix.
func exported(t *testing.T, s *postgres.Store, prefix string) map[string]storage.Record {
	t.Helper()
	out := map[string]storage.Record{}
	err := s.Export(t.Context(), func(r storage.Record) error {
		if strings.HasPrefix(r.Key, prefix) {
			out[r.Key] = r
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return out
}

func peek(t *testing.T, s *postgres.Store, now time.Time, b storage.GCRABucket) time.Time {
	t.Helper()
	tats, err := s.GCRA(t.Context(), now, storage.GCRAPeek, []storage.GCRABucket{b})
	if err != nil {
		t.Fatalf("GCRAPeek %q: %v", b.Key, err)
	}
	return tats[0]
}

// TestBucketsAreOrdinaryKeys: a GCRA bucket is a key of the store with the
// representation every backend uses, so that `caddy password-reset-copy`
// (Export, then Tx.Set) moves rate limits between Badger and PostgreSQL
// unchanged, both ways.
func TestBucketsAreOrdinaryKeys(t *testing.T) {
	prefix := newPrefix()
	// No janitor: the expired rows below must stay for GCRA to meet them.
	s := open(t, postgres.Options{TablePrefix: prefix, JanitorInterval: -1})
	const every = time.Minute
	bucket := func(key string) storage.GCRABucket {
		return storage.GCRABucket{Key: key, Every: every, Window: time.Hour}
	}

	t.Run("GCRAWritesAKey", func(t *testing.T) {
		// The database runs on this host: its clock is the test's, so the
		// expiry it sets lies within the call, shifted by Every and the
		// second of margin that internal/ratelimit gives Badger too.
		before := time.Now().Round(0)
		now := before
		if _, err := s.GCRA(t.Context(), now, storage.GCRAAllow, []storage.GCRABucket{bucket("rl/ip/x")}); err != nil {
			t.Fatal(err)
		}
		after := time.Now().Round(0)
		want := tatValue(now.Add(every))
		if v, ok := get(t, s, "rl/ip/x"); !ok || v != string(want) {
			t.Fatalf("Get(rl/ip/x) = %x, %v; want the TAT %x", v, ok, want)
		}
		r, ok := exported(t, s, "rl/")["rl/ip/x"]
		if !ok {
			t.Fatal("Export does not list the bucket")
		}
		if string(r.Value) != string(want) {
			t.Errorf("Export's value %x, want %x", r.Value, want)
		}
		const margin = time.Second
		lo, hi := before.Truncate(time.Microsecond).Add(every+margin), after.Add(every+margin+time.Millisecond)
		if r.ExpiresAt.Before(lo) || r.ExpiresAt.After(hi) {
			t.Errorf("Export's expiry %v, want a second after the TAT passes, within [%v, %v]", r.ExpiresAt, lo, hi)
		}
	})

	t.Run("AKeySetIsABucket", func(t *testing.T) {
		// As storecopy writes a bucket exported from Badger: the value, and
		// a TTL to the Badger key's expiry (ratelimit's: the TAT and a
		// second).
		now := time.Now()
		tat := now.Add(30 * time.Second)
		err := s.Update(t.Context(), func(tx storage.Tx) error {
			return tx.Set("rl/ip/y", tatValue(tat), tat.Sub(now)+time.Second)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := peek(t, s, now, bucket("rl/ip/y")); !got.Equal(tat) {
			t.Fatalf("GCRAPeek of a bucket written by Set = %v, want its TAT %v", got, tat)
		}
		tats, err := s.GCRA(t.Context(), now, storage.GCRAAllow, []storage.GCRABucket{bucket("rl/ip/y")})
		if err != nil || !tats[0].Equal(tat) {
			t.Fatalf("GCRAAllow = %v, %v; want the TAT set, %v", tats, err, tat)
		}
		if v, _ := get(t, s, "rl/ip/y"); v != string(tatValue(tat.Add(every))) {
			t.Fatalf("after Allow: %x, want the TAT counted on from the one set", v)
		}
	})

	t.Run("NoTAT", func(t *testing.T) {
		now := time.Now()
		set(t, s, "rl/ip/short", "abc", 0) // not 8 bytes
		set(t, s, "rl/ip/expired", string(tatValue(now.Add(time.Hour))), time.Microsecond)
		testenv.Eventually(t, "the key to expire", func() (bool, error) {
			_, ok := get(t, s, "rl/ip/expired")
			return !ok, nil
		})
		if rows(t, prefix+"kv", "rl/ip/expired") != 1 {
			t.Fatal("the expired row is gone without a janitor")
		}
		for _, key := range []string{"rl/ip/short", "rl/ip/expired"} {
			if got := peek(t, s, now, bucket(key)); !got.IsZero() {
				t.Errorf("GCRAPeek of %s = %v, want no TAT", key, got)
			}
			tats, err := s.GCRA(t.Context(), now, storage.GCRAAllow, []storage.GCRABucket{bucket(key)})
			if err != nil || !tats[0].IsZero() {
				t.Errorf("GCRAAllow of %s = %v, %v; want no TAT before", key, tats, err)
			}
			if v, _ := get(t, s, key); v != string(tatValue(now.Add(every))) {
				t.Errorf("%s after Allow = %x, want the new TAT", key, v)
			}
		}
	})

	t.Run("NewBucketLeavesNoLiveKey", func(t *testing.T) {
		now := time.Now()
		// Peek writes nothing.
		if got := peek(t, s, now, bucket("rl/ip/peeked")); !got.IsZero() {
			t.Fatalf("GCRAPeek of a new bucket = %v", got)
		}
		if n := rows(t, prefix+"kv", "rl/ip/peeked"); n != 0 {
			t.Fatalf("GCRAPeek left %d rows", n)
		}
		// A refused Allow keeps the row its call made to queue on, expired:
		// not a key anyone reads.
		refused := storage.GCRABucket{Key: "rl/ip/refused", Every: 2 * time.Second, Window: time.Second}
		tats, err := s.GCRA(t.Context(), now, storage.GCRAAllow, []storage.GCRABucket{refused})
		if err != nil || !tats[0].IsZero() {
			t.Fatalf("GCRAAllow over the window = %v, %v", tats, err)
		}
		if n := rows(t, prefix+"kv", "rl/ip/refused"); n != 1 {
			t.Fatalf("%d rows for the refused bucket, want its placeholder", n)
		}
		if v, ok := get(t, s, "rl/ip/refused"); ok {
			t.Errorf("Get of a refused new bucket = %x, want not found", v)
		}
		if r, ok := exported(t, s, "rl/")["rl/ip/refused"]; ok {
			t.Errorf("Export lists the refused new bucket: %+v", r)
		}
		if got := peek(t, s, now, refused); !got.IsZero() {
			t.Errorf("GCRAPeek of the refused new bucket = %v", got)
		}
	})
}
