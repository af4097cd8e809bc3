package badger

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// ErrLocked is wrapped by Open's error when another Badger instance, in this
// process or another one, holds the directory's lock.
var ErrLocked = errors.New("storage directory is in use by another process")

// lockHint tells the operator what to do about ErrLocked. The usual cause is a
// second `caddy run` or `caddy validate` against the directory of a running server.
const lockHint = "stop the other process (or close the other Store open on it in this process); " +
	"to change the configuration of a running server use `caddy reload`, not a second `caddy run` or `caddy validate`"

// Badger formats its wrapped errors with %v rather than %w (y.Wrap outside debug
// builds), so the causes below cannot always be found with errors.Is and are also
// matched by their text.
var (
	lockTexts = []string{
		"Cannot acquire directory lock",
		"Another process is using this Badger database",
	}
	unavailableErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EROFS, syscall.EACCES, syscall.EPERM, syscall.EDQUOT}
)

// openError explains why Open failed.
func openError(dir string, err error) error {
	if isLocked(err) {
		return fmt.Errorf("badgerstore: open %q: %w; %s: %w", dir, ErrLocked, lockHint, err)
	}
	return fmt.Errorf("badgerstore: open %q: %w", dir, classify(err))
}

// isLocked reports whether err is Badger's directory-lock failure.
func isLocked(err error) bool {
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	msg := err.Error()
	for _, text := range lockTexts {
		if strings.Contains(msg, text) {
			return true
		}
	}
	return false
}

// wrapError adds the operation to a Badger error and maps it onto the storage
// sentinels. Badger quotes keys in some messages; key is redacted from the text
// because keys may be derived from secrets.
func wrapError(op string, err error, key string) error {
	if errors.Is(err, badger.ErrConflict) {
		return fmt.Errorf("badgerstore: %s: %w", op, storage.ErrConflict)
	}
	return fmt.Errorf("badgerstore: %s: %w", op, classify(redact(err, key)))
}

// classify wraps err with storage.ErrUnavailable when it means the store cannot
// take writes now: the database is closed, the disk is full, or the directory is
// read-only or not writable.
func classify(err error) error {
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

func isUnavailable(err error) bool {
	if errors.Is(err, badger.ErrDBClosed) || errors.Is(err, badger.ErrBlockedWrites) {
		return true
	}
	msg := err.Error()
	for _, errno := range unavailableErrnos {
		if errors.Is(err, errno) || strings.Contains(msg, errno.Error()) {
			return true
		}
	}
	return false
}

// redact returns err with key (raw and quoted) removed from its text. It still
// unwraps to err, so errors.Is keeps working.
func redact(err error, key string) error {
	if key == "" {
		return err
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, strconv.Quote(key), `"<key>"`)
	clean = strings.ReplaceAll(clean, key, "<key>")
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// redactedError is an error whose text had a key removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
