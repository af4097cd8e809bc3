package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
)

// Sealed data is a version byte, then what AES-256-GCM with a random 96-bit
// nonce makes of the plaintext: the nonce, the ciphertext and the 16-byte tag.
// The version byte lets the format change (another cipher, another key) while
// data sealed before stays readable; it is authenticated with the additional
// data, so that changing it cannot make one version's data pass for another's.
const (
	formatV1 byte = 1

	// sealPurposePrefix keeps a Sealer's key apart from Key's for the same
	// purpose string: a key used for AES-GCM is never also handed out for
	// another algorithm (an HMAC, say) by a caller that picked the same name.
	sealPurposePrefix = "aes-256-gcm/"
)

// Sealer seals and opens data with the key of one purpose. It is safe for
// concurrent use. A random nonce per message bounds a key to 2^32 messages
// (NIST SP 800-38D), far above what an outbox sees in its life.
type Sealer struct {
	aead cipher.AEAD
}

// Sealer returns the sealer for purpose. Its key is derived from the master key
// and purpose, and is not Key(purpose).
func (k *Keyring) Sealer(purpose string) *Sealer {
	block, err := aes.NewCipher(k.Key(sealPurposePrefix + purpose))
	if err != nil {
		panic("keyring: " + err.Error()) // only for a key that is not 16, 24 or 32 bytes
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("keyring: " + err.Error()) // only for a block that is not AES
	}
	return &Sealer{aead: aead}
}

// Seal returns plaintext sealed: only a Sealer of the same key and purpose can
// open it, and only with the same additionalData. Pass as additionalData what
// the sealed value belongs to (the id of the record that holds it), so that a
// sealed value copied into another record does not open there. Two seals of the
// same plaintext differ.
func (s *Sealer) Seal(plaintext, additionalData []byte) []byte {
	out := make([]byte, 1, 1+len(plaintext)+s.aead.Overhead())
	out[0] = formatV1
	return s.aead.Seal(out, nil, plaintext, authenticated(formatV1, additionalData))
}

// Open returns the plaintext of data that Seal made with the same key, purpose
// and additionalData. It fails with ErrFormat for data that is not sealed (or of
// a newer format) and with ErrOpen for data it cannot authenticate.
func (s *Sealer) Open(ciphertext, additionalData []byte) ([]byte, error) {
	if len(ciphertext) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrFormat)
	}
	if v := ciphertext[0]; v != formatV1 {
		return nil, fmt.Errorf("%w: version %d", ErrFormat, v)
	}
	body := ciphertext[1:]
	if len(body) < s.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a nonce and a tag", ErrFormat, len(ciphertext))
	}
	plaintext, err := s.aead.Open(nil, nil, body, authenticated(formatV1, additionalData))
	if err != nil {
		return nil, ErrOpen // GCM's own error says nothing more
	}
	return plaintext, nil
}

// authenticated is what GCM authenticates besides the ciphertext: the format
// version, then the caller's additional data.
func authenticated(version byte, additionalData []byte) []byte {
	out := make([]byte, 0, 1+len(additionalData))
	return append(append(out, version), additionalData...)
}

// Format prints no key material, for every verb.
func (Sealer) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) } //nolint:errcheck // as fmt's own
