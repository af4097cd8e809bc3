package storecopy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/storecopy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
	pgstore "github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
)

type exportingStore interface {
	storage.Store
	storage.Exporter
}

func openBadger(t *testing.T) exportingStore {
	t.Helper()
	s, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T, pg *testenv.Postgres) exportingStore {
	t.Helper()
	s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: pg.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill writes n keys, every third with a TTL of an hour, and one that expires
// at once.
func fill(t *testing.T, s storage.Store, n int) {
	t.Helper()
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		for i := range n {
			ttl := time.Duration(0)
			if i%3 == 0 {
				ttl = time.Hour
			}
			if err := tx.Set(fmt.Sprintf("k/%04d", i), []byte(fmt.Sprintf("value %d", i)), ttl); err != nil {
				return err
			}
		}
		return tx.Set("gone", []byte("x"), time.Nanosecond)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func records(t *testing.T, s storage.Exporter) map[string]storage.Record {
	t.Helper()
	out := map[string]storage.Record{}
	err := s.Export(t.Context(), func(r storage.Record) error {
		out[r.Key] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCopyBothWays copies Badger to PostgreSQL and PostgreSQL to Badger: every
// live key arrives with its value and its expiry (to the second: each backend
// keeps its own clock), the expired key stays behind, a filled target is
// refused unless Overwrite, and a copy more than one batch long is whole.
func TestCopyBothWays(t *testing.T) {
	pg := testenv.StartPostgres(t)
	const n = 1200 // more than one batch of 500
	for _, tc := range []struct {
		name     string
		src, dst func(t *testing.T) exportingStore
	}{
		{"badger to postgres", openBadger, func(t *testing.T) exportingStore { return openPostgres(t, pg) }},
		{"postgres to badger", func(t *testing.T) exportingStore { return openPostgres(t, pg) }, openBadger},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := tc.src(t), tc.dst(t)
			fill(t, src, n)
			testenv.Eventually(t, "the short key to expire", func() (bool, error) {
				_, live := records(t, src)["gone"]
				return !live, nil
			})
			res, err := storecopy.Copy(t.Context(), src, dst, storecopy.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Keys != n {
				t.Errorf("copied %d keys, want %d", res.Keys, n)
			}
			want, got := records(t, src), records(t, dst)
			if len(got) != len(want) {
				t.Errorf("the target holds %d keys, the source %d", len(got), len(want))
			}
			for k, w := range want {
				g, ok := got[k]
				switch {
				case !ok:
					t.Errorf("%s missing", k)
				case string(g.Value) != string(w.Value):
					t.Errorf("%s: %q, want %q", k, g.Value, w.Value)
				case g.ExpiresAt.IsZero() != w.ExpiresAt.IsZero() || absDiff(g.ExpiresAt, w.ExpiresAt) > 2*time.Second:
					t.Errorf("%s expires %v, want %v", k, g.ExpiresAt, w.ExpiresAt)
				}
			}
			if _, err := storecopy.Copy(t.Context(), src, dst, storecopy.Options{}); !errors.Is(err, storecopy.ErrTargetNotEmpty) {
				t.Errorf("a second copy: %v, want ErrTargetNotEmpty", err)
			}
			if _, err := storecopy.Copy(context.Background(), src, dst, storecopy.Options{Overwrite: true}); err != nil {
				t.Errorf("a copy with Overwrite: %v", err)
			}
		})
	}
}

func absDiff(a, b time.Time) time.Duration {
	if a.After(b) {
		return a.Sub(b)
	}
	return b.Sub(a)
}

// TestCopyKeepsRateLimits: a bucket counted on Badger (written behind by the
// limiter) is the same bucket on PostgreSQL after the copy, where the limiter
// counts in the store itself: the burst spent before the move stays spent.
func TestCopyKeepsRateLimits(t *testing.T) {
	pg := testenv.StartPostgres(t)
	src, dst := openBadger(t), openPostgres(t, pg)
	check := ratelimit.Check{Name: "ip_email", Key: "203.0.113.7|alice@example.com", Limit: ratelimit.Limit{Burst: 10, Every: time.Minute}}
	before := ratelimit.New(src, nil)
	for i := range 10 {
		if d, err := before.Allow(t.Context(), check); err != nil || !d.Allowed {
			t.Fatalf("request %d on Badger: %+v %v", i+1, d, err)
		}
	}
	if err := before.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := storecopy.Copy(t.Context(), src, dst, storecopy.Options{}); err != nil {
		t.Fatal(err)
	}
	after := ratelimit.New(dst, nil)
	d, err := after.Allow(t.Context(), check)
	if err != nil || d.Allowed {
		t.Errorf("the 11th request, on PostgreSQL after the copy: %+v %v, want refused", d, err)
	}
	other := check
	other.Key = "203.0.113.7|bob@example.com"
	if d, err := after.Allow(t.Context(), other); err != nil || !d.Allowed || d.Remaining != 9 {
		t.Errorf("another address after the copy: %+v %v, want a full bucket", d, err)
	}
}
