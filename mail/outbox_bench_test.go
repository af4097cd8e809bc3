package mail_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/mail"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// BenchmarkOutboxDrain is B4 inside one process: b.N messages wait in an outbox
// kept in Badger on disk with durable commits, and the outbox's worker delivers
// them to a go-smtp server over loopback. Each mail is claimed, sent and recorded
// as sent. Its baseline is BenchmarkBareGoSMTPClient: the same server, the
// transactions alone.
func BenchmarkOutboxDrain(b *testing.B) {
	be := &backend{delivered: make(chan struct{}, 1024)}
	addr := startServer(b, be, serverOpts{})
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
	outbox := mail.NewOutbox(store, nil)
	ctx := context.Background()
	const batch = 500
	for start := 0; start < b.N; start += batch {
		err := store.Update(ctx, func(tx storage.Tx) error {
			for i := start; i < min(start+batch, b.N); i++ {
				m := validMessage()
				m.To = fmt.Sprintf("user%d@example.org", i)
				if _, err := outbox.Put(tx, "reset_email", m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		outbox.Worker(sender, nil).Run(run)
	}()
	for range b.N {
		<-be.delivered
	}
	b.StopTimer()
	stop()
	<-done
	if got := len(be.messages()); got != b.N {
		b.Fatalf("server got %d messages, want %d", got, b.N)
	}
}
