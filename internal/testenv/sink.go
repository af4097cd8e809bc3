package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Sink is the tests' programmable SMTP server. It accepts messages and counts
// deliveries by Message-ID and by recipient, so that a test can tell a lost mail
// (no delivery), a duplicated job (two Message-IDs for one recipient) and a
// resent message (one Message-ID delivered twice). Unlike the catcher (Mailbox)
// it does not parse bodies, so that it is never the bottleneck of a throughput
// figure; with KeepRaw it keeps the messages themselves.
//
// It fails as a relay fails when told to: AUTH required and refused
// (SinkConfig.Username, AuthErr), a 4xx or 5xx at RCPT TO or a stalled
// transaction (SinkConfig.Rcpt), transactions held before MAIL FROM (Hold),
// connections dropped from the server's side (DropConnections), the relay down
// and up again on the same address (Down, Up).
type Sink struct {
	Addr string

	cfg        SinkConfig
	mu         sync.Mutex
	srv        *smtp.Server
	conns      []*smtp.Conn           // open connections
	sessions   int                    // connections accepted
	deliveries int                    // every DATA accepted
	byID       map[string]int         // Message-ID -> deliveries
	byRcpt     map[string][]string    // recipient -> Message-IDs, in arrival order
	arrived    map[string][]time.Time // recipient -> when its messages arrived
	kept       []Delivery             // the messages, when keepRaw
	last       map[string][]byte      // recipient -> newest raw message, when keepRaw
	keepRaw    bool
	held       chan struct{}   // non-nil while held; closed by Release
	changed    chan struct{}   // closed and replaced at every delivery
	logouts    []chan struct{} // closed when the next session ends
}

// SinkConfig programs a Sink. The zero value accepts every message over plain
// SMTP on a free loopback port.
type SinkConfig struct {
	// Addr is where to listen; empty: any free loopback port.
	Addr string
	// Username and Password, if set, are the only credentials AUTH PLAIN accepts,
	// and MAIL FROM without them is refused (530).
	Username, Password string
	// AuthErr, if set, answers wrong credentials instead of 535.
	AuthErr error
	// Rcpt, if set, is called at every RCPT TO: an error it returns is the answer
	// (an *smtp.SMTPError for a 4xx or 5xx), and it may block to stall the
	// transaction.
	Rcpt func(to string) error
	// StartTLS offers STARTTLS, ImplicitTLS speaks TLS from the first byte, both
	// with LocalTLS's certificate; AUTH is then offered only over TLS.
	StartTLS, ImplicitTLS bool
	// SMTPUTF8 offers SMTPUTF8.
	SMTPUTF8 bool
	// KeepRaw is KeepRaw's initial setting.
	KeepRaw bool
}

// Delivery is one message as the Sink received it.
type Delivery struct {
	From string
	To   []string
	Data []byte
	TLS  bool // received over TLS
}

// SinkStats are the sink's counters.
type SinkStats struct {
	Deliveries int // messages accepted, resends included
	Distinct   int // distinct Message-IDs
	Recipients int // distinct recipients
	Sessions   int // connections accepted
}

// Duplicates is how many deliveries repeated a Message-ID already delivered.
func (s SinkStats) Duplicates() int { return s.Deliveries - s.Distinct }

// StartSink starts a sink programmed by cfg until the test ends.
func StartSink(t testing.TB, cfg SinkConfig) *Sink {
	t.Helper()
	s, err := ListenSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ListenSink starts a sink programmed by cfg, until Close.
func ListenSink(cfg SinkConfig) (*Sink, error) {
	s := &Sink{cfg: cfg, byID: map[string]int{}, byRcpt: map[string][]string{}, arrived: map[string][]time.Time{},
		last: map[string][]byte{}, keepRaw: cfg.KeepRaw, changed: make(chan struct{})}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sink) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sink: listen: %w", err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.MaxMessageBytes = 1 << 20
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = s.cfg.SMTPUTF8
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.cfg.StartTLS || s.cfg.ImplicitTLS {
		srv.TLSConfig = LocalTLS().Server
		srv.AllowInsecureAuth = false
	}
	if s.cfg.ImplicitTLS {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.mu.Lock()
	s.srv, s.Addr = srv, ln.Addr().String()
	s.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return nil
}

// Close stops the server and its connections.
func (s *Sink) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return err
	}
	return nil
}

// Down closes the listener and every open connection: the relay is down.
func (s *Sink) Down() error { return s.Close() }

// Up listens again on the same address after Down.
func (s *Sink) Up() error { return s.listen(s.Addr) }

// DropConnections closes every open connection from the server's side; the
// server goes on listening.
func (s *Sink) DropConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// NextLogout returns a channel closed when the next session ends (the client
// quit, or the connection closed).
func (s *Sink) NextLogout() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.logouts = append(s.logouts, ch)
	return ch
}

