package postgres

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

const (
	// maxValue is the first value size Set refuses, as storage/badger does
	// (its limit: values under 1 MiB).
	maxValue = 1 << 20

	// maxKey bounds a key's length. A btree entry must fit in a third of a
	// page (about 2,700 bytes), so the primary key cannot hold Badger's 65,000;
	// the store's keys are well under it.
	maxKey = 2048

	// commitTimeout bounds the commit once it is sent. The commit is not
	// cancelled with the caller's context: a commit cut off midway leaves
	// the caller not knowing whether it happened, so once ctx was still live
	// when the commit was sent, the answer is waited for.
	commitTimeout = 30 * time.Second

	// rollbackTimeout bounds the ROLLBACK of a transaction that does not
	// commit; a connection whose ROLLBACK fails is dropped by the pool.
	rollbackTimeout = 10 * time.Second
)

// tx is one transaction: a View's (write false) or an Update's. It begins in
// the database with its first read; its writes stay here until commit.
type tx struct {
	s     *Store
	ctx   context.Context
	write bool

	conn    *pgxpool.Conn // holds the database's transaction from the first read on
	done    bool          // set when the transaction function returned
	err     error         // the first failed statement's: the database's transaction is aborted
	pending map[string]pendingWrite
	reads   map[string]struct{} // keys the database returned to an Update, locked at commit
	topics  map[string]struct{} // announced, for the notifier once committed
	relaxed bool                // the commit need not wait for the WAL flush (storage.Relaxer)
}

// pendingWrite is a Set (or a Delete, when deleted) waiting for the commit.
type pendingWrite struct {
	value   []byte
	ttl     time.Duration
	deleted bool
}

// updateTx is the Tx an Update passes: it can also announce.
type updateTx struct{ *tx }

var (
	_ storage.Tx        = (*tx)(nil)
	_ storage.Announcer = updateTx{}
	_ storage.Relaxer   = updateTx{}
)

// Relax implements storage.Relaxer: the commit is asynchronous
// (synchronous_commit off, for this transaction only).
func (u updateTx) Relax() {
	if !u.done {
		u.relaxed = true
	}
}

// Announce makes the commit NOTIFY the store's listeners of topic, in every
// process; a transaction that does not commit announces nothing.
func (u updateTx) Announce(topic string) {
	if u.done {
		return
	}
	if u.topics == nil {
		u.topics = map[string]struct{}{}
	}
	u.topics[channelName(u.s.prefix, topic)] = struct{}{}
}

// usable fails once the function returned, and after a failed statement, which
// aborted the database's transaction: every later statement would fail with a
// less clear error.
func (t *tx) usable() error {
	if t.done {
		return errTxDone
	}
	return t.err
}

func checkKey(op, key string) error {
	switch {
	case key == "":
		return fmt.Errorf("postgres: %s: empty key", op)
	case len(key) > maxKey:
		return fmt.Errorf("postgres: %s: a key of %d bytes is over the limit of %d", op, len(key), maxKey)
	}
	return nil
}

// Get returns the value at key, or storage.ErrNotFound. A key this transaction
// wrote is answered from its pending writes.
func (t *tx) Get(key string) ([]byte, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	if err := checkKey("get", key); err != nil {
		return nil, err
	}
	if w, ok := t.pending[key]; ok {
		if w.deleted {
			return nil, storage.ErrNotFound
		}
		return bytes.Clone(w.value), nil
	}
	var value []byte
	found := false
	err := t.query("get", func(rows pgx.Rows) error {
		found = true
		return rows.Scan(&value)
	}, t.s.sql.get, []byte(key))
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, storage.ErrNotFound
	}
	t.read(key)
	if value == nil {
		value = []byte{}
	}
	return value, nil
}

// Set stores a copy of value at key at commit.
func (t *tx) Set(key string, value []byte, ttl time.Duration) error {
	if err := t.usable(); err != nil {
		return err
	}
	if !t.write {
		return errReadOnly
	}
	if err := checkKey("set", key); err != nil {
		return err
	}
	if len(value) >= maxValue {
		return fmt.Errorf("storage: set: a value of %d bytes is over the limit of %d", len(value), maxValue-1)
	}
	// Never nil: pgx sends a nil slice as NULL.
	t.addPending(key, pendingWrite{value: append([]byte{}, value...), ttl: ttl})
	return nil
}

// Delete removes key at commit; a missing key is not an error.
func (t *tx) Delete(key string) error {
	if err := t.usable(); err != nil {
		return err
	}
	if !t.write {
		return errReadOnly
	}
	if err := checkKey("delete", key); err != nil {
		return err
	}
	t.addPending(key, pendingWrite{deleted: true})
	return nil
}

// read records that an Update saw key in the database.
func (t *tx) read(key string) {
	if !t.write {
		return
	}
	if t.reads == nil {
		t.reads = map[string]struct{}{}
	}
	t.reads[key] = struct{}{}
}

func (t *tx) addPending(key string, w pendingWrite) {
	if t.pending == nil {
		t.pending = map[string]pendingWrite{}
	}
	t.pending[key] = w
}

// query runs sql in the transaction and calls row for each row, after the
// previous rows were read: row must not run statements. The first statement
// begins the transaction in the same round trip.
func (t *tx) query(op string, row func(pgx.Rows) error, sql string, args ...any) error {
	var err error
	if t.conn == nil {
		err = t.beginWith(row, sql, args)
	} else {
		err = readRows(t.conn.Query(t.ctx, sql, args...))(row)
	}
	if err != nil {
		t.err = t.s.wrap(t.ctx, op, err)
	}
	return t.err
}

