// Package policy implements the password policy of one database connection: the
// five legacy Auth0 strength levels (none, low, fair, good, excellent), with the
// rules, messages, codes and 400 body of auth0/password-sheriff, the library Auth0
// uses. Pages and clients written against Auth0 can read our answers unchanged.
//
// # Rules
//
//	none       at least 1 character ("Non-empty password required")
//	low        at least 6 characters
//	fair       at least 8 characters, and a lower case letter, an upper case letter and a digit
//	good       at least 8 characters, and 3 of the 4 classes lower, upper, digit, special
//	excellent  at least 10 characters, 3 of the 4 classes, and no more than 2 identical characters in a row
//
// Policy.MinLength replaces the level's minimum, as Auth0's min_length option does.
//
// The messages are the ones Auth0 sends. Sheriff 1.1.1 reworded "Contain at least
// %d of the following %d types of characters:" to "At least %d of ..."; Auth0's
// servers, and the clients tested against them, still use the older wording.
//
// # Character classes
//
// The classes are sheriff's, and ASCII only, for exact parity with Auth0: upper is
// A-Z, lower is a-z, digit is 0-9, and special is space plus the 32 ASCII punctuation
// characters of the OWASP list (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~). Other characters
// ("é", "Ж", "€", "😀") count towards the length and belong to no class, so
// "Éclair12" has no upper case letter. Control characters, NUL included, are
// characters like any other, as in sheriff.
//
// # Deliberate differences from password-sheriff
//
//   - Length is counted in Unicode code points, as NIST SP 800-63B rev 4 requires
//     ("Each Unicode code point SHALL be counted as a single character"). Sheriff
//     uses JavaScript's String.length, which counts UTF-16 code units: "😀" is one
//     character here and two there. The identical-characters rule compares code
//     points too, so "😀😀😀" breaks it here; sheriff sees alternating surrogate
//     halves and lets it pass.
//   - There is a maximum length, DefaultMaxLength (128) code points unless
//     configured, after ASVS 4.0.3 2.1.2 ("permit at least 64, deny more than 128").
//     Longer passwords fail with a "maxLength" rule; nothing is ever truncated
//     (ASVS 2.1.3; Auth0's legacy store silently truncates at 72 bytes). Input over
//     MaxBytes is refused without being inspected, which bounds the work per check.
//   - Invalid UTF-8 is refused with ErrInvalidUTF8. A JavaScript string cannot hold
//     it, so sheriff has no equivalent.
//   - An unknown level is a configuration error (see Policy.Validate). Sheriff falls
//     back to "none", which would silently weaken a mistyped configuration.
//   - The zero Level means DefaultLevel (good), the level Auth0 gives new
//     connections, not sheriff's "none".
//
// A Policy is a small value with no internal state; it is safe for concurrent use.
package policy

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Level is one of Auth0's legacy password strength levels.
type Level string

// The levels, by Auth0's connection option values (options.passwordPolicy).
const (
	LevelNone      Level = "none"
	LevelLow       Level = "low"
	LevelFair      Level = "fair"
	LevelGood      Level = "good"
	LevelExcellent Level = "excellent"
)

// DefaultLevel is the level of a Policy whose Level is empty. It is the level the
// Auth0 dashboard gives new database connections, so a connection configured without
// one is neither weaker nor stricter than a new Auth0 connection.
const DefaultLevel = LevelGood

const (
	// DefaultMaxLength is the maximum length, in code points, of a Policy whose
	// MaxLength is 0. ASVS 4.0.3 2.1.2 asks to permit at least 64 characters and to
	// deny more than 128.
	DefaultMaxLength = 128

	// MaxBytes caps the size of a password in bytes, whatever MaxLength says, so a
	// hostile megabyte-long form field costs nothing to refuse. It is 4 bytes (the
	// longest UTF-8 encoding) times the largest MaxLength Validate accepts, so it
	// never refuses a password whose length is within a valid MaxLength.
	MaxBytes = 4096
)

// Bounds Validate enforces. Auth0 accepts min_length 1..128. A maximum below 64
// would refuse passphrases and password-manager output (ASVS 5.0 6.2.9, NIST SP
// 800-63B "SHOULD permit at least 64"); Auth0 has no maximum setting to match, so
// there is no parity reason to allow one.
const (
	maxMinLength = 128
	minMaxLength = 64
	maxMaxLength = MaxBytes / utf8.UTFMax
)

// ErrInvalidUTF8 is returned by Policy.Check for a password that is not valid UTF-8.
// A browser form cannot produce one, so callers answer it as a malformed request.
var ErrInvalidUTF8 = errors.New("policy: password is not valid UTF-8")

// ParseLevel returns the level named by s, ignoring case. Unlike the zero Level, an
// empty s is an error: a configuration that names a level must name a real one.
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToLower(s))
	if !l.known() {
		return "", fmt.Errorf("policy: unknown level %q (want none, low, fair, good or excellent)", s)
	}
	return l, nil
}

// known reports whether l is one of the five levels.
func (l Level) known() bool {
	switch l {
	case LevelNone, LevelLow, LevelFair, LevelGood, LevelExcellent:
		return true
	}
	return false
}

// minLength is the level's minimum length when the policy does not override it.
func (l Level) minLength() int {
	switch l {
	case LevelLow:
		return 6
	case LevelFair, LevelGood:
		return 8
	case LevelExcellent:
		return 10
	}
	return 1
}

