package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// completions is B3: reset completions per second, each one as a browser does
// it (GET the mailed link, follow the refresh to the form, POST the new password
// and get the 303 to the result URL), against the same number of calls
// reverse_proxied to the app's change_password hook. Both sides run 8 at a time;
// both pay the app's argon2id (the hook verifies the old hash and hashes the new
// password).
func (h *harnessRun) completions(ctx context.Context) error {
	const conns = 8
	n := h.opts.completions
	for rep := range h.opts.reps {
		first := h.opts.users - (rep+1)*2*n // users no other figure touches after this
		if first < 0 {
			return fmt.Errorf("-users %d is too few for %d repetitions of %d completions", h.opts.users, h.opts.reps, n)
		}
		links, err := h.resetLinks(ctx, first, n)
		if err != nil {
			return err
		}
		runs := []string{"plugin", "base"}
		if rep%2 == 1 {
			slices.Reverse(runs)
		}
		for _, which := range runs {
			before := h.sink.Stats()
			var lat []time.Duration
			var elapsed time.Duration
			if which == "plugin" {
				lat, elapsed, err = parallel(ctx, n, conns, func(i int) error {
					return h.completeReset(ctx, links[i], fmt.Sprintf("Bench-pass-%d-%d!", rep, i))
				})
			} else {
				client := testenv.NewClient(conns, 30*time.Second)
				lat, elapsed, err = parallel(ctx, n, conns, func(i int) error {
					return setPasswordDirect(ctx, client, base(h.plugCfg.ProxyPort), first+n+i, fmt.Sprintf("Bench-pass-%d-%d!", rep, i))
				})
			}
			if err != nil {
				return fmt.Errorf("B3 %s: %w", which, err)
			}
			rate := float64(n) / elapsed.Seconds()
			logf("B3 %-6s: %5.1f completions/s, p99 %v", which, rate, pct(lat, 99))
			h.add("B3/"+which+"/rate", rate)
			h.add("B3/"+which+"/p99", ms(pct(lat, 99)))
			if which == "plugin" {
				// The "password changed" notices: let them go out before the
				// next figure.
				if _, err := h.drain(ctx, before, n); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resetLinks requests a reset for users first..first+n-1 and returns the links
// mailed to them.
func (h *harnessRun) resetLinks(ctx context.Context, first, n int) ([]string, error) {
	emails := make([]string, n)
	for i := range emails {
		emails[i] = testenv.UserEmail(first + i)
	}
	h.sink.KeepRaw(true)
	defer h.sink.KeepRaw(false)
	before := h.sink.Stats()
	client := testenv.NewClient(8, 30*time.Second)
	for _, o := range testenv.Burst(ctx, client, base(h.plugCfg.PluginPort), emails, 8) {
		if o.Err != nil || o.Status != http.StatusOK {
			return nil, fmt.Errorf("request for %s: %d %v", o.Email, o.Status, o.Err)
		}
	}
	if _, err := h.drain(ctx, before, n); err != nil {
		return nil, err
	}
	links := make([]string, n)
	for i, e := range emails {
		if links[i] = testenv.RawResetLink(h.sink.Raw(e)); links[i] == "" {
			return nil, fmt.Errorf("no reset link in the mail to %s", e)
		}
	}
	return links, nil
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// sharedTransport keeps connections open across the flows, as browsers do.
var sharedTransport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}

// completeReset walks one reset as a browser does, with its own cookie jar.
func (h *harnessRun) completeReset(ctx context.Context, link, password string) error {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: sharedTransport, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return string(body), err
	}
	if _, err := get(link); err != nil { // moves the ticket into a cookie
		return err
	}
	page, err := get(base(h.plugCfg.PluginPort) + "/lo/reset")
	if err != nil {
		return err
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return fmt.Errorf("no form on the reset page")
	}
	form := url.Values{"_csrf": {m[1]}, "newPassword": {password}, "confirmNewPassword": {password}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base(h.plugCfg.PluginPort)+"/lo/reset",
		strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := doDiscard(client, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "success=true") {
		return fmt.Errorf("POST /lo/reset: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	return nil
}

// setPasswordDirect is B3's baseline: the change_password hook's body, sent
// through Caddy's reverse_proxy to the app, which signs it and runs the hook.
func setPasswordDirect(ctx context.Context, client *http.Client, site string, user int, password string) error {
	body, _ := json.Marshal(hook.ChangePasswordRequest{Connection: testenv.Conn, UserID: fmt.Sprintf("u%06d", user),
		Email: testenv.UserEmail(user), Password: password, Reason: hook.ReasonReset, EndSessions: true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, site+testenv.PathBaselineSetPassword, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := doDiscard(client, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("set password: %s", resp.Status)
	}
	return nil
}

// doDiscard sends req and reads its answer's body to the end, so that the
// connection is reused: only the status and headers matter.
func doDiscard(client *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp, err
}

// parallel runs fn(0..n-1), conns at a time, and returns each call's latency and
// the elapsed time.
func parallel(ctx context.Context, n, conns int, fn func(i int) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := fn(i); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return lat, time.Since(start), firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// pct returns the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// outbox is B4: mails per second from the outbox to the SMTP sink, against a bare
// go-smtp client sending the same messages over one reused connection. The sink
// is held (sessions wait before MAIL FROM) while requests fill the outbox, then
// released: the drain is the outbox's own rate, each mail claimed, sent and
// recorded as sent in the store.
func (h *harnessRun) outbox(ctx context.Context) error {
	n := h.opts.mails
	// The mails are queued while the sink holds them: more than the default
	// backlog (256) of accepted and unfinished requests, so B4 runs with room
	// for all of them.
	roomy := h.plugCfg
	roomy.Options += fmt.Sprintf("\t\tbacklog %d\n", 2*n)
	if err := h.plug.Reload(roomy.Caddyfile()); err != nil {
		return fmt.Errorf("reload with a backlog of %d: %w", 2*n, err)
	}
	defer func() {
		if err := h.plug.Reload(h.plugCfg.Caddyfile()); err != nil {
			logf("B4: reload the default config: %v", err)
		}
	}()
	for rep := range h.opts.reps {
		emails := make([]string, n)
		for i := range emails {
			emails[i] = testenv.UserEmail((rep*n + i) % h.opts.users)
		}
		h.sink.KeepRaw(true)
		h.sink.Hold()
		calls := h.app.HookCalls(hook.GetUser)
		before := h.sink.Stats()
		client := testenv.NewClient(16, 30*time.Second)
		for _, o := range testenv.Burst(ctx, client, base(h.plugCfg.PluginPort), emails, 16) {
			if o.Err != nil || o.Status != http.StatusOK {
				h.sink.Release()
				return fmt.Errorf("request for %s: %d %v", o.Email, o.Status, o.Err)
			}
		}
		// Every job has looked its user up; wait for the last commits (Caddy
		// goes quiet), then open the sink.
		deadline := time.Now().Add(5 * time.Minute)
		for h.app.HookCalls(hook.GetUser)-calls < n {
			if time.Now().After(deadline) || ctx.Err() != nil {
				h.sink.Release()
				return fmt.Errorf("the jobs did not look their users up within 5 minutes")
			}
			time.Sleep(10 * time.Millisecond) // a poll of a counter that has no event to wait on
		}
		if err := h.waitQuiet(ctx, h.plug); err != nil {
			h.sink.Release()
			return err
		}
		start := time.Now()
		h.sink.Release()
		if _, err := h.drain(ctx, before, n); err != nil {
			return err
		}
		rate := float64(n) / time.Since(start).Seconds()
		h.sink.KeepRaw(false)
		raws := make([][]byte, n)
		for i, e := range emails {
			raws[i] = h.sink.Raw(e)
		}
		baseRate, err := bareSMTP(h.sink.Addr, raws, emails)
		if err != nil {
			return err
		}
		// The baseline sent the same Message-IDs again; start the next
		// figure's counts afresh.
		h.sink.Reset()
		logf("B4: outbox %6.0f mails/s, bare go-smtp client %6.0f mails/s", rate, baseRate)
		h.add("B4/plugin/rate", rate)
		h.add("B4/base/rate", baseRate)
	}
	return nil
}

// waitQuiet returns once c has used less than 5 ms of CPU in 200 ms.
func (h *harnessRun) waitQuiet(ctx context.Context, c *testenv.Caddy) error {
	last, err := c.CPUTime()
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		now, err := c.CPUTime()
		if err != nil {
			return err
		}
		if now-last < 5*time.Millisecond {
			return nil
		}
		last = now
	}
}

// bareSMTP sends raws (one to each of to) over one SMTP connection with go-smtp's
// client, as the outbox's sender does (no RSET between messages), and returns
// the messages per second.
func bareSMTP(addr string, raws [][]byte, to []string) (float64, error) {
	start := time.Now()
	c, err := smtp.Dial(addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return 0, err
	}
	for i, raw := range raws {
		if err := c.Mail("no-reply@bench.example", nil); err != nil {
			return 0, err
		}
		if err := c.Rcpt(to[i], nil); err != nil {
			return 0, err
		}
		w, err := c.Data()
		if err != nil {
			return 0, err
		}
		if _, err := w.Write(raw); err != nil {
			return 0, err
		}
		if err := w.Close(); err != nil {
			return 0, err
		}
	}
	if err := c.Quit(); err != nil {
		return 0, err
	}
	return float64(len(raws)) / time.Since(start).Seconds(), nil
}

// openTickets is B6: the reset package's BenchmarkConsumeAmongOpenTickets with
// -open-tickets tickets in a Badger store on disk: the disk they use and the
// latency of consuming one (CompleteReset with an in-process directory, so that
// the figure is the store's and the service's, not an HTTP hook's).
func (h *harnessRun) openTickets(ctx context.Context) error {
	logf("B6: seeding %d open tickets (go test -bench ConsumeAmongOpenTickets ./internal/reset)", h.opts.openTickets)
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkConsumeAmongOpenTickets$",
		"-benchtime", "2000x", "-timeout", "60m", "./internal/reset")
	cmd.Dir = h.root
	cmd.Env = append(os.Environ(), "RESET_BENCH_OPEN_TICKETS="+strconv.Itoa(h.opts.openTickets),
		"TMPDIR="+h.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || !strings.HasPrefix(f[0], "BenchmarkConsumeAmongOpenTickets") {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			h.add("B6/"+f[i+1], v)
		}
		logf("B6: %s", strings.Join(f[2:], " "))
		return nil
	}
	return fmt.Errorf("no benchmark line in:\n%s", out)
}
