package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// link is the secret of the tests' messages: what a copy of the store must not
// reveal.
const (
	ticket = "Xq3vN8pLr2WkT7yBzH5sD1fGj9mQc4aE6uR0oIeYt_w"
	link   = "https://app.example.com/lo/reset?ticket=" + ticket
)

func keys(t testing.TB, secret string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	secretA = "outbox-test-secret-A-0123456789abcdef"
	secretB = "outbox-test-secret-B-0123456789abcdef"
)

func openStore(t testing.TB) storage.Store {
	t.Helper()
	store, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func linkMessage(to string) *mail.Message {
	m := validMessage()
	m.To = to
	m.Text = "Open this link to choose a new password:\n" + link + "\n"
	m.HTML = `<p><a href="` + link + `">Choose a new password</a></p>`
	return m
}

// put queues m in one transaction and returns its id.
func put(t testing.TB, store storage.Store, o *mail.Outbox, m *mail.Message) string {
	t.Helper()
	var id string
	err := store.Update(context.Background(), func(tx storage.Tx) error {
		var err error
		id, err = o.Put(tx, "reset_email", m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// runWorker delivers o's mail through a real sender to be until the test ends.
func runWorker(t *testing.T, o *mail.Outbox, be *testenv.Sink, logger *slog.Logger) {
	t.Helper()
	sender := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Worker(sender, nil, logger).Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// storeHolds reports whether any key or value in store contains s, and how many
// values it read.
func storeHolds(t testing.TB, store storage.Store, s string) (found bool, values int) {
	t.Helper()
	err := store.View(context.Background(), func(tx storage.Tx) error {
		return tx.Scan("", "", func(key string, value []byte) error {
			values++
			for _, v := range [][]byte{[]byte(key), value, decodedRaw(value)} {
				// Quoted-printable breaks long lines with "=" CRLF, which can
				// fall inside the secret.
				if bytes.Contains(bytes.ReplaceAll(v, []byte("=\r\n"), nil), []byte(s)) {
					found = true
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, values
}

// decodedRaw returns the message of an outbox payload in clear (JSON writes a
// []byte in base64), or nil: what the store held before messages were sealed.
func decodedRaw(value []byte) []byte {
	var rec mail.Outboxed
	if json.Unmarshal(value, &rec) != nil {
		return nil
	}
	return rec.Raw
}

func TestOutboxSealsTheMessage(t *testing.T) {
	store := openStore(t)
	o := mail.NewOutbox(store, keys(t, secretA).Sealer(mail.SealPurpose), nil)
	id := put(t, store, o, linkMessage("user@example.org"))
	if found, n := storeHolds(t, store, ticket); found || n == 0 {
		t.Fatalf("the store holds the ticket in clear (%d values read)", n)
	}
	it, err := o.Queue().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var rec mail.Outboxed
	if err := json.Unmarshal(it.Payload, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Raw) != 0 || len(rec.Sealed) == 0 {
		t.Fatalf("payload %s: want a sealed message and no raw one", it.Payload)
	}
	if rec.Subject != "Reset your password" || rec.To[0] != "user@example.org" || rec.Kind != "reset_email" {
		t.Errorf("the envelope is not kept in clear for the dashboard: %+v", rec)
	}
	raw, err := o.Open(id, &rec)
	if err != nil || !bytes.Contains(raw, []byte("Reset your password")) {
		t.Fatalf("Open = %.80q, %v", raw, err)
	}

	be := testenv.StartSink(t, testenv.SinkConfig{KeepRaw: true})
	runWorker(t, o, be, nil)
	be.WaitDeliveries(t, 1)
	if got := be.Messages(); len(got) != 1 || !bytes.Equal(got[0].Data, raw) {
		t.Fatalf("the server got %d messages, or not the one sealed", len(got))
	}
	sent := waitSent(t, o, 1)
	if len(sent[0].Sealed) != 0 || len(sent[0].Raw) != 0 || sent[0].MessageID != rec.MessageID {
		t.Errorf("the record of the sent mail keeps its content: %+v", sent[0])
	}
}

// waitSent waits for n records of sent mail and returns them.
func waitSent(t *testing.T, o *mail.Outbox, n int) []mail.Outboxed {
	t.Helper()
	var sent []mail.Outboxed
	testenv.Eventually(t, fmt.Sprintf("%d sent records", n), func() (bool, error) {
		sent = sent[:0]
		err := o.Sent(context.Background(), func(_ string, m mail.Outboxed) error {
			sent = append(sent, m)
			return nil
		})
		return len(sent) == n, err
	})
	return sent
}

func TestSealedMessageOpensOnlyInItsOwnItem(t *testing.T) {
	store := openStore(t)
	o := mail.NewOutbox(store, keys(t, secretA).Sealer(mail.SealPurpose), nil)
	id := put(t, store, o, linkMessage("user@example.org"))
	it, err := o.Queue().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var rec mail.Outboxed
	if err := json.Unmarshal(it.Payload, &rec); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(id+"x", &rec); !errors.Is(err, keyring.ErrOpen) {
		t.Errorf("a sealed message moved to another item opened: %v", err)
	}
	if _, err := o.Open(id, &mail.Outboxed{}); err == nil {
		t.Error("an item without a message opened")
	}
}

// Mail queued before messages were sealed (its Raw in clear) is still delivered
// after the upgrade, once, and its record of sent mail drops the content.
func TestOutboxDeliversMailQueuedBeforeSealing(t *testing.T) {
	store := openStore(t)
	o := mail.NewOutbox(store, keys(t, secretA).Sealer(mail.SealPurpose), nil)
	m := linkMessage("old@example.org")
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	putOldLayout(t, store, "0000000000000001-oldlayout1", m, raw)
	if found, _ := storeHolds(t, store, ticket); !found {
		t.Fatal("the check does not find the ticket in a message kept in clear")
	}

	be := testenv.StartSink(t, testenv.SinkConfig{KeepRaw: true})
	runWorker(t, o, be, nil)
	be.WaitDeliveries(t, 1)
	sent := waitSent(t, o, 1)
	if got := be.Messages(); len(got) != 1 || !bytes.Equal(got[0].Data, raw) || got[0].To[0] != "old@example.org" {
		t.Fatalf("the server got %d messages, or not the old one", len(got))
	}
	if len(sent[0].Raw) != 0 || len(sent[0].Sealed) != 0 {
		t.Errorf("the sent record keeps the content: %+v", sent[0])
	}
	if found, _ := storeHolds(t, store, ticket); found {
		t.Error("the old message is still readable in the store after it was sent")
	}
	if ids, err := o.Queue().Due(context.Background(), 10); err != nil || len(ids) != 0 {
		t.Errorf("items still due after delivery: %v, %v", ids, err)
	}
}

// putOldLayout queues m as the outbox did before it sealed messages.
func putOldLayout(t testing.TB, store storage.Store, id string, m *mail.Message, raw []byte) {
	t.Helper()
	from, to, err := m.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(store, "mail", nil)
	err = store.Update(context.Background(), func(tx storage.Tx) error {
		return q.Put(tx, id, mail.Outboxed{From: from, To: to, Subject: m.Subject, MessageID: "<old@example.com>", Raw: raw, Kind: "reset_email"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A mail sealed with a key the outbox no longer has (the key file was lost, the
// encryption_key changed) is neither sent nor dropped: it fails with a clear
// error that holds no secret, and is delivered once the key is back.
func TestMailSealedWithAnotherKeyFailsAndStays(t *testing.T) {
	store := openStore(t)
	before := mail.NewOutbox(store, keys(t, secretA).Sealer(mail.SealPurpose), nil)
	id := put(t, store, before, linkMessage("user@example.org"))

	logger, logs := testenv.NewLogs()
	after := mail.NewOutbox(store, keys(t, secretB).Sealer(mail.SealPurpose), nil)
	be := testenv.StartSink(t, testenv.SinkConfig{})
	stopped := runWorkerUntil(t, after, be, logger)
	var it *queue.Item
	testenv.Eventually(t, "the item to fail", func() (bool, error) {
		var err error
		it, err = after.Queue().Get(context.Background(), id)
		return err == nil && it.State == queue.Failed, err
	})
	stopped()
	if n := be.Stats().Deliveries; n != 0 {
		t.Fatalf("%d messages sent", n)
	}
	if !strings.Contains(it.LastError, "encryption key") {
		t.Errorf("the item's error does not say what to do: %q", it.LastError)
	}
	if logs.Count("mail cannot be opened; it stays in the outbox as failed") != 1 {
		t.Errorf("no clear log line for the mail that cannot be opened: %v", logs.Lines())
	}
	for _, e := range logs.Lines() {
		line := e.String()
		for _, secret := range []string{secretA, secretB, "Xq3vN8pLr2WkT7y"} {
			if strings.Contains(line, secret) {
				t.Errorf("a log line holds a secret: %s", line)
			}
		}
	}

	// The operator restores the key and retries the mail.
	if err := before.Queue().Requeue(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	runWorker(t, before, be, nil)
	be.WaitDeliveries(t, 1)
	waitSent(t, before, 1)
}

// runWorkerUntil is runWorker with a function that stops the worker early.
func runWorkerUntil(t *testing.T, o *mail.Outbox, be *testenv.Sink, logger *slog.Logger) (stop func()) {
	t.Helper()
	sender := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Worker(sender, nil, logger).Run(ctx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func TestSubjectWithASecretIsWithheld(t *testing.T) {
	store := openStore(t)
	o := mail.NewOutbox(store, keys(t, secretA).Sealer(mail.SealPurpose), nil)
	for _, tc := range []struct {
		subject string
		keep    bool
	}{
		{"Reset your password", true},
		{"Réinitialisez votre mot de passe pour Example-App", true},
		{"Your password for alice@example.com on app.example.com", true},
		{"Reset: " + link, false},
		{"Reset: app.example.com/lo/reset?ticket=" + ticket, false},
		{"Code Xq3vN8pLr2WkT7yBzH5s", false},
	} {
		m := linkMessage("user@example.org")
		m.Subject = tc.subject
		id := put(t, store, o, m)
		it, err := o.Queue().Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var rec mail.Outboxed
		if err := json.Unmarshal(it.Payload, &rec); err != nil {
			t.Fatal(err)
		}
		want := tc.subject
		if !tc.keep {
			want = mail.SubjectWithheld
		}
		if rec.Subject != want {
			t.Errorf("subject %q is kept in clear as %q, want %q", tc.subject, rec.Subject, want)
		}
		raw, err := o.Open(id, &rec)
		if err != nil || !bytes.Contains(raw, []byte("Subject: ")) {
			t.Fatalf("Open: %v", err)
		}
	}
}
