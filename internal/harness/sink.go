package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Sink is a lean SMTP server for measurements and fault tests: it accepts every
// message and counts deliveries by Message-ID and by recipient, so that a test can
// tell a lost mail (no delivery), a duplicated job (two Message-IDs for one
// recipient) and a resent message (one Message-ID delivered twice). Unlike
// examples/mailbox it does not parse bodies, so that it is never the bottleneck
// of a throughput figure. It can be held (sessions wait before MAIL FROM) and
// taken down and up again on the same address.
type Sink struct {
	Addr string

	mu         sync.Mutex
	srv        *smtp.Server
	deliveries int                 // every DATA accepted
	byID       map[string]int      // Message-ID -> deliveries
	byRcpt     map[string][]string // recipient -> Message-IDs, in arrival order
	last       map[string][]byte   // recipient -> newest raw message, when keepRaw
	keepRaw    bool
	held       chan struct{} // non-nil while held; closed by Release
	changed    chan struct{} // closed and replaced at every delivery
}

// SinkStats are the sink's counters.
type SinkStats struct {
	Deliveries int // messages accepted, resends included
	Distinct   int // distinct Message-IDs
	Recipients int // distinct recipients
}

// Duplicates is how many deliveries repeated a Message-ID already delivered.
func (s SinkStats) Duplicates() int { return s.Deliveries - s.Distinct }

// StartSink starts a sink on addr ("127.0.0.1:0" for any free port).
func StartSink(addr string) (*Sink, error) {
	s := &Sink{byID: map[string]int{}, byRcpt: map[string][]string{}, last: map[string][]byte{},
		changed: make(chan struct{})}
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
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	srv.Domain = "sink.localhost"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.MaxMessageBytes = 1 << 20
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
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

// KeepRaw makes the sink keep the newest raw message of each recipient.
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
	s.byID, s.byRcpt, s.last = map[string]int{}, map[string][]string{}, map[string][]byte{}
}

// Stats returns the counters.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SinkStats{Deliveries: s.deliveries, Distinct: len(s.byID), Recipients: len(s.byRcpt)}
}

// MessageIDs returns the Message-IDs delivered to rcpt, in arrival order (a
// resent message appears once per delivery).
func (s *Sink) MessageIDs(rcpt string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.byRcpt[strings.ToLower(rcpt)]...)
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
		st := SinkStats{Deliveries: s.deliveries, Distinct: len(s.byID), Recipients: len(s.byRcpt)}
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

func (s *Sink) record(to []string, raw []byte) {
	id := messageID(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries++
	s.byID[id]++
	for _, rcpt := range to {
		rcpt = strings.ToLower(rcpt)
		s.byRcpt[rcpt] = append(s.byRcpt[rcpt], id)
		if s.keepRaw {
			s.last[rcpt] = raw
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

// messageID reads the Message-ID header without parsing the body.
func messageID(raw []byte) string {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return ""
	}
	return strings.Trim(h.Get("Message-Id"), "<> ")
}

type sinkSession struct {
	sink *Sink
	to   []string
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	if held := ss.sink.holdChan(); held != nil {
		<-held
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.record(ss.to, raw)
	return nil
}

func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }
