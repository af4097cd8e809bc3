package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

const lease = time.Minute

func TestPutInsideUpdateThenDue(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)

	err := s.Update(context.Background(), func(tx storage.Tx) error {
		if err := tx.Set("other/write", []byte("x"), 0); err != nil {
			return err
		}
		return q.Put(tx, "job-1", map[string]string{"email": "alice@example.com"})
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}

	if got := due(t, q); !slices.Equal(got, []string{"job-1"}) {
		t.Fatalf("Due = %v, want [job-1]", got)
	}
	it := get(t, q, "job-1")
	if it.ID != "job-1" || it.State != queue.Pending || it.Attempts != 0 || it.LeaseOwner != "" || it.LastError != "" {
		t.Errorf("new item = %+v", it)
	}
	if !it.CreatedAt.Equal(clk.Now()) || !it.NotBefore.Equal(clk.Now()) {
		t.Errorf("CreatedAt %v NotBefore %v, want both %v", it.CreatedAt, it.NotBefore, clk.Now())
	}
	var payload map[string]string
	if err := json.Unmarshal(it.Payload, &payload); err != nil || payload["email"] != "alice@example.com" {
		t.Errorf("payload = %s (%v)", it.Payload, err)
	}
	checkIndex(t, s, q)
}

func TestPutIsAtomicWithTheCallersTransaction(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	boom := errors.New("caller failed after Put")

	err := s.Update(context.Background(), func(tx storage.Tx) error {
		if err := q.Put(tx, "job-1", "payload"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update = %v, want %v", err, boom)
	}
	if got := due(t, q); len(got) != 0 {
		t.Errorf("Due after a rolled-back Put = %v", got)
	}
	if _, err := q.Get(context.Background(), "job-1"); !isNotFound(err) {
		t.Errorf("Get after a rolled-back Put = %v, want ErrNotFound", err)
	}
	checkIndex(t, s, q)
}

func TestPutRefusesAPayloadThatDoesNotEncode(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		return q.Put(tx, "job-1", make(chan int))
	})
	if err == nil {
		t.Fatal("Put of a channel succeeded")
	}
	if len(scan(t, q)) != 0 {
		t.Error("an item was stored")
	}
}

func TestDueOrdersByDueTimeAndRespectsLimit(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)

	// Put in an order that is neither alphabetical nor reversed; same-instant items
	// sort by id.
	put(t, s, q, "c")
	clk.Advance(time.Second)
	put(t, s, q, "a")
	clk.Advance(time.Second)
	put(t, s, q, "b2", "b1")

	all := []string{"c", "a", "b1", "b2"}
	tests := []struct {
		limit int
		want  []string
	}{
		{0, nil},
		{1, all[:1]},
		{2, all[:2]},
		{3, all[:3]},
		{4, all},
		{100, all},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit=%d", tc.limit), func(t *testing.T) {
			got, err := q.Due(context.Background(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Due(%d) = %v, want %v", tc.limit, got, tc.want)
			}
		})
	}

	// The oldest item, retried an hour out, goes behind the others and is not due.
	it := claim(t, q, "c", "w1", lease)
	if err := q.Retry(context.Background(), it, errors.New("later"), clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, want := due(t, q), []string{"a", "b1", "b2"}; !slices.Equal(got, want) {
		t.Errorf("Due with c retried later = %v, want %v", got, want)
	}
	clk.Advance(time.Hour)
	if got, want := due(t, q), []string{"a", "b1", "b2", "c"}; !slices.Equal(got, want) {
		t.Errorf("Due an hour later = %v, want %v", got, want)
	}
	checkIndex(t, s, q)
}

func TestQueuesInOneStoreAreSeparate(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	jobs := queue.New(s, "jobs", clk.Now)
	mail := queue.New(s, "mail", clk.Now)
	put(t, s, jobs, "j1")
	put(t, s, mail, "m1", "m2")

	if got := due(t, jobs); !slices.Equal(got, []string{"j1"}) {
		t.Errorf("jobs Due = %v", got)
	}
	if got := due(t, mail); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Errorf("mail Due = %v", got)
	}
	if _, err := jobs.Claim(context.Background(), "m1", "w", lease); !errors.Is(err, queue.ErrNotClaimable) {
		t.Errorf("jobs.Claim of a mail item = %v, want ErrNotClaimable", err)
	}
	if n := len(scan(t, mail)); n != 2 {
		t.Errorf("mail Scan sees %d items, want 2", n)
	}
}

