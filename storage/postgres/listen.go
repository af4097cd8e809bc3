package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Reconnection backoff of the listener's connection.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// simpleChannel is a channel name used as it is: PostgreSQL's identifiers are
// at most 63 bytes.
var simpleChannel = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// channelName is the NOTIFY channel of topic: the table prefix and the topic,
// or a hash of the topic when that is not a short plain name.
func channelName(prefix, topic string) string {
	if name := prefix + topic; simpleChannel.MatchString(name) {
		return name
	}
	sum := sha256.Sum256([]byte(topic))
	return prefix + "t_" + hex.EncodeToString(sum[:10])
}

// listener holds the store's one LISTEN connection and fans its notifications
// out to the channels Listen returned. The connection is used only by its
// goroutine (run); Listen asks it to LISTEN on a new channel by interrupting
// its wait for a notification.
type listener struct {
	s   *Store
	cfg *pgx.ConnConfig

	mu        sync.Mutex
	subs      map[string]map[*subscriber]struct{} // by channel name
	active    map[string]bool                     // channels LISTENed on the current connection
	waits     map[string][]chan struct{}          // closed when the channel is active or the connection is lost
	connected bool
	stopped   bool               // set when the store stops: Listen returns closed channels
	interrupt context.CancelFunc // ends the current wait for a notification; nil when not waiting
	subsDone  sync.WaitGroup     // the subscribers' goroutines
}

// subscriber is one channel returned by Listen: buffered (1) and sent to
// without blocking, so that wake-ups merge and a slow receiver never holds up
// the others.
type subscriber struct{ ch chan struct{} }

// startListener connects the listener, so that a Listen right after Open is
// in effect when it returns, and starts its goroutine.
func startListener(ctx context.Context, s *Store) (*listener, error) {
	l := &listener{
		s:     s,
		cfg:   s.pool.Config().ConnConfig,
		subs:  map[string]map[*subscriber]struct{}{},
		waits: map[string][]chan struct{}{},
	}
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, s.wrap(ctx, "open: connect the listener", err)
	}
	l.setConnected()
	s.bg.Add(1)
	go l.run(conn)
	return l, nil
}

// Listen returns a channel that receives a value after a transaction of any
// process announcing topic commits, and once after the listener had to
// reconnect (announcements may have been missed meanwhile). It is closed when
// ctx ends or the store closes. When the listener is connected, Listen returns
// once the database delivers topic's announcements.
func (s *Store) Listen(ctx context.Context, topic string) <-chan struct{} {
	return s.listener.listen(ctx, channelName(s.prefix, topic))
}

func (l *listener) listen(ctx context.Context, channel string) <-chan struct{} {
	sub := &subscriber{ch: make(chan struct{}, 1)}
	stop := l.s.stop
	l.mu.Lock()
	if l.stopped || stop.Err() != nil || ctx.Err() != nil {
		l.mu.Unlock()
		close(sub.ch)
		return sub.ch
	}
	if l.subs[channel] == nil {
		l.subs[channel] = map[*subscriber]struct{}{}
	}
	l.subs[channel][sub] = struct{}{}
	var ready chan struct{}
	if l.connected && !l.active[channel] {
		ready = make(chan struct{})
		l.waits[channel] = append(l.waits[channel], ready)
		if l.interrupt != nil {
			l.interrupt()
		}
	}
	l.subsDone.Add(1)
	l.mu.Unlock()

	go func() {
		defer l.subsDone.Done()
		select {
		case <-ctx.Done():
		case <-stop.Done():
		}
		l.mu.Lock()
		delete(l.subs[channel], sub)
		if len(l.subs[channel]) == 0 {
			delete(l.subs, channel)
		}
		close(sub.ch)
		l.mu.Unlock()
	}()
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
		case <-stop.Done():
		}
	}
	return sub.ch
}

