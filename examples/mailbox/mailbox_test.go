package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// waitLimit bounds every Wait in these tests. It is a safety net for a broken
// box, not a delay: Wait returns as soon as the message is stored.
const waitLimit = 10 * time.Second

// startBox starts a Box with cfg on a loopback port and returns it with its SMTP
// address. The box is closed, and its server stopped, when the test ends.
func startBox(t *testing.T, cfg Config) (*Box, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box := New(cfg)
	done := make(chan error, 1)
	go func() { done <- box.ServeSMTP(ln) }()
	t.Cleanup(func() {
		if err := box.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("ServeSMTP: %v", err)
		}
	})
	return box, ln.Addr().String()
}

// send delivers one message over a new SMTP connection.
func send(t *testing.T, addr, from string, to []string, raw string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("dial SMTP: %v", err)
	}
	defer c.Close()
	if err := c.SendMail(from, to, strings.NewReader(raw)); err != nil {
		t.Fatalf("send mail: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("quit: %v", err)
	}
}

func waitFor(t *testing.T, box *Box, match func(Message) bool) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	m, err := box.Wait(ctx, match)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return m
}

func toAddr(addr string) func(Message) bool {
	return func(m Message) bool { return slices.Contains(m.EnvelopeTo, addr) }
}

// resetMail is a reset email as the plugin sends it: multipart/alternative, an
// encoded-word subject, quoted-printable text and base64 HTML.
const resetMail = "From: Example App <no-reply@example.com>\r\n" +
	"To: Alice Liddell <alice@example.com>\r\n" +
	"Subject: =?UTF-8?Q?R=C3=A9initialisez_votre_mot_de_passe?=\r\n" +
	"Date: Sun, 01 Jun 2025 12:00:00 +0000\r\n" +
	"Message-ID: <reset-1@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Bonjour Alice,\r\n" +
	"Follow this link: https://app.example.com/lo/reset?ticket=3Dabc123&lang=3Dfr.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+Qm9uam91ciBBbGljZSw8L3A+PHA+PGEgaHJlZj0iaHR0cHM6Ly9hcHAuZXhhbXBsZS5jb20v\r\n" +
	"bG8vcmVzZXQ/dGlja2V0PWFiYzEyMyZhbXA7bGFuZz1mciI+UmVzZXQ8L2E+PC9wPg==\r\n" +
	"--b1--\r\n"

// The HTML part of resetMail, decoded.
const resetHTML = `<p>Bonjour Alice,</p><p><a href="https://app.example.com/lo/reset?ticket=abc123&amp;lang=fr">Reset</a></p>`

const resetLink = "https://app.example.com/lo/reset?ticket=abc123&lang=fr"