// Policy is the password policy of one database connection. Its zero value is valid:
// DefaultLevel with that level's minimum and DefaultMaxLength.
type Policy struct {
	// Level is the strength level; empty means DefaultLevel.
	Level Level `json:"level,omitempty"`

	// MinLength is the minimum length in code points; 0 means the level's own
	// minimum (none 1, low 6, fair 8, good 8, excellent 10). A value replaces the
	// level's minimum, up or down, as Auth0's min_length does; 1..128.
	MinLength int `json:"min_length,omitempty"`

	// MaxLength is the maximum length in code points; 0 means DefaultMaxLength.
	// 64..1024.
	MaxLength int `json:"max_length,omitempty"`
}

// Validate reports configuration errors: an unknown level, a MinLength outside
// 1..128, a MaxLength outside 64..1024, or a minimum above the maximum. All errors
// found are joined. Zero fields are valid and mean their defaults.
func (p Policy) Validate() error {
	var errs []error
	if p.Level != "" && !p.Level.known() {
		errs = append(errs, fmt.Errorf("policy: unknown level %q (want none, low, fair, good or excellent)", p.Level))
	}
	if p.MinLength < 0 || p.MinLength > maxMinLength {
		errs = append(errs, fmt.Errorf("policy: min_length %d out of range 1..%d", p.MinLength, maxMinLength))
	}
	if p.MaxLength < 0 || p.MaxLength != 0 && (p.MaxLength < minMaxLength || p.MaxLength > maxMaxLength) {
		errs = append(errs, fmt.Errorf("policy: max_length %d out of range %d..%d", p.MaxLength, minMaxLength, maxMaxLength))
	}
	if len(errs) == 0 {
		if e := p.Effective(); e.MinLength > e.MaxLength {
			errs = append(errs, fmt.Errorf("policy: min_length %d exceeds max_length %d", e.MinLength, e.MaxLength))
		}
	}
	return errors.Join(errs...)
}

// Effective returns p with its defaults filled in: the level, the minimum length and
// the maximum length that Check applies. Pages use it for Auth0's template variables
// (password_policy, min_length).
func (p Policy) Effective() Policy {
	if p.Level == "" {
		p.Level = DefaultLevel
	}
	if p.MinLength == 0 {
		p.MinLength = p.Level.minLength()
	}
	if p.MaxLength == 0 {
		p.MaxLength = DefaultMaxLength
	}
	return p
}

// Check reports whether password satisfies the policy. It returns nil; a *Error,
// whose JSON is Auth0's PasswordStrengthError body, when the password breaks a rule
// (including the maximum length); ErrInvalidUTF8; or, when p itself is invalid, the
// error from Validate, so a bad configuration fails closed instead of accepting
// weak passwords. The password is never truncated, normalized or retained.
func (p Policy) Check(password string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	e := p.Effective()
	if len(password) > MaxBytes {
		return e.tooLong()
	}
	st, ok := scan(password)
	if !ok {
		return ErrInvalidUTF8
	}
	if e.lengthOK(st) && e.maxOK(st) && e.compositionOK(st) {
		return nil
	}
	return e.weak(st)
}

// The checks below take an effective policy (see Effective). Check uses them on its
// fast path and verify on the error path, so both always agree.

func (e Policy) lengthOK(st stats) bool { return st.runes >= e.MinLength }

func (e Policy) maxOK(st stats) bool { return st.runes <= e.MaxLength }

// compositionOK applies the level's character rules.
func (e Policy) compositionOK(st stats) bool {
	switch e.Level {
	case LevelFair:
		return st.hasAll(classLower | classUpper | classDigit)
	case LevelGood:
		return st.countOf(allClasses) >= atLeast
	case LevelExcellent:
		return st.countOf(allClasses) >= atLeast && st.maxRun <= maxIdentical
	}
	return true
}

// Sheriff's parameters for the good and excellent levels.
const (
	atLeast      = 3 // classes required out of the four
	maxIdentical = 2 // identical characters allowed in a row
)

// class is a bit set of sheriff's character classes.
type class uint8

const (
	classLower class = 1 << iota
	classUpper
	classDigit
	classSpecial

	allClasses = classLower | classUpper | classDigit | classSpecial
)

// asciiClass maps each ASCII byte to its class. Sheriff tests /[a-z]/, /[A-Z]/, /\d/
// (ASCII digits without the u flag) and its OWASP special list, which is space plus
// exactly the ASCII punctuation characters.
var asciiClass = func() (t [utf8.RuneSelf]class) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z':
			t[c] = classLower
		case 'A' <= c && c <= 'Z':
			t[c] = classUpper
		case '0' <= c && c <= '9':
			t[c] = classDigit
		case c == ' ' || strings.IndexByte(`!"#$%&'()*+,-./:;<=>?@[\]^_`+"`"+`{|}~`, byte(c)) >= 0:
			t[c] = classSpecial
		}
	}
	return t
}()

// stats is what the rules need to know about a password, gathered in one pass.
type stats struct {
	runes   int   // length in code points
	classes class // classes present
	maxRun  int   // longest run of one code point
}

func (s stats) hasAll(c class) bool { return s.classes&c == c }

func (s stats) countOf(c class) int { return bits.OnesCount8(uint8(s.classes & c)) }

// scan gathers the stats of s in one pass without allocating. It reports false if s
// is not valid UTF-8.
func scan(s string) (stats, bool) {
	var st stats
	prev, run := rune(-1), 0
	for i, r := range s {
		if r == utf8.RuneError {
			// U+FFFD itself is valid; a one-byte decode is an invalid sequence.
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return st, false
			}
		}
		st.runes++
		if r < utf8.RuneSelf {
			st.classes |= asciiClass[r]
		}
		if r == prev {
			run++
		} else {
			prev, run = r, 1
		}
		st.maxRun = max(st.maxRun, run)
	}
	return st, true
}