// KeepRaw makes the sink keep the messages delivered from now on (Messages, Raw),
// or stop keeping them; what was kept stays until Reset.
func (s *Sink) KeepRaw(keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepRaw = keep
}

// Hold makes new transactions wait before MAIL FROM is answered, until Release.
func (s *Sink) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = make(chan struct{})
	}
}

// Release lets held transactions go on.
func (s *Sink) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
}

// Reset forgets every delivery.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries = 0
	s.byID, s.byRcpt, s.last, s.kept = map[string]int{}, map[string][]string{}, map[string][]byte{}, nil
	s.arrived = map[string][]time.Time{}
}

// Stats returns the counters.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats()
}

func (s *Sink) stats() SinkStats {
	return SinkStats{Deliveries: s.deliveries, Distinct: len(s.byID), Recipients: len(s.byRcpt), Sessions: s.sessions}
}

// ArrivalAfter returns when the first message to rcpt that arrived after t
// did, and whether one has.
func (s *Sink) ArrivalAfter(rcpt string, t time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, at := range s.arrived[strings.ToLower(rcpt)] {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// MessageIDs returns the Message-IDs delivered to rcpt, in arrival order (a
// resent message appears once per delivery).
func (s *Sink) MessageIDs(rcpt string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.byRcpt[strings.ToLower(rcpt)])
}

// Messages returns the messages delivered while KeepRaw was on, in arrival order.
func (s *Sink) Messages() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.kept)
}

// Raw returns the newest message to rcpt, if KeepRaw was on when it arrived.
func (s *Sink) Raw(rcpt string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[strings.ToLower(rcpt)]
}

// Wait returns when cond holds for the counters, or ctx's error.
func (s *Sink) Wait(ctx context.Context, cond func(SinkStats) bool) error {
	for {
		s.mu.Lock()
		st := s.stats()
		changed := s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sink: %w (deliveries %d, distinct %d)", ctx.Err(), st.Deliveries, st.Distinct)
		case <-changed:
		}
	}
}

// WaitDeliveries waits until n messages have been delivered in all, and fails
// the test after Timeout.
func (s *Sink) WaitDeliveries(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := s.Wait(ctx, func(st SinkStats) bool { return st.Deliveries >= n }); err != nil {
		t.Fatalf("waiting for %d deliveries: %v", n, err)
	}
}

func (s *Sink) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions++
	s.conns = append(s.conns, c)
	return &sinkSession{sink: s, conn: c}, nil
}

func (s *Sink) record(d Delivery) {
	id, now := messageID(d.Data), time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries++
	s.byID[id]++
	if s.keepRaw {
		s.kept = append(s.kept, d)
	}
	for _, rcpt := range d.To {
		rcpt = strings.ToLower(rcpt)
		s.byRcpt[rcpt] = append(s.byRcpt[rcpt], id)
		s.arrived[rcpt] = append(s.arrived[rcpt], now)
		if s.keepRaw {
			s.last[rcpt] = d.Data
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Sink) holdChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// logout forgets c and wakes NextLogout's waiters.
func (s *Sink) logout(c *smtp.Conn) {
	s.mu.Lock()
	s.conns = slices.DeleteFunc(s.conns, func(o *smtp.Conn) bool { return o == c })
	waiters := s.logouts
	s.logouts = nil
	s.mu.Unlock()
	for _, ch := range waiters {
		close(ch)
	}
}

// messageID reads the Message-ID header without parsing the body.
func messageID(raw []byte) string {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return ""
	}
	return strings.Trim(h.Get("Message-Id"), "<> ")
}

type sinkSession struct {
	sink   *Sink
	conn   *smtp.Conn
	authed bool
	cur    Delivery
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.sink.cfg.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username == ss.sink.cfg.Username && password == ss.sink.cfg.Password {
			ss.authed = true
			return nil
		}
		if ss.sink.cfg.AuthErr != nil {
			return ss.sink.cfg.AuthErr
		}
		return smtp.ErrAuthFailed
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if held := ss.sink.holdChan(); held != nil {
		<-held
	}
	if ss.sink.cfg.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.cur = Delivery{From: from, TLS: isTLS}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.sink.cfg.Rcpt != nil {
		if err := ss.sink.cfg.Rcpt(to); err != nil {
			return err
		}
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = raw
	ss.sink.record(ss.cur)
	ss.cur = Delivery{}
	return nil
}

func (ss *sinkSession) Reset() { ss.cur = Delivery{} }

func (ss *sinkSession) Logout() error {
	ss.sink.logout(ss.conn)
	return nil
}
