package demoapp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: the OWASP Password Storage Cheat Sheet's minimum
// (m=19 MiB, t=2, p=1). Hashes record their own parameters in the PHC string,
// so raising these later still verifies older hashes.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

var b64 = base64.RawStdEncoding

// hashSlots bounds the number of argon2 computations running at once. Each one
// holds 19 MiB, so a burst of logins or hook calls must not multiply that without
// limit; the callers queue instead.
var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func argon2id(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// hashPassword returns password hashed with argon2id in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, both in unpadded base64.
func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("demoapp: read salt: %w", err)
	}
	key := argon2id([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

var errBadHash = errors.New("demoapp: malformed argon2id hash")

func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return phc{}, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	var p phc
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return phc{}, fmt.Errorf("%w: parameters %q", errBadHash, parts[3])
	}
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil {
		return phc{}, fmt.Errorf("%w: salt", errBadHash)
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) == 0 {
		return phc{}, fmt.Errorf("%w: key", errBadHash)
	}
	return p, nil
}

// verifyPassword reports whether password matches the PHC string encoded,
// comparing the derived keys in constant time.
func verifyPassword(encoded, password string) bool {
	p, err := parsePHC(encoded)
	if err != nil {
		return false
	}
	key := argon2id([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

// dummyHash is verified against when a login names an unknown email, so that the
// answer takes as long as for a known one and does not reveal which emails exist.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashPassword("demoapp: no such user")
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return h
})
