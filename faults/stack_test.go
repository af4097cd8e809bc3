// Package faults holds the fault tests of issue 4 (R1, R3, R4, R5 here, in a form
// short enough for CI; R2 and R6, which take minutes, in long_test.go behind the
// longfaults build tag, run by faults/long.sh). Each test runs the built
// bin/caddy (./xcaddy.sh build, which TestMain runs; a no-op when fresh) as a
// child process against the demo app with seeded users and a counting SMTP sink,
// on ports picked free at run time, so that it shares none with the e2e package,
// which runs in parallel with this one.
package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

// poll bounds every wait of these tests: long enough for a lease (2 minutes) to
// run out, the last resort of work a fault interrupted; each check may ask Caddy
// over HTTP, hence every 10 ms.
var poll = testenv.Poll{Timeout: 3 * time.Minute, Every: 10 * time.Millisecond}

var caddyBin string

func TestMain(m *testing.M) { testenv.MainWithCaddy(m, "faults", &caddyBin) }

// stack is bin/caddy with the plugin in front of the bench app, mailing to a sink.
type stack struct {
	t      *testing.T
	app    *testenv.App
	sink   *testenv.Sink
	caddy  *testenv.Caddy
	cfg    testenv.CaddyConfig
	client *http.Client
}

// newStack starts the app with users seeded users, the sink and Caddy. change may
// adjust the config before Caddy starts.
func newStack(t *testing.T, users int, change func(*testenv.CaddyConfig)) *stack {
	t.Helper()
	app := testenv.StartSeededApp(t, users)
	sink := testenv.StartSink(t, testenv.SinkConfig{SMTPUTF8: true})
	ports, err := testenv.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, app: app, sink: sink, client: testenv.NewClient(32, 30*time.Second),
		cfg: testenv.CaddyConfig{Admin: ports[0], Plugin: true, PluginPort: ports[1], AdminSitePort: ports[2],
			App: app.Addr, SMTP: sink.Addr, StoreDir: filepath.Join(t.TempDir(), "store"), SyncWrites: true}}
	if change != nil {
		change(&s.cfg)
	}
	s.caddy = testenv.NewCaddy(t, caddyBin, s.cfg)
	s.start()
	return s
}

func (s *stack) start() {
	s.t.Helper()
	if err := s.caddy.Start(s.t.Context(), s.cfg.Caddyfile(), s.addr(s.cfg.PluginPort), s.addr(s.cfg.AdminSitePort)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// base is the plugin site's URL.
func (s *stack) base() string { return "http://" + s.addr(s.cfg.PluginPort) }

// request asks for a reset for email and wants Auth0's 200.
func (s *stack) request(email string) {
	s.t.Helper()
	o := testenv.PostReset(s.t.Context(), s.client, s.base(), email)
	if o.Err != nil || o.Status != http.StatusOK {
		s.t.Fatalf("change_password for %s: %d %q %v", email, o.Status, o.Body, o.Err)
	}
}

// waitMails waits until every address in emails has at least one mail.
func (s *stack) waitMails(emails []string) {
	s.t.Helper()
	poll.Eventually(s.t, fmt.Sprintf("mail to %d addresses", len(emails)), func() (bool, error) {
		for _, e := range emails {
			if len(s.sink.MessageIDs(e)) == 0 {
				return false, nil
			}
		}
		return true, nil
	})
}

// outboxEmpty reports whether the outbox holds no queued or retrying mail, from
// the Management API: a condition for poll.Eventually. An error asking counts as
// not empty (Caddy may be restarting), not as a failure.
func (s *stack) outboxEmpty() (bool, error) {
	for _, state := range []string{"queued", "retrying"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr(s.cfg.AdminSitePort)+"/api/v2/outbox?state="+state, nil)
		req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
		resp, err := s.client.Do(req)
		if err != nil {
			return false, nil
		}
		var msgs []json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&msgs)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(msgs) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// logHas reports whether Caddy's log holds text.
func (s *stack) logHas(text string) bool { return strings.Contains(s.caddy.Log(), text) }

// mailReport counts, for the addresses that were promised a mail, those without
// one (lost), those with two different mails (a job run twice) and the deliveries
// that repeated a Message-ID (a mail resent), and for the others those with more
// than one mail.
type mailReport struct {
	promised, lost, twoMails, resent, unpromisedTwice int
}

func (s *stack) report(promised, others []string) mailReport {
	r := mailReport{promised: len(promised)}
	for _, e := range promised {
		ids := s.sink.MessageIDs(e)
		distinct := map[string]bool{}
		for _, id := range ids {
			distinct[id] = true
		}
		switch {
		case len(distinct) == 0:
			r.lost++
		case len(distinct) > 1:
			r.twoMails++
		}
		r.resent += len(ids) - len(distinct)
	}
	for _, e := range others {
		ids := s.sink.MessageIDs(e)
		distinct := map[string]bool{}
		for _, id := range ids {
			distinct[id] = true
		}
		if len(distinct) > 1 {
			r.unpromisedTwice++
		}
		r.resent += len(ids) - len(distinct)
	}
	return r
}
