package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestDemoCommand runs the README's demo command, `./xcaddy.sh demo`: Caddy built
// with xcaddy, the demo app and the mail catcher on their documented ports, and
// walks a reset through it over HTTP: request, mail in the catcher's API, link,
// form, then a sign-in to the app with the new password.
func TestDemoCommand(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	// Build first (nothing to do when ./test.sh already has), so that the wait
	// for the demo below measures the demo starting, not a compile.
	if _, err := testenv.Build(root); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cmd := exec.Command("./xcaddy.sh", "demo")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "RESET_HOOK_SECRET="+testenv.HookSecret, "RESET_ADMIN_TOKEN="+adminToken)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(data, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) //nolint:errcheck // the group may be gone
		cmd.Wait()                                      //nolint:errcheck // killed on purpose
		if t.Failed() {
			log, _ := os.ReadFile(out.Name())
			t.Logf("demo output:\n%s", log)
		}
	})

	client := jarClient()
	testenv.Eventually(t, "the demo to answer on :8080", func() (bool, error) {
		resp, err := client.Get("http://localhost:8080/login")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})

	resp, err := client.Post("http://localhost:8080/dbconnections/change_password", "application/json",
		strings.NewReader(`{"client_id":"demo-app","email":"bob@example.com","connection":"`+conn+`"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("change_password: %v %v", resp, err)
	}
	resp.Body.Close()

	var link string
	testenv.Eventually(t, "the mail in the catcher", func() (bool, error) {
		link = demoMailLink(client, "bob@example.com")
		return link != "", nil
	})
	getPage(t, client, link) // moves the ticket into a cookie
	body := getPage(t, client, "http://localhost:8080/lo/reset")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form at %s:\n%s", link, body)
	}
	resp, err = client.PostForm("http://localhost:8080/lo/reset", url.Values{"_csrf": {m[1]},
		"newPassword": {newPassword}, "confirmNewPassword": {newPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "success=true") {
		t.Fatalf("reset: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = client.PostForm("http://localhost:8080/login", url.Values{"email": {"bob@example.com"}, "password": {newPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the new password: %d", resp.StatusCode)
	}
	if home := getPage(t, client, "http://localhost:8080/"); !strings.Contains(home, "bob@example.com") {
		t.Errorf("not signed in after the reset:\n%s", home)
	}
	checkDemoAdmin(t)
}

// demoMailLink returns the reset link of the newest mail to `to` in the catcher's
// JSON API, or "".
func demoMailLink(client *http.Client, to string) string {
	resp, err := client.Get("http://localhost:8025/api/messages")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var msgs []struct {
		EnvelopeTo []string `json:"envelope_to"`
		Links      []string `json:"links"`
	}
	if json.NewDecoder(resp.Body).Decode(&msgs) != nil {
		return ""
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, l := range msgs[i].Links {
			if len(msgs[i].EnvelopeTo) == 1 && msgs[i].EnvelopeTo[0] == to && strings.Contains(l, "/lo/reset?ticket=") {
				return l
			}
		}
	}
	return ""
}

func getPage(t *testing.T, client *http.Client, u string) string {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
