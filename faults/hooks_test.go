package faults

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// TestHooksDown is R3: with the app's hooks down, the request endpoint still
// answers 200 and the job waits for the app (it is retried, nothing is mailed);
// the reset form says to try again and the ticket stays usable; once the app is
// back the waiting job's mail goes out and the same ticket completes the reset.
func TestHooksDown(t *testing.T) {
	s := newStack(t, 10, nil)
	alice, bob := testenv.UserEmail(0), testenv.UserEmail(1)
	s.sink.KeepRaw(true)
	s.request(alice)
	s.waitMails([]string{alice})
	link := testenv.RawResetLink(s.sink.Raw(alice))
	if link == "" {
		t.Fatal("no reset link in alice's mail")
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if status, _, err := testenv.Get(t.Context(), browser, link); err != nil || status != http.StatusOK {
		t.Fatalf("GET link: %d %v", status, err)
	}
	status, page, err := testenv.Get(t.Context(), browser, s.base()+"/lo/reset")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET form: %d %v", status, err)
	}

	s.app.Stop()
	s.request(bob) // answered although the app cannot be asked
	poll.Eventually(t, "bob's job to fail on the hook and wait for its retry", func() (bool, error) {
		return s.logHas(`"msg":"queue item failed; will retry","queue":"reset"`), nil
	})
	const password = "Fault-test-pass-3!"
	status, page = postForm(t, browser, s.base()+"/lo/reset", page, password)
	if status != http.StatusServiceUnavailable || !strings.Contains(page, "please try again later") {
		t.Fatalf("reset POST with the app down: %d, want 503 asking to try again\n%s", status, page)
	}
	if ids := s.sink.MessageIDs(bob); len(ids) != 0 {
		t.Fatalf("bob was mailed while the app was down: %v", ids)
	}

	s.app.Restart(t)
	s.waitMails([]string{bob})
	status, page = postForm(t, browser, s.base()+"/lo/reset", page, password)
	if status != http.StatusSeeOther {
		t.Fatalf("reset POST with the app back: %d, want 303 (the ticket stays usable)\n%s", status, page)
	}
	if !s.app.CheckPassword(alice, password) {
		t.Error("the app did not get alice's new password")
	}
}

// postForm submits the reset form found in page and returns the answer.
func postForm(t *testing.T, browser *http.Client, u, page, password string) (int, string) {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in the page:\n%s", page)
	}
	resp, err := browser.PostForm(u, url.Values{"_csrf": {m[1]}, "newPassword": {password}, "confirmNewPassword": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.String()
}