func TestReceiveAndParse(t *testing.T) {
	box, addr := startBox(t, Config{})
	send(t, addr, "bounce@example.com", []string{"alice@example.com"}, resetMail)
	m := waitFor(t, box, toAddr("alice@example.com"))

	checks := []struct{ what, got, want string }{
		{"subject", m.Subject, "Réinitialisez votre mot de passe"},
		{"from", m.From, "Example App <no-reply@example.com>"},
		{"to", m.To, "Alice Liddell <alice@example.com>"},
		{"message-id", m.MessageID, "reset-1@example.com"},
		{"envelope from", m.EnvelopeFrom, "bounce@example.com"},
		{"text", m.Text, "Bonjour Alice,\r\nFollow this link: " + resetLink + "."},
		{"html", m.HTML, resetHTML},
		{"parse error", m.ParseError, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if want := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("date = %v, want %v", m.Date, want)
	}
	if !slices.Equal(m.EnvelopeTo, []string{"alice@example.com"}) {
		t.Errorf("envelope to = %v", m.EnvelopeTo)
	}
	if !slices.Equal(m.Links, []string{resetLink}) {
		t.Errorf("links = %q, want just %q (deduplicated)", m.Links, resetLink)
	}
	if string(m.Raw) != resetMail {
		t.Errorf("raw differs from what was sent:\n%q", m.Raw)
	}
	if m.ID != 1 || m.Received.IsZero() || m.TLS || m.AuthUser != "" {
		t.Errorf("ID %d, received %v, TLS %v, auth %q", m.ID, m.Received, m.TLS, m.AuthUser)
	}
	if i := slices.IndexFunc(m.Header, func(f Field) bool { return f.Key == "Subject" }); i < 0 || m.Header[i].Value != m.Subject {
		t.Errorf("header list lacks the decoded subject: %v", m.Header)
	}
	if box.Count() != 1 || box.Sessions() != 1 {
		t.Errorf("Count = %d, Sessions = %d, want 1 and 1", box.Count(), box.Sessions())
	}
}

func TestSinglePartAndAttachments(t *testing.T) {
	box, addr := startBox(t, Config{})
	send(t, addr, "a@example.com", []string{"b@example.com"},
		"Subject: plain\r\n\r\nJust text, see http://example.org/x\r\n")
	m := waitFor(t, box, nil)
	if m.Subject != "plain" || m.Text != "Just text, see http://example.org/x\r\n" || m.HTML != "" {
		t.Errorf("single part: %+v", m)
	}
	if !slices.Equal(m.Links, []string{"http://example.org/x"}) {
		t.Errorf("links = %q", m.Links)
	}

	send(t, addr, "a@example.com", []string{"b@example.com"}, "Subject: with file\r\n"+
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n"+
		"--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"+
		"--x\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n\r\n%PDF\r\n"+
		"--x--\r\n")
	m = waitFor(t, box, func(m Message) bool { return m.ID == 2 })
	if m.Text != "see attached" || !slices.Equal(m.Attachments, []string{"r.pdf"}) {
		t.Errorf("text %q, attachments %q", m.Text, m.Attachments)
	}
}

func TestBrokenMailIsKept(t *testing.T) {
	box, addr := startBox(t, Config{})
	raw := "Subject: =?UTF-8?Q?ok?=\r\nDate: not a date\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"
	send(t, addr, "a@example.com", []string{"b@example.com"}, raw)
	m := waitFor(t, box, nil)
	if m.ParseError == "" {
		t.Error("no parse error recorded for a malformed message")
	}
	if string(m.Raw) != raw || m.Subject != "ok" {
		t.Errorf("broken message not kept as sent: subject %q raw %q", m.Subject, m.Raw)
	}
}

func TestExtractLinks(t *testing.T) {
	text := "Go to https://a.example/one, or (https://a.example/two). Not ftp://a.example/x"
	htmlPart := `<a href="https://a.example/one">1</a> <A HREF='https://a.example/three?a=1&amp;b=2'>3</A>
		<a href=https://a.example/four>4</a> <a href="javascript:alert(1)">x</a> <a href="data:text/html,x">y</a>
		<a href="mailto:a@example.com">m</a> <a href="/relative">r</a> <a href="https://">empty host</a>`
	want := []string{
		"https://a.example/one", "https://a.example/two",
		"https://a.example/three?a=1&b=2", "https://a.example/four",
	}
	if got := extractLinks(text, htmlPart); !slices.Equal(got, want) {
		t.Errorf("extractLinks =\n%q\nwant\n%q", got, want)
	}
}

func TestWaitReturnsWhenMailArrives(t *testing.T) {
	box, addr := startBox(t, Config{})
	got := make(chan Message, 1)
	waiting := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		close(waiting)
		m, err := box.Wait(ctx, toAddr("bob@example.com"))
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		got <- m
	}()
	<-waiting
	// A message that does not match must not end the wait.
	send(t, addr, "x@example.com", []string{"alice@example.com"}, "Subject: not for bob\r\n\r\nx\r\n")
	send(t, addr, "x@example.com", []string{"bob@example.com"}, "Subject: for bob\r\n\r\nx\r\n")
	// The server stores the message before it answers DATA, so Wait has its
	// answer by now; the timer only catches a Wait that missed the wake-up.
	select {
	case m := <-got:
		if m.Subject != "for bob" {
			t.Fatalf("Wait returned %q", m.Subject)
		}
	case <-time.After(waitLimit):
		t.Fatal("Wait did not return after the message was stored")
	}
}

