package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
)

const (
	testUser = "relay-user"
	testPass = "s3cret-Pa55word!"
)

func newSender(t testing.TB, cfg mail.Config) *mail.Sender {
	t.Helper()
	s, err := mail.NewSender(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// composed returns the bytes and envelope of validMessage.
func composed(t testing.TB) (from string, to []string, msg []byte) {
	t.Helper()
	m := validMessage()
	msg, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	from, to, err = m.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	return from, to, msg
}

func TestSendPlainLoopback(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{KeepRaw: true})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
	from, to, msg := composed(t)
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}
	got := be.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if got[0].From != "no-reply@example.com" || len(got[0].To) != 1 || got[0].To[0] != "user@example.org" {
		t.Errorf("envelope = %q %q", got[0].From, got[0].To)
	}
	// The server strips the final CRLF of the DATA terminator.
	if !bytes.Equal(bytes.TrimSuffix(got[0].Data, []byte("\r\n")), bytes.TrimSuffix(msg, []byte("\r\n"))) {
		t.Errorf("data differs from the composed message:\n%s", got[0].Data)
	}
	pm := parseComposed(t, got[0].Data)
	checkPart(t, pm.parts[0], "text/plain", validMessage().Text)
}

func TestSendAuth(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{Username: testUser, Password: testPass})
	addr := be.Addr
	from, to, msg := composed(t)

	s := newSender(t, mail.Config{Addr: addr, Security: mail.SecurityPlain, Username: testUser, Password: testPass})
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatalf("correct password: %v", err)
	}

	wrong := newSender(t, mail.Config{Addr: addr, Security: mail.SecurityPlain, Username: testUser, Password: "wrong-" + testPass})
	err := wrong.Send(context.Background(), from, to, msg)
	if err == nil {
		t.Fatal("wrong password: Send succeeded")
	}
	if !strings.Contains(err.Error(), "AUTH") || !strings.Contains(err.Error(), "535") {
		t.Errorf("error %q does not say that AUTH failed with 535", err)
	}
	if mail.IsPermanent(err) {
		t.Errorf("535 at AUTH is a configuration fault and must be retried, not reported as permanent: %v", err)
	}
	if strings.Contains(err.Error(), testPass) {
		t.Errorf("error contains the password: %q", err)
	}

	noAuth := newSender(t, mail.Config{Addr: addr, Security: mail.SecurityPlain})
	err = noAuth.Send(context.Background(), from, to, msg)
	if err == nil || !strings.Contains(err.Error(), "MAIL FROM") {
		t.Errorf("Send without credentials to a server that requires them: %v", err)
	}
	if n := be.Stats().Deliveries; n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
}

