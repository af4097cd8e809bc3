package mail

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Security selects how the connection to the relay is protected.
type Security string

const (
	// SecurityStartTLS connects in plaintext and upgrades with STARTTLS before
	// anything else is sent (submission, port 587). A server that does not
	// offer STARTTLS is an error, never a silent downgrade. It is the default.
	SecurityStartTLS Security = "starttls"

	// SecurityTLS speaks TLS from the first byte (implicit TLS, port 465).
	SecurityTLS Security = "tls"

	// SecurityPlain sends everything in the clear. It is only allowed to a
	// loopback host, such as a local relay or a test server.
	SecurityPlain Security = "plain"
)

// Defaults for the zero values of Config fields.
const (
	DefaultHelloName   = "localhost"
	DefaultTimeout     = 30 * time.Second
	DefaultIdleTimeout = 10 * time.Second
)

// quitTimeout bounds the QUIT sent when a connection is closed, so that Close
// does not wait the full command timeout on a server that has gone quiet.
const quitTimeout = 5 * time.Second

// ErrNoSMTPUTF8 means the message has a non-ASCII mailbox name and the relay does
// not offer SMTPUTF8 (RFC 6531): this relay cannot deliver it, ever. It is a
// permanent failure, reported as such rather than retried for days.
var ErrNoSMTPUTF8 = errors.New("smtp: the relay does not offer SMTPUTF8, needed for an address with a non-ASCII local part")

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("smtp: sender is closed")

// Config describes the SMTP relay. The zero values of Security, HelloName,
// Timeout and IdleTimeout select the defaults.
type Config struct {
	Addr        string        // host:port
	Security    Security      // "starttls" (default), "tls" or "plain"
	Username    string        // AUTH PLAIN is used only when set
	Password    string        // never appears in an error or a log line
	HelloName   string        // EHLO name; default "localhost"
	Timeout     time.Duration // dial and per-command timeout; default 30s
	TLSConfig   *tls.Config   // optional; ServerName defaults to the host of Addr
	IdleTimeout time.Duration // how long a kept-open connection may idle before it is closed; default 10s
}

func (c Config) withDefaults() Config {
	if c.Security == "" {
		c.Security = SecurityStartTLS
	}
	if c.HelloName == "" {
		c.HelloName = DefaultHelloName
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Validate reports whether c is usable. Beyond the syntax of the fields it
// enforces the one rule go-sasl does not: credentials are never sent in
// plaintext to another machine. go-sasl's PLAIN client hands the password to
// whatever connection it is given (unlike net/smtp's PlainAuth), so "plain" is
// refused for any host that is not loopback.
func (c Config) Validate() error {
	c = c.withDefaults()
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("smtp: addr %q: %w", c.Addr, err)
	}
	if host == "" {
		return fmt.Errorf("smtp: addr %q has no host", c.Addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("smtp: addr %q: port must be a number from 1 to 65535", c.Addr)
	}
	switch c.Security {
	case SecurityStartTLS, SecurityTLS:
	case SecurityPlain:
		if !isLoopbackHost(host) {
			if c.Username != "" {
				return fmt.Errorf("smtp: security %q to %s would send the password in clear text; use starttls or tls", c.Security, host)
			}
			return fmt.Errorf("smtp: security %q is only allowed to a loopback host, not %s; use starttls or tls", c.Security, host)
		}
	default:
		return fmt.Errorf("smtp: unknown security %q (want starttls, tls or plain)", c.Security)
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("smtp: a password is set without a username")
	}
	if err := checkHelloName(c.HelloName); err != nil {
		return err
	}
	if c.Timeout < 0 || c.IdleTimeout < 0 {
		return errors.New("smtp: timeouts must not be negative")
	}
	return nil
}

// checkHelloName keeps the EHLO argument to one printable word.
func checkHelloName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("smtp: hello name is not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("smtp: hello name %q contains a space or control character", name)
		}
	}
	return nil
}

// isLoopbackHost reports whether host names this machine without asking DNS:
// "localhost" or a loopback IP literal. The connection's remote address is
// checked again after dialing, in case "localhost" resolves elsewhere.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isLoopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// Sender submits messages to one SMTP relay. It keeps one connection open
// across calls, so that a burst of reset mails pays for the TCP, TLS and AUTH
// handshakes once, and closes it after IdleTimeout without use.
//
// A Sender is safe for concurrent use; messages are submitted one at a time
// over the shared connection.
type Sender struct {
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
	return &Sender{
		cfg:    cfg,
		tls:    tc,
		logger: logger.With(slog.String("smtp_addr", cfg.Addr), slog.String("smtp_security", string(cfg.Security))),
		sem:    make(chan struct{}, 1),
	}, nil
}

