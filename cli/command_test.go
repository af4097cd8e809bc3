package cli

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// run runs bin/caddy with args and env, and returns its output and exit code.
func run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(caddyBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// hooksConfig writes a Caddyfile whose connection's hooks are at appURL,
// signed with the secret in $CHECK_SECRET, and returns its path.
func hooksConfig(t *testing.T, appURL string) string {
	t.Helper()
	dir := t.TempDir()
	config := `{
	admin off
	password_reset {
		public_url http://localhost:9980
		storage badger ` + filepath.Join(dir, "store") + `
		smtp 127.0.0.1:2525
		connection Username-Password-Authentication {
			upstream ` + appURL + ` {
				secret {env.CHECK_SECRET}
				timeout 1s
			}
		}
	}
}
:9980 {
	password_reset
	respond 404
}
`
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signedApp answers every get_user call, signed, with status and body, after
// wait: the faults the demo app does not make (a wrong shape, slowness).
func signedApp(t *testing.T, status int, body string, wait time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sig, err := hook.Verify(r.Header, data, []byte(testenv.HookSecret), hook.GetUser, time.Now(), time.Minute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		time.Sleep(wait) // the slow app this case is about
		w.Header().Set(hook.HeaderSignature, hook.SignAnswer([]byte(testenv.HookSecret), sig, status, []byte(body)))
		w.WriteHeader(status)
		w.Write([]byte(body)) //nolint:errcheck // the test reads what arrives
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCheckHooks: check-hooks against the demo app, and against each way a
// hook goes wrong, says what the plugin would meet in plain words, with exit
// status 1 for a problem.
func TestCheckHooks(t *testing.T) {
	app := testenv.StartApp(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + closed.Addr().String()
	closed.Close()
	good := "CHECK_SECRET=" + testenv.HookSecret
	for _, tc := range []struct {
		name, appURL, env, email string
		code                     int
		want                     []string
	}{
		{"a known user", app.URL, good, "alice@example.com", 0,
			[]string{`ok: user_id "user-alice", email "alice@example.com", language "en"`}},
		{"an unknown address", app.URL, good, "nobody@example.com", 0, []string{"no user has this address"}},
		{"a blocked user", app.URL, good, "carol@example.com", 0, []string{"blocked (gets no email)"}},
		{"another secret", app.URL, "CHECK_SECRET=not-the-apps-secret-0123", "alice@example.com", 1,
			[]string{"problem:", "the hook secrets differ"}},
		{"a secret the config refuses", app.URL, "CHECK_SECRET=short", "alice@example.com", 1,
			[]string{"the user store's config is refused", "secret must be at least 16 characters"}},
		{"the app down", down, good, "alice@example.com", 1, []string{"problem: not reachable"}},
		{"a slow app", signedApp(t, 200, `{"user_id":"u1","email":"a@example.com"}`, 1500*time.Millisecond), good, "a@example.com", 1,
			[]string{"problem: too slow", "1s"}},
		{"the wrong shape", signedApp(t, 200, `{"id":1,"mail":"a@example.com"}`, 0), good, "a@example.com", 1,
			[]string{"problem: wrong shape", "user_id and email"}},
		{"an app failing", signedApp(t, 500, `{"error":"boom"}`, 0), good, "a@example.com", 1,
			[]string{"problem: the app failed", "500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, []string{tc.env}, "password-reset", "check-hooks", "--config", hooksConfig(t, tc.appURL), "--email", tc.email)
			if code != tc.code {
				t.Errorf("exit status %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, testenv.HookSecret) {
				t.Errorf("the output shows the secret:\n%s", out)
			}
		})
	}
}

// TestSign: sign prints the README's test vectors for their inputs, and
// headers that the hook package verifies.
func TestSign(t *testing.T) {
	env := []string{"RESET_HOOK_SECRET=0123456789abcdef0123456789abcdef"}
	body := `{"connection":"Username-Password-Authentication","email":"alice@example.com"}`
	out, code := run(t, env, "password-reset", "sign", "--hook", "get_user", "--body", body,
		"--id", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "--timestamp", "1750000000",
		"--status", "200", "--answer", `{"user_id":"user-alice","email":"alice@example.com"}`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"X-Password-Reset-Hook: get_user",
		"X-Password-Reset-Id: ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"X-Password-Reset-Timestamp: 1750000000",
		"X-Password-Reset-Signature: v2=f2da3bf2d8050bfc7eb2cf976d2a65b1420f577fc10c70f2b789692c364acbf3",
		"answer 200 X-Password-Reset-Signature: v2=2a8812fa40201aef0592cd905d18441a89c0830dbb4e50b5e408cd6cc9a191aa",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Without --id and --timestamp: a fresh call that verifies now.
	out, code = run(t, env, "password-reset", "sign", "--body", body)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	h := http.Header{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		h.Set(k, v)
	}
	if _, err := hook.Verify(h, []byte(body), []byte("0123456789abcdef0123456789abcdef"), hook.GetUser, time.Now(), time.Minute); err != nil {
		t.Errorf("the printed headers do not verify: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--body", body, "--secret-env", "NO_SUCH_VARIABLE_SET"}, "$NO_SUCH_VARIABLE_SET is empty"},
		{env, []string{"--body", "not json"}, "--body must be the call's JSON body"},
		{env, []string{"--hook", "get_users", "--body", body}, `--hook "get_users"`},
	} {
		out, code := run(t, tc.env, append([]string{"password-reset", "sign"}, tc.args...)...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want a refusal with %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}

// TestCommandHelp: the command and each subcommand explain themselves.
func TestCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"password-reset", "--help"}, {"password-reset", "check-hooks", "--help"}, {"password-reset", "sign", "--help"}} {
		out, code := run(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
	if out, _ := run(t, nil, "password-reset", "--help"); !strings.Contains(out, "check-hooks") || !strings.Contains(out, "sign") {
		t.Errorf("the command's help does not list its subcommands:\n%s", out)
	}
}
