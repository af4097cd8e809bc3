package reset_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// BenchmarkConsumeAmongOpenTickets is the harness's B6: with many open tickets
// in the store (RESET_BENCH_OPEN_TICKETS, default 10,000; `go run ./bench` sets
// 1,000,000), the latency of a whole CompleteReset with an in-process directory
// and sync_writes on, and the disk the store uses.
//
//	go test -run '^$' -bench ConsumeAmongOpenTickets ./internal/reset

// benchStore opens a store on disk (no GC goroutine; sync as given).
func benchStore(b *testing.B, dir string, sync bool) *badgerstore.Store {
	b.Helper()
	s, err := badgerstore.Open(badgerstore.Options{Dir: dir, GCInterval: -1, SyncWrites: sync})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchServices are the services over store with one database connection whose
// users live in memory, and no mail transport worth the name.
func benchServices(b *testing.B, store storage.Store) *service.Services {
	b.Helper()
	public, _ := url.Parse("https://app.example.com")
	keys, err := keyring.FromSecret("bench-encryption-key-0123456789abcdef")
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(service.Config{
		Site: reset.Site{PublicURL: public,
			Connections: map[string]*reset.Connection{"Username-Password-Authentication": {
				Name: "Username-Password-Authentication", Kind: users.Database,
				Policy: policy.Policy{Level: policy.LevelGood}, Users: memDirectory{}}},
			Clients:       map[string]*reset.Client{"bench-app": {ID: "bench-app", Name: "Bench"}},
			DefaultClient: "bench-app"},
		Store: store, Transport: discardTransport{}, Keys: keys,
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
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
				token, key := tickets.New()
				if i%step == 0 {
					tokens = append(tokens, token)
				}
				t := &tickets.Ticket{Connection: "Username-Password-Authentication", ClientID: "bench-app",
					UserID: fmt.Sprintf("u%07d", i), Email: fmt.Sprintf("user%07d@bench.example", i), Name: "Bench User",
					ResultURL: "https://app.example.com/login", IncludeEmail: true, Source: tickets.FromEmail, ExpiresAt: now.Add(time.Hour)}
				if err := tickets.Issue(tx, key, t, now); err != nil {
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
	svc := benchServices(b, store)
	if err := svc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop()
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		_, err := svc.Flow.CompleteReset(ctx, reset.ResetForm{Ticket: tokens[i], Password: "Bench-new-pass-1!",
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
	n, err := testenv.DiskUsed(dir)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// memDirectory is a directory in memory: every user exists, u<digits> with the
// matching bench address.
type memDirectory struct{}

func (memDirectory) LookupUser(_ context.Context, email string) (*users.User, error) {
	return &users.User{UserID: "u" + email, Email: email}, nil
}

func (memDirectory) LookupUserByID(_ context.Context, id string) (*users.User, error) {
	n, err := strconv.Atoi(id[1:])
	if err != nil {
		return nil, users.ErrNotFound
	}
	return &users.User{UserID: id, Email: fmt.Sprintf("user%07d@bench.example", n)}, nil
}

func (memDirectory) ChangePassword(context.Context, users.ChangeRequest) error { return nil }

// discardTransport accepts every mail and sends nothing.
type discardTransport struct{}

func (discardTransport) Send(context.Context, string, []string, []byte) error { return nil }
