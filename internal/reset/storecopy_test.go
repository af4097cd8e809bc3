package reset_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/queue"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/service"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

// testSecret is the tests' encryption key, as an operator would configure it.
const testSecret = "reset-tests-encryption-key-0123456789abcdef"

func testKeys(t testing.TB) *keyring.Keyring {
	t.Helper()
	k, err := keyring.FromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestStoreCopyHoldsNoLiveTicket copies the store directory of a running service
// whose outbox holds mail in every state (sent, failed, queued while the relay is
// down) and reads the copy as someone who took it would: every key and every
// value of every version Badger keeps, and the files' bytes. No ticket that was
// mailed may be in it. The tickets of the mail that never left come from opening
// the copy's outbox items with the key: the sealed messages are there, their
// plaintext is not.
func TestStoreCopyHoldsNoLiveTicket(t *testing.T) {
	addr := testenv.FreeAddr(t)
	relay := testenv.StartMailboxAt(t, addr)
	dir := t.TempDir()
	store, err := badgerstore.Open(badgerstore.Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys := testKeys(t)
	h := newHarness(t, addr, func(c *service.Config) { c.Store, c.Keys = store, keys })

	mailed := sendSome(t, h, relay)
	relay.Close() // the relay goes down: what follows stays in the outbox
	failSome(t, h)
	queueSome(t, h)
	control := putControl(t, h, store)

	copied := filepath.Join(t.TempDir(), "copy")
	copyDir(t, dir, copied)

	files := fileBytes(t, copied)
	unfoldedFiles := unfold(files)
	blobs, versions := allVersions(t, copied)
	sealed := openOutbox(t, copied, keys)
	if len(sealed) != 4 {
		t.Fatalf("the copy's outbox holds %d sealed reset emails, want 4 (2 failed, 2 queued)", len(sealed))
	}
	for ticket, where := range sealed {
		mailed[ticket] = where
	}
	t.Logf("%d keys and values read (all versions), %d bytes of files, %d tickets looked for", len(blobs), len(files), len(mailed))
	checkOldVersionsAreRead(t, h, versions)

	// The check finds a ticket kept as the outbox kept mail before sealing.
	if !anyReveals(blobs, control) {
		t.Fatal("the scan does not find the ticket of a message kept in clear: it proves nothing")
	}
	for ticket, where := range mailed {
		if anyReveals(blobs, ticket) {
			t.Errorf("the copy's keys or values hold the ticket of the %s", where)
		}
		if bytes.Contains(files, []byte(ticket)) || bytes.Contains(unfoldedFiles, []byte(ticket)) {
			t.Errorf("the copy's files hold the ticket of the %s", where)
		}
	}
}

// sendSome has reset emails sent to alice and bob, and the "password changed"
// notice after alice uses hers; it returns their tickets.
func sendSome(t *testing.T, h *harness, relay *testenv.Mailbox) map[string]string {
	t.Helper()
	ctx := context.Background()
	request(t, h, "alice@example.com", "bob@example.com")
	mailed := map[string]string{}
	var alice int
	for _, to := range []string{"alice@example.com", "bob@example.com"} {
		msg := relay.WaitResetMail(t, to, 0)
		mailed[testenv.Ticket(t, testenv.ResetLink(t, msg))] = "reset email sent to " + to
		if to == "alice@example.com" {
			alice = msg.ID
		}
	}
	for ticket, where := range mailed {
		if strings.HasSuffix(where, "alice@example.com") {
			if _, err := h.Flow.CompleteReset(ctx, reset.ResetForm{Ticket: ticket, Password: newPassword, Confirm: newPassword}); err != nil {
				t.Fatalf("CompleteReset: %v", err)
			}
		}
	}
	relay.WaitMail(t, "alice@example.com", alice) // the notice
	h.drained(t)
	return mailed
}

// request asks for a reset for each address.
func request(t *testing.T, h *harness, emails ...string) {
	t.Helper()
	for _, email := range emails {
		if _, err := h.Flow.RequestReset(context.Background(), reset.Request{ClientID: "demo-app", Email: email, Connection: conn}); err != nil {
			t.Fatalf("RequestReset %s: %v", email, err)
		}
	}
}

// failSome queues two reset emails while the relay is down and has them fail:
// they are retried until the outbox's MaxAge (72 hours) has passed.
func failSome(t *testing.T, h *harness) {
	t.Helper()
	request(t, h, "alice@example.com", "bob@example.com")
	waitMail(t, h, "two reset emails queued", func(st admin.Stats) bool { return st.Mail.Pending == 2 })
	h.Clock.Advance(73 * time.Hour)
	waitMail(t, h, "the two emails to fail", func(st admin.Stats) bool { return st.Mail.Failed == 2 && st.Mail.Pending == 0 })
}

// queueSome queues two more reset emails, retried while the relay is down.
func queueSome(t *testing.T, h *harness) {
	t.Helper()
	request(t, h, "alice@example.com", "bob@example.com")
	waitMail(t, h, "two reset emails retrying", func(st admin.Stats) bool { return st.Mail.Retrying == 2 && st.Mail.Failed == 2 })
}

// waitMail waits until no job is pending and the outbox's counts satisfy ok.
func waitMail(t *testing.T, h *harness, what string, ok func(admin.Stats) bool) {
	t.Helper()
	testenv.Eventually(t, what, func() (bool, error) {
		st, err := h.Admin.Stats(context.Background())
		return st.Jobs.Pending == 0 && ok(st), err
	})
}

// putControl queues a reset email as the outbox kept mail before it sealed it
// (the message in clear), with a ticket of its own, and returns the ticket: the
// scan of the copy must find it, or it could not find the others either.
func putControl(t *testing.T, h *harness, store storage.Store) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	ticket := base64.RawURLEncoding.EncodeToString(b)
	link := "https://app.example.com/lo/reset?ticket=" + ticket
	m := &mail.Message{From: "no-reply@example.com", To: "control@example.com", Subject: "Reset your password",
		Text: "Choose a new password: " + link + "\n", HTML: `<p><a href="` + link + `">Choose a new password</a></p>`,
		MessageID: "<control@example.com>", Date: h.Clock.Now()}
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	rec := mail.Outboxed{From: "no-reply@example.com", To: []string{"control@example.com"}, Subject: m.Subject,
		MessageID: m.MessageID, Raw: raw, Kind: "reset_email"}
	q := queue.New(store, "mail", h.Clock.Now)
	err = store.Update(context.Background(), func(tx storage.Tx) error { return q.Put(tx, "0000000000000000-control", rec) })
	if err != nil {
		t.Fatal(err)
	}
	return ticket
}

// copyDir copies the files of the open store, as someone with read access to
// the directory (or to a backup of it) would.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		return copyFile(path, target)
	})
	if err != nil {
		t.Fatalf("copy the store: %v", err)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// fileBytes returns the bytes of every file in dir, one after another.
func fileBytes(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		all = append(all, data...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// allVersions opens the copy with Badger itself and returns every key and value
// of every version it keeps (values in tables are compressed: reading the files
// is not enough), and the versions seen per key.
func allVersions(t *testing.T, dir string) (blobs [][]byte, versions map[string][][]byte) {
	t.Helper()
	opts := badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(8 << 20).
		WithValueLogFileSize(16 << 20).WithValueThreshold(1 << 20).WithCompression(options.Snappy)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("open the copy with Badger: %v", err)
	}
	defer db.Close()
	versions = map[string][][]byte{}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			value, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("value of %q version %d: %w", item.Key(), item.Version(), err)
			}
			key := item.KeyCopy(nil)
			blobs = append(blobs, key, value)
			versions[string(key)] = append(versions[string(key)], value)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return blobs, versions
}

// checkOldVersionsAreRead checks that the scan saw what the store no longer
// shows: the outbox items of the mail that was sent are deleted, and their
// payloads (the sealed messages) are still among the versions read.
func checkOldVersionsAreRead(t *testing.T, h *harness, versions map[string][][]byte) {
	t.Helper()
	sent, err := h.Admin.ListOutbox(context.Background(), admin.MailSent, 0)
	if err != nil || len(sent) != 3 {
		t.Fatalf("ListOutbox(sent) = %d messages, %v; want 3", len(sent), err)
	}
	for _, m := range sent {
		var old []byte
		for _, v := range versions["q/mail/data/"+m.ID] {
			old = append(old, v...)
		}
		if !bytes.Contains(old, []byte(`"sealed"`)) {
			t.Errorf("the scan did not see the deleted payload of sent mail %s", m.ID)
		}
	}
}

// openOutbox opens the copy as a store and the outbox items in it with the key,
// and returns the tickets of their reset links: where they came from by ticket.
// Every item but the control must hold a sealed message and no clear one.
func openOutbox(t *testing.T, dir string, keys *keyring.Keyring) map[string]string {
	t.Helper()
	store, err := badgerstore.Open(badgerstore.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	outbox := mail.NewOutbox(store, keys.Sealer(mail.SealPurpose), nil)
	found := map[string]string{}
	err = outbox.Queue().Scan(context.Background(), func(it *queue.Item) error {
		if strings.HasSuffix(it.ID, "-control") {
			return nil
		}
		var rec mail.Outboxed
		if err := json.Unmarshal(it.Payload, &rec); err != nil {
			return err
		}
		if len(rec.Sealed) == 0 || len(rec.Raw) != 0 {
			t.Errorf("outbox item %s (%s) is not sealed", it.ID, it.State)
		}
		raw, err := outbox.Open(it.ID, &rec)
		if err != nil {
			return err
		}
		ticket := ticketIn(t, raw)
		if !reveals(raw, ticket) {
			t.Fatalf("the check does not find a ticket in the message that holds it")
		}
		state := map[queue.State]string{queue.Pending: "queued", queue.Failed: "failed"}[it.State]
		found[ticket] = fmt.Sprintf("%s reset email to %s", state, rec.To[0])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

var ticketRE = regexp.MustCompile(`/lo/reset\?ticket=([A-Za-z0-9_-]{43})`)

// ticketIn returns the ticket of the reset link in a composed message.
func ticketIn(t *testing.T, raw []byte) string {
	t.Helper()
	m := ticketRE.FindSubmatch(unfold(raw))
	if m == nil {
		t.Fatalf("no reset link in an opened outbox message")
	}
	return string(m[1])
}

// unfold undoes what quoted-printable does to a link: the soft line breaks that
// can fall inside a ticket, and the '=' written =3D.
func unfold(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("=\r\n"), nil)
	b = bytes.ReplaceAll(b, []byte("=\n"), nil)
	return bytes.ReplaceAll(b, []byte("=3D"), []byte("="))
}

func anyReveals(blobs [][]byte, secret string) bool {
	for _, b := range blobs {
		if reveals(b, secret) {
			return true
		}
	}
	return false
}

// reveals reports whether b holds secret as a reader would decode it: as is,
// out of quoted-printable, and, in JSON, in any string or in what base64 (JSON's
// encoding of []byte) turns it into, read the same way again.
func reveals(b []byte, secret string) bool {
	return revealsAt(b, []byte(secret), 3)
}

func revealsAt(b, secret []byte, depth int) bool {
	if bytes.Contains(b, secret) || bytes.Contains(unfold(b), secret) {
		return true
	}
	var v any
	if depth == 0 || json.Unmarshal(b, &v) != nil {
		return false
	}
	found := false
	eachString(v, func(s string) {
		if found = found || revealsAt([]byte(s), secret, depth-1); found {
			return
		}
		if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
			found = revealsAt(dec, secret, depth-1)
		}
	})
	return found
}

// eachString calls fn with every string in a decoded JSON value.
func eachString(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			eachString(e, fn)
		}
	case map[string]any:
		for k, e := range v {
			fn(k)
			eachString(e, fn)
		}
	}
}
