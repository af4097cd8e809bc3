package tickets_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/tickets"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// Ticket benchmarks against Badger on disk. Each has a baseline in this file, so
// the figure reads as a ratio measured in the same run:
//
//	BenchmarkTicketIssue         Issue: the user's index read, the ticket and
//	                             the index written (JSON, SHA-256 key)
//	BenchmarkBaselineStoreSet    one transaction setting one value of a ticket's size
//	BenchmarkTicketConsume       Claim then Finish: the store's part of a
//	                             completed reset (two read-modify-write commits)
//	BenchmarkBaselineStoreGetSet two transactions that each Get and Set one key
//
//	go test -run '^$' -bench . -benchmem ./internal/tickets

// benchStore opens a store on disk (no GC goroutine; sync as given).
func benchStore(b *testing.B, dir string, sync bool) *badgerstore.Store {
	b.Helper()
	s, err := badgerstore.Open(badgerstore.Options{Dir: dir, GCInterval: -1, SyncWrites: sync})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchTicket(i int, now time.Time) *tickets.Ticket {
	return &tickets.Ticket{Connection: "Username-Password-Authentication", ClientID: "bench-app",
		UserID: fmt.Sprintf("u%07d", i), Email: fmt.Sprintf("user%07d@bench.example", i), Name: "Bench User",
		ResultURL: "https://app.example.com/login", IncludeEmail: true, Source: tickets.FromEmail, ExpiresAt: now.Add(time.Hour)}
}

func BenchmarkTicketIssue(b *testing.B) {
	s := benchStore(b, b.TempDir(), false)
	defer s.Close()
	ctx, now := context.Background(), time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, key := tickets.New()
		t := benchTicket(i, now)
		i++
		if err := s.Update(ctx, func(tx storage.Tx) error { return tickets.Issue(tx, key, t, now) }); err != nil {
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

func BenchmarkTicketConsume(b *testing.B) {
	store := benchStore(b, b.TempDir(), false)
	defer store.Close()
	ctx, now := context.Background(), time.Now()
	keys := make([]string, b.N)
	err := store.Update(ctx, func(tx storage.Tx) error {
		for i := range b.N {
			_, keys[i] = tickets.New()
			if err := tickets.Issue(tx, keys[i], benchTicket(i, now), now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		var t *tickets.Ticket
		err := store.Update(ctx, func(tx storage.Tx) error {
			var err error
			t, err = tickets.Claim(tx, keys[i], now)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Update(ctx, func(tx storage.Tx) error { return tickets.Finish(tx, keys[i], t, false, now) }); err != nil {
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
