package postgres

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Transaction control. BEGIN is queued in front of a transaction's first
// statement rather than sent alone, which saves a round trip.
const (
	beginUpdate = "BEGIN ISOLATION LEVEL SERIALIZABLE"
	beginView   = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	commitSQL   = "COMMIT"
	rollbackSQL = "ROLLBACK"
)

// statements holds the store's SQL, with its tables' names in it. pgx prepares
// each statement once per connection and keeps it (its statement cache), so
// they are plain strings built once at Open.
//
// A key is live while its expires_at is NULL or after the statement's time;
// statement_timestamp() rather than now(), which is the transaction's start,
// so that a long transaction does not see keys that expired during it.
type statements struct {
	kv, limits, schema, gcraFunc string // quoted names

	get           string
	scan, scanAll string // with an upper bound, without
	upsert        string
	del           string
	lock          string
	notify        string
	export        string
	gcra          string
	expireKV      string
	expireLimits  string
}

// janitorBatch is how many expired rows one janitor statement deletes, so that
// a large backlog is not one long transaction holding many row locks.
const janitorBatch = 1000

func newStatements(prefix string) statements {
	q := func(name string) string { return pgx.Identifier{prefix + name}.Sanitize() }
	s := statements{kv: q("kv"), limits: q("limits"), schema: q("schema"), gcraFunc: q("gcra")}
	live := "(expires_at IS NULL OR expires_at > statement_timestamp())"
	r := strings.NewReplacer("{kv}", s.kv, "{limits}", s.limits, "{gcra}", s.gcraFunc, "{live}", live,
		"{batch}", strconv.Itoa(janitorBatch))
	s.get = r.Replace(`SELECT value FROM {kv} WHERE key = $1 AND {live}`)
	s.scan = r.Replace(`SELECT key, value FROM {kv} WHERE key >= $1 AND key < $2 AND {live} ORDER BY key LIMIT $3`)
	s.scanAll = r.Replace(`SELECT key, value FROM {kv} WHERE key >= $1 AND {live} ORDER BY key LIMIT $2`)
	// Rows are written in the order of the arrays, which commit sorts, so that
	// two transactions writing the same keys lock them in the same order. A
	// TTL is in microseconds from the commit (clock_timestamp: the key lives
	// at least ttl after its Set).
	s.upsert = r.Replace(`INSERT INTO {kv} (key, value, expires_at)
		SELECT k, v, CASE WHEN t > 0 THEN clock_timestamp() + t * interval '1 microsecond' END
		FROM unnest($1::bytea[], $2::bytea[], $3::bigint[]) AS w(k, v, t)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`)
	s.del = r.Replace(`DELETE FROM {kv} WHERE key = ANY($1::bytea[])`)
	// When a transaction both sets and deletes, its existing rows are locked in
	// key order first: the upsert and the delete would otherwise lock them in
	// two runs, and two such transactions could deadlock.
	s.lock = r.Replace(`SELECT count(*) FROM (SELECT 1 FROM {kv} WHERE key = ANY($1::bytea[]) ORDER BY key FOR UPDATE) l`)
	s.notify = `SELECT count(pg_notify(c, '')) FROM unnest($1::text[]) AS c`
	s.export = r.Replace(`SELECT key, value, expires_at FROM {kv} WHERE key >= $1 AND {live} ORDER BY key LIMIT $2`)
	s.gcra = r.Replace(`SELECT {gcra}($1, $2, $3, $4, $5)`)
	// SKIP LOCKED: a row that a transaction holds is that transaction's to
	// write; the janitor takes it next time rather than waiting.
	s.expireKV = r.Replace(`DELETE FROM {kv} WHERE key IN (
		SELECT key FROM {kv} WHERE expires_at <= statement_timestamp() LIMIT {batch} FOR UPDATE SKIP LOCKED)`)
	s.expireLimits = r.Replace(`DELETE FROM {limits} WHERE key IN (
		SELECT key FROM {limits} WHERE expires_at <= statement_timestamp() LIMIT {batch} FOR UPDATE SKIP LOCKED)`)
	return s
}
