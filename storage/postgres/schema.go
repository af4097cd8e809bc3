package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// schemaVersion is the version of the tables this build uses: the number of
// migrations. A migration is never changed once released; a change of the
// schema is a new migration appended to migrations.
const schemaVersion = 1

// migrations[i] takes the schema from version i to i+1. Names in braces are
// replaced by the store's quoted names.
var migrations = [][]string{
	{
		// kv holds the keys. bytea compares byte by byte, as Go compares
		// strings, so Scan's order is the Go order. expires_at is NULL for
		// a key without TTL; the partial index serves the janitor. The GCRA
		// buckets are keys here too (see gcra).
		`CREATE TABLE {kv} (
			key bytea PRIMARY KEY,
			value bytea NOT NULL,
			expires_at timestamptz
		)`,
		`CREATE INDEX {kv_expires_at} ON {kv} (expires_at) WHERE expires_at IS NOT NULL`,
		// commit applies an Update's writes, and locks the keys it read and
		// did not write, one key at a time in the order given (sorted by
		// the caller), so that two commits on the same rows lock them in the
		// same order and cannot deadlock. Under REPEATABLE READ, locking,
		// updating or deleting a row that a transaction committed since the
		// snapshot fails with 40001: a key read and changed meanwhile is a
		// conflict, as storage.Store wants, whether or not it is written. A
		// key read and set is UPDATEd, not upserted, so that one deleted
		// meanwhile is a conflict too rather than inserted again. op: 0
		// lock, 1 update, 2 upsert, 3 delete; ttl in microseconds, 0: none.
		`CREATE FUNCTION {commit}(p_keys bytea[], p_ops int[], p_values bytea[], p_ttls bigint[])
		RETURNS void LANGUAGE plpgsql AS $commit$
		DECLARE
			expires timestamptz;
		BEGIN
			FOR i IN 1..coalesce(array_length(p_keys, 1), 0) LOOP
				expires := CASE WHEN p_ttls[i] > 0 THEN clock_timestamp() + p_ttls[i] * interval '1 microsecond' END;
				CASE p_ops[i]
				WHEN 0 THEN
					PERFORM 1 FROM {kv} WHERE key = p_keys[i] FOR SHARE;
				WHEN 1 THEN
					UPDATE {kv} SET value = p_values[i], expires_at = expires WHERE key = p_keys[i];
					IF NOT FOUND THEN
						RAISE EXCEPTION 'commit: a key read is gone' USING ERRCODE = 'serialization_failure';
					END IF;
				WHEN 2 THEN
					INSERT INTO {kv} (key, value, expires_at) VALUES (p_keys[i], p_values[i], expires)
						ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at;
				WHEN 3 THEN
					DELETE FROM {kv} WHERE key = p_keys[i];
				END CASE;
			END LOOP;
		END
		$commit$`,
		// gcra applies a GCRA mode (0 peek, 1 allow, 2 spend) to buckets
		// whose keys come sorted, so that two calls lock shared rows in the
		// same order and cannot deadlock. It returns the TATs before the
		// call, 0 for none or passed.
		//
		// A bucket is an ordinary key of kv, so that Export lists it and a
		// copy between backends (storage.Exporter, Tx.Set) needs no
		// translation: its value is the TAT, unix nanoseconds of the
		// callers' clock (tests pass fake ones), as 8 bytes big-endian
		// two's complement (int8send), what internal/ratelimit writes to
		// Badger; expires_at is when the TAT will have passed, by the
		// database's clock and with a margin (below), so the janitor
		// deletes it then. A row that is
		// not live, or whose value is not 8 bytes, holds no TAT: Get would
		// not return it either.
		//
		// That makes an early expiry a lost count (storage.Limits keeps a
		// counted bucket until its TAT has passed), while a late one costs
		// nothing: whether the TAT passed is decided on the caller's clock.
		// So the expiry runs from clock_timestamp() once the call holds its
		// locks, not from now(), the start of a call that may have queued
		// on them while a caller's clock (a fake one in tests) stood still,
		// and one second more, as internal/ratelimit's TTL in Badger, for
		// the clocks' disagreement.
		//
		// A bucket without a row gets one before it is locked, so that two
		// calls on a new bucket queue on that row instead of both seeing
		// none. The row is born expired (expires_at = now(), which no later
		// statement's time precedes), so that a refused Allow leaves no live
		// key with a bogus value for Get, Scan or Export.
		`CREATE FUNCTION {gcra}(p_now bigint, p_mode int, p_keys bytea[], p_every bigint[], p_window bigint[])
		RETURNS bigint[] LANGUAGE plpgsql AS $gcra$
		DECLARE
			n int := coalesce(array_length(p_keys, 1), 0);
			olds bigint[] := '{}';
			nexts bigint[] := '{}';
			v bytea;
			expires timestamptz;
			t bigint;
			stamp timestamptz;
			allowed boolean := true;
		BEGIN
			FOR i IN 1..n LOOP
				IF p_mode = 0 THEN
					SELECT value, expires_at INTO v, expires FROM {kv} WHERE key = p_keys[i];
				ELSE
					-- Expired rows too: they are locked and reused, not
					-- inserted again.
					SELECT value, expires_at INTO v, expires FROM {kv} WHERE key = p_keys[i] FOR UPDATE;
					IF NOT FOUND THEN
						INSERT INTO {kv} (key, value, expires_at) VALUES (p_keys[i], int8send(0::bigint), now())
							ON CONFLICT (key) DO NOTHING;
						SELECT value, expires_at INTO v, expires FROM {kv} WHERE key = p_keys[i] FOR UPDATE;
						IF NOT FOUND THEN
							-- Only under a default isolation above READ COMMITTED,
							-- whose snapshot hides the row another call just made.
							RAISE EXCEPTION 'gcra: bucket row not visible' USING ERRCODE = 'serialization_failure';
						END IF;
					END IF;
				END IF;
				-- No row leaves v and expires NULL. Liveness is judged as
				-- the store's reads judge it (sql.go), at the statement's
				-- time.
				t := 0;
				IF length(v) = 8 AND (expires IS NULL OR expires > statement_timestamp()) THEN
					t := ('x' || encode(v, 'hex'))::bit(64)::bigint;
				END IF;
				IF t <= p_now THEN
					t := 0;
				END IF;
				olds := olds || t;
				nexts := nexts || (greatest(t, p_now) + p_every[i]);
				IF nexts[i] - p_now > p_window[i] THEN
					allowed := false;
				END IF;
			END LOOP;
			IF p_mode = 2 OR (p_mode = 1 AND allowed) THEN
				stamp := clock_timestamp();
				UPDATE {kv} AS b
					SET value = int8send(w.tat),
						expires_at = stamp + ((w.tat - p_now) / 1000 + 1) * interval '1 microsecond' + interval '1 second'
					FROM unnest(p_keys, nexts) AS w(key, tat)
					WHERE b.key = w.key;
			END IF;
			RETURN olds;
		END
		$gcra$`,
	},
}

