// Package policy implements the password policy of one database connection: the
// five legacy Auth0 strength levels (none, low, fair, good, excellent), with the
// rules, messages, codes and 400 body of auth0/password-sheriff, the library Auth0
// uses; Auth0's other connection options (password dictionary, no personal data,
// password history) with its error bodies; an optional zxcvbn score; and a NIST
// SP 800-63B preset. Pages and clients written against Auth0 can read our answers
// unchanged.
//
// # Rules
//
//	none       at least 1 character ("Non-empty password required")
//	low        at least 6 characters
//	fair       at least 8 characters, and a lower case letter, an upper case letter and a digit
//	good       at least 8 characters, and 3 of the 4 classes lower, upper, digit, special
//	excellent  at least 10 characters, 3 of the 4 classes, and no more than 2 identical characters in a row
//	nist       at least 15 characters, no composition rule, and not a common password
//
// Policy.MinLength replaces the level's minimum, as Auth0's min_length option does.
//
// The messages are the ones Auth0 sends. Sheriff 1.1.1 reworded "Contain at least
// %d of the following %d types of characters:" to "At least %d of ..."; Auth0's
// servers, and the clients tested against them, still use the older wording.
//
// The nist level follows NIST SP 800-63B rev 4 §3.1.1.2 for passwords used as a
// single factor: 15 code points at least ("SHALL"), no composition rules ("SHALL
// NOT"), a blocklist of common passwords compared with the whole password
// ("SHALL"), and at least 64 characters allowed (the maximum is 128 unless
// configured, 64..1024). An app whose users also have a second factor may lower
// MinLength to 8, NIST's minimum in that case, and no further. Few common
// passwords are 15 characters long (4 of the shipped 10,000 are), so at this
// length the list mostly catches the classics ("1qaz2wsx3edc4rfv"); ASVS 5.0
// 6.2.4 asks for the top 3,000 passwords that meet the policy, which no public
// ranking provides. MinZxcvbnScore, which finds common words, names, dates and
// keyboard patterns inside a long password, covers what a whole-password list
// cannot.
//
// Independently of the level, a connection can turn on Auth0's other options
// and ours:
//
//   - Dictionary: refuse a password that is, as a whole and ignoring case, one of
//     the CommonPasswords most common passwords shipped in data/ (ranked from
//     Xato's 10 million passwords; see internal/gen for how it differs from
//     Auth0's list) or one of CustomWords. Error: PasswordDictionaryError.
//   - NoPersonalInfo: refuse a password that contains the user's name, nickname,
//     given or family name, username, the local part of their email, or other
//     strings from the app's lookup (UserInfo), ignoring pieces shorter than
//     MinPersonalInfoLen. Error: PasswordNoUserInfoError.
//   - History: how many of the user's previous passwords may not be reused (up to
//     24, as on Auth0). The caller checks it, because that needs the store, and
//     answers HistoryError; the policy lists the rule and validates the number.
//   - MinZxcvbnScore: refuse a password that github.com/trustelem/zxcvbn (a port
//     of Dropbox's zxcvbn 4.4.2) scores below 1..4, with the user's information
//     as zxcvbn's user dictionary. The rule is part of PasswordStrengthError.
//
// CheckFor applies, in order: the level's rules and the maximum length, the
// dictionary, personal information, and last the zxcvbn score, which costs
// milliseconds where the others cost microseconds. A user sees the most specific
// refusal first. A PasswordStrengthError lists every strength rule, the score
// among them, with whether the password satisfies each.
//
// # Unicode
//
// Passwords are compared in Unicode Normalization Form C (NFC), and lengths are
// counted in code points of the NFC form. The same password can arrive as
// different code points: "é" typed on macOS often arrives decomposed (NFD, "e"
// and a combining accent, two code points), on Windows precomposed (one). Without
// normalization the same password would be 14 characters on one machine and 15
// on another, and would match a dictionary or history entry on one only. NFC
// merges only canonically equivalent strings, which render identically; it never
// merges distinct characters (NFKC would turn "ﬁ" into "fi" and full-width
// letters into ASCII, shrinking the password space). The dictionary and personal
// information are compared with Unicode case folding as well (see foldKey).
//
// Normalization is only for checking: the app's change_password hook still
// receives the password exactly as typed, because the app's own login compares
// what the user types with what it stored. An app that wants the two forms of
// one password to log in alike normalizes to NFC in both its login and its
// set-password code; package passhash, which hashes what the plugin stores
// itself, does.
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
//     MaxBytes (as received, before normalization) is refused without being
//     inspected, which bounds the work per check.
//   - Invalid UTF-8 is refused with ErrInvalidUTF8. A JavaScript string cannot hold
//     it, so sheriff has no equivalent.
//   - An unknown level is a configuration error (see Policy.Validate). Sheriff falls
//     back to "none", which would silently weaken a mistyped configuration.
//   - The zero Level means DefaultLevel (good), the level Auth0 gives new
//     connections, not sheriff's "none".
//   - Options that could not take effect are configuration errors (see
//     Validate): custom dictionary words with the dictionary off, a history over
//     24, a score over 4.
//
// A Policy is a value with no internal state; it is safe for concurrent use. Its
// CustomWords slice must not be modified while the policy is in use.
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

	// LevelNIST is ours: NIST SP 800-63B rev 4 for single-factor passwords (see
	// the package documentation).
	LevelNIST Level = "nist"
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