// TestSendRedactsPassword uses a server that echoes the password in its
// reply, as a careless one might.
func TestSendRedactsPassword(t *testing.T) {
	const pass = "hunter2-echoed"
	be := testenv.StartSink(t, testenv.SinkConfig{Username: testUser, Password: testPass,
		AuthErr: &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad password " + pass}})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain, Username: testUser, Password: pass})
	from, to, msg := composed(t)
	err := s.Send(context.Background(), from, to, msg)
	if err == nil {
		t.Fatal("Send succeeded")
	}
	if strings.Contains(err.Error(), pass) {
		t.Fatalf("error contains the password: %q", err)
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 || strings.Contains(se.Message, pass) {
		t.Errorf("redacted error lost or leaked the server reply: %#v", se)
	}
	if mail.IsPermanent(err) {
		t.Errorf("redacted 535 at AUTH is reported as permanent")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg mail.Config
		ok  bool
	}{
		{mail.Config{Addr: "mail.example.com:587"}, true},
		{mail.Config{Addr: "mail.example.com:465", Security: mail.SecurityTLS, Username: "u", Password: "cfg-Secret-9"}, true},
		{mail.Config{Addr: "127.0.0.1:25", Security: mail.SecurityPlain}, true},
		{mail.Config{Addr: "[::1]:25", Security: mail.SecurityPlain, Username: "u", Password: "cfg-Secret-9"}, true},
		{mail.Config{Addr: "localhost:25", Security: mail.SecurityPlain}, true},
		{mail.Config{Addr: "10.0.0.1:25", Security: mail.SecurityPlain}, false},
		{mail.Config{Addr: "example.com:25", Security: mail.SecurityPlain}, false},
		{mail.Config{Addr: "10.0.0.1:25", Security: mail.SecurityPlain, Username: "u", Password: "cfg-Secret-9"}, false},
		{mail.Config{Addr: "example.com:587", Security: mail.SecurityPlain, Username: "u", Password: "cfg-Secret-9"}, false},
		{mail.Config{Addr: "localhost.example.com:25", Security: mail.SecurityPlain}, false},
		{mail.Config{Addr: "mail.example.com"}, false},
		{mail.Config{Addr: ":587"}, false},
		{mail.Config{Addr: "mail.example.com:0"}, false},
		{mail.Config{Addr: "mail.example.com:smtp"}, false},
		{mail.Config{Addr: "mail.example.com:587", Security: "ssl"}, false},
		{mail.Config{Addr: "mail.example.com:587", Password: "cfg-Secret-9"}, false},
		{mail.Config{Addr: "mail.example.com:587", HelloName: "a\r\nMAIL FROM:<x@y.z>"}, false},
		{mail.Config{Addr: "mail.example.com:587", Timeout: -1}, false},
		{mail.Config{Addr: "mail.example.com:587", Connections: 32}, true},
		{mail.Config{Addr: "mail.example.com:587", Connections: 33}, false},
		{mail.Config{Addr: "mail.example.com:587", Connections: -1}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
		if err != nil && tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
			t.Errorf("Validate error contains the password: %v", err)
		}
		if _, nerr := mail.NewSender(tt.cfg, nil); (nerr == nil) != tt.ok {
			t.Errorf("NewSender(%+v) = %v, want ok=%v", tt.cfg, nerr, tt.ok)
		}
	}
	err := mail.Config{Addr: "10.0.0.1:25", Security: mail.SecurityPlain, Username: "u", Password: "cfg-Secret-9"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("plain with credentials: error %v should say the password would be sent in clear text", err)
	}
}

func TestStartTLSNotOffered(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: be.Addr, TLSConfig: testenv.LocalTLS().Client})
	from, to, msg := composed(t)
	err := s.Send(context.Background(), from, to, msg)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send to a server without STARTTLS: %v; want a STARTTLS error", err)
	}
	if mail.IsPermanent(err) {
		t.Errorf("a missing STARTTLS is reported as a permanent message failure")
	}
	if n := be.Stats().Deliveries; n != 0 {
		t.Errorf("server received %d messages in plaintext", n)
	}
}

func TestStartTLS(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{Username: testUser, Password: testPass, StartTLS: true, KeepRaw: true})
	addr := be.Addr
	s := newSender(t, mail.Config{Addr: addr, Username: testUser, Password: testPass, TLSConfig: testenv.LocalTLS().Client})
	from, to, msg := composed(t)
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}
	if got := be.Messages(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("messages = %+v, want one over TLS", got)
	}

	// Without the test CA the certificate check must fail.
	untrusted := newSender(t, mail.Config{Addr: addr, Username: testUser, Password: testPass})
	err := untrusted.Send(context.Background(), from, to, msg)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Send with an untrusted certificate: %v", err)
	}
}

func TestImplicitTLS(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{Username: testUser, Password: testPass, ImplicitTLS: true, KeepRaw: true})
	addr := be.Addr
	s := newSender(t, mail.Config{Addr: addr, Security: mail.SecurityTLS, Username: testUser, Password: testPass, TLSConfig: testenv.LocalTLS().Client})
	from, to, msg := composed(t)
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}
	if got := be.Messages(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("messages = %+v, want one over TLS", got)
	}
}

