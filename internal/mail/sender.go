package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Sender submits messages to one SMTP relay over up to Config.Connections
// connections at once. Each is kept open across calls, so that a burst of
// reset mails pays for the TCP, TLS and AUTH handshakes once per connection,
// and closed after IdleTimeout without use. A transaction waits for the
// relay's answer to each command, so one connection carries one message at a
// time: with mail queued, several connections keep the relay busy while each
// waits. A Send takes the connection used last that is free, so that a light
// load keeps one connection open, not all of them.
//
// A Sender is safe for concurrent use.
type Sender struct {
	free   chan struct{} // a token per session not in use
	mu     sync.Mutex
	idle   []*session // the sessions not in use, the one used last at the end
	all    []*session
	closed bool
}

// session is one connection's worth of a Sender: the connection, opened on
// the first Send and closed after IdleTimeout. Its Send runs one transaction
// at a time.
type session struct {
	cfg    Config
	tls    *tls.Config
	logger *slog.Logger

	// sem holds a token while a goroutine owns the fields below. It is a
	// channel rather than a mutex so that waiting for it honours ctx.
	sem    chan struct{}
	conn   *conn // nil when no connection is open
	idle   *time.Timer
	closed bool
}

// conn is one open SMTP session.
type conn struct {
	raw    net.Conn // the TCP connection under any TLS; closing it unblocks any I/O
	client *smtp.Client
	dirty  bool      // a transaction was left open; RSET before the next one
	used   time.Time // end of the last transaction
}

// NewSender validates cfg and returns a Sender. It does not connect; the first
// Send does. A nil logger discards log output.
func NewSender(cfg Config, logger *slog.Logger) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Sender{free: make(chan struct{}, cfg.Connections)}
	for i := range cfg.Connections {
		ss, err := newSession(cfg, logger.With(slog.Int("smtp_connection", i+1)))
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, ss)
		s.idle = append(s.idle, ss)
		s.free <- struct{}{}
	}
	return s, nil
}

// Send submits msg, which must be a complete RFC 5322 message with CRLF line
// endings (see Message.Bytes), with the given envelope, over a free
// connection, waiting for one while all are busy. It reuses the connection if
// it is open; if the server closed it while it was idle, Send dials again and
// retries, which is safe because nothing of the message was accepted yet.
//
// Cancelling ctx aborts Send at any point, including the wait for a
// connection, the dial, the TLS handshake and a server that never answers; the
// connection is then dropped. An error from the server is an *smtp.SMTPError
// somewhere in the chain; use IsPermanent to decide whether to retry.
func (s *Sender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if err := checkEnvelope(from, to); err != nil {
		return err
	}
	select {
	case <-s.free:
	case <-ctx.Done():
		return fmt.Errorf("smtp: waiting for a connection: %w", context.Cause(ctx))
	}
	defer func() { s.free <- struct{}{} }()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	ss := s.idle[len(s.idle)-1]
	s.idle = s.idle[:len(s.idle)-1]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.idle = append(s.idle, ss)
		s.mu.Unlock()
	}()
	return ss.Send(ctx, from, to, msg)
}

// Close sends QUIT on the open connections and closes them. Send fails with
// ErrClosed afterwards. Close waits for the Sends in progress to finish.
func (s *Sender) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, ss := range s.all {
		ss.Close() //nolint:errcheck // a session's Close always returns nil
	}
	return nil
}

func newSession(cfg Config, logger *slog.Logger) (*session, error) {
	host, _, _ := net.SplitHostPort(cfg.Addr)
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	return &session{
		cfg:    cfg,
		tls:    tc,
		logger: logger.With(slog.String("smtp_addr", cfg.Addr), slog.String("smtp_security", string(cfg.Security))),
		sem:    make(chan struct{}, 1),
	}, nil
}

// Send runs one transaction on the session's connection (see Sender.Send).
func (s *session) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("smtp: %w", context.Cause(ctx))
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("smtp: waiting for the connection: %w", context.Cause(ctx))
	}
	defer func() { <-s.sem }()
	if s.closed {
		return ErrClosed
	}
	err := s.send(ctx, from, to, msg)
	if s.conn != nil {
		s.armIdle()
	}
	return s.redact(err)
}

