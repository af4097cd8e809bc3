package handlers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
)

// chromium is Debian's chromium package, as in the e2e tests; the test never
// skips without it.
const chromium = "/usr/bin/chromium"

// tab is a headless Chromium with one tab, and what its pages logged: console
// calls, uncaught exceptions and browser log entries, where CSP violations show.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu  sync.Mutex
	log []string
}

// newTab starts Chromium with a fresh profile, as e2e/browser_test.go does;
// everything the test does in it ends within a minute.
func newTab(t *testing.T) *tab {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("this test needs headless Chromium at %s (apt-get install chromium; ./test.sh installs it): %v", chromium, err)
	}
	var output syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&output),
	)
	timeout, cancelTimeout := context.WithTimeout(context.Background(), time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &tab{t: t, ctx: ctx}
	t.Cleanup(func() {
		closing, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := chromedp.Cancel(closing); err != nil {
			t.Logf("closing Chromium: %v", err)
		}
		cancel()
		cancelTab()
		cancelAlloc()
		cancelTimeout()
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", output.String())
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v\n%s", err, output.String())
	}
	err := chromedp.Listen(ctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			line = "console." + string(ev.Type)
			for _, a := range ev.Args {
				line += " " + string(a.Value) + a.Description
			}
		case *runtime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Text
		case *log.EventEntryAdded:
			// A refused form is a 400, which the browser logs as a failed
			// load (the test checks that status itself), and the handler has
			// no favicon.
			if ev.Entry.Source == log.EntrySourceNetwork &&
				(strings.Contains(ev.Entry.Text, "status of 400") || strings.HasSuffix(ev.Entry.URL, "/favicon.ico")) {
				return
			}
			line = fmt.Sprintf("log %s/%s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
		default:
			return
		}
		b.mu.Lock()
		b.log = append(b.log, line)
		b.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("listen to the console: %v", err)
	}
	return b
}

// syncBuffer collects Chromium's output, written from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// do runs actions and fails the test, saying what it was doing, if one fails.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("#rules"), chromedp.AtLeast(0)))
		b.t.Fatalf("%s: %v\npage %s, rules:\n%s\nlog:\n%s", what, err, loc, html, strings.Join(b.logged(), "\n"))
	}
}

// eval returns the value of a JavaScript expression in the page.
func (b *tab) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *tab) logged() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}

// marks says the state of every rule on the page, as ruleMarks does for HTML.
const marks = `Array.from(document.querySelectorAll("li.rule")).map(li =>
	li.dataset.rule + "=" + (li.classList.contains("met") ? "met" : li.classList.contains("unmet") ? "unmet" : "")).join(" ")`

// waitMarks waits until the page's rules are marked want.
func (b *tab) waitMarks(what, want string) {
	b.t.Helper()
	b.do(what, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("(%s) === %q", marks, want), chromedp.WithPollingMutation()))
		if err != nil {
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](marks))
			return fmt.Errorf("%w: the rules are marked\n %s\nwant\n %s", err, got, want)
		}
		return nil
	}))
}

