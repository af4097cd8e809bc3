package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// errClosed is what a transaction on a closed store gets.
var errClosed = fmt.Errorf("postgres: %w: the store is closed", storage.ErrUnavailable)

// errTxDone is returned when a Tx is used after its function returned.
var errTxDone = errors.New("postgres: transaction used after its function returned")

// errReadOnly is returned by Set and Delete in View.
var errReadOnly = errors.New("postgres: write in a read-only transaction (View)")

// wrap adds op to err and maps it onto the storage sentinels: the context's
// own error when ctx ended (the caller gave up: not the database's fault),
// ErrConflict for a serialization failure or a deadlock, ErrUnavailable when
// the database cannot take the transaction now. Any secret of the DSN is
// removed from the text.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("postgres: %s: %w", op, ctxErr)
	}
	err = s.redact(err)
	if isConflict(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrConflict, err)
	}
	if why := unavailable(err); why != "" {
		// The pool's other connections are likely in the same state (the
		// server restarted, or was made read-only: a session keeps the
		// default_transaction_read_only it started with): new ones pick up
		// the server as it is when it is back.
		if staleSessions(err) {
			s.pool.Reset()
		}
		return fmt.Errorf("postgres: %s: %w: %s: %w", op, storage.ErrUnavailable, why, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// isConflict reports a serialization failure (40001) or a deadlock (40P01):
// another transaction won, and nothing of this one was written.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// unavailable says why err means the database cannot take transactions now,
// or returns "" when it does not: then err is a fault of the request or of
// this package.
func unavailable(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case code == "25006":
			return "the database is read-only"
		case code == "57P01" || code == "57P02" || code == "57P03":
			return "the database is shutting down or starting"
		case code == "57014":
			return "the database cancelled the statement (statement_timeout?)"
		case code == "55P03":
			return "a lock was not granted in time (lock_timeout)"
		case strings.HasPrefix(code, "53"):
			return "the database is out of resources (disk, memory or connections)"
		case strings.HasPrefix(code, "08"):
			return "the connection to the database failed"
		case strings.HasPrefix(code, "58"):
			return "the database failed to read or write its files"
		}
		return ""
	}
	if isConnLost(err) {
		return "the database cannot be reached"
	}
	return ""
}

// staleSessions reports an error after which the pool's idle connections are
// not worth keeping.
func staleSessions(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "25006" || strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08")
	}
	return isConnLost(err)
}

// isConnLost reports an error of the connection itself rather than of a
// statement: refused, reset, timed out, or closed under a query.
func isConnLost(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// redact returns err with the DSN's secrets removed from its text. pgx does not
// put the password in its errors, but a server or a proxy may echo what it was
// sent, and a DSN that fails to parse can be quoted whole: the text is checked
// rather than trusted. The result still unwraps to err.
func (s *Store) redact(err error) error {
	return redactSecrets(err, s.secrets)
}

func redactSecrets(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, secret := range secrets {
		if secret != "" {
			clean = strings.ReplaceAll(clean, secret, "xxxxx")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// redactedError is an error whose text had a secret removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
