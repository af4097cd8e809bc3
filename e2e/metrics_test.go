package e2e

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// TestMetricsAfterScriptedFlow runs a reset, a mail the relay refuses with 550
// (after a reload onto that relay), a rate-limited request and a request while
// the app's hooks are down, then reads Caddy's admin /metrics and checks the
// counts each step added. The counters are the process's, so the test compares
// a scrape before with one after; a reload must neither reset nor double them.
func TestMetricsAfterScriptedFlow(t *testing.T) {
	s := &stack{options: "\t\trate_limit {\n\t\t\tip_email 1 1h\n\t\t}"}
	s.start(t)
	// A password history: the reset hashes the new password with argon2id.
	s.users = s.usersBlock() + "\n\t\t\tpassword_history 2"
	s.load()
	before := scrapeMetrics(t)

	// 1. A reset requested, its mail sent, the form opened and submitted.
	link := s.resetLink("alice@example.com")
	csrf := s.openForm(link)
	resp, page := s.do("POST", "/lo/reset", "application/x-www-form-urlencoded", url.Values{
		"_csrf": {csrf}, "newPassword": {newPassword}, "confirmNewPassword": {newPassword},
	}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST reset: %d\n%s", resp.StatusCode, page)
	}
	// The used link opened again.
	if resp, _ := s.do("GET", strings.TrimPrefix(link, base), "", ""); resp.StatusCode != http.StatusGone {
		t.Errorf("used link: %d", resp.StatusCode)
	}
	// A malformed request, and one past the ip_email limit.
	if resp, _ := s.do("POST", "/dbconnections/change_password", "application/json", `{"email":["a@example.com"]}`); resp.StatusCode != 400 {
		t.Errorf("malformed request: %d", resp.StatusCode)
	}
	if resp, _ := s.do("POST", "/dbconnections/change_password", "application/json",
		`{"client_id":"demo-app","email":"alice@example.com","connection":"`+conn+`"}`); resp.StatusCode != 429 {
		t.Errorf("request past ip_email: %d", resp.StatusCode)
	}
	s.drained() // the password-changed notice sent too
	waitMetric(t, before, 1, "password_reset_mails_total", "template", "password_changed", "event", "sent")

	// 2. A reload onto a relay that refuses every recipient for good.
	relay := testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}
	}})
	s.relay = relay.Addr
	s.load()
	// The old config's server closes its idle connections: a POST on one of
	// them would fail with EOF (an HTTP client retries only idempotent requests).
	s.tester.Client.CloseIdleConnections()
	s.requestReset("bob@example.com")
	waitMetric(t, before, 1, "password_reset_mails_total", "template", "reset_email", "event", "failed")
	s.load() // the same config again: nothing registered twice, nothing lost
	s.tester.Client.CloseIdleConnections()

	// 3. The app's hooks down while a request is looked up.
	s.app.Stop()
	s.requestReset("carol@example.com")
	waitMetric(t, before, 1, "password_reset_hook_calls_total", "hook", "get_user", "outcome", "unreachable")

	// The gauges read the store: wait for the workers to have settled the items
	// (bob's mail failed, carol's job to be retried).
	var after samples
	deadline := time.Now().Add(testenv.Timeout)
	for {
		after = scrapeMetrics(t)
		if after.sum("password_reset_queue_depth", "queue", "mail", "state", "failed") == 1 &&
			after.sum("password_reset_queue_depth", "queue", "jobs", "state", "retrying") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue gauges never showed bob's failed mail and carol's retrying job:\n%s", after.plugin())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{3, "password_reset_requests_total", []string{"route", "change_password", "outcome", "accepted"}},
		{1, "password_reset_requests_total", []string{"route", "change_password", "outcome", "invalid"}},
		{1, "password_reset_requests_total", []string{"route", "change_password", "outcome", "rate_limited"}},
		{1, "password_reset_requests_total", []string{"route", "reset_submit", "outcome", "completed"}},
		{2, "password_reset_requests_total", []string{"route", "reset_page", "outcome", "ok"}},
		{1, "password_reset_requests_total", []string{"route", "reset_page", "outcome", "invalid_ticket"}},
		{1, "password_reset_rate_limited_total", []string{"limit", "ip_email"}},
		{2, "password_reset_mails_total", []string{"template", "reset_email", "event", "queued"}},
		{1, "password_reset_mails_total", []string{"template", "reset_email", "event", "sent"}},
		{1, "password_reset_mails_total", []string{"template", "reset_email", "event", "failed"}},
		{1, "password_reset_mails_total", []string{"template", "password_changed", "event", "queued"}},
		{1, "password_reset_mails_total", []string{"template", "password_changed", "event", "sent"}},
		// alice's and bob's lookups, and alice's account checked again when she submits the form
		{3, "password_reset_hook_calls_total", []string{"hook", "get_user", "outcome", "ok"}},
		{1, "password_reset_hook_calls_total", []string{"hook", "change_password", "outcome", "ok"}},
		{1, "password_reset_hook_calls_total", []string{"hook", "get_user", "outcome", "unreachable"}},
		{1, "password_reset_hook_duration_seconds_count", []string{"hook", "change_password"}},
		{4, "password_reset_hook_duration_seconds_count", []string{"hook", "get_user"}},
		{2, "password_reset_tickets_total", []string{"event", "issued"}}, // alice's and bob's
		{1, "password_reset_tickets_total", []string{"event", "completed"}},
		{1, "password_reset_argon2id_duration_seconds_count", nil}, // the new password's hash for the history
		{1, "password_reset_argon2id_wait_seconds_count", nil},
		{0, "password_reset_queue_depth", []string{"queue", "mail", "state", "retrying"}},
	} {
		got := after.sum(c.name, c.labels...)
		if !strings.HasPrefix(c.name, "password_reset_queue_") {
			got -= before.sum(c.name, c.labels...)
		}
		if got != c.want {
			t.Errorf("%s%v: %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if age := after.sum("password_reset_queue_oldest_pending_age_seconds", "queue", "jobs"); age <= 0 || age > 60 {
		t.Errorf("oldest pending job's age: %v s", age)
	}
	if n := after.sum("password_reset_store_transactions_total", "kind", "update", "outcome", "ok") -
		before.sum("password_reset_store_transactions_total", "kind", "update", "outcome", "ok"); n < 5 {
		t.Errorf("store updates committed: %v, want at least one per request, job and mail", n)
	}
	if after.sum("password_reset_store_transaction_duration_seconds_count", "kind", "view") <= before.sum("password_reset_store_transaction_duration_seconds_count", "kind", "view") {
		t.Error("no store view timed")
	}
	// No label holds an address or a ticket.
	for _, sample := range after {
		for _, v := range sample.labels {
			if strings.Contains(v, "@") || strings.Contains(v, testenv.Ticket(t, link)) {
				t.Errorf("%s has a label %q", sample.name, v)
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("metrics:\n%s", after.plugin())
	}
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

type samples []sample

// sum adds the samples named name whose labels include labels (pairs).
func (ss samples) sum(name string, labels ...string) float64 {
	total := 0.0
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// plugin lists the plugin's samples, for a failure's log.
func (ss samples) plugin() string {
	var b strings.Builder
	for _, s := range ss {
		if strings.HasPrefix(s.name, "password_reset_") && !strings.Contains(s.name, "_bucket") {
			var labels []string
			for k, v := range s.labels {
				labels = append(labels, k+`="`+v+`"`)
			}
			slices.Sort(labels)
			b.WriteString(s.name + "{" + strings.Join(labels, ",") + "} " + strconv.FormatFloat(s.value, 'g', -1, 64) + "\n")
		}
	}
	return b.String()
}

// scrapeMetrics reads Caddy's admin /metrics.
func scrapeMetrics(t *testing.T) samples {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	var out samples
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, ok := parseSample(line)
		if !ok {
			t.Fatalf("cannot parse metrics line %q", line)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parseSample parses `name{k="v",...} value`: the label values the plugin
// writes have no quote, comma or brace in them.
func parseSample(line string) (sample, bool) {
	s := sample{labels: map[string]string{}}
	head, value, ok := strings.Cut(line, " ")
	if i := strings.LastIndexByte(line, ' '); i > 0 {
		head, value, ok = line[:i], line[i+1:], true
	}
	if !ok {
		return s, false
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return s, false
	}
	s.value = v
	name, rest, hasLabels := strings.Cut(head, "{")
	s.name = name
	if hasLabels {
		for _, pair := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
			k, v, ok := strings.Cut(pair, "=")
			if ok {
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
	}
	return s, true
}

// waitMetric waits until the sample name with labels has grown by want since
// before.
func waitMetric(t *testing.T, before samples, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(testenv.Timeout)
	for {
		got := scrapeMetrics(t).sum(name, labels...) - before.sum(name, labels...)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v grew by %v, want %v", name, labels, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
