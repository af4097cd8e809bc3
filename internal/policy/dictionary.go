package policy

import (
	_ "embed" // the common-password list
	"strings"
	"sync"
)

//go:generate go run ./internal/gen -n 10000 -o data/common-passwords.txt

// commonPasswordsFile is the shipped list: one lower-case password per line,
// most common first, after comment lines starting with '#'. Its header names the
// source and the command that generated it (see internal/gen).
//
//go:embed data/common-passwords.txt
var commonPasswordsFile string

// CommonPasswords is the number of entries of the shipped common-password list
// that Policy.Dictionary refuses.
const CommonPasswords = 10000

// commonPasswords is the list as a set of fold keys. It is built on first use
// (about a millisecond and half a megabyte), so a program whose policies never
// turn the dictionary on does not pay for it.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, CommonPasswords)
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" || line[0] == '#' {
			continue
		}
		set[foldKey(line)] = struct{}{}
	}
	return set
})

// isCommon reports whether key, a password's fold key, is on the shipped list or
// equals one of words ignoring case and canonical equivalence. The comparison is
// of the whole password, never of substrings: NIST SP 800-63B rev 4 ("The entire
// password SHALL be subject to comparison, not substrings or words"), and Auth0's
// dictionary does the same.
func isCommon(key string, words []string) bool {
	if _, ok := commonPasswords()[key]; ok {
		return true
	}
	for _, w := range words {
		if isASCII(w) {
			// ASCII folds to ASCII of the same length, so most words are
			// ruled out by their length, and the rest need no allocation.
			if len(w) == len(key) && strings.EqualFold(w, key) {
				return true
			}
			continue
		}
		if foldKey(w) == key {
			return true
		}
	}
	return false
}