func TestConnectionReuse(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{Username: testUser, Password: testPass})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain, Username: testUser, Password: testPass})
	from, to, msg := composed(t)
	for i := range 20 {
		if err := s.Send(context.Background(), from, to, msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if n := be.Stats().Deliveries; n != 20 {
		t.Errorf("server received %d messages, want 20", n)
	}
	if n := be.Stats().Sessions; n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

// TestConcurrentSend: concurrent Sends share the connections, opening no more
// than Connections of them; with one, they take turns on it.
func TestConcurrentSend(t *testing.T) {
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprint(conns), func(t *testing.T) { testConcurrentSend(t, conns) })
	}
}

func testConcurrentSend(t *testing.T, conns int) {
	be := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain, Connections: conns})
	from, to, msg := composed(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 10 {
		wg.Go(func() {
			for range 5 {
				errs <- s.Send(context.Background(), from, to, msg)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := be.Stats().Deliveries; n != 50 {
		t.Errorf("server received %d messages, want 50", n)
	}
	if n := be.Stats().Sessions; n < 1 || n > conns {
		t.Errorf("server saw %d connections, want 1 to %d", n, conns)
	}
}

// stallingSink is a sink whose RCPT TO blocks while stall is set, until
// release is closed; entered gets a value for each transaction it holds.
type stallingSink struct {
	*testenv.Sink
	entered, release chan struct{}
	stall            atomic.Bool
}

func startStallingSink(t *testing.T, holds int) *stallingSink {
	ss := &stallingSink{entered: make(chan struct{}, holds), release: make(chan struct{})}
	ss.Sink = testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(string) error {
		if ss.stall.Load() {
			ss.entered <- struct{}{}
			<-ss.release
		}
		return nil
	}})
	return ss
}

// TestConnectionsCarryMessagesInParallel: while the relay holds transactions,
// each connection carries one of them, so Connections messages are in flight at
// once and the next Send waits for a free connection; one Send at a time keeps
// to one connection.
func TestConnectionsCarryMessagesInParallel(t *testing.T) {
	const conns = 3
	be := startStallingSink(t, conns+1)
	entered, release, stall := be.entered, be.release, &be.stall
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain, Connections: conns})
	from, to, msg := composed(t)
	for range 5 {
		if err := s.Send(context.Background(), from, to, msg); err != nil {
			t.Fatal(err)
		}
	}
	if n := be.Stats().Sessions; n != 1 {
		t.Fatalf("one Send at a time opened %d connections, want 1", n)
	}
	stall.Store(true)
	done := make(chan error, conns)
	for range conns {
		go func() { done <- s.Send(context.Background(), from, to, msg) }()
	}
	for range conns {
		<-entered // each held in RCPT TO, on a connection of its own
	}
	queued, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Send(queued, from, to, msg); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a connection") {
		t.Errorf("a Send with every connection busy = %v, want it to wait for a connection until its deadline", err)
	}
	close(release)
	for range conns {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if n := be.Stats().Sessions; n != conns {
		t.Errorf("server saw %d connections, want %d", n, conns)
	}
}

func TestRedialAfterServerClose(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
	from, to, msg := composed(t)
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}
	loggedOut := be.NextLogout()
	be.DropConnections()
	<-loggedOut
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatalf("Send after the server closed the connection: %v", err)
	}
	if n := be.Stats().Sessions; n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
	if n := be.Stats().Deliveries; n != 2 {
		t.Errorf("server received %d messages, want 2", n)
	}
}

func TestIdleTimeoutClosesConnection(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain, IdleTimeout: 20 * time.Millisecond})
	from, to, msg := composed(t)
	loggedOut := be.NextLogout()
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-loggedOut:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection was not closed")
	}
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}
	if n := be.Stats().Sessions; n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
}