// migrate brings the schema to schemaVersion. A schema already there costs one
// query and takes no lock, so that Open works on a read-only database (whose
// Updates then fail with ErrUnavailable). Otherwise the migration runs in one
// transaction under an advisory lock of the prefix: a second node opening at
// the same time waits, then finds the work done.
func (s *Store) migrate(ctx context.Context) error {
	v, err := s.readVersion(ctx, s.pool)
	if err != nil {
		return s.wrap(ctx, "open: read the schema version", err)
	}
	if v == schemaVersion {
		return nil
	}
	if v > schemaVersion {
		return s.newerSchema(v)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.migrateTx(ctx, tx) })
	if err != nil {
		return s.wrap(ctx, "open: migrate the schema", err)
	}
	return nil
}

func (s *Store) migrateTx(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(s.prefix, "migrate")); err != nil {
		return err
	}
	create := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
		id int PRIMARY KEY CHECK (id = 1),
		version int NOT NULL
	)`, s.sql.schema)
	if _, err := tx.Exec(ctx, create); err != nil {
		return err
	}
	v, err := s.readVersion(ctx, tx)
	if err != nil {
		return err
	}
	if v > schemaVersion {
		return s.newerSchema(v)
	}
	names := strings.NewReplacer("{kv}", s.sql.kv, "{gcra}", s.sql.gcraFunc,
		"{commit}", s.sql.commitFunc,
		"{kv_expires_at}", pgx.Identifier{s.prefix + "kv_expires_at"}.Sanitize())
	for ; v < schemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.Exec(ctx, names.Replace(stmt)); err != nil {
				return fmt.Errorf("to version %d: %w", v+1, err)
			}
		}
	}
	_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id, version) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version`, s.sql.schema), schemaVersion)
	return err
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readVersion returns the schema's version, 0 when there is no schema table.
func (s *Store) readVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", s.sql.schema).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(max(version), 0) FROM %s", s.sql.schema)).Scan(&v)
	return v, err
}

func (s *Store) newerSchema(v int) error {
	return fmt.Errorf("postgres: open: the tables %s* are at schema version %d, newer than this build's %d: "+
		"upgrade the plugin on this node, or use another TablePrefix", s.prefix, v, schemaVersion)
}

// lockKey is the advisory lock of one purpose ("migrate", "janitor") for the
// tables of prefix. Advisory locks are per database, so stores with other
// prefixes do not wait for each other.
func lockKey(prefix, purpose string) int64 {
	h := fnv.New64a()
	h.Write([]byte("caddy-password-reset/storage/postgres\x00" + purpose + "\x00" + prefix))
	return int64(h.Sum64())
}
