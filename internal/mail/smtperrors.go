package mail

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

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
func (s *session) redact(err error) error {
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
