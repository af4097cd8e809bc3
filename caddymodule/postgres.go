package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	pgstore "github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
)

func init() {
	caddy.RegisterModule(PostgresStorage{})
}

// PostgresStorage keeps the plugin's state in PostgreSQL, shared by every Caddy
// node that points at the same database and table prefix: tickets, queues,
// templates, the audit log and the rate limits.
type PostgresStorage struct {
	// DSN is the connection string (a postgres:// URL or libpq's key=value
	// form). Write it as a placeholder, {env.PASSWORD_RESET_DSN}: a password
	// written in the config would be kept in the adapted JSON and Caddy's
	// autosave, so the Caddyfile adapter refuses one. libpq's PGPASSWORD and
	// PGPASSFILE are honoured.
	DSN string `json:"dsn"`
	// MaxConns is the connection pool's size per node. Default: 16.
	MaxConns int `json:"max_conns,omitempty"`
	// TablePrefix starts the name of every table, so that several deployments
	// can share a database. Default: password_reset_.
	TablePrefix string `json:"table_prefix,omitempty"`

	store  *pgstore.Store
	opts   pgstore.Options // resolved by Provision
	pool   string          // the pool's key: a hash, since the DSN holds the password
	key    string          // pool, once Open connected or shared the connections
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (PostgresStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "password_reset.storage.postgres",
		New: func() caddy.Module { return new(PostgresStorage) },
	}
}

// postgresPool shares one connection pool per database and table prefix between
// the configs that overlap during a reload, so that a reload neither drops the
// connections nor runs two janitors and listeners in one process.
var postgresPool = caddy.NewUsagePool()

type pooledPostgres struct{ *pgstore.Store }

func (p pooledPostgres) Destruct() error { return p.Close() }

// postgresOpenTimeout bounds connecting and migrating at start, so that an
// unreachable database fails the config load with an error instead of hanging it.
const postgresOpenTimeout = 30 * time.Second

// Provision checks the configuration; it connects to nothing (see
// StoreProvider).
func (p *PostgresStorage) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	dsn := caddy.NewReplacer().ReplaceAll(p.DSN, "")
	if dsn == "" {
		return errors.New("storage postgres: the DSN is empty: is the environment variable set?")
	}
	if p.MaxConns < 0 {
		return fmt.Errorf("storage postgres: max_conns %d: want a positive number", p.MaxConns)
	}
	p.opts = pgstore.Options{DSN: dsn, MaxConns: int32(p.MaxConns), TablePrefix: p.TablePrefix, Logger: p.logger}
	sum := sha256.Sum256([]byte(dsn + "\x00" + p.TablePrefix))
	p.pool = "postgres/" + hex.EncodeToString(sum[:])
	return nil
}

// Open connects to the database and creates or migrates its tables, or
// shares the connections of a running config on the same database.
func (p *PostgresStorage) Open() (storage.Store, error) {
	if p.key != "" {
		return p.store, nil
	}
	val, _, err := postgresPool.LoadOrNew(p.pool, func() (caddy.Destructor, error) {
		open, cancel := context.WithTimeout(context.Background(), postgresOpenTimeout)
		defer cancel()
		s, err := pgstore.Open(open, p.opts)
		if err != nil {
			return nil, err
		}
		return pooledPostgres{s}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	p.key, p.store = p.pool, val.(pooledPostgres).Store
	return p.store, nil
}

// Shared is true: every node of a cluster uses the database.
func (p *PostgresStorage) Shared() bool { return true }

// Cleanup releases this config's use of the pool; the last user closes it.
func (p *PostgresStorage) Cleanup() error {
	if p.key == "" {
		return nil
	}
	_, err := postgresPool.Delete(p.key)
	p.key = ""
	return err
}

// UnmarshalCaddyfile parses
//
//	postgres <dsn> {
//		max_conns    <n>
//		table_prefix <prefix>
//	}
func (p *PostgresStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "postgres"
	if err := oneArg(d, &p.DSN); err != nil {
		return err
	}
	if dsnHasPassword(p.DSN) {
		return d.Err("storage postgres: the DSN holds a password, which would be kept in the adapted config; " +
			"write the DSN as a placeholder such as {env.PASSWORD_RESET_DSN}, or give the password in PGPASSWORD or a .pgpass file")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "max_conns":
			err = intArg(d, &p.MaxConns)
		case "table_prefix":
			err = oneArg(d, &p.TablePrefix)
		default:
			return d.Errf("unrecognized postgres storage option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dsnPassword finds a password in libpq's key=value form.
var dsnPassword = regexp.MustCompile(`(^|\s)password\s*=`)

// dsnHasPassword reports whether a DSN written in the config carries a password
// itself (a placeholder is replaced only at provision time, so it does not).
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return strings.Contains(dsn, "@") // cannot tell: assume the worst
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return dsnPassword.MatchString(dsn)
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*PostgresStorage)(nil)
	_ caddy.CleanerUpper    = (*PostgresStorage)(nil)
	_ caddyfile.Unmarshaler = (*PostgresStorage)(nil)
	_ StoreProvider         = (*PostgresStorage)(nil)
)
