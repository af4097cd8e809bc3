package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
	DefaultConnections = 4
	// MaxConnections bounds Config.Connections: a relay counts a client's
	// connections, and past a few dozen more of them only queue there.
	MaxConnections = 32
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
	// Connections is how many connections to the relay may be open at once,
	// each carrying one message at a time; default 4, at most 32.
	Connections int
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
	if c.Connections == 0 {
		c.Connections = DefaultConnections
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
	if c.Connections < 1 || c.Connections > MaxConnections {
		return fmt.Errorf("smtp: connections %d: want 1 to %d", c.Connections, MaxConnections)
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
