// Package mailbox is a local mail catcher, like MailHog: an SMTP server that accepts
// any mail and keeps it in memory, and a web page to read it. It is the demo's way
// to see the mail the password-reset plugin sends, and the end-to-end tests' way to
// wait for a reset email and follow its link.
//
// A Box keeps the last Config.Keep messages. ServeSMTP accepts mail on a listener
// (loopback peers only, unless Config.AllowRemote); Handler serves the web UI;
// Wait blocks until a matching message has arrived, so tests never sleep.
// AUTH PLAIN is offered and accepts any credentials, and STARTTLS is offered when
// Config.TLSConfig is set, so that a sender configured for a real server can be
// pointed at the box unchanged; each Message records the user name and whether
// TLS was used.
//
// Routes of the web UI:
//
//	GET /                    the messages, newest first
//	GET /messages/{id}       one message: headers, links, text and sandboxed HTML
//	GET /messages/{id}/raw   the message source, as text/plain
//	GET /api/messages        all messages as JSON, oldest first (without the source)
package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// ErrClosed is returned by Wait and ServeSMTP once the Box is closed.
var ErrClosed = errors.New("mailbox: closed")

// Defaults for the zero Config.
const (
	DefaultKeep            = 500
	DefaultMaxMessageBytes = 10 << 20
	DefaultDomain          = "localhost"
)

// Config configures a Box. The zero value is ready to use.
type Config struct {
	// Keep is how many messages the box keeps; older ones are dropped first.
	// Default DefaultKeep.
	Keep int
	// MaxMessageBytes bounds one message; larger ones are refused with SMTP 552.
	// Default DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// Domain is the host name the SMTP server greets with. Default DefaultDomain.
	Domain string
	// AllowRemote accepts SMTP connections from non-loopback peers. By default
	// they are refused with 554, so that a box listening on a public interface by
	// mistake does not collect the world's spam.
	AllowRemote bool
	// TLSConfig, when set, makes the SMTP server offer STARTTLS.
	TLSConfig *tls.Config
	// ErrorLog receives SMTP connection errors. Nil discards them.
	ErrorLog *log.Logger
}

// Box is a mail catcher. It is safe for concurrent use.
type Box struct {
	cfg      Config
	srv      *smtp.Server
	handler  http.Handler
	sessions atomic.Int64

	mu      sync.Mutex
	msgs    []Message     // oldest first, at most cfg.Keep
	seq     int           // ID of the last message stored
	arrived chan struct{} // closed and replaced when a message arrives or the box closes
	closed  bool
	// listeners are those given to ServeSMTP, closed by Close.
	listeners []net.Listener
}

// New returns a Box configured by cfg, with defaults for its zero fields.
func New(cfg Config) *Box {
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.New(io.Discard, "", 0)
	}
	b := &Box{cfg: cfg, arrived: make(chan struct{})}
	b.srv = b.newSMTPServer()
	b.handler = b.routes()
	return b
}

// Close stops the SMTP server, closing its listeners and connections, and wakes
// every Wait with ErrClosed. The messages stay readable. Close is idempotent.
func (b *Box) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.arrived)
	listeners := b.listeners
	b.mu.Unlock()
	// The server first, so that Serve takes the listeners' closing for a stop.
	err := b.srv.Close()
	for _, ln := range listeners {
		ln.Close() // most were closed by the server already
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("mailbox: close SMTP server: %w", err)
	}
	return nil
}

// Handler returns the web UI.
func (b *Box) Handler() http.Handler { return b.handler }

// Sessions returns how many SMTP connections the box has accepted.
func (b *Box) Sessions() int { return int(b.sessions.Load()) }

// Count returns how many messages the box holds now (at most Config.Keep).
func (b *Box) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

// Messages returns the messages the box holds, oldest first. The Messages share
// their slices with the box and must not be modified.
func (b *Box) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.msgs...)
}

// Message returns the message with that ID, if the box still holds it.
func (b *Box) Message(id int) (Message, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// IDs are consecutive, so the position follows from the first one.
	if len(b.msgs) == 0 {
		return Message{}, false
	}
	i := id - b.msgs[0].ID
	if i < 0 || i >= len(b.msgs) {
		return Message{}, false
	}
	return b.msgs[i], true
}

// Wait returns the oldest message the box holds, or receives later, for which
// match returns true (a nil match accepts any message). It returns as soon as
// such a message is stored, ctx.Err() when ctx ends first, or ErrClosed when the
// box closes. To wait for a message newer than one already seen, match on
// m.ID > seen.ID.
func (b *Box) Wait(ctx context.Context, match func(Message) bool) (Message, error) {
	if match == nil {
		match = func(Message) bool { return true }
	}
	next := 0 // the lowest ID not yet offered to match
	for {
		fresh, arrived, closed := b.since(next)
		for _, m := range fresh { // match runs without the lock: it may call the box
			if match(m) {
				return m, nil
			}
			next = m.ID + 1
		}
		if closed {
			return Message{}, ErrClosed
		}
		select {
		case <-ctx.Done():
			return Message{}, ctx.Err()
		case <-arrived:
		}
	}
}

// since returns the held messages with an ID of at least id, the channel that
// will be closed on the next arrival, and whether the box is closed.
func (b *Box) since(id int) ([]Message, <-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Message
	for _, m := range b.msgs {
		if m.ID >= id {
			out = append(out, m)
		}
	}
	return out, b.arrived, b.closed
}

// store numbers m, keeps it, drops the oldest message beyond Config.Keep, and
// wakes the waiters.
func (b *Box) store(m Message) Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	m.ID = b.seq
	b.msgs = append(b.msgs, m)
	if extra := len(b.msgs) - b.cfg.Keep; extra > 0 {
		clear(b.msgs[:extra]) // let the dropped messages be collected
		b.msgs = b.msgs[extra:]
	}
	if !b.closed {
		close(b.arrived)
		b.arrived = make(chan struct{})
	}
	return m
}
