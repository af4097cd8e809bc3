package policy

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// UserInfo is what the app's user lookup returned about the user whose password
// is being set, Auth0's profile fields. Policy.CheckFor refuses, when
// Policy.NoPersonalInfo is on, a password that contains any of it, and feeds it to
// the strength estimator when Policy.MinZxcvbnScore is set. Empty fields are
// ignored.
type UserInfo struct {
	Email      string   `json:"email,omitempty"` // only the local part (before the last '@') is used
	Name       string   `json:"name,omitempty"`
	Nickname   string   `json:"nickname,omitempty"`
	GivenName  string   `json:"given_name,omitempty"`
	FamilyName string   `json:"family_name,omitempty"`
	Username   string   `json:"username,omitempty"` // an address here is used like Email
	Other      []string `json:"other,omitempty"`    // anything else the app wants kept out of passwords (a phone number, a birth year, the company's name)
}

// MinPersonalInfoLen is the length in code points below which a piece of user
// information is not looked for in passwords. Three-letter names occur inside too
// many ordinary words ("ann" in "annual" and "channel", "max" in "maximum", "ray"
// in "array", "ian" in "Christian"), so with 3 a user called Ann or Max could not
// use most passphrases, which NIST's 15-character minimum pushes users towards. A
// short name left unchecked is still seen by the strength estimator, which gets
// every piece whatever its length.
const MinPersonalInfoLen = 4

// pieces returns the fold keys of user's information, for the contains-check
// (long reports false) or the strength estimator (long reports true, all pieces).
// Each field yields its whole value, the value with separators removed ("Mary
// Ann" also as "maryann"), and its words: maximal runs of letters (with their
// combining marks) and of digits, so "john.smith1987" yields "john", "smith" and
// "1987". The email's domain is left out: it is shared by everyone at the
// company and says nothing about the user.
func (u UserInfo) pieces(all bool) []string {
	fields := make([]string, 0, 6+len(u.Other))
	fields = append(fields, localPart(u.Email), u.Name, u.Nickname, u.GivenName, u.FamilyName, localPart(u.Username))
	fields = append(fields, u.Other...)
	var out []string
	add := func(p string) {
		if p != "" && (all || utf8.RuneCountInString(p) >= MinPersonalInfoLen) {
			out = append(out, p)
		}
	}
	for _, f := range fields {
		key := foldKey(strings.TrimSpace(f))
		if key == "" {
			continue
		}
		add(key)
		words := splitWords(key)
		if len(words) > 1 {
			add(strings.Join(words, ""))
		}
		if len(words) > 1 || len(words) == 1 && words[0] != key {
			for _, w := range words {
				add(w)
			}
		}
	}
	slices.Sort(out) // "Alice Smith" and alice.smith@… give the same pieces
	return slices.Compact(out)
}

// containsPersonalInfo reports whether key, a password's fold key, contains one
// of pieces. It is a substring test, as Auth0's "block personal data" is: a name
// anywhere in the password gives it away.
func containsPersonalInfo(key string, pieces []string) bool {
	for _, p := range pieces {
		if strings.Contains(key, p) {
			return true
		}
	}
	return false
}

// localPart returns the part of an address before its last '@' (a quoted local
// part may contain '@'), or s itself when it has none.
func localPart(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}

// splitWords splits s into maximal runs of letters (with the combining marks that
// follow them) and of digits; everything else separates words.
func splitWords(s string) []string {
	var words []string
	start, kind := -1, 0 // kind of the current run: 1 letters, 2 digits
	for i, r := range s {
		k := 0
		switch {
		case unicode.IsLetter(r), unicode.IsMark(r) && kind == 1:
			k = 1
		case unicode.IsDigit(r):
			k = 2
		}
		if k != kind {
			if kind != 0 {
				words = append(words, s[start:i])
			}
			start, kind = i, k
		}
	}
	if kind != 0 {
		words = append(words, s[start:])
	}
	return words
}
