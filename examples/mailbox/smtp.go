package mailbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpTimeout bounds each read and write of an SMTP connection, so that a stuck
// client does not hold a connection forever.
const smtpTimeout = time.Minute

func (b *Box) newSMTPServer() *smtp.Server {
	s := smtp.NewServer(smtp.BackendFunc(b.newSession))
	s.Domain = b.cfg.Domain
	s.MaxMessageBytes = b.cfg.MaxMessageBytes
	s.MaxRecipients = 100
	s.ReadTimeout = smtpTimeout
	s.WriteTimeout = smtpTimeout
	s.TLSConfig = b.cfg.TLSConfig
	s.AllowInsecureAuth = true // a catcher on loopback: AUTH is accepted, not checked
	s.EnableSMTPUTF8 = true
	s.ErrorLog = b.cfg.ErrorLog
	return s
}

// ServeSMTP accepts SMTP connections on ln until Close, then returns nil. It may be
// called for several listeners. Connections from non-loopback peers are refused
// unless Config.AllowRemote is set.
func (b *Box) ServeSMTP(ln net.Listener) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	// Close closes the listeners registered here too, in case it runs before
	// Serve has registered ln with the SMTP server.
	b.listeners = append(b.listeners, ln)
	b.mu.Unlock()
	if err := b.srv.Serve(&listener{Listener: ln, box: b}); err != nil {
		return fmt.Errorf("mailbox: serve SMTP on %s: %w", ln.Addr(), err)
	}
	return nil
}

// listener counts the connections it hands to the SMTP server and turns away
// remote peers before they speak, with the 554 greeting RFC 5321 provides for it.
type listener struct {
	net.Listener
	box *Box
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.box.cfg.AllowRemote || isLoopback(c.RemoteAddr()) {
			l.box.sessions.Add(1)
			return c, nil
		}
		go refuse(c)
	}
}

func refuse(c net.Conn) {
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "554 5.7.1 This mailbox accepts loopback connections only\r\n")
}

// isLoopback reports whether addr is a loopback address. Non-IP addresses (Unix
// sockets, in-memory pipes) are local by nature.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return !ok || tcp.IP.IsLoopback()
}

// session is one SMTP connection's state: the envelope being received.
type session struct {
	box      *Box
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

func (b *Box) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{box: b, conn: c}, nil
}

// AuthMechanisms offers PLAIN, so that senders configured with credentials work.
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any credentials and remembers the user name for the messages.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, _ string) error {
		s.authUser = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data reads the message and stores it. A message over the size limit is refused
// with go-smtp's 552 and not stored.
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			return smtpErr
		}
		return fmt.Errorf("mailbox: read message: %w", err)
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.box.store(parse(raw, envelope{
		from: s.from, to: s.to, authUser: s.authUser, tls: isTLS, received: time.Now(),
	}))
	return nil
}

func (s *session) Reset() {
	s.from, s.to = "", nil
}

func (s *session) Logout() error { return nil }
