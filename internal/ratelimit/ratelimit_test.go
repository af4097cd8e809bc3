package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/ratelimit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// epoch is where the tests' frozen clocks start.
var epoch = time.Unix(1_800_000_000, 0)

func check(key string) ratelimit.Check {
	return ratelimit.Check{Name: "ip_email", Key: key, Limit: auth0}
}

var auth0 = ratelimit.Limit{Burst: 10, Every: time.Minute} // Auth0's change_password limit

func allow(t *testing.T, l *ratelimit.Limiter, checks ...ratelimit.Check) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), checks...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBurstThenOnePerInterval is Auth0's limit: 10 at once, then 1 a minute.
func TestBurstThenOnePerInterval(t *testing.T) {
	c := testenv.NewFrozenClock(epoch)
	l := ratelimit.New(nil, c.Now)
	for i := range 10 {
		d := allow(t, l, check("1.2.3.4|alice@example.com"))
		if !d.Allowed || d.Remaining != 9-i || d.Limit != 10 {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	d := allow(t, l, check("1.2.3.4|alice@example.com"))
	if d.Allowed || d.RetryAfter != time.Minute || d.Remaining != 0 {
		t.Fatalf("11th request: %+v, want refused for 1m", d)
	}
	c.Advance(time.Minute - time.Second)
	if d := allow(t, l, check("1.2.3.4|alice@example.com")); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("59 s later: %+v, want refused for 1s", d)
	}
	c.Advance(time.Second)
	if d := allow(t, l, check("1.2.3.4|alice@example.com")); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("a minute later: %+v, want one allowed", d)
	}
	if d := allow(t, l, check("1.2.3.4|bob@example.com")); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("another key: %+v", d)
	}
	c.Advance(10 * time.Minute)
	if d := allow(t, l, check("1.2.3.4|alice@example.com")); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after ten minutes the bucket is full again: %+v", d)
	}
}

// TestRefusedLayerCountsNothing: when one layer refuses, the others are not charged.
func TestRefusedLayerCountsNothing(t *testing.T) {
	c := testenv.NewFrozenClock(epoch)
	l := ratelimit.New(nil, c.Now)
	tight := ratelimit.Check{Name: "email", Key: "alice@example.com", Limit: ratelimit.Limit{Burst: 1, Every: time.Hour}}
	loose := ratelimit.Check{Name: "ip", Key: "1.2.3.4", Limit: ratelimit.Limit{Burst: 3, Every: time.Hour}}
	if d := allow(t, l, loose, tight); !d.Allowed || d.Name != "email" {
		t.Fatalf("first: %+v (the tightest layer should be reported)", d)
	}
	for range 5 {
		if d := allow(t, l, loose, tight); d.Allowed || d.Name != "email" {
			t.Fatalf("refused request: %+v", d)
		}
	}
	if d := allow(t, l, loose); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("the ip layer was charged for refused requests: %+v", d)
	}
}

func TestOffLimitsAllow(t *testing.T) {
	l := ratelimit.New(nil, nil)
	for range 100 {
		if d := allow(t, l, ratelimit.Check{Name: "ip", Key: "x"}); !d.Allowed {
			t.Fatal("a disabled limit refused")
		}
	}
	if err := (ratelimit.Limit{Burst: 3}).Validate(); err == nil {
		t.Error("a limit without interval validated")
	}
}

// TestConcurrentRequestsGetExactlyTheBurst: no lost updates under concurrency.
func TestConcurrentRequestsGetExactlyTheBurst(t *testing.T) {
	l := ratelimit.New(nil, testenv.NewFrozenClock(epoch).Now)
	var allowed atomic.Int64
	var start, wg sync.WaitGroup
	start.Add(1)
	for range 200 {
		wg.Go(func() {
			start.Wait()
			if allow(t, l, check("same")).Allowed {
				allowed.Add(1)
			}
		})
	}
	start.Done()
	wg.Wait()
	if n := allowed.Load(); n != 10 {
		t.Errorf("%d of 200 concurrent requests allowed, want the burst of 10", n)
	}
}

// TestLimitsSurviveARestart: the buckets are written behind to the store and read
// back by a new limiter on the same store.
func TestLimitsSurviveARestart(t *testing.T) {
	store, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := testenv.NewFrozenClock(epoch)
	first := ratelimit.New(store, c.Now)
	for range 10 {
		allow(t, first, check("k"))
	}
	if err := first.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := ratelimit.New(store, c.Now)
	if d := allow(t, second, check("k")); d.Allowed {
		t.Fatalf("after a restart the spent bucket is full again: %+v", d)
	}
	c.Advance(time.Minute)
	if d := allow(t, second, check("k")); !d.Allowed {
		t.Fatalf("a minute later: %+v", d)
	}
}

// TestPeekCountsNothing: Peek reports the bucket without spending it.
func TestPeekCountsNothing(t *testing.T) {
	l := ratelimit.New(nil, testenv.NewFrozenClock(epoch).Now)
	c := ratelimit.Check{Name: "admin_auth", Key: "ip", Limit: ratelimit.Limit{Burst: 2, Every: time.Minute}}
	for range 5 {
		d, err := l.Peek(context.Background(), c)
		if err != nil || !d.Allowed || d.Remaining != 1 {
			t.Fatalf("peek: %+v %v", d, err)
		}
	}
	allow(t, l, c)
	allow(t, l, c)
	if d, _ := l.Peek(context.Background(), c); d.Allowed {
		t.Fatal("peek allows a spent bucket")
	}
}

// TestSpendCountsPastTheBurst: Spend counts work already done, allowed or not;
// a bucket spent past its burst makes the next request wait for the excess.
func TestSpendCountsPastTheBurst(t *testing.T) {
	c := testenv.NewFrozenClock(epoch)
	l := ratelimit.New(nil, c.Now)
	k := check("budget")
	for range 12 {
		if err := l.Spend(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	d, err := l.Peek(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.RetryAfter != 3*time.Minute {
		t.Fatalf("after 12 spent of a burst of 10: %+v, want a wait of 3m", d)
	}
	c.Advance(3 * time.Minute)
	if d := allow(t, l, k); !d.Allowed {
		t.Fatalf("3 minutes later: %+v", d)
	}
	if err := l.Spend(context.Background(), ratelimit.Check{Name: "off", Key: "x"}); err != nil {
		t.Fatalf("spending an off limit: %v", err)
	}
}