// Send submits msg, which must be a complete RFC 5322 message with CRLF line
// endings (see Message.Bytes), with the given envelope. It reuses the open
// connection if there is one; if the server closed it while it was idle, Send
// dials again and retries, which is safe because nothing of the message was
// accepted yet.
//
// Cancelling ctx aborts Send at any point, including the dial, the TLS
// handshake and a server that never answers; the connection is then dropped.
// An error from the server is an *smtp.SMTPError somewhere in the chain; use
// IsPermanent to decide whether to retry.
func (s *Sender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if err := checkEnvelope(from, to); err != nil {
		return err
	}
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

func (s *Sender) send(ctx context.Context, from string, to []string, msg []byte) error {
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
func (s *Sender) attempt(ctx context.Context, from string, to []string, msg []byte) error {
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
func (s *Sender) reset(ctx context.Context) error {
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
func (s *Sender) discard() {
	if s.conn != nil {
		s.conn.raw.Close()
		s.conn = nil
	}
}

// armIdle (re)starts the timer that closes the connection after IdleTimeout.
func (s *Sender) armIdle() {
	if s.idle == nil {
		s.idle = time.AfterFunc(s.cfg.IdleTimeout, s.closeIdle)
		return
	}
	s.idle.Reset(s.cfg.IdleTimeout)
}

// closeIdle closes a connection that has not been used for IdleTimeout. A
// relay drops idle clients itself after a few minutes, and a connection held
// open between rare reset mails only ties up a slot on it.
func (s *Sender) closeIdle() {
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
func (s *Sender) Close() error {
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
func (s *Sender) dial(ctx context.Context) (*conn, error) {
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
func (s *Sender) handshake(raw net.Conn) (*smtp.Client, error) {
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
func (s *Sender) auth(client *smtp.Client, raw net.Conn) error {
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

// cappedConn limits every deadline set on it to limit from now.
type cappedConn struct {
	net.Conn
	limit time.Duration
}

func (c *cappedConn) SetDeadline(t time.Time) error {
	return c.Conn.SetDeadline(c.cap(t))
}

func (c *cappedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.cap(t))
}

func (c *cappedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.cap(t))
}

func (c *cappedConn) cap(t time.Time) time.Time {
	if t.IsZero() {
		return t // go-smtp clears the deadline after each command; keep it clear while idle
	}
	if limit := time.Now().Add(c.limit); t.After(limit) {
		return limit
	}
	return t
}

// IsPermanent reports whether err is an SMTP 5xx refusal of this message, at
// RCPT TO (no such mailbox) or DATA (content refused), or ErrNoSMTPUTF8: sending
// the same message again will not help. It is false for 4xx replies, network
// errors and timeouts, which are worth retrying, and for 5xx replies at AUTH or
// MAIL FROM (wrong credentials, a sender address the relay refuses): those are
// faults of the configuration, and the message must wait until the operator
// fixes them rather than be thrown away.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrNoSMTPUTF8) {
		return true
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code < 500 || se.Code > 599 {
		return false
	}
	var oe *opError
	return !errors.As(err, &oe) || (oe.op != "AUTH" && oe.op != "MAIL FROM")
}

// isStale reports whether err means a kept connection had been closed by the
// server: the first command of the transaction failed on the network or with
// 421 (closing). Nothing of the message was sent, so a retry cannot duplicate
// it.
func isStale(err error) bool {
	var oe *opError
	if !errors.As(err, &oe) || oe.op != "MAIL FROM" {
		return false
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code == 421
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// reusable reports whether the connection can carry another transaction after
// err: only a well-formed reply other than 421 leaves it in a known state.
func reusable(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code != 421
}

// checkEnvelope refuses envelope addresses that could break out of
// MAIL FROM:<...> or RCPT TO:<...>: line breaks would start a new command and
// a '>' would start SMTP parameters.
func checkEnvelope(from string, to []string) error {
	if err := checkPath("MAIL FROM", from); err != nil {
		return err
	}
	if len(to) == 0 {
		return errors.New("smtp: no recipients")
	}
	for _, rcpt := range to {
		if err := checkPath("RCPT TO", rcpt); err != nil {
			return err
		}
	}
	return nil
}

func checkPath(op, addr string) error {
	if addr == "" {
		return fmt.Errorf("smtp: %s: empty address", op)
	}
	if len(addr) > maxAddressLen {
		return fmt.Errorf("smtp: %s: address too long (%d bytes)", op, len(addr))
	}
	if !utf8.ValidString(addr) {
		return fmt.Errorf("smtp: %s: address is not valid UTF-8", op)
	}
	for _, r := range addr {
		if unicode.IsControl(r) || r == '<' || r == '>' {
			return fmt.Errorf("smtp: %s: address contains %q", op, r)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}

// opError names the SMTP step that failed.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	// go-smtp's own errors start with "smtp: " too; say it once.
	return "smtp: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "smtp: ")
}
func (e *opError) Unwrap() error { return e.err }

// redact removes the password, and the base64 AUTH PLAIN blob that carries
// it, from err's text, in case a server echoes what it was sent. The original
// chain is dropped because its text holds the password; a redacted copy of
// the server's reply is kept so that errors.As and IsPermanent still work.
func (s *Sender) redact(err error) error {
	if err == nil || s.cfg.Password == "" {
		return err
	}
	blob := base64.StdEncoding.EncodeToString([]byte("\x00" + s.cfg.Username + "\x00" + s.cfg.Password))
	r := strings.NewReplacer(blob, "[redacted]", s.cfg.Password, "[redacted]")
	msg := err.Error()
	clean := r.Replace(msg)
	if clean == msg {
		return err
	}
	var reply error
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		reply = &smtp.SMTPError{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: r.Replace(se.Message)}
	}
	var oe *opError
	if errors.As(err, &oe) && reply != nil {
		// Keep the step that failed, so IsPermanent can tell AUTH from RCPT TO.
		reply = &opError{op: oe.op, err: reply}
	}
	return &redactedError{msg: clean, reply: reply}
}

// redactedError is an error whose text had a secret removed.
type redactedError struct {
	msg   string
	reply error // the server's reply, redacted, with the step; nil if there was none
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.reply }