// run serves the connection until it fails, then reconnects with backoff, until
// the store closes.
func (l *listener) run(conn *pgx.Conn) {
	defer l.s.bg.Done()
	defer l.wait()
	backoff := minBackoff
	reconnect := false
	for {
		if conn == nil {
			c, err := pgx.ConnectConfig(l.s.stop, l.cfg)
			if err != nil {
				if l.s.stop.Err() != nil {
					return
				}
				l.s.log.Warn("postgres: the listener cannot connect; retrying",
					zap.Duration("in", backoff), zap.Error(l.s.redact(err)))
				select {
				case <-l.s.stop.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
			l.setConnected()
		}
		err := l.serve(conn, reconnect)
		closeCtx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		conn.Close(closeCtx) //nolint:errcheck // the connection is dropped either way
		cancel()
		conn, reconnect = nil, true
		if l.s.stop.Err() != nil {
			return
		}
		l.s.log.Warn("postgres: the listener's connection failed; reconnecting", zap.Error(l.s.redact(err)))
	}
}

// wait returns once every subscriber's channel is closed, which the store's
// stop makes happen.
func (l *listener) wait() {
	// Listen adds to subsDone under mu only until stopped is set: no Add can
	// follow the Wait.
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.subsDone.Wait()
}

// serve LISTENs on every channel that has subscribers and delivers the
// notifications until the connection fails or the store stops. After a
// reconnection, once the LISTENs are in effect, it wakes every subscriber.
func (l *listener) serve(conn *pgx.Conn, wakeAll bool) error {
	defer func() {
		l.mu.Lock()
		l.connected, l.active, l.interrupt = false, nil, nil
		// A Listen waiting for its LISTEN returns: the reconnection's
		// wake-up covers what it may miss.
		for ch, waits := range l.waits {
			for _, w := range waits {
				close(w)
			}
			delete(l.waits, ch)
		}
		l.mu.Unlock()
	}()
	for {
		for _, ch := range l.unlistened() {
			if _, err := conn.Exec(l.s.stop, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
				return fmt.Errorf("LISTEN: %w", err)
			}
			l.mu.Lock()
			l.active[ch] = true
			for _, w := range l.waits[ch] {
				close(w)
			}
			delete(l.waits, ch)
			l.mu.Unlock()
		}
		if wakeAll {
			l.wakeAll()
			wakeAll = false
		}
		l.mu.Lock()
		if len(l.unlistenedLocked()) > 0 {
			l.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithCancel(l.s.stop)
		l.interrupt = cancel
		l.mu.Unlock()

		n, err := conn.WaitForNotification(ctx)
		l.mu.Lock()
		l.interrupt = nil
		l.mu.Unlock()
		interrupted := ctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			l.deliver(n.Channel)
		case l.s.stop.Err() != nil:
			return err
		case interrupted:
			// A Listen wants a new channel: the connection is still good.
		default:
			return err
		}
	}
}

// setConnected marks a new connection, on which nothing is LISTENed yet: from
// now on a Listen waits for its LISTEN.
func (l *listener) setConnected() {
	l.mu.Lock()
	l.connected, l.active = true, map[string]bool{}
	l.mu.Unlock()
}

// unlistened returns the channels with subscribers that are not LISTENed yet.
func (l *listener) unlistened() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unlistenedLocked()
}

func (l *listener) unlistenedLocked() []string {
	var out []string
	for ch := range l.subs {
		if !l.active[ch] {
			out = append(out, ch)
		}
	}
	return out
}

// deliver wakes channel's subscribers.
func (l *listener) deliver(channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for sub := range l.subs[channel] {
		wake(sub)
	}
}

// wakeAll wakes every subscriber.
func (l *listener) wakeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, subs := range l.subs {
		for sub := range subs {
			wake(sub)
		}
	}
}

func wake(sub *subscriber) {
	select {
	case sub.ch <- struct{}{}:
	default: // a wake-up is already pending: they merge
	}
}
