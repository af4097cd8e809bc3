package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// running is bin/caddy with the plugin in front of the demo app, mailing to a
// sink that refuses bob's mail while refuse is set.
type running struct {
	caddy  *testenv.Caddy
	cfg    testenv.CaddyConfig
	sink   *testenv.Sink
	refuse atomic.Bool
}

func startCaddy(t *testing.T) *running {
	t.Helper()
	r := &running{}
	r.refuse.Store(true)
	app := testenv.StartApp(t)
	r.sink = testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(to string) error {
		if to == "bob@example.com" && r.refuse.Load() {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}
		}
		return nil
	}})
	ports, err := testenv.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	r.cfg = testenv.CaddyConfig{Admin: ports[0], Plugin: true, PluginPort: ports[1], App: app.Addr, SMTP: r.sink.Addr,
		StoreDir: filepath.Join(t.TempDir(), "store"), SyncWrites: true}
	r.caddy = testenv.NewCaddy(t, caddyBin, r.cfg)
	if err := r.caddy.Start(t.Context(), r.cfg.Caddyfile(), r.site()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *running) site() string  { return fmt.Sprintf("127.0.0.1:%d", r.cfg.PluginPort) }
func (r *running) admin() string { return "--address=" + r.caddy.Admin }

// command runs a password-reset subcommand against the running Caddy.
func (r *running) command(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return run(t, nil, append(append([]string{"password-reset"}, args...), r.admin())...)
}

// requestReset asks for a reset for email through the plugin's endpoint.
func (r *running) requestReset(t *testing.T, email string) {
	t.Helper()
	body := fmt.Sprintf(`{"client_id":%q,"email":%q,"connection":%q}`, testenv.ClientID, email, testenv.Conn)
	resp, err := http.Post("http://"+r.site()+"/dbconnections/change_password", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("change_password: %d", resp.StatusCode)
	}
}

var ticketLink = regexp.MustCompile(`http://127\.0\.0\.1:\d+/lo/reset\?ticket=[A-Za-z0-9_-]+`)

// opens reports the status of a GET of link.
func opens(t *testing.T, link string) int {
	t.Helper()
	resp, err := testenv.NoRedirects().Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTicketOutboxBackupRestore runs ticket, outbox list and retry, backup and
// restore against a running Caddy, as an operator would: the ticket's link
// opens; a mail the relay refused shows as failed and is sent on retry; a
// backup taken while Caddy serves, restored into a new store, carries the
// ticket to a Caddy started on it.
func TestTicketOutboxBackupRestore(t *testing.T) {
	r := startCaddy(t)
	out, code := r.command(t, "ticket", "--email", "alice@example.com", "--ttl", "2h")
	link := ticketLink.FindString(out)
	if code != 0 || link == "" || !strings.Contains(out, "expires ") {
		t.Fatalf("ticket: exit %d:\n%s", code, out)
	}
	if status := opens(t, link); status != http.StatusOK {
		t.Errorf("the ticket's link: %d", status)
	}
	if out, code := r.command(t, "ticket", "--email", "nobody@example.com"); code == 0 || !strings.Contains(out, "404") {
		t.Errorf("a ticket for an unknown user: exit %d:\n%s", code, out)
	}

	r.requestReset(t, "bob@example.com")
	var failed string
	testenv.Eventually(t, "bob's mail to fail", func() (bool, error) {
		out, _ := r.command(t, "outbox", "list", "--state", "failed")
		if m := regexp.MustCompile(`(?m)^(\S+)\s+failed\s+reset_email\s+b\*\*\*@example\.com`).FindStringSubmatch(out); m != nil {
			failed = m[1]
		}
		return failed != "", nil
	})
	r.refuse.Store(false)
	if out, code := r.command(t, "outbox", "retry", failed); code != 0 || !strings.Contains(out, "queued "+failed+" again") {
		t.Fatalf("outbox retry: exit %d:\n%s", code, out)
	}
	testenv.Eventually(t, "bob's mail to be sent on retry", func() (bool, error) {
		return len(r.sink.MessageIDs("bob@example.com")) == 1, nil
	})
	// Sent at the first attempt after the operator's retry.
	sentRow := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(failed) + `\s+sent\s+reset_email\s+b\*\*\*@example\.com\s+1\s+20\d\d-`)
	if out, _ := r.command(t, "outbox"); !sentRow.MatchString(out) {
		t.Errorf("outbox after the retry: the mail is not shown sent, with its attempt and when it was queued:\n%s", out)
	}

	backup := filepath.Join(t.TempDir(), "reset.backup")
	if out, code := r.command(t, "backup", "--to", backup); code != 0 || !strings.Contains(out, "wrote ") {
		t.Fatalf("backup: exit %d:\n%s", code, out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	storageArg := "--storage=badger " + r.cfg.StoreDir
	if out, code := run(t, nil, "password-reset", "restore", "--from", backup, storageArg); code == 0 ||
		!strings.Contains(out, "is a Caddy still using it?") {
		t.Errorf("restore into the running Caddy's store: exit %d:\n%s", code, out)
	}
	if out, code := run(t, nil, "password-reset", "restore", "--from", backup, "--storage=badger "+restored); code != 0 {
		t.Fatalf("restore: exit %d:\n%s", code, out)
	}
	if out, code := run(t, nil, "password-reset", "restore", "--from", backup, "--storage=badger "+restored); code == 0 ||
		!strings.Contains(out, "not empty") {
		t.Errorf("restore into a store that is not empty: exit %d:\n%s", code, out)
	}
	if err := r.caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	// The same key file (Caddy's data directory) and a Caddy on the restored
	// store: the ticket made before the backup still opens.
	r.cfg.StoreDir = restored
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := r.caddy.Start(ctx, r.cfg.Caddyfile(), r.site()); err != nil {
		t.Fatal(err)
	}
	if status := opens(t, link); status != http.StatusOK {
		t.Errorf("the ticket's link on the restored store: %d", status)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Error(err)
	}
}