func TestWaitFindsStoredMail(t *testing.T) {
	box, addr := startBox(t, Config{})
	send(t, addr, "x@example.com", []string{"carol@example.com"}, "Subject: first\r\n\r\nx\r\n")
	// An ended context does not matter when the message is already there.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := box.Wait(ctx, toAddr("carol@example.com"))
	if err != nil || m.Subject != "first" {
		t.Fatalf("Wait = %q, %v", m.Subject, err)
	}
	// Waiting for a newer one than the one seen.
	send(t, addr, "x@example.com", []string{"carol@example.com"}, "Subject: second\r\n\r\nx\r\n")
	next := waitFor(t, box, func(n Message) bool { return n.ID > m.ID && toAddr("carol@example.com")(n) })
	if next.Subject != "second" {
		t.Fatalf("newer message = %q", next.Subject)
	}
}

func TestWaitContextEnds(t *testing.T) {
	box, _ := startBox(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := box.Wait(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > waitLimit {
		t.Fatalf("Wait took %v after its deadline", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := box.Wait(ctx, nil)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
	}
}

func TestWaitEndsOnClose(t *testing.T) {
	box := New(Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := box.Wait(context.Background(), nil)
		errc <- err
	}()
	if err := box.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close = %v, want ErrClosed", err)
	}
	if err := box.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := box.ServeSMTP(ln); !errors.Is(err, ErrClosed) {
		t.Fatalf("ServeSMTP after Close = %v, want ErrClosed", err)
	}
}

func TestRetentionIsBounded(t *testing.T) {
	box, addr := startBox(t, Config{Keep: 3})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 1; i <= 5; i++ { // one connection, five messages
		msg := fmt.Sprintf("Subject: message %d\r\n\r\nbody\r\n", i)
		if err := c.SendMail("x@example.com", []string{"y@example.com"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	c.Quit()
	if n := box.Count(); n != 3 {
		t.Fatalf("Count = %d, want 3", n)
	}
	var ids []int
	for _, m := range box.Messages() {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []int{3, 4, 5}) {
		t.Fatalf("kept IDs %v, want [3 4 5]", ids)
	}
	if _, ok := box.Message(1); ok {
		t.Error("Message(1) still found after it was dropped")
	}
	if m, ok := box.Message(4); !ok || m.Subject != "message 4" {
		t.Errorf("Message(4) = %q, %v", m.Subject, ok)
	}
	if box.Sessions() != 1 {
		t.Errorf("Sessions = %d, want 1", box.Sessions())
	}
	web := httptest.NewServer(box.Handler())
	defer web.Close()
	if code, _ := fetch(t, web.URL+"/messages/1"); code != http.StatusNotFound {
		t.Errorf("GET /messages/1 after drop = %d, want 404", code)
	}
}

func TestOversizedMessageRefused(t *testing.T) {
	box, addr := startBox(t, Config{MaxMessageBytes: 1024})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 20)
	err = c.SendMail("x@example.com", []string{"y@example.com"}, strings.NewReader(big))
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) || smtpErr.Code != 552 {
		t.Fatalf("sending 2 KiB to a 1 KiB box = %v, want SMTP 552", err)
	}
	if box.Count() != 0 {
		t.Fatal("an oversized message was stored")
	}
}

func TestAuthAndSTARTTLS(t *testing.T) {
	// Borrow httptest's certificate for 127.0.0.1 and a client that trusts it.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	box, addr := startBox(t, Config{TLSConfig: &tls.Config{Certificates: ts.TLS.Certificates}})

	c, err := smtp.DialStartTLS(addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "mailer", "any password")); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := c.SendMail("x@example.com", []string{"tls@example.com"}, strings.NewReader("Subject: tls\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	m := waitFor(t, box, toAddr("tls@example.com"))
	if !m.TLS || m.AuthUser != "mailer" {
		t.Fatalf("TLS = %v, AuthUser = %q, want true and mailer", m.TLS, m.AuthUser)
	}
	if box.Sessions() != 1 {
		t.Errorf("Sessions = %d after one connection with STARTTLS, want 1", box.Sessions())
	}
}

func TestRemotePeersRefused(t *testing.T) {
	box := New(Config{})
	defer box.Close()
	remoteClient, remoteServer := net.Pipe()
	localClient, localServer := net.Pipe()
	l := &listener{box: box, Listener: &stubListener{conns: []net.Conn{
		addrConn{remoteServer, &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}},
		addrConn{localServer, &net.TCPAddr{IP: net.IPv6loopback, Port: 4001}},
	}}}
	got, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got.RemoteAddr().String() != "[::1]:4001" {
		t.Fatalf("Accept returned the connection from %v, want the loopback one", got.RemoteAddr())
	}
	greeting, _ := io.ReadAll(remoteClient)
	if !strings.HasPrefix(string(greeting), "554 ") {
		t.Fatalf("remote peer got %q, want a 554 greeting", greeting)
	}
	if box.Sessions() != 1 {
		t.Fatalf("Sessions = %d, want 1 (the refused peer is not counted)", box.Sessions())
	}
	localClient.Close()
	got.Close()
}

// stubListener hands out the given connections, then fails.
type stubListener struct {
	net.Listener
	conns []net.Conn
}

func (s *stubListener) Accept() (net.Conn, error) {
	if len(s.conns) == 0 {
		return nil, net.ErrClosed
	}
	c := s.conns[0]
	s.conns = s.conns[1:]
	return c, nil
}

// addrConn is a connection with a chosen remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

func TestConcurrentSenders(t *testing.T) {
	box, addr := startBox(t, Config{})
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			send(t, addr, "x@example.com", []string{fmt.Sprintf("user%d@example.com", i)}, "Subject: hi\r\n\r\nx\r\n")
		})
	}
	for i := range n {
		wg.Go(func() { waitFor(t, box, toAddr(fmt.Sprintf("user%d@example.com", i))) })
	}
	wg.Wait()
	if box.Count() != n || box.Sessions() != n {
		t.Fatalf("Count = %d, Sessions = %d, want %d", box.Count(), box.Sessions(), n)
	}
}

