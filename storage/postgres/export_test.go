package postgres

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RoundTrips counts the round trips of a store's connections: a write that
// follows a read (or opens the connection) starts one.
type RoundTrips struct{ n atomic.Int64 }

// Load returns the round trips so far.
func (r *RoundTrips) Load() int64 { return r.n.Load() }

// OpenCounting is Open with connections that count their round trips, for the
// benchmarks.
func OpenCounting(ctx context.Context, opts Options) (*Store, *RoundTrips, error) {
	rt := &RoundTrips{}
	s, err := open(ctx, opts, func(cfg *pgxpool.Config) {
		var d net.Dialer
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cc := &countingConn{Conn: c, rt: rt}
			cc.readLast.Store(true) // the first write starts a round trip
			return cc, nil
		}
	})
	return s, rt, err
}

// countingConn counts round trips on one connection: a write after a read
// starts one. pgx's background reader may read while a write is in progress,
// hence the atomic.
type countingConn struct {
	net.Conn
	rt       *RoundTrips
	readLast atomic.Bool // true when the connection read since it last wrote
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.readLast.Swap(false) {
		c.rt.n.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readLast.Store(true)
	}
	return n, err
}

// ExpireNow runs the janitor's work once, now.
func (s *Store) ExpireNow(ctx context.Context) (int64, error) { return s.expire(ctx) }

// JanitorLock is the advisory lock a janitor on prefix's tables takes.
func JanitorLock(prefix string) int64 { return lockKey(prefix, "janitor") }