func TestClaimLeasesTheItem(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job-1")

	it := claim(t, q, "job-1", "w1", lease)
	if it.LeaseOwner != "w1" || !it.LeaseUntil.Equal(clk.Now().Add(lease)) || it.Attempts != 1 {
		t.Errorf("claimed = owner %q until %v attempts %d, want w1 until %v attempts 1",
			it.LeaseOwner, it.LeaseUntil, it.Attempts, clk.Now().Add(lease))
	}
	stored := get(t, q, "job-1")
	if stored.LeaseOwner != "w1" || !stored.LeaseUntil.Equal(it.LeaseUntil) || stored.Attempts != 1 {
		t.Errorf("stored = %+v, want the claim", stored)
	}
	if got := due(t, q); len(got) != 0 {
		t.Errorf("Due while leased = %v", got)
	}
	checkIndex(t, s, q)
}

// TestClaimManyClaimsTheClaimableInOneBatch checks that ClaimMany leases every
// claimable id, leaves out those that are not (leased, missing), and that a
// corrupt item does not hold up the others: it is reported, they are claimed.
func TestClaimManyClaimsTheClaimableInOneBatch(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "a", "b", "c", "d")
	claim(t, q, "b", "w1", lease)
	items, err := q.ClaimMany(context.Background(), []string{"a", "b", "c", "missing", "d"}, "w2", lease)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
		if it.LeaseOwner != "w2" || it.Attempts != 1 || string(it.Payload) != `{"id":"`+it.ID+`"}` {
			t.Errorf("claimed %s = %+v, want leased to w2 with its payload", it.ID, it)
		}
		if stored := get(t, q, it.ID); stored.LeaseOwner != "w2" {
			t.Errorf("stored %s leased to %q, want w2", it.ID, stored.LeaseOwner)
		}
	}
	if !slices.Equal(ids, []string{"a", "c", "d"}) {
		t.Errorf("ClaimMany claimed %v, want [a c d]", ids)
	}
	if get(t, q, "b").LeaseOwner != "w1" {
		t.Error("ClaimMany took over an item leased to another worker")
	}
	checkIndex(t, s, q)

	put(t, s, q, "e", "f")
	err = s.Update(context.Background(), func(tx storage.Tx) error {
		return tx.Set("q/jobs/item/bad", []byte("{not json"), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	items, err = q.ClaimMany(context.Background(), []string{"e", "bad", "f"}, "w2", lease)
	if err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("ClaimMany with a corrupt item: error %v, want one naming it", err)
	}
	if len(items) != 2 || items[0].ID != "e" || items[1].ID != "f" {
		t.Errorf("ClaimMany with a corrupt item claimed %v, want e and f", items)
	}
}

func TestClaimRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s storage.Store, q *queue.Queue, clk *testenv.Clock) (id string)
		owner string
	}{
		{
			name:  "missing item",
			setup: func(*testing.T, storage.Store, *queue.Queue, *testenv.Clock) string { return "nope" },
			owner: "w2",
		},
		{
			name: "leased to another worker",
			setup: func(t *testing.T, s storage.Store, q *queue.Queue, _ *testenv.Clock) string {
				put(t, s, q, "job")
				claim(t, q, "job", "w1", lease)
				return "job"
			},
			owner: "w2",
		},
		{
			name: "leased to the same worker",
			setup: func(t *testing.T, s storage.Store, q *queue.Queue, _ *testenv.Clock) string {
				put(t, s, q, "job")
				claim(t, q, "job", "w1", lease)
				return "job"
			},
			owner: "w1",
		},
		{
			name: "lease one nanosecond from its end",
			setup: func(t *testing.T, s storage.Store, q *queue.Queue, clk *testenv.Clock) string {
				put(t, s, q, "job")
				claim(t, q, "job", "w1", lease)
				clk.Advance(lease - 1)
				return "job"
			},
			owner: "w2",
		},
		{
			name: "failed",
			setup: func(t *testing.T, s storage.Store, q *queue.Queue, _ *testenv.Clock) string {
				put(t, s, q, "job")
				if err := q.Fail(context.Background(), claim(t, q, "job", "w1", lease), errors.New("x")); err != nil {
					t.Fatal(err)
				}
				return "job"
			},
			owner: "w1",
		},
		{
			name: "retry not yet due",
			setup: func(t *testing.T, s storage.Store, q *queue.Queue, clk *testenv.Clock) string {
				put(t, s, q, "job")
				it := claim(t, q, "job", "w1", lease)
				if err := q.Retry(context.Background(), it, errors.New("x"), clk.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				return "job"
			},
			owner: "w1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := openStore(t), testenv.NewFrozenClock(epoch)
			q := queue.New(s, "jobs", clk.Now)
			id := tc.setup(t, s, q, clk)
			before, _ := q.Get(context.Background(), id)

			it, err := q.Claim(context.Background(), id, tc.owner, lease)
			if !errors.Is(err, queue.ErrNotClaimable) {
				t.Fatalf("Claim = %+v, %v; want ErrNotClaimable", it, err)
			}
			after, _ := q.Get(context.Background(), id)
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Errorf("a refused Claim changed the item: %+v -> %+v", before, after)
			}
			checkIndex(t, s, q)
		})
	}
}

