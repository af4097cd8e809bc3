package faults

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size at a new directory and unmounts it when the
// test ends (after the cleanups registered later, such as stopping Caddy).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (./test.sh and CI run as root)")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
	})
	return dir
}

// TestStoreCannotWrite is R5 with a full disk: the store keeps 128 MiB free on
// its filesystem (Badger writes through mmap, and a full disk would kill Caddy
// with SIGBUS), so once a ballast file leaves less than that, requests are
// answered 503 with Auth0's temporarily_unavailable and a sentence saying nothing
// was sent, and nothing of them is stored; the requests accepted before are
// mailed once space is back, and new requests are accepted again.
func TestStoreCannotWrite(t *testing.T) {
	small := mountTmpfs(t, "256m")
	s := newStack(t, 500, func(c *testenv.CaddyConfig) { c.StoreDir = filepath.Join(small, "store") })
	user := 0
	nextEmail := func() string { user++; return testenv.UserEmail(user) }
	accepted := []string{nextEmail()}
	s.request(accepted[0])

	var st syscall.Statfs_t
	if err := syscall.Statfs(small, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	ballast := filepath.Join(small, "ballast")
	fill(t, ballast, free-64<<20) // 64 MiB left: under the 128 MiB margin

	var refused []string
	poll.Eventually(t, "a 503 once the disk is full", func() (bool, error) {
		e := nextEmail()
		o := testenv.PostReset(t.Context(), s.client, s.base(), e)
		switch {
		case o.Status == http.StatusOK:
			accepted = append(accepted, e) // within the guard's one-second cache
		case o.Status == http.StatusServiceUnavailable:
			refused = append(refused, e)
			if !strings.Contains(o.Body, `"error":"temporarily_unavailable"`) || !strings.Contains(o.Body, "Nothing was sent") {
				t.Errorf("503 body: %s", o.Body)
			}
			return true, nil
		default:
			t.Fatalf("request with a full disk: %d %q %v", o.Status, o.Body, o.Err)
		}
		return false, nil
	})
	for range 5 {
		e := nextEmail()
		if o := testenv.PostReset(t.Context(), s.client, s.base(), e); o.Status != http.StatusServiceUnavailable {
			t.Fatalf("request while full: %d %q %v, want 503", o.Status, o.Body, o.Err)
		}
		refused = append(refused, e)
	}
	if !s.caddy.Running() || !s.logHas("below the 128 MiB kept free") {
		t.Fatalf("Caddy died or did not log the reason (running %v)", s.caddy.Running())
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, "requests accepted again once there is space", func() (bool, error) {
		e := nextEmail()
		o := testenv.PostReset(t.Context(), s.client, s.base(), e)
		if o.Status == http.StatusOK {
			accepted = append(accepted, e)
			return true, nil
		}
		refused = append(refused, e)
		return false, nil
	})
	s.waitMails(accepted)
	poll.Eventually(t, "the outbox to drain", s.outboxEmpty)
	for _, e := range refused {
		if ids := s.sink.MessageIDs(e); len(ids) > 0 {
			t.Errorf("%s was refused with 503 but mailed: something of it was stored", e)
		}
	}
	r := s.report(accepted, nil)
	t.Logf("R5: %d accepted (mailed once: %d lost, %d twice), %d refused with 503 (none mailed)",
		len(accepted), r.lost, r.twoMails, len(refused))
	if r.lost > 0 || r.twoMails > 0 {
		t.Errorf("R5: %+v", r)
	}
}

// TestStoreReadOnly is R5 with a read-only directory: Caddy does not start, and
// says why, rather than take requests it could not keep.
func TestStoreReadOnly(t *testing.T) {
	small := mountTmpfs(t, "16m")
	if err := os.Mkdir(filepath.Join(small, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", small).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v\n%s", err, out)
	}
	app := testenv.StartSeededApp(t, 1)
	ports, err := testenv.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.CaddyConfig{Admin: ports[0], Plugin: true, PluginPort: ports[1], App: app.Addr, SMTP: "127.0.0.1:1",
		StoreDir: filepath.Join(small, "store"), SyncWrites: true}
	c := testenv.NewCaddy(t, caddyBin, cfg)
	err = c.Start(t.Context(), cfg.Caddyfile(), fmt.Sprintf("127.0.0.1:%d", ports[1]))
	if err == nil {
		t.Fatal("Caddy started on a read-only store")
	}
	if !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("Caddy's error does not say the store is read-only:\n%v", err)
	}
}

// fill writes a file of n bytes (real blocks, not a sparse file).
func fill(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for written := int64(0); written < n; written += int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), n-written)]); err != nil {
			t.Fatal(err)
		}
	}
}
