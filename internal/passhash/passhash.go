// Package passhash hashes passwords with argon2id, for the passwords the plugin
// stores itself (a user's password history). Apps hash the passwords they store
// with their own scheme; this package is not involved in that.
//
// # Format
//
// Hash returns a PHC string, the format of the reference implementation's
// argon2 command and of most libraries:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with a 16-byte salt from crypto/rand and a 32-byte key, both in unpadded
// standard base64. The cost parameters are DefaultParams, OWASP's and ASVS 5.0
// appendix C's minimum for argon2id (19 MiB of memory, 2 passes, 1 lane). Verify
// reads the parameters from the string, so records written with other
// parameters stay verifiable, and NeedsRehash tells which ones are below the
// defaults.
//
// A stored string is data, and a corrupted or forged one must not be able to
// make the process allocate gigabytes or spin for minutes: Verify refuses
// memory above MaxMemory, passes above MaxTime and lanes above MaxThreads with
// ErrParams, before any work.
//
// # Concurrency
//
// Each hash holds its memory (19 MiB by default) for its whole run, so a flood
// of concurrent hashes would exhaust memory long before it exhausted the CPU.
// At most MaxConcurrent hashes run at once in the process, one per usable CPU
// (GOMAXPROCS): more would not finish sooner, only hold more memory. Callers
// beyond that wait for a slot; HashContext and VerifyContext stop waiting when
// their context ends, so a request whose client has gone, or whose deadline
// has passed, gives up instead of queueing work nobody will read. Memory used
// by hashing is thus bounded by MaxConcurrent × the largest memory parameter
// in use (MaxMemory at worst).
//
// # Unicode normalization
//
// Passwords are put in Unicode Normalization Form C (NFC) before hashing and
// before verifying. The same password can reach a server as different code
// points: "é" typed on macOS often arrives decomposed (NFD: "e" and a combining
// accent, 3 bytes), on Windows and Linux precomposed (NFC: one code point, 2
// bytes). Hashing the bytes as received would make a user's history miss the
// very password they used before, depending on the device. NFC is canonical
// equivalence only: it never merges characters that look different or are
// distinct (unlike NFKC, which folds "ﬁ" into "fi" and full-width into ASCII),
// so it does not reduce the password space. NIST SP 800-63B recommends
// normalizing before hashing for the same reason.
//
// All functions are safe for concurrent use. Errors never contain the password,
// the salt or the key.
package passhash

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes (degree of parallelism)
}

// DefaultParams is what Hash uses: OWASP's Password Storage Cheat Sheet and ASVS
// 5.0 appendix C minimum for argon2id, m=19 MiB with t=2 and p=1. One lane keeps
// a hash on one CPU, so the concurrency cap counts CPUs exactly.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	// SaltLen and KeyLen are the lengths in bytes of the salt and key Hash
	// writes. 16 bytes of salt is RFC 9106's recommendation; 32 bytes of key
	// is what the reference implementation writes.
	SaltLen = 16
	KeyLen  = 32

	// MaxMemory (KiB), MaxTime and MaxThreads bound the parameters Verify
	// accepts from a stored string: about 3.4 times the default memory, 8 times
	// the default passes, 8 lanes. A string above them is refused with
	// ErrParams before any memory is allocated.
	MaxMemory  = 64 * 1024
	MaxTime    = 16
	MaxThreads = 8
)

// Bounds on the other fields of a stored string. RFC 9106 requires a salt of at
// least 8 bytes; a key shorter than 16 bytes would be weaker than the salt.
const (
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

var (
	// ErrMalformed is returned for a string that is not a PHC argon2id string.
	ErrMalformed = errors.New("passhash: malformed hash")
	// ErrUnsupported is returned for another algorithm or argon2 version.
	ErrUnsupported = errors.New("passhash: unsupported algorithm or version")
	// ErrParams is returned for parameters outside the accepted bounds.
	ErrParams = errors.New("passhash: parameters out of bounds")
)

// Hash returns the PHC string of password's argon2id hash with DefaultParams and
// a fresh random salt. It waits for a free hashing slot for as long as it takes;
// use HashContext to bound the wait.
func Hash(password string) (string, error) {
	return HashContext(context.Background(), password)
}

// HashContext is Hash, giving up if ctx ends before a hashing slot is free. Once
// the hash has started it runs to completion (argon2 cannot be interrupted).
func HashContext(ctx context.Context, password string) (string, error) {
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passhash: reading random salt: %w", err)
	}
	p := DefaultParams
	key, err := derive(ctx, password, salt, p, KeyLen)
	if err != nil {
		return "", err
	}
	return encode(p, salt, key), nil
}

// Verify reports whether password matches encoded, a PHC string written by Hash
// (or by any argon2id implementation). A mismatch is (false, nil); an error
// means encoded could not be used (ErrMalformed, ErrUnsupported, ErrParams) and
// says nothing about the password. It waits for a free hashing slot for as
// long as it takes; use VerifyContext to bound the wait.
func Verify(encoded, password string) (bool, error) {
	return VerifyContext(context.Background(), encoded, password)
}