const (
	// MaxHistory is the largest History, Auth0's ("N up to 24").
	MaxHistory = 24

	// MaxCustomWords bounds CustomWords. Every check validates the policy and
	// compares the password with each word, so the bound keeps that near a
	// tenth of a millisecond (BenchmarkCheckFor/1000_custom_words). The shipped
	// list, which is a set, is the place for volume.
	MaxCustomWords = 1000

	// nistMFAMinLength is the lowest MinLength the nist level accepts: NIST's
	// minimum for passwords used only with a second factor.
	nistMFAMinLength = 8
)

// ErrInvalidUTF8 is returned by Policy.Check for a password that is not valid UTF-8.
// A browser form cannot produce one, so callers answer it as a malformed request.
var ErrInvalidUTF8 = errors.New("policy: password is not valid UTF-8")

// ParseLevel returns the level named by s, ignoring case. Unlike the zero Level, an
// empty s is an error: a configuration that names a level must name a real one.
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToLower(s))
	if !l.known() {
		return "", fmt.Errorf("policy: unknown level %q (want %s)", s, levelNames)
	}
	return l, nil
}

const levelNames = "none, low, fair, good, excellent or nist"

// known reports whether l is one of the six levels.
func (l Level) known() bool {
	switch l {
	case LevelNone, LevelLow, LevelFair, LevelGood, LevelExcellent, LevelNIST:
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
	case LevelNIST:
		return 15
	}
	return 1
}

// Policy is the password policy of one database connection. Its zero value is valid:
// DefaultLevel with that level's minimum and DefaultMaxLength.
type Policy struct {
	// Level is the strength level; empty means DefaultLevel.
	Level Level `json:"level,omitempty"`

	// MinLength is the minimum length in code points; 0 means the level's own
	// minimum (none 1, low 6, fair 8, good 8, excellent 10, nist 15). A value replaces the
	// level's minimum, up or down, as Auth0's min_length does; 1..128.
	MinLength int `json:"min_length,omitempty"`

	// MaxLength is the maximum length in code points; 0 means DefaultMaxLength.
	// 64..1024.
	MaxLength int `json:"max_length,omitempty"`

	// Dictionary refuses the CommonPasswords most common passwords and
	// CustomWords, compared with the whole password ignoring case (Auth0's
	// password_dictionary). The nist level turns it on.
	Dictionary bool `json:"dictionary,omitempty"`

	// CustomWords are refused as well when Dictionary is on: the service's name,
	// its domain, words of its trade. Up to MaxCustomWords non-empty words.
	CustomWords []string `json:"custom_words,omitempty"`

	// NoPersonalInfo refuses passwords that contain the user's information given
	// to CheckFor (Auth0's password_no_personal_info).
	NoPersonalInfo bool `json:"no_personal_info,omitempty"`

	// MinZxcvbnScore is the lowest zxcvbn score accepted, 1..4; 0 turns the
	// estimator off.
	MinZxcvbnScore int `json:"min_zxcvbn_score,omitempty"`

	// History is how many previous passwords may not be reused, 0..24 (Auth0's
	// password_history). The caller enforces it (see HistoryError); the policy
	// lists the rule.
	History int `json:"history,omitempty"`
}

// Validate reports configuration errors: an unknown level, a MinLength outside
// 1..128 (8..128 for the nist level), a MaxLength outside 64..1024, a minimum
// above the maximum, a History outside 0..24, a MinZxcvbnScore outside 0..4,
// custom words that are empty, not UTF-8, over the maximum length or too many,
// and custom words with the dictionary off. All errors found are joined. Zero
// fields are valid and mean their defaults.
func (p Policy) Validate() error {
	var errs []error
	if p.Level != "" && !p.Level.known() {
		errs = append(errs, fmt.Errorf("policy: unknown level %q (want %s)", p.Level, levelNames))
	}
	if p.MinLength < 0 || p.MinLength > maxMinLength {
		errs = append(errs, fmt.Errorf("policy: min_length %d out of range 1..%d", p.MinLength, maxMinLength))
	}
	if p.MaxLength < 0 || p.MaxLength != 0 && (p.MaxLength < minMaxLength || p.MaxLength > maxMaxLength) {
		errs = append(errs, fmt.Errorf("policy: max_length %d out of range %d..%d", p.MaxLength, minMaxLength, maxMaxLength))
	}
	if p.Level == LevelNIST && p.MinLength > 0 && p.MinLength < nistMFAMinLength {
		errs = append(errs, fmt.Errorf("policy: min_length %d is below %d, NIST SP 800-63B's minimum even with a second factor (15 without)", p.MinLength, nistMFAMinLength))
	}
	if p.History < 0 || p.History > MaxHistory {
		errs = append(errs, fmt.Errorf("policy: history %d out of range 0..%d", p.History, MaxHistory))
	}
	if p.MinZxcvbnScore < 0 || p.MinZxcvbnScore > MaxZxcvbnScore {
		errs = append(errs, fmt.Errorf("policy: min_zxcvbn_score %d out of range 0..%d", p.MinZxcvbnScore, MaxZxcvbnScore))
	}
	errs = append(errs, p.validateWords()...)
	if len(errs) == 0 {
		if e := p.Effective(); e.MinLength > e.MaxLength {
			errs = append(errs, fmt.Errorf("policy: min_length %d exceeds max_length %d", e.MinLength, e.MaxLength))
		}
	}
	return errors.Join(errs...)
}