// TestRulesMarkedLive: in a real browser, the reset page marks each rule met or
// not as the user types, with the server's definitions (code points of the NFC
// form, identical characters in a row), tells screen readers what changed, and
// leaves the server-side rules to the server; after a refused submit the server
// marks them, with JavaScript or without (issue 8, item 16 c).
func TestRulesMarkedLive(t *testing.T) {
	env := newPageEnv(t, policy.Policy{Level: policy.LevelExcellent, Dictionary: true})
	b := newTab(t)
	link := env.ticket(t, time.Hour)
	b.do("open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("newPassword")))
	const none = "lengthAtLeast= containsAtLeast= lowerCase= upperCase= numbers= specialCharacters= identicalChars= notCommon="
	if got := b.eval(marks); got != none {
		t.Errorf("the new form marks %s", got)
	}

	b.do("type", chromedp.SendKeys(chromedp.ID("newPassword"), "ab"))
	b.waitMarks("marks for ab",
		"lengthAtLeast=unmet containsAtLeast=unmet lowerCase=met upperCase=unmet numbers=unmet specialCharacters=unmet identicalChars=met notCommon=")
	if got := b.eval(`document.getElementById("rules-status").textContent`); !strings.Contains(got, "Lower case letters (a-z): met") {
		t.Errorf("the live region says %q", got)
	}
	if got := b.eval(`document.querySelector('li[data-rule="lowerCase"] > .rule-state').textContent`); got != ": met" {
		t.Errorf("the met rule's words for screen readers: %q", got)
	}
	b.do("type", chromedp.SendKeys(chromedp.ID("newPassword"), "cD3!eee"))
	b.waitMarks("marks for abcD3!eee",
		"lengthAtLeast=unmet containsAtLeast=met lowerCase=met upperCase=met numbers=met specialCharacters=met identicalChars=unmet notCommon=")
	b.do("type", chromedp.SendKeys(chromedp.ID("newPassword"), "f"))
	b.waitMarks("marks for abcD3!eeef",
		"lengthAtLeast=met containsAtLeast=met lowerCase=met upperCase=met numbers=met specialCharacters=met identicalChars=unmet notCommon=")

	// Nine code points in fourteen UTF-16 units, and ten once decomposed: the
	// length is nine, as the server counts it.
	b.eval(`(() => { const i = document.getElementById("newPassword");
		i.value = "😀😁😂🤣e\u0301aB1!"; i.dispatchEvent(new Event("input")); return "" })()`)
	b.waitMarks("marks for nine code points",
		"lengthAtLeast=unmet containsAtLeast=met lowerCase=met upperCase=met numbers=met specialCharacters=met identicalChars=met notCommon=")
	b.eval(`(() => { const i = document.getElementById("newPassword");
		i.value = "😀😀😀Abcdefg1"; i.dispatchEvent(new Event("input")); return "" })()`)
	b.waitMarks("marks for three identical emoji",
		"lengthAtLeast=met containsAtLeast=met lowerCase=met upperCase=met numbers=met specialCharacters=unmet identicalChars=unmet notCommon=")

	// A refused submit: the server marks the rules.
	const refusedMarks = "lengthAtLeast=unmet containsAtLeast=unmet lowerCase=met upperCase=unmet numbers=unmet specialCharacters=unmet identicalChars=met notCommon=met"
	submitWeak := func(what string) {
		b.do(what,
			chromedp.Navigate(env.url+PathReset),
			chromedp.WaitVisible(chromedp.ID("newPassword")),
			chromedp.SendKeys(chromedp.ID("newPassword"), "abcdefgh"),
			chromedp.SendKeys(chromedp.ID("confirmNewPassword"), "abcdefgh"),
		)
		resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
		if err != nil || resp.Status != 400 {
			t.Fatalf("%s: %v, %+v", what, err, resp)
		}
		b.do("wait for the error", chromedp.WaitVisible(chromedp.CSS(`[data-testid="error"]`)))
		if got := b.eval(marks); got != refusedMarks {
			t.Errorf("%s: the refused form marks\n %s\nwant\n %s", what, got, refusedMarks)
		}
	}
	submitWeak("submit a weak password")

	// Without JavaScript the page works, and only the server marks.
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.do("open the form without JavaScript", chromedp.Navigate(env.url+PathReset), chromedp.WaitVisible(chromedp.ID("newPassword")),
		chromedp.SendKeys(chromedp.ID("newPassword"), "ab"))
	if got := b.eval(marks); got != none {
		t.Errorf("without JavaScript, typing marked %s", got)
	}
	submitWeak("submit a weak password without JavaScript")

	if logged := b.logged(); len(logged) > 0 {
		t.Errorf("the pages logged (a CSP violation, an error):\n%s", strings.Join(logged, "\n"))
	}
}