// VerifyContext is Verify, giving up if ctx ends before a hashing slot is free.
// The keys are compared in constant time.
func VerifyContext(ctx context.Context, encoded, password string) (bool, error) {
	d, err := decode(encoded)
	if err != nil {
		return false, err
	}
	key, err := derive(ctx, password, d.salt, d.params, uint32(len(d.key)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}

// NeedsRehash reports whether encoded should be replaced by a new Hash: it is
// unreadable, or its parameters, salt or key are below what Hash writes now.
// History entries are only written, never re-hashed on use, so this serves
// migrations after DefaultParams is raised.
func NeedsRehash(encoded string) bool {
	d, err := decode(encoded)
	if err != nil {
		return true
	}
	p := d.params
	return p.Memory < DefaultParams.Memory || p.Time < DefaultParams.Time ||
		len(d.salt) < SaltLen || len(d.key) < KeyLen
}

// MaxConcurrent is the number of hashes that can run at once: GOMAXPROCS when
// the package was first used, at least 1.
func MaxConcurrent() int { return cap(slots()) }

// slots is the process-wide semaphore, created on first use so that it sees
// GOMAXPROCS as the program set it, not as it was during package initialization.
var slots = sync.OnceValue(func() chan struct{} {
	return make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
})

// Observe sets fn to be told, after each hash that ran, how long it waited
// for a hashing slot and how long argon2id then ran: for metrics. fn is the
// process's, as the slots are; nil stops telling. fn must not block.
func Observe(fn func(wait, run time.Duration)) {
	if fn == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&fn)
}

var observer atomic.Pointer[func(wait, run time.Duration)]

// testHookRunning, when set by a test, is called with +1 when a hash starts
// (holding its slot) and -1 when it ends (before releasing the slot).
var testHookRunning func(delta int)

// derive runs argon2id once a slot is free. The password is normalized to NFC
// first (see the package documentation).
func derive(ctx context.Context, password string, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("passhash: not started: %w", err)
	}
	s := slots()
	start := time.Now()
	select {
	case s <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("passhash: waiting for a hashing slot: %w", ctx.Err())
	}
	defer func() { <-s }()
	if testHookRunning != nil {
		testHookRunning(+1)
		defer testHookRunning(-1)
	}
	got := time.Now()
	pw := []byte(norm.NFC.String(password))
	key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, keyLen)
	if fn := observer.Load(); fn != nil {
		(*fn)(got.Sub(start), time.Since(got))
	}
	return key, nil
}

var b64 = base64.RawStdEncoding.Strict()

// encode writes the PHC string.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decoded is a parsed PHC string.
type decoded struct {
	params    Params
	salt, key []byte
}

// decode parses a PHC argon2id string strictly: the fields in the reference
// implementation's order (version, then m, t, p), canonical decimal numbers,
// unpadded base64, and every value within bounds. Nothing is allocated in
// proportion to the parameters.
func decode(encoded string) (decoded, error) {
	var d decoded
	if strings.ContainsAny(encoded, "\r\n") {
		// encoding/base64 skips CR and LF even in strict mode; a stored
		// string has none, so one means corruption.
		return d, ErrMalformed
	}
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" {
		return d, ErrMalformed
	}
	if f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return d, ErrUnsupported
	}
	m, t, p, err := parseParams(f[3])
	if err != nil {
		return d, err
	}
	if m > MaxMemory || t > MaxTime || p > MaxThreads || t < 1 || p < 1 || m < 8*p {
		// argon2 needs at least 8 KiB per lane.
		return d, ErrParams
	}
	d.params = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	if d.salt, err = b64.DecodeString(f[4]); err != nil {
		return d, ErrMalformed
	}
	if d.key, err = b64.DecodeString(f[5]); err != nil {
		return d, ErrMalformed
	}
	if len(d.salt) < minSaltLen || len(d.salt) > maxSaltLen || len(d.key) < minKeyLen || len(d.key) > maxKeyLen {
		return d, ErrParams
	}
	return d, nil
}

// parseParams reads "m=<m>,t=<t>,p=<p>".
func parseParams(s string) (m, t, p uint64, err error) {
	kv := strings.Split(s, ",")
	if len(kv) != 3 {
		return 0, 0, 0, ErrMalformed
	}
	out := []*uint64{&m, &t, &p}
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return 0, 0, 0, ErrMalformed
		}
		if *out[i], ok = parseDecimal(v); !ok {
			return 0, 0, 0, ErrMalformed
		}
	}
	return m, t, p, nil
}

// parseDecimal reads a canonical unsigned decimal (no sign, no leading zero, at
// most 10 digits, so it fits in 32 bits' worth of digits before the bound checks).
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