// validateWords checks CustomWords.
func (p Policy) validateWords() []error {
	var errs []error
	if len(p.CustomWords) > 0 && !p.Dictionary && p.Level != LevelNIST {
		errs = append(errs, errors.New("policy: custom dictionary words are set but the dictionary is off"))
	}
	if len(p.CustomWords) > MaxCustomWords {
		errs = append(errs, fmt.Errorf("policy: %d custom dictionary words, more than %d", len(p.CustomWords), MaxCustomWords))
	}
	for i, w := range p.CustomWords {
		switch {
		case !utf8.ValidString(w):
			errs = append(errs, fmt.Errorf("policy: custom dictionary word %d is not valid UTF-8", i+1))
		case strings.TrimSpace(w) == "":
			errs = append(errs, fmt.Errorf("policy: custom dictionary word %d is empty", i+1))
		case utf8.RuneCountInString(w) > maxMaxLength:
			errs = append(errs, fmt.Errorf("policy: custom dictionary word %d is longer than %d characters", i+1, maxMaxLength))
		}
	}
	return errs
}

// Effective returns p with its defaults filled in: the level, the minimum length and
// the maximum length that CheckFor applies, and Dictionary on for the nist level.
// Pages use it for Auth0's template variables (password_policy, min_length).
func (p Policy) Effective() Policy {
	if p.Level == "" {
		p.Level = DefaultLevel
	}
	if p.Level == LevelNIST {
		p.Dictionary = true
	}
	if p.MinLength == 0 {
		p.MinLength = p.Level.minLength()
	}
	if p.MaxLength == 0 {
		p.MaxLength = DefaultMaxLength
	}
	return p
}

// Check is CheckFor without user information: the personal-information rule has
// nothing to compare and passes, and zxcvbn has no user dictionary. Use CheckFor
// when the user is known.
func (p Policy) Check(password string) error {
	return p.CheckFor(password, UserInfo{})
}

// CheckFor reports whether password, set by the user described by user,
// satisfies the policy. It returns nil; a *Error whose JSON is one of Auth0's
// bodies (PasswordStrengthError when the password breaks a strength rule,
// including the maximum length and the zxcvbn score; PasswordDictionaryError;
// PasswordNoUserInfoError); ErrInvalidUTF8; or, when p itself is invalid, the
// error from Validate, so a bad configuration fails closed instead of accepting
// weak passwords. History is the caller's to check (see HistoryError).
//
// The password is compared in NFC (see the package documentation) and never
// truncated or retained; the caller's string is not modified, and what the app
// stores is the password as typed.
func (p Policy) CheckFor(password string, user UserInfo) error {
	if err := p.Validate(); err != nil {
		return err
	}
	e := p.Effective()
	if len(password) > MaxBytes {
		return e.tooLong()
	}
	if !isASCII(password) { // ASCII is valid UTF-8 and already NFC
		if !utf8.ValidString(password) {
			return ErrInvalidUTF8
		}
		password = nfc(password)
	}
	st, _ := scan(password)
	f := facts{st: st}
	if !e.lengthOK(st) || !e.maxOK(st) || !e.compositionOK(st) {
		// The description says whether each strength rule holds, the score too.
		f.score = e.score(password, user)
		return e.weak(f)
	}
	if e.Dictionary || e.NoPersonalInfo {
		key := foldKey(password)
		if e.Dictionary && isCommon(key, e.CustomWords) {
			return dictionaryError()
		}
		if e.NoPersonalInfo && containsPersonalInfo(key, user.pieces(false)) {
			return noUserInfoError()
		}
	}
	// The estimator runs last: it costs milliseconds, the rules above microseconds.
	if f.score = e.score(password, user); !e.scoreOK(f.score) {
		return e.weak(f)
	}
	return nil
}

// score returns zxcvbn's score for password (NFC) when the policy sets a minimum,
// and 0 without running the estimator when it does not.
func (e Policy) score(password string, user UserInfo) int {
	if e.MinZxcvbnScore == 0 {
		return 0
	}
	return strengthScore(password, user.pieces(true))
}

// The checks below take an effective policy (see Effective). CheckFor uses them
// on its fast path and verify on the error path, so both always agree.

// scoreOK applies the zxcvbn minimum to a score computed when it is set.
func (e Policy) scoreOK(score int) bool { return score >= e.MinZxcvbnScore }

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
