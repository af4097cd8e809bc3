package reset

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/connection"
	"github.com/caddy-password-reset/caddy-password-reset/internal/harness"
	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// Ticket benchmarks against Badger on disk. Each has a baseline in this file, so
// the figure reads as a ratio measured in the same run:
//
//	BenchmarkTicketIssue         issueTicket: the user's index read, the ticket and
//	                             the index written (JSON, SHA-256 key)
//	BenchmarkBaselineStoreSet    one transaction setting one value of a ticket's size
//	BenchmarkTicketConsume       claimTicket then finishTicket: the store's part of
//	                             a completed reset (two read-modify-write commits)
//	BenchmarkBaselineStoreGetSet two transactions that each Get and Set one key
//
// and BenchmarkConsumeAmongOpenTickets, the harness's B6: with many open tickets
// in the store (RESET_BENCH_OPEN_TICKETS, default 10,000; `go run ./bench` sets
// 1,000,000), the latency of a whole CompleteReset with an in-process directory
// and sync_writes on, and the disk the store uses.
//
//	go test -run '^$' -bench . -benchmem ./reset

// benchStore opens a store on disk (no GC goroutine; sync as given).
func benchStore(b *testing.B, dir string, sync bool) *badgerstore.Store {
	b.Helper()
	s, err := badgerstore.Open(badgerstore.Options{Dir: dir, GCInterval: -1, SyncWrites: sync})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchTicket(i int, now time.Time) *Ticket {
	return &Ticket{Connection: "Username-Password-Authentication", ClientID: "bench-app",
		UserID: fmt.Sprintf("u%07d", i), Email: fmt.Sprintf("user%07d@bench.example", i), Name: "Bench User",
		ResultURL: "https://app.example.com/login", IncludeEmail: true, Source: "email", ExpiresAt: now.Add(time.Hour)}
}

func BenchmarkTicketIssue(b *testing.B) {
	s := benchStore(b, b.TempDir(), false)
	defer s.Close()
	ctx, now := context.Background(), time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, key := newTicketToken()
		t := benchTicket(i, now)
		i++
		if err := s.Update(ctx, func(tx storage.Tx) error { return issueTicket(tx, key, t, now) }); err != nil {
			b.Fatal(err)
		}
	}
}

// ticketSized is about the size of a stored ticket record.
var ticketSized = make([]byte, 400)

func BenchmarkBaselineStoreSet(b *testing.B) {
	s := benchStore(b, b.TempDir(), false)
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := "bench/" + strconv.Itoa(i)
		i++
		if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Set(key, ticketSized, time.Hour) }); err != nil {
			b.Fatal(err)
		}
	}
}