func TestConcurrentClaimHasOneWinner(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	const rounds, claimers = 10, 16

	for round := range rounds {
		id := fmt.Sprintf("job-%d", round)
		put(t, s, q, id)

		var (
			barrier = make(chan struct{})
			ready   sync.WaitGroup
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []*queue.Item
			others  []error
		)
		for c := range claimers {
			ready.Add(1)
			wg.Go(func() {
				ready.Done()
				<-barrier
				it, err := q.Claim(context.Background(), id, fmt.Sprintf("w%d", c), lease)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, it)
				case !errors.Is(err, queue.ErrNotClaimable):
					others = append(others, err)
				}
			})
		}
		ready.Wait()
		close(barrier)
		wg.Wait()

		if len(others) > 0 {
			t.Errorf("%s: claims failed with errors other than ErrNotClaimable: %v", id, others)
		}
		if len(winners) != 1 {
			t.Fatalf("%s: %d claims won, want exactly 1", id, len(winners))
		}
		stored := get(t, q, id)
		if stored.LeaseOwner != winners[0].LeaseOwner || stored.Attempts != 1 {
			t.Errorf("%s: stored owner %q attempts %d, want winner %q and 1 attempt",
				id, stored.LeaseOwner, stored.Attempts, winners[0].LeaseOwner)
		}
	}
	checkIndex(t, s, q)
}

func TestExpiredLeaseMakesTheItemClaimableAgain(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	first := claim(t, q, "job", "w1", lease)

	clk.Advance(lease - time.Nanosecond)
	if got := due(t, q); len(got) != 0 {
		t.Errorf("Due before the lease ends = %v", got)
	}
	clk.Advance(time.Nanosecond)
	if got := due(t, q); !slices.Equal(got, []string{"job"}) {
		t.Errorf("Due when the lease ends = %v, want [job]", got)
	}

	second := claim(t, q, "job", "w2", lease)
	if second.Attempts != 2 || second.LeaseOwner != "w2" || !second.LeaseUntil.Equal(clk.Now().Add(lease)) {
		t.Errorf("second claim = %+v, want attempt 2 leased to w2 until %v", second, clk.Now().Add(lease))
	}
	if !second.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("CreatedAt changed on claim: %v -> %v", first.CreatedAt, second.CreatedAt)
	}
	clk.Advance(lease)
	if third := claim(t, q, "job", "w1", lease); third.Attempts != 3 {
		t.Errorf("third claim attempts = %d, want 3", third.Attempts)
	}
	checkIndex(t, s, q)
}

func TestDoneRemovesItemAndDueEntry(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job", "other")
	it := claim(t, q, "job", "w1", lease)

	err := s.Update(context.Background(), func(tx storage.Tx) error {
		if err := tx.Set("result/job", []byte("sent"), 0); err != nil {
			return err
		}
		return q.Done(tx, it)
	})
	if err != nil {
		t.Fatalf("Done: %v", err)
	}

	if _, err := q.Get(context.Background(), "job"); !isNotFound(err) {
		t.Errorf("Get after Done = %v, want ErrNotFound", err)
	}
	clk.Advance(10 * lease) // long after the lease: nothing may resurface
	if got := due(t, q); !slices.Equal(got, []string{"other"}) {
		t.Errorf("Due after Done = %v, want [other]", got)
	}
	if items := scan(t, q); len(items) != 1 || items["other"] == nil {
		t.Errorf("Scan after Done = %v, want only other", items)
	}
	if _, err := q.Claim(context.Background(), "job", "w2", lease); !errors.Is(err, queue.ErrNotClaimable) {
		t.Errorf("Claim after Done = %v, want ErrNotClaimable", err)
	}
	checkIndex(t, s, q)
}