func TestReplyCodes(t *testing.T) {
	tests := []struct {
		code      int
		permanent bool
	}{
		{450, false},
		{451, false},
		{452, false},
		{550, true},
		{553, true},
		{554, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			var fail atomic.Bool
			fail.Store(true)
			be := testenv.StartSink(t, testenv.SinkConfig{Rcpt: func(string) error {
				if fail.Load() {
					return &smtp.SMTPError{Code: tt.code, EnhancedCode: smtp.EnhancedCode{tt.code / 100, 1, 1}, Message: "no"}
				}
				return nil
			}})
			s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
			from, to, msg := composed(t)
			err := s.Send(context.Background(), from, to, msg)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if !strings.HasPrefix(err.Error(), "smtp: RCPT TO: ") {
				t.Errorf("error %q does not name RCPT TO", err)
			}
			if got := mail.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			// The failed transaction is reset and the connection reused.
			fail.Store(false)
			if err := s.Send(context.Background(), from, to, msg); err != nil {
				t.Fatalf("Send after a refused RCPT: %v", err)
			}
			if n := be.Stats().Sessions; n != 1 {
				t.Errorf("server saw %d connections, want 1", n)
			}
		})
	}
}

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("smtp: something"), false},
		{context.DeadlineExceeded, false},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, false},
		{&smtp.SMTPError{Code: 421}, false},
		{fmt.Errorf("wrapped: %w", &smtp.SMTPError{Code: 535}), true},
		{&smtp.SMTPError{Code: 500}, true},
		{&smtp.SMTPError{Code: 599}, true},
	}
	for _, tt := range tests {
		if got := mail.IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// sendAsync runs Send and fails the test if it has not returned within a
// generous bound; the bound only guards against a hang.
func sendAsync(t *testing.T, ctx context.Context, s *mail.Sender) error {
	t.Helper()
	from, to, msg := composed(t)
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx, from, to, msg) }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Send did not return")
		return nil
	}
}

func TestCancelAbortsBlackHole(t *testing.T) {
	tests := []struct {
		sec   mail.Security
		greet bool   // the server greets, then never answers EHLO
		step  string // where Send is blocked when ctx is cancelled
	}{
		{mail.SecurityPlain, true, "EHLO"},
		{mail.SecurityStartTLS, true, "STARTTLS"}, // the first EHLO is part of the STARTTLS step
		{mail.SecurityTLS, false, "TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(string(tt.sec), func(t *testing.T) {
			addr, waiting := testenv.StartBlackHole(t, tt.greet)
			s := newSender(t, mail.Config{Addr: addr, Security: tt.sec, Timeout: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-waiting // Send is now waiting for a reply that never comes
				cancel()
			}()
			err := sendAsync(t, ctx, s)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Send = %v, want context.Canceled", err)
			}
			if !strings.HasPrefix(err.Error(), "smtp: "+tt.step) || mail.IsPermanent(err) {
				t.Errorf("error %q: want it to name %s and to be temporary", err, tt.step)
			}
		})
	}
}

// TestCancelDuringTransaction cancels a Send whose server stalls in RCPT TO
// on a kept connection. The connection is dropped, a Send queued behind the
// stalled one gives up at its own deadline, and the next Send redials.
func TestCancelDuringTransaction(t *testing.T) {
	be := startStallingSink(t, 1)
	entered, release, stall := be.entered, be.release, &be.stall
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain, Connections: 1})
	from, to, msg := composed(t)
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}

	stall.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx, from, to, msg) }()
	<-entered // the first Send holds the connection, blocked in RCPT TO

	queued, cancelQueued := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelQueued()
	if err := s.Send(queued, from, to, msg); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued Send = %v, want context.DeadlineExceeded", err)
	}

	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "smtp: RCPT TO: ") {
		t.Fatalf("Send = %v, want a cancelled RCPT TO", err)
	}
	stall.Store(false)
	close(release)

	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatalf("Send after a cancelled one: %v", err)
	}
	if n := be.Stats().Sessions; n != 2 {
		t.Errorf("server saw %d connections, want 2", n)
	}
	if n := be.Stats().Deliveries; n != 2 {
		t.Errorf("server received %d messages, want 2", n)
	}
}