// benchService is a service over store with one database connection whose users
// live in memory, and no mail transport worth the name.
func benchService(b *testing.B, store storage.Store) *Service {
	b.Helper()
	public, _ := url.Parse("https://app.example.com")
	svc, err := New(Config{
		PublicURL: public,
		Connections: map[string]*Connection{"Username-Password-Authentication": {
			Name: "Username-Password-Authentication", Kind: connection.Database,
			Policy: policy.Policy{Level: policy.LevelGood}, Users: memDirectory{}}},
		Clients:       map[string]*Client{"bench-app": {ID: "bench-app", Name: "Bench"}},
		DefaultClient: "bench-app",
		Store:         store,
		Transport:     discardTransport{},
		Keys:          benchKeys(b),
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// benchKeys is the benchmarks' keyring.
func benchKeys(b *testing.B) *keyring.Keyring {
	k, err := keyring.FromSecret("bench-encryption-key-0123456789abcdef")
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// issueMany stores tickets for users 0..n-1 in batches and returns every step-th
// ticket's token.
func issueMany(b *testing.B, store storage.Store, n, step int) []string {
	b.Helper()
	ctx, now := context.Background(), time.Now()
	var tokens []string
	const batch = 1000
	for start := 0; start < n; start += batch {
		err := store.Update(ctx, func(tx storage.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				token, key := newTicketToken()
				if i%step == 0 {
					tokens = append(tokens, token)
				}
				if err := issueTicket(tx, key, benchTicket(i, now), now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return tokens
}

func BenchmarkTicketConsume(b *testing.B) {
	store := benchStore(b, b.TempDir(), false)
	defer store.Close()
	svc := benchService(b, store)
	ctx := context.Background()
	tokens := issueMany(b, store, b.N, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		key, _ := parseTicket(tokens[i])
		t, err := svc.claimTicket(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.finishTicket(ctx, key, t, nil, nil, 0, resetAuditEntry(t, "", true)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineStoreGetSet(b *testing.B) {
	store := benchStore(b, b.TempDir(), false)
	defer store.Close()
	ctx := context.Background()
	key := func(i int) string { return "bench/" + strconv.Itoa(i) }
	err := store.Update(ctx, func(tx storage.Tx) error {
		for i := range min(b.N, 1000) {
			if err := tx.Set(key(i), ticketSized, time.Hour); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	readModifyWrite := func(k string) error {
		return store.Update(ctx, func(tx storage.Tx) error {
			v, err := tx.Get(k)
			if err != nil {
				return err
			}
			return tx.Set(k, v, time.Hour)
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := key(i % 1000)
		if err := readModifyWrite(k); err != nil {
			b.Fatal(err)
		}
		if err := readModifyWrite(k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsumeAmongOpenTickets is B6. The tickets are stored with sync_writes
// off (a bulk load), then the store is reopened with sync_writes on, the
// product's default, and b.N of them are consumed one at a time through
// CompleteReset. It reports the latency's p50 and p99 and the disk used.
func BenchmarkConsumeAmongOpenTickets(b *testing.B) {
	open := 10_000
	if v := os.Getenv("RESET_BENCH_OPEN_TICKETS"); v != "" {
		var err error
		if open, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	seed := benchStore(b, dir, false)
	tokens := issueMany(b, seed, open, max(open/max(b.N, 1), 1))
	if err := seed.Close(); err != nil {
		b.Fatal(err)
	}
	if len(tokens) < b.N {
		b.Fatalf("%d open tickets are too few for %d consumptions", open, b.N)
	}
	store := benchStore(b, dir, true)
	defer store.Close()
	svc := benchService(b, store)
	if err := svc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop()
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		_, err := svc.CompleteReset(ctx, ResetForm{Ticket: tokens[i], Password: "Bench-new-pass-1!",
			Confirm: "Bench-new-pass-1!", IP: "192.0.2.1"})
		lat[i] = time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(int(float64(len(lat))*p), len(lat)-1)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(diskUsed(b, dir))/(1<<20), "disk-MB")
	b.ReportMetric(float64(open), "open-tickets")
}

// diskUsed is the space the files under dir take on disk.
func diskUsed(b *testing.B, dir string) int64 {
	n, err := harness.DiskUsed(dir)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// memDirectory is a directory in memory: every user exists, u<digits> with the
// matching bench address.
type memDirectory struct{}

func (memDirectory) LookupUser(_ context.Context, email string) (*connection.User, error) {
	return &connection.User{UserID: "u" + email, Email: email}, nil
}

func (memDirectory) LookupUserByID(_ context.Context, id string) (*connection.User, error) {
	n, err := strconv.Atoi(id[1:])
	if err != nil {
		return nil, connection.ErrUserNotFound
	}
	return &connection.User{UserID: id, Email: fmt.Sprintf("user%07d@bench.example", n)}, nil
}

func (memDirectory) ChangePassword(context.Context, connection.ChangeRequest) error { return nil }

// discardTransport accepts every mail and sends nothing.
type discardTransport struct{}

func (discardTransport) Send(context.Context, string, []string, []byte) error { return nil }
