package postgres

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Transaction control. BEGIN is queued in front of a transaction's first
// statement rather than sent alone, which saves a round trip.
const (
	beginUpdate = "BEGIN ISOLATION LEVEL REPEATABLE READ"
	beginView   = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	commitSQL   = "COMMIT"
	relaxSQL    = "SET LOCAL synchronous_commit TO off"
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
	kv, schema, gcraFunc, commitFunc string // quoted names

	get           string
	scan, scanAll string // with an upper bound, without
	commit        string
	notify        string
	export        string
	gcra          string
	expireKV      string
}

// janitorBatch is how many expired rows one janitor statement deletes, so that
// a large backlog is not one long transaction holding many row locks.
const janitorBatch = 1000

func newStatements(prefix string) statements {
	q := func(name string) string { return pgx.Identifier{prefix + name}.Sanitize() }
	s := statements{kv: q("kv"), schema: q("schema"), gcraFunc: q("gcra"), commitFunc: q("commit")}
	live := "(expires_at IS NULL OR expires_at > statement_timestamp())"
	r := strings.NewReplacer("{kv}", s.kv, "{gcra}", s.gcraFunc, "{commit}", s.commitFunc, "{live}", live,
		"{batch}", strconv.Itoa(janitorBatch))
	s.get = r.Replace(`SELECT value FROM {kv} WHERE key = $1 AND {live}`)
	s.scan = r.Replace(`SELECT key, value FROM {kv} WHERE key >= $1 AND key < $2 AND {live} ORDER BY key LIMIT $3`)
	s.scanAll = r.Replace(`SELECT key, value FROM {kv} WHERE key >= $1 AND {live} ORDER BY key LIMIT $2`)
	s.commit = r.Replace(`SELECT {commit}($1, $2, $3, $4)`) // keys, ops, values, TTLs: see schema.go
	s.notify = `SELECT count(pg_notify(c, '')) FROM unnest($1::text[]) AS c`
	s.export = r.Replace(`SELECT key, value, expires_at FROM {kv} WHERE key >= $1 AND {live} ORDER BY key LIMIT $2`)
	s.gcra = r.Replace(`SELECT {gcra}($1, $2, $3, $4, $5)`)
	// SKIP LOCKED: a row that a transaction holds is that transaction's to
	// write; the janitor takes it next time rather than waiting.
	s.expireKV = r.Replace(`DELETE FROM {kv} WHERE key IN (
		SELECT key FROM {kv} WHERE expires_at <= statement_timestamp() LIMIT {batch} FOR UPDATE SKIP LOCKED)`)
	return s
}