func TestDoneRollsBackWithTheCallersTransaction(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	it := claim(t, q, "job", "w1", lease)
	boom := errors.New("sending failed after Done")

	err := s.Update(context.Background(), func(tx storage.Tx) error {
		if err := q.Done(tx, it); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update = %v, want %v", err, boom)
	}
	if got := get(t, q, "job"); got.LeaseOwner != "w1" || got.State != queue.Pending {
		t.Errorf("item after rolled-back Done = %+v, want still leased to w1", got)
	}
	checkIndex(t, s, q)
	// The lease still holds, so the same claim can commit Done now.
	if err := done(context.Background(), s, q, it); err != nil {
		t.Errorf("Done after the rollback: %v", err)
	}
}

// TestStaleClaimCannotCommit: a worker whose lease ran out and whose item was
// claimed again must get ErrLeaseLost from Done, Retry and Fail, and write nothing.
func TestStaleClaimCannotCommit(t *testing.T) {
	type op struct {
		name string
		run  func(s storage.Store, q *queue.Queue, it *queue.Item, now time.Time) error
	}
	ops := []op{
		{"Done", func(s storage.Store, q *queue.Queue, it *queue.Item, _ time.Time) error {
			return s.Update(context.Background(), func(tx storage.Tx) error {
				if err := tx.Set("result/job", []byte("stale"), 0); err != nil {
					return err
				}
				return q.Done(tx, it)
			})
		}},
		{"Retry", func(_ storage.Store, q *queue.Queue, it *queue.Item, now time.Time) error {
			return q.Retry(context.Background(), it, errors.New("stale retry"), now.Add(time.Hour))
		}},
		{"Fail", func(_ storage.Store, q *queue.Queue, it *queue.Item, _ time.Time) error {
			return q.Fail(context.Background(), it, errors.New("stale fail"))
		}},
	}
	scenarios := []struct {
		name string
		// after runs once the stale worker's lease has expired.
		after    func(t *testing.T, s storage.Store, q *queue.Queue)
		wantItem bool
	}{
		{
			name: "another worker claimed it",
			after: func(t *testing.T, _ storage.Store, q *queue.Queue) {
				claim(t, q, "job", "w2", lease)
			},
			wantItem: true,
		},
		{
			name: "the same worker claimed it again",
			after: func(t *testing.T, _ storage.Store, q *queue.Queue) {
				claim(t, q, "job", "w1", lease)
			},
			wantItem: true,
		},
		{
			name: "another worker finished it",
			after: func(t *testing.T, s storage.Store, q *queue.Queue) {
				if err := done(context.Background(), s, q, claim(t, q, "job", "w2", lease)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "another worker failed it",
			after: func(t *testing.T, _ storage.Store, q *queue.Queue) {
				if err := q.Fail(context.Background(), claim(t, q, "job", "w2", lease), errors.New("w2 gave up")); err != nil {
					t.Fatal(err)
				}
			},
			wantItem: true,
		},
	}
	for _, sc := range scenarios {
		for _, o := range ops {
			t.Run(sc.name+"/"+o.name, func(t *testing.T) {
				s, clk := openStore(t), testenv.NewFrozenClock(epoch)
				q := queue.New(s, "jobs", clk.Now)
				put(t, s, q, "job")
				stale := claim(t, q, "job", "w1", lease)
				clk.Advance(lease)
				sc.after(t, s, q)
				before := scan(t, q)["job"]

				err := o.run(s, q, stale, clk.Now())
				if !errors.Is(err, queue.ErrLeaseLost) {
					t.Fatalf("%s with a stale claim = %v, want ErrLeaseLost", o.name, err)
				}
				after := scan(t, q)["job"]
				if (after != nil) != sc.wantItem || fmt.Sprint(before) != fmt.Sprint(after) {
					t.Errorf("the stale %s changed the item: %+v -> %+v", o.name, before, after)
				}
				err = s.View(context.Background(), func(tx storage.Tx) error {
					_, err := tx.Get("result/job")
					return err
				})
				if !isNotFound(err) {
					t.Errorf("the stale transaction's other write landed (Get = %v)", err)
				}
				checkIndex(t, s, q)
			})
		}
	}
}

func TestRetryDefersTheItem(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	it := claim(t, q, "job", "w1", lease)
	notBefore := clk.Now().Add(30 * time.Second)

	if err := q.Retry(context.Background(), it, errors.New("451 try again later"), notBefore); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	stored := get(t, q, "job")
	if stored.State != queue.Pending || !stored.NotBefore.Equal(notBefore) || stored.LastError != "451 try again later" ||
		stored.LeaseOwner != "" || !stored.LeaseUntil.IsZero() || stored.Attempts != 1 {
		t.Errorf("after Retry = %+v", stored)
	}
	checkIndex(t, s, q)

	clk.Advance(30*time.Second - time.Nanosecond)
	if got := due(t, q); len(got) != 0 {
		t.Errorf("Due before NotBefore = %v", got)
	}
	if _, err := q.Claim(context.Background(), "job", "w1", lease); !errors.Is(err, queue.ErrNotClaimable) {
		t.Errorf("Claim before NotBefore = %v, want ErrNotClaimable", err)
	}
	clk.Advance(time.Nanosecond)
	if got := due(t, q); !slices.Equal(got, []string{"job"}) {
		t.Errorf("Due at NotBefore = %v, want [job]", got)
	}
	again := claim(t, q, "job", "w2", lease)
	if again.Attempts != 2 || again.LastError != "451 try again later" {
		t.Errorf("claim after retry = attempts %d last error %q", again.Attempts, again.LastError)
	}
	checkIndex(t, s, q)
}

func TestFailKeepsTheItemOutOfDue(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	it := claim(t, q, "job", "w1", lease)

	if err := q.Fail(context.Background(), it, errors.New("550 no such user")); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	clk.Advance(48 * time.Hour)
	if got := due(t, q); len(got) != 0 {
		t.Errorf("Due lists a failed item: %v", got)
	}
	failed := scan(t, q)["job"]
	if failed == nil {
		t.Fatal("Scan no longer sees the failed item")
	}
	if failed.State != queue.Failed || failed.LastError != "550 no such user" || failed.LeaseOwner != "" || failed.Attempts != 1 {
		t.Errorf("failed item = %+v", failed)
	}
	if _, err := q.Claim(context.Background(), "job", "w1", lease); !errors.Is(err, queue.ErrNotClaimable) {
		t.Errorf("Claim of a failed item = %v, want ErrNotClaimable", err)
	}
	checkIndex(t, s, q)
}

func TestRequeueMakesAFailedItemDue(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "job")
	claim(t, q, "job", "w1", lease)
	clk.Advance(lease)
	if err := q.Fail(context.Background(), claim(t, q, "job", "w1", lease), errors.New("gave up")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)

	if err := q.Requeue(context.Background(), "job"); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	it := get(t, q, "job")
	if it.State != queue.Pending || it.Attempts != 0 || !it.NotBefore.Equal(clk.Now()) {
		t.Errorf("requeued = %+v, want pending, 0 attempts, due %v", it, clk.Now())
	}
	if got := due(t, q); !slices.Equal(got, []string{"job"}) {
		t.Errorf("Due after Requeue = %v, want [job]", got)
	}
	checkIndex(t, s, q)
	if c := claim(t, q, "job", "w2", lease); c.Attempts != 1 {
		t.Errorf("claim after Requeue: attempts %d, want 1", c.Attempts)
	}
}

func TestRequeueRefuses(t *testing.T) {
	s, clk := openStore(t), testenv.NewFrozenClock(epoch)
	q := queue.New(s, "jobs", clk.Now)
	put(t, s, q, "pending")

	if err := q.Requeue(context.Background(), "missing"); !isNotFound(err) {
		t.Errorf("Requeue of a missing item = %v, want ErrNotFound", err)
	}
	if err := q.Requeue(context.Background(), "pending"); err == nil {
		t.Error("Requeue of a pending item succeeded")
	}
	claim(t, q, "pending", "w1", lease)
	if err := q.Requeue(context.Background(), "pending"); err == nil {
		t.Error("Requeue of a leased item succeeded")
	}
	if it := get(t, q, "pending"); it.LeaseOwner != "w1" || it.Attempts != 1 {
		t.Errorf("refused Requeue changed the item: %+v", it)
	}
	checkIndex(t, s, q)
}