// TestTimeoutBoundsGreeting checks that Timeout bounds the wait for the
// greeting even where go-smtp would use its 5-minute default.
func TestTimeoutBoundsGreeting(t *testing.T) {
	for _, sec := range []mail.Security{mail.SecurityPlain, mail.SecurityStartTLS, mail.SecurityTLS} {
		t.Run(string(sec), func(t *testing.T) {
			addr, _ := testenv.StartBlackHole(t, false)
			s := newSender(t, mail.Config{Addr: addr, Security: sec, Timeout: 100 * time.Millisecond})
			err := sendAsync(t, context.Background(), s)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("Send = %v, want a timeout", err)
			}
			if mail.IsPermanent(err) {
				t.Errorf("a timeout is reported as permanent")
			}
		})
	}
}

func TestCancelledBeforeSend(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	from, to, msg := composed(t)
	if err := s.Send(ctx, from, to, msg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	if n := be.Stats().Sessions; n != 0 {
		t.Errorf("server saw %d connections, want 0", n)
	}
}

func TestDialErrorNamesAddress(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing listens there
	s := newSender(t, mail.Config{Addr: addr, Security: mail.SecurityPlain, Username: testUser, Password: testPass})
	err := sendAsync(t, context.Background(), s)
	if err == nil || !strings.HasPrefix(err.Error(), "smtp: dial "+addr+": ") {
		t.Fatalf("Send = %v, want an error starting with smtp: dial %s", err, addr)
	}
	if strings.Contains(err.Error(), testPass) || mail.IsPermanent(err) {
		t.Errorf("error %q: leaks the password or is permanent", err)
	}
}

// TestRefusedMessageSendsNothing composes header-injection attempts the way a
// caller does (Bytes, then Envelope, then Send) and checks the server sees no
// connection at all.
func TestRefusedMessageSendsNothing(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
	attempts := []func(m *mail.Message){
		func(m *mail.Message) { m.Subject = "Reset\r\nBcc: x@y.z" },
		func(m *mail.Message) { m.From = "\"Example\r\nBcc: x@y.z\" <no-reply@example.com>" },
		func(m *mail.Message) { m.To = "a@b.c\r\nBcc: x@y.z" },
	}
	for _, edit := range attempts {
		m := validMessage()
		edit(m)
		if b, err := m.Bytes(); err == nil {
			from, to, _ := m.Envelope()
			s.Send(context.Background(), from, to, b)
			t.Errorf("composed %q", b)
		}
	}
	// Envelope injection straight into Send.
	_, _, msg := composed(t)
	for _, env := range [][2]string{
		{"no-reply@example.com", "a@b.c>\r\nRCPT TO:<x@y.z"},
		{"no-reply@example.com", "a@b.c> NOTIFY=NEVER"},
		{"no-reply@example.com\r\nRSET", "a@b.c"},
		{"", "a@b.c"},
	} {
		if err := s.Send(context.Background(), env[0], []string{env[1]}, msg); err == nil {
			t.Errorf("Send(%q, %q) succeeded", env[0], env[1])
		}
	}
	if err := s.Send(context.Background(), "no-reply@example.com", nil, msg); err == nil {
		t.Error("Send without recipients succeeded")
	}
	if n := be.Stats().Sessions; n != 0 {
		t.Errorf("server saw %d connections, want 0", n)
	}
}

func TestSendAfterClose(t *testing.T) {
	be := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: be.Addr, Security: mail.SecurityPlain})
	from, to, msg := composed(t)
	if err := s.Send(context.Background(), from, to, msg); err != nil {
		t.Fatal(err)
	}
	loggedOut := be.NextLogout()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-loggedOut
	if err := s.Send(context.Background(), from, to, msg); !errors.Is(err, mail.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// The benchmarks compare Sender with a bare go-smtp client doing the least
// possible: one connection, SendMail in a loop. Their ratio is the overhead of
// Sender's locking, context handling and bookkeeping.

func BenchmarkSendReused(b *testing.B) {
	be := testenv.StartSink(b, testenv.SinkConfig{})
	addr := be.Addr
	s, err := mail.NewSender(mail.Config{Addr: addr, Security: mail.SecurityPlain}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	from, to, msg := composed(b)
	// A cancelable ctx, as a caller with a deadline or shutdown signal has,
	// costs Send a context.AfterFunc registration per call.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := s.Send(ctx, from, to, msg); err != nil {
			b.Fatal(err)
		}
	}
	if n := be.Stats().Sessions; n != 1 {
		b.Fatalf("server saw %d connections, want 1", n)
	}
}

