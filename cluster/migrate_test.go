package cluster

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestMigrateBadgerToPostgres is the README's way from one node to several: a
// link mailed by a node on Badger, the node stopped, `caddy
// password-reset-copy` from its Badger directory to PostgreSQL, the node
// started on PostgreSQL with the old key file's content as encryption_key: the
// link opens and sets the password. The copy refuses a target that is not
// empty, and a second copy with --overwrite is harmless.
func TestMigrateBadgerToPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	app := testenv.StartSeededApp(t, 10)
	sink := testenv.StartSink(t, testenv.SinkConfig{SMTPUTF8: true})
	sink.KeepRaw(true)
	ports, err := testenv.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	cfg := testenv.CaddyConfig{Admin: ports[0], Plugin: true, PluginPort: ports[1], AdminSitePort: ports[2],
		App: app.Addr, SMTP: sink.Addr, StoreDir: storeDir, SyncWrites: true}
	caddy := testenv.NewCaddy(t, caddyBin, cfg)
	caddy.Env = []string{"TESTENV_PG_DSN=" + dsn}
	ready := []string{addr(cfg.PluginPort), addr(cfg.AdminSitePort)}
	if err := caddy.Start(t.Context(), cfg.Caddyfile(), ready...); err != nil {
		t.Fatal(err)
	}
	n := &node{cfg: cfg, caddy: caddy}
	c := &cluster{t: t, app: app, sink: sink}
	email := testenv.UserEmail(4)
	c.request(testenv.NewClient(1, 0), n, email)
	link := c.resetLink(email, 0)
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}

	copyStore := func(extra ...string) (string, error) {
		args := append([]string{"password-reset-copy", "--from", "badger " + storeDir, "--to", "postgres {env.TESTENV_PG_DSN}"}, extra...)
		cmd := exec.Command(caddyBin, args...)
		cmd.Env = append(os.Environ(), "TESTENV_PG_DSN="+dsn, "XDG_DATA_HOME="+filepath.Join(caddy.Dir, "data"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := copyStore()
	if err != nil || !strings.Contains(out, "copied ") {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	t.Logf("copy: %s", strings.TrimSpace(out))
	if strings.Contains(out, "DEBUG") || strings.Contains(out, "INFO") {
		t.Errorf("the copy logs below warnings:\n%s", out)
	}
	if out, err := copyStore(); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("a second copy into the filled database: %v\n%s", err, out)
	}
	if out, err := copyStore("--overwrite"); err != nil {
		t.Errorf("copy --overwrite: %v\n%s", err, out)
	}
	if strings.Contains(out, dsn) {
		t.Error("the copy's output repeats the DSN")
	}

	key, err := os.ReadFile(filepath.Join(caddy.Dir, "data", "caddy", "password_reset.key"))
	if err != nil {
		t.Fatalf("the Badger node's key file: %v", err)
	}
	cfg.Storage = "postgres {env.TESTENV_PG_DSN}"
	cfg.Options = "\t\tencryption_key {env.TESTENV_KEY}\n"
	caddy.Env = append(caddy.Env, "TESTENV_KEY="+strings.TrimSpace(string(key)))
	if err := caddy.Start(t.Context(), cfg.Caddyfile(), ready...); err != nil {
		t.Fatal(err)
	}
	client := browser(t)
	csrf := openForm(t, client, link, n)
	if status, err := submit(t.Context(), client, n, csrf, newPassword); err != nil || status != http.StatusSeeOther {
		t.Fatalf("submit after the migration: %d %v", status, err)
	}
	if !app.CheckPassword(email, newPassword) {
		t.Error("the app's password did not change")
	}
}