// readRows adapts Query's results to a per-row callback, closing the rows.
func readRows(rows pgx.Rows, err error) func(func(pgx.Rows) error) error {
	return func(row func(pgx.Rows) error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := row(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

// beginWith takes a connection and sends BEGIN and the first statement in one
// batch. A connection found broken then (the database restarted since the pool
// last used it) is tried once more on a fresh pool: nothing was committed.
func (t *tx) beginWith(row func(pgx.Rows) error, sql string, args []any) error {
	begin := beginView
	if t.write {
		begin = beginUpdate
	}
	for attempt := 0; ; attempt++ {
		conn, err := t.s.pool.Acquire(t.ctx)
		if err != nil {
			return err
		}
		t.conn = conn
		b := &pgx.Batch{}
		b.Queue(begin)
		b.Queue(sql, args...)
		br := conn.SendBatch(t.ctx, b)
		_, err = br.Exec()
		if err == nil {
			err = readRows(br.Query())(row)
		}
		if closeErr := br.Close(); err == nil {
			err = closeErr
		}
		if err == nil {
			return nil
		}
		t.release()
		if attempt > 0 || !isConnLost(err) || t.ctx.Err() != nil {
			return err
		}
		t.s.pool.Reset()
	}
}

// commit sends the pending writes and COMMIT in one batch (with BEGIN in front
// when nothing was read); once committed, the announcements go to the
// notifier.
func (t *tx) commit() error {
	if t.conn == nil && len(t.pending) == 0 && len(t.topics) == 0 {
		return nil
	}
	begun := t.conn != nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), commitTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if t.conn == nil {
			conn, err := t.s.pool.Acquire(t.ctx)
			if err != nil {
				return t.s.wrap(t.ctx, "commit", err)
			}
			t.conn = conn
		}
		err := t.conn.SendBatch(ctx, t.commitBatch(!begun)).Close()
		if err == nil {
			if len(t.topics) > 0 {
				t.s.notifier.add(t.topics)
			}
			return nil
		}
		// A batch that never left this process can be sent again on a new
		// connection, unless it was to commit an open transaction.
		if !begun && attempt == 0 && pgconn.SafeToRetry(err) {
			t.release()
			t.s.pool.Reset()
			continue
		}
		if isConnLost(err) && !pgconn.SafeToRetry(err) {
			return fmt.Errorf("postgres: commit: %w: the connection was lost during the commit, "+
				"which may or may not have been applied: %w", storage.ErrUnavailable, t.s.redact(err))
		}
		return t.s.wrap(ctx, "commit", err)
	}
}

// Operations of the commit function (schema.go), one per key.
const (
	opLock   = 0 // read and not written: lock, so that a change since the snapshot is a conflict
	opUpdate = 1 // read and set: update the row the snapshot has
	opUpsert = 2 // set without a read
	opDelete = 3
)

// commitBatch queues the transaction's writes, and the keys it read without
// writing them, as one call of the commit function, in key order, so that
// two transactions on the same keys take their row locks in the same order.
func (t *tx) commitBatch(begin bool) *pgx.Batch {
	b := &pgx.Batch{}
	if begin {
		b.Queue(beginUpdate)
	}
	if len(t.pending) > 0 {
		keys := make([]string, 0, len(t.pending)+len(t.reads))
		for k := range t.pending {
			keys = append(keys, k)
		}
		// A transaction that only reads commits a consistent snapshot
		// whatever happened since: its reads are locked only when it writes.
		for k := range t.reads {
			if _, written := t.pending[k]; !written {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		var (
			keyArg, values [][]byte
			ops            []int32
			ttls           []int64
		)
		for _, k := range keys {
			w, written := t.pending[k]
			_, read := t.reads[k]
			op := int32(opLock)
			switch {
			case written && w.deleted:
				op = opDelete
			case written && read:
				op = opUpdate
			case written:
				op = opUpsert
			}
			keyArg = append(keyArg, []byte(k))
			ops = append(ops, op)
			values = append(values, w.value) // nil (NULL) for a lock or a delete
			ttls = append(ttls, ttlMicros(w.ttl))
		}
		b.Queue(t.s.sql.commit, keyArg, ops, values, ttls)
	}
	if t.relaxed && len(t.pending) > 0 {
		b.Queue(relaxSQL)
	}
	b.Queue(commitSQL)
	return b
}

// ttlMicros is ttl in whole microseconds, rounded up so that the key lives at
// least ttl; 0 (no expiry) for a ttl that is not positive.
func ttlMicros(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return int64((ttl + time.Microsecond - 1) / time.Microsecond)
}

// release ends the database's transaction if it is still open (ROLLBACK:
// commit has ended it otherwise) and gives the connection back.
func (t *tx) release() {
	if t.conn == nil {
		return
	}
	pg := t.conn.Conn().PgConn()
	if !pg.IsClosed() && pg.TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		// A failed ROLLBACK leaves the connection in a transaction, and the
		// pool then closes it rather than reuse it: nothing to do here.
		t.conn.Exec(ctx, rollbackSQL) //nolint:errcheck // see above
		cancel()
	}
	t.conn.Release()
	t.conn = nil
}
