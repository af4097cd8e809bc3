package mail_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// BenchmarkOutboxDrain is B4 inside one process: b.N messages wait in an outbox
// kept in Badger on disk with durable commits, and the outbox's worker delivers
// them to a go-smtp server over loopback. Each mail is claimed, opened, sent and
// recorded as sent. Its baseline is BenchmarkBareGoSMTPClient: the same server,
// the transactions alone.
//
// The sub-benchmarks measure what sealing costs on this path, in one run:
// "sealed" drains mail as the outbox queues it, "clear" drains mail in the layout
// of the outbox before it sealed messages (still delivered after an upgrade),
// which differs only in not opening a sealed message.
func BenchmarkOutboxDrain(b *testing.B) {
	b.Run("clear", func(b *testing.B) { benchmarkOutboxDrain(b, false) })
	b.Run("sealed", func(b *testing.B) { benchmarkOutboxDrain(b, true) })
}

func benchmarkOutboxDrain(b *testing.B, sealed bool) {
	be := testenv.StartSink(b, testenv.SinkConfig{})
	addr := be.Addr
	store, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir(), SyncWrites: true, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	sender, err := mail.NewSender(mail.Config{Addr: addr, Security: mail.SecurityPlain}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	outbox := mail.NewOutbox(store, keys(b, secretA).Sealer(mail.SealPurpose), nil)
	fillOutbox(b, store, outbox, b.N, sealed)
	b.ResetTimer()
	ctx := context.Background()
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		outbox.Worker(sender, nil, nil).Run(run)
	}()
	if err := be.Wait(ctx, func(st testenv.SinkStats) bool { return st.Deliveries >= b.N }); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	stop()
	<-done
	if got := be.Stats().Deliveries; got != b.N {
		b.Fatalf("server got %d messages, want %d", got, b.N)
	}
}

// fillOutbox queues n messages, sealed as Put does or in the older clear layout.
func fillOutbox(b *testing.B, store storage.Store, outbox *mail.Outbox, n int, sealed bool) {
	b.Helper()
	const batch = 500
	for start := 0; start < n; start += batch {
		err := store.Update(context.Background(), func(tx storage.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				m := validMessage()
				m.To = fmt.Sprintf("user%d@example.org", i)
				if err := putOne(tx, outbox, m, i, sealed); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func putOne(tx storage.Tx, outbox *mail.Outbox, m *mail.Message, i int, sealed bool) error {
	if sealed {
		_, err := outbox.Put(tx, "reset_email", m)
		return err
	}
	raw, err := m.Bytes()
	if err != nil {
		return err
	}
	from, to, err := m.Envelope()
	if err != nil {
		return err
	}
	return outbox.Queue().Put(tx, fmt.Sprintf("%016x-clear", i), mail.Outboxed{
		From: from, To: to, Subject: m.Subject, MessageID: fmt.Sprintf("<%d@example.com>", i), Raw: raw, Kind: "reset_email"})
}

// BenchmarkOutboxPut is the outbox's share of a reset request's worker
// transaction: compose a message and queue it, one durable commit each, as
// issueAndMail does. "sealed" is Put; "clear" is the same work in the layout of
// the outbox before it sealed messages.
func BenchmarkOutboxPut(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		name := map[bool]string{false: "clear", true: "sealed"}[sealed]
		b.Run(name, func(b *testing.B) {
			store, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir(), SyncWrites: true, GCInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			outbox := mail.NewOutbox(store, keys(b, secretA).Sealer(mail.SealPurpose), nil)
			i := 0
			for b.Loop() {
				i++
				m := validMessage()
				m.To = fmt.Sprintf("user%d@example.org", i)
				err := store.Update(context.Background(), func(tx storage.Tx) error { return putOne(tx, outbox, m, i, sealed) })
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