func (s *session) send(ctx context.Context, from string, to []string, msg []byte) error {
	reused := s.conn != nil
	if reused && s.conn.dirty {
		// A failed transaction is still open on the server; MAIL would get
		// "503 nested MAIL command". After a completed one the server has
		// already reset (RFC 5321 4.1.1.4), so RSET is sent only when needed:
		// go-smtp follows it with a new EHLO, two round trips per message.
		if err := s.reset(ctx); err != nil {
			s.discard()
			if ctx.Err() != nil {
				return err
			}
			s.logger.Debug("smtp: RSET failed; dropping the connection", slog.Any("error", s.redact(err)))
			reused = false
		}
	}
	err := s.attempt(ctx, from, to, msg)
	if err != nil && reused && isStale(err) && ctx.Err() == nil {
		s.logger.Debug("smtp: the kept connection was closed by the server; redialing", slog.Any("error", s.redact(err)))
		err = s.attempt(ctx, from, to, msg)
	}
	return err
}

// attempt runs one transaction, dialing first if no connection is open.
func (s *session) attempt(ctx context.Context, from string, to []string, msg []byte) error {
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		s.conn = c
	}
	c := s.conn
	aborted, err := guard(ctx, c.raw, func() error { return c.transaction(from, to, msg) })
	c.used = time.Now()
	switch {
	case aborted:
		s.discard()
		if err == nil {
			return nil // the server accepted the message just before ctx ended
		}
		return abortError(ctx, err)
	case err != nil && !reusable(err):
		s.discard()
	}
	return err
}

// reset sends RSET on the open connection.
func (s *session) reset(ctx context.Context) error {
	c := s.conn
	aborted, err := guard(ctx, c.raw, c.client.Reset)
	if aborted {
		return abortError(ctx, err)
	}
	if err != nil {
		return &opError{op: "RSET", err: err}
	}
	c.dirty = false
	return nil
}

// guard runs fn so that ctx can abort it: when ctx ends, raw is closed, which
// fails whatever read or write fn is blocked in. go-smtp sets its own
// deadlines per command, so a deadline set from outside would be overwritten;
// closing is the one signal it cannot miss. aborted reports whether ctx ended
// during fn; the connection is then unusable.
func guard(ctx context.Context, raw net.Conn, fn func() error) (aborted bool, err error) {
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	err = fn()
	return !stop(), err
}

// abortError reports that ctx ended during the step that err names.
func abortError(ctx context.Context, err error) error {
	op := "send"
	var oe *opError
	if errors.As(err, &oe) {
		op = oe.op
	}
	return &opError{op: op, err: context.Cause(ctx)}
}

// discard drops the open connection without a QUIT: it is broken or its state
// is unknown.
func (s *session) discard() {
	if s.conn != nil {
		s.conn.raw.Close()
		s.conn = nil
	}
}

// armIdle (re)starts the timer that closes the connection after IdleTimeout.
func (s *session) armIdle() {
	if s.idle == nil {
		s.idle = time.AfterFunc(s.cfg.IdleTimeout, s.closeIdle)
		return
	}
	s.idle.Reset(s.cfg.IdleTimeout)
}

// closeIdle closes a connection that has not been used for IdleTimeout. A
// relay drops idle clients itself after a few minutes, and a connection held
// open between rare reset mails only ties up a slot on it.
func (s *session) closeIdle() {
	select {
	case s.sem <- struct{}{}:
	default:
		return // in use; that Send re-arms the timer when it ends
	}
	c := s.conn
	if c == nil || s.closed || time.Since(c.used) < s.cfg.IdleTimeout {
		<-s.sem
		return
	}
	s.conn = nil
	<-s.sem
	s.logger.Debug("smtp: closing idle connection")
	c.quit()
}

// Close sends QUIT on the open connection, if any, and closes it. Send fails
// with ErrClosed afterwards. Close waits for a Send in progress to finish.
func (s *session) Close() error {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.idle != nil {
		s.idle.Stop()
	}
	if c := s.conn; c != nil {
		s.conn = nil
		c.quit()
	}
	return nil
}

// dial connects, secures the connection, says EHLO and authenticates.
func (s *session) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: s.cfg.Timeout}
	raw, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, &opError{op: "dial " + s.cfg.Addr, err: err}
	}
	var client *smtp.Client
	aborted, err := guard(ctx, raw, func() (err error) {
		client, err = s.handshake(raw)
		return err
	})
	if aborted || err != nil {
		raw.Close()
		if aborted {
			return nil, abortError(ctx, err)
		}
		return nil, err
	}
	state, isTLS := client.TLSConnectionState()
	s.logger.Debug("smtp: connected",
		slog.Bool("tls", isTLS), slog.String("tls_version", tls.VersionName(state.Version)))
	return &conn{raw: raw, client: client}, nil
}

