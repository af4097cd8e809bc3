// Package keyring holds the plugin's master key, which is kept outside the store
// (an operator's secret, or a key file next to the store, never in it), and the
// keys derived from it for each purpose. Values sealed with them let the store
// hold what a copy of it must not reveal, such as a queued email with its reset
// link: a copy of the store without the key opens none of them.
//
// A purpose string names one key for one use ("outbox/v1"); keys for different
// purposes are independent (HKDF-SHA256 with the purpose as its info), so that a
// key leaked or misused in one place does not open another's data. Changing a
// purpose string makes the data sealed under the old one unreadable: version it
// rather than rename it.
package keyring

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MinSecretLength is the shortest secret FromSecret takes, in characters. The
// derivation is fast, so the secret itself must be hard to guess: a copy of the
// store is enough to try guesses offline against a sealed value.
const MinSecretLength = 32

// KeySize is the length of every derived key: 256 bits.
const KeySize = 32

// salt separates this derivation from any other use of the same secret (an
// operator who reuses a secret elsewhere does not hand out these keys). It is
// fixed: it is part of how every key is derived.
var salt = []byte("caddy-password-reset/keyring/v1")

// ErrShortSecret is returned by FromSecret, and by LoadOrCreate for a key file,
// for a secret shorter than MinSecretLength. It never carries the secret.
var ErrShortSecret = fmt.Errorf("keyring: the secret is shorter than %d characters (make one with: openssl rand -hex 32)", MinSecretLength)

// Keyring is a master key. Its zero value is not usable; get one from FromSecret
// or LoadOrCreate. It is safe for concurrent use. Printing it with fmt shows no
// key material.
type Keyring struct {
	master []byte
}

// FromSecret returns the keyring of an operator-given secret of at least
// MinSecretLength characters. The same secret always gives the same keys, and
// the content of a key file that LoadOrCreate made is such a secret: an operator
// can move it from the file into the configuration (or back) and keep every
// sealed value readable.
func FromSecret(secret string) (*Keyring, error) {
	if utf8.RuneCountInString(secret) < MinSecretLength {
		return nil, ErrShortSecret
	}
	return &Keyring{master: []byte(secret)}, nil
}

// Key returns the 32-byte key for purpose (HKDF-SHA256, info = purpose). A
// purpose is a constant of the code that uses the key; an empty one is a bug and
// panics, as does a nil Keyring.
func (k *Keyring) Key(purpose string) []byte {
	if purpose == "" {
		panic("keyring: empty purpose")
	}
	key, err := hkdf.Key(sha256.New, k.master, salt, purpose, KeySize)
	if err != nil {
		// hkdf fails only for a key longer than 255 hashes, and for key
		// lengths FIPS 140-3 mode refuses: never for 32 bytes.
		panic("keyring: derive key: " + err.Error())
	}
	return key
}

// redacted is what fmt prints for a Keyring or a Sealer, whatever the verb: key
// material must never reach a log line.
const redacted = "[redacted key]"

// Format prints no key material, for every verb (%v, %+v, %#v, %x, %d...).
func (Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) } //nolint:errcheck // as fmt's own

// ErrOpen is returned by Sealer.Open for data it cannot authenticate: sealed
// with another key (the key file was replaced, the secret changed), for another
// purpose or other additional data, or altered.
var ErrOpen = errors.New("keyring: cannot open sealed data: it was sealed with another key or for another item, or it was altered")

// ErrFormat is returned by Sealer.Open for data that is not sealed data of a
// format this version knows.
var ErrFormat = errors.New("keyring: not sealed data of a known format")