// fetch GETs url and returns the status and body.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body, _ := fetchHeader(t, url)
	return code, body
}

func fetchHeader(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestWebListEscapesSubject(t *testing.T) {
	box, addr := startBox(t, Config{})
	web := httptest.NewServer(box.Handler())
	defer web.Close()

	code, body, _ := fetchHeader(t, web.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, "No mail yet.") {
		t.Fatalf("empty list: %d %q", code, body)
	}

	send(t, addr, "x@example.com", []string{"alice@example.com"}, resetMail)
	send(t, addr, "x@example.com", []string{"bob@example.com"},
		"Subject: <script>alert(1)</script>\r\n\r\nx\r\n")
	waitFor(t, box, func(m Message) bool { return m.ID == 2 })

	code, body, h := fetchHeader(t, web.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	if strings.Contains(body, "<script") {
		t.Fatalf("hostile subject or address reached the page unescaped:\n%s", body)
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		`<a href="/messages/1">Réinitialisez votre mot de passe</a>`,
		"alice@example.com",
		`<a href="/">Refresh</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	if strings.Index(body, `href="/messages/2"`) > strings.Index(body, `href="/messages/1"`) {
		t.Error("list is not newest first")
	}
	checkStrictHeaders(t, h)
}

func checkStrictHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows script", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", h)
	}
}

var srcdocRE = regexp.MustCompile(`<iframe sandbox srcdoc="([^"]*)"`)

func TestMessagePageSandboxesHTML(t *testing.T) {
	box, addr := startBox(t, Config{})
	web := httptest.NewServer(box.Handler())
	defer web.Close()
	hostileHTML := `<p onclick="x()">Hi</p><script>alert('pwned')</script>` +
		`<a href="https://app.example.com/lo/reset?ticket=t1&amp;x=&quot;y">Reset</a>` +
		`<a href="javascript:alert(1)">bad</a><img src="https://tracker.example/p.gif">` +
		`<form action="https://evil.example/"><input></form>"></iframe><script>alert(2)</script>`
	raw := "Subject: hostile\r\nTo: <b>Bob</b> <script>x</script>\r\nContent-Type: multipart/alternative; boundary=z\r\n\r\n" +
		"--z\r\nContent-Type: text/plain\r\n\r\nText <script>alert(3)</script> part\r\n" +
		"--z\r\nContent-Type: text/html\r\n\r\n" + hostileHTML + "\r\n--z--\r\n"
	send(t, addr, "x@example.com", []string{"alice@example.com"}, raw)
	m := waitFor(t, box, nil)

	code, body, h := fetchHeader(t, fmt.Sprintf("%s/messages/%d", web.URL, m.ID))
	if code != http.StatusOK {
		t.Fatalf("message page = %d", code)
	}
	checkStrictHeaders(t, h)
	if strings.Contains(body, "<script") || strings.Contains(body, "<form") || strings.Contains(body, "<img") || strings.Contains(body, "<b>") {
		t.Fatalf("mail markup reached the page outside srcdoc:\n%s", body)
	}
	frames := srcdocRE.FindAllStringSubmatch(body, -1)
	if len(frames) != 1 {
		t.Fatalf("found %d sandboxed srcdoc iframes, want 1:\n%s", len(frames), body)
	}
	if got := html.UnescapeString(frames[0][1]); got != hostileHTML {
		t.Errorf("srcdoc decodes to\n%q\nwant the HTML part\n%q", got, hostileHTML)
	}
	if !strings.Contains(body, "<pre>Text &lt;script&gt;alert(3)&lt;/script&gt; part") {
		t.Error("text part is not shown escaped in a <pre>")
	}
	link := `<a href="https://app.example.com/lo/reset?ticket=t1&amp;x=%22y" rel="noreferrer noopener">`
	if !strings.Contains(body, link) {
		t.Errorf("links list lacks %s", link)
	}
	if strings.Contains(body, `href="javascript:`) || strings.Count(body, "tracker.example") != 1 {
		t.Error("a javascript: link or the tracker image appears outside the srcdoc")
	}
}

func TestRawAndAPI(t *testing.T) {
	box, addr := startBox(t, Config{})
	web := httptest.NewServer(box.Handler())
	defer web.Close()
	send(t, addr, "bounce@example.com", []string{"alice@example.com"}, resetMail)
	waitFor(t, box, nil)

	code, body, h := fetchHeader(t, web.URL+"/messages/1/raw")
	if code != http.StatusOK || body != resetMail {
		t.Fatalf("raw = %d %q", code, body)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("raw headers: %v", h)
	}

	code, body, h = fetchHeader(t, web.URL+"/api/messages")
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" {
		t.Fatalf("api = %d %v", code, h)
	}
	var msgs []Message
	if err := json.Unmarshal([]byte(body), &msgs); err != nil {
		t.Fatalf("api body: %v", err)
	}
	if len(msgs) != 1 || msgs[0].Subject != "Réinitialisez votre mot de passe" ||
		!slices.Equal(msgs[0].Links, []string{resetLink}) || msgs[0].EnvelopeFrom != "bounce@example.com" {
		t.Errorf("api messages = %+v", msgs)
	}
	if strings.Contains(body, `"Raw"`) {
		t.Error("api includes the raw source")
	}

	for _, path := range []string{"/messages/2", "/messages/x", "/messages/-1/raw", "/nope"} {
		if code, _ := fetch(t, web.URL+path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
}

func TestAPIEmptyIsArray(t *testing.T) {
	box := New(Config{})
	defer box.Close()
	w := httptest.NewRecorder()
	box.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/messages", nil))
	if got := strings.TrimSpace(w.Body.String()); got != "[]" {
		t.Fatalf("empty api = %q, want []", got)
	}
	if !bytes.Contains(w.Body.Bytes(), []byte("[")) {
		t.Fatal("not an array")
	}
}

// TestCloseRightAfterServe closes the box while ServeSMTP may not have reached the
// SMTP server yet; ServeSMTP must still return.
func TestCloseRightAfterServe(t *testing.T) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		box := New(Config{})
		done := make(chan error, 1)
		go func() { done <- box.ServeSMTP(ln) }()
		if err := box.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("ServeSMTP = %v, want nil or ErrClosed", err)
		}
	}
}