// handshake takes a fresh TCP connection to the point where MAIL FROM can be
// sent.
func (s *session) handshake(raw net.Conn) (*smtp.Client, error) {
	// go-smtp reads the greeting (and, for STARTTLS, runs the first EHLO) with
	// its default 5-minute timeout before its fields can be set; cappedConn
	// holds every deadline it sets to Timeout.
	capped := &cappedConn{Conn: raw, limit: s.cfg.Timeout}
	var client *smtp.Client
	switch s.cfg.Security {
	case SecurityPlain:
		if !isLoopbackAddr(raw.RemoteAddr()) {
			return nil, fmt.Errorf("smtp: dial %s: refusing a plaintext connection to non-loopback %s", s.cfg.Addr, raw.RemoteAddr())
		}
		client = smtp.NewClient(capped)
	case SecurityTLS:
		tc := tls.Client(capped, s.tls)
		// The deadline is capped to Timeout; only its presence matters.
		tc.SetDeadline(time.Now().Add(s.cfg.Timeout))
		if err := tc.Handshake(); err != nil {
			return nil, &opError{op: "TLS handshake with " + s.cfg.Addr, err: err}
		}
		tc.SetDeadline(time.Time{})
		client = smtp.NewClient(tc)
	default: // SecurityStartTLS
		var err error
		client, err = smtp.NewClientStartTLS(capped, s.tls)
		if err != nil {
			return nil, &opError{op: "STARTTLS", err: err}
		}
	}
	client.CommandTimeout = s.cfg.Timeout
	client.SubmissionTimeout = s.cfg.Timeout
	// After STARTTLS this EHLO is the first thing sent over TLS, so a failed
	// certificate check shows up here.
	if err := client.Hello(s.cfg.HelloName); err != nil {
		client.Close()
		return nil, &opError{op: "EHLO", err: err}
	}
	if _, isTLS := client.TLSConnectionState(); s.cfg.Security != SecurityPlain && !isTLS {
		client.Close()
		return nil, errors.New("smtp: connection is not encrypted")
	}
	if s.cfg.Username != "" {
		if err := s.auth(client, raw); err != nil {
			client.Close()
			return nil, err
		}
	}
	return client, nil
}

// auth runs AUTH PLAIN. The TLS check repeats Config.Validate at the point
// where it matters, so no later change can send the password in the clear.
func (s *session) auth(client *smtp.Client, raw net.Conn) error {
	if _, isTLS := client.TLSConnectionState(); !isTLS && !isLoopbackAddr(raw.RemoteAddr()) {
		return errors.New("smtp: AUTH: refusing to send credentials without TLS to a non-loopback host")
	}
	if ok, mechs := client.Extension("AUTH"); !ok {
		return errors.New("smtp: AUTH: the server does not offer AUTH on this connection")
	} else if !client.SupportsAuth(sasl.Plain) {
		return fmt.Errorf("smtp: AUTH: the server does not offer PLAIN (it offers %s)", mechs)
	}
	if err := client.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
		return &opError{op: "AUTH", err: err}
	}
	return nil
}

// transaction sends one message: MAIL FROM, RCPT TO for each recipient, DATA.
func (c *conn) transaction(from string, to []string, msg []byte) error {
	opts := &smtp.MailOptions{Size: int64(len(msg))}
	if !isASCII(from) || !allASCII(to) {
		if ok, _ := c.client.Extension("SMTPUTF8"); !ok {
			return ErrNoSMTPUTF8
		}
		opts.UTF8 = true // SMTPUTF8 (RFC 6531)
	}
	if err := c.client.Mail(from, opts); err != nil {
		return &opError{op: "MAIL FROM", err: err}
	}
	c.dirty = true
	for _, rcpt := range to {
		if err := c.client.Rcpt(rcpt, nil); err != nil {
			return &opError{op: "RCPT TO", err: err}
		}
	}
	w, err := c.client.Data()
	if err != nil {
		return &opError{op: "DATA", err: err}
	}
	if _, err := w.Write(msg); err != nil {
		return &opError{op: "DATA", err: err}
	}
	if err := w.Close(); err != nil {
		return &opError{op: "DATA", err: err}
	}
	c.dirty = false
	return nil
}

// quit ends the session politely, within quitTimeout.
func (c *conn) quit() {
	c.client.CommandTimeout = min(c.client.CommandTimeout, quitTimeout)
	if err := c.client.Quit(); err != nil {
		c.client.Close()
	}
}