func BenchmarkBareGoSMTPClient(b *testing.B) {
	be := testenv.StartSink(b, testenv.SinkConfig{})
	addr := be.Addr
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		b.Fatal(err)
	}
	from, to, msg := composed(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareGoSMTPClientRSET is the bare client with an RSET before each
// message: it shows what resetting after every transaction, rather than only
// after a failed one, would cost (go-smtp follows RSET with a new EHLO).
func BenchmarkBareGoSMTPClientRSET(b *testing.B) {
	be := testenv.StartSink(b, testenv.SinkConfig{})
	addr := be.Addr
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		b.Fatal(err)
	}
	from, to, msg := composed(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := c.Reset(); err != nil {
			b.Fatal(err)
		}
		if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInternationalisedAddresses: an internationalised domain travels as its
// A-label and needs nothing of the relay; a non-ASCII local part needs SMTPUTF8,
// and a relay without it is a permanent, clearly worded failure.
func TestInternationalisedAddresses(t *testing.T) {
	compose := func(to string) (string, []string, []byte) {
		m := &mail.Message{From: "Example <no-reply@example.com>", To: to, Subject: "Hi", Text: "Hello"}
		raw, err := m.Bytes()
		if err != nil {
			t.Fatalf("%s: %v", to, err)
		}
		from, rcpt, err := m.Envelope()
		if err != nil {
			t.Fatal(err)
		}
		return from, rcpt, raw
	}
	plain := testenv.StartSink(t, testenv.SinkConfig{})
	s := newSender(t, mail.Config{Addr: plain.Addr, Security: mail.SecurityPlain})
	from, rcpt, raw := compose("jorg@bücher.example")
	if rcpt[0] != "jorg@xn--bcher-kva.example" || !strings.Contains(string(raw), "jorg@xn--bcher-kva.example") {
		t.Errorf("envelope %v; the domain should be its A-label everywhere", rcpt)
	}
	if err := s.Send(context.Background(), from, rcpt, raw); err != nil {
		t.Fatalf("an IDN domain over a plain relay: %v", err)
	}
	from, rcpt, raw = compose("jörg@example.com")
	err := s.Send(context.Background(), from, rcpt, raw)
	if !errors.Is(err, mail.ErrNoSMTPUTF8) || !mail.IsPermanent(err) {
		t.Fatalf("a non-ASCII local part without SMTPUTF8: %v, want a permanent ErrNoSMTPUTF8", err)
	}
	utf8 := testenv.StartSink(t, testenv.SinkConfig{SMTPUTF8: true})
	s = newSender(t, mail.Config{Addr: utf8.Addr, Security: mail.SecurityPlain})
	if err := s.Send(context.Background(), from, rcpt, raw); err != nil {
		t.Fatalf("a non-ASCII local part with SMTPUTF8: %v", err)
	}
}
