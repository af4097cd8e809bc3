package policy

import "unicode/utf8"

// Evaluate returns the policy's rules (Rules) with Verified set for password, set
// by the user described by user, so that a page can mark each rule, and each
// item of a composite rule, as met or not after a refused submit, as Auth0's
// page does. The checks are CheckFor's own.
//
// A rule Evaluate cannot decide is returned with Checked false: the history
// (the caller holds the previous passwords; it knows from HistoryError), and
// every rule when the policy is invalid, the password is not valid UTF-8, or it
// is over MaxBytes (not inspected; the maximum length rule is then appended,
// unmet). A password over the maximum length gets that rule appended, unmet, as
// in a PasswordStrengthError. The zxcvbn score is computed only when the policy
// sets a minimum; it costs milliseconds.
func (p Policy) Evaluate(password string, user UserInfo) []Rule {
	rules := p.Rules()
	if p.Validate() != nil {
		return rules
	}
	e := p.Effective()
	if len(password) > MaxBytes {
		long := maxLengthRule(e.MaxLength)
		long.checked = true
		return append(rules, long)
	}
	if !isASCII(password) {
		if !utf8.ValidString(password) {
			return rules
		}
		password = nfc(password)
	}
	st, _ := scan(password)
	f := facts{st: st, score: e.score(password, user)}
	if !e.maxOK(st) {
		rules = append(rules, maxLengthRule(e.MaxLength))
	}
	key := foldKey(password)
	for i := range rules {
		switch rules[i].Code {
		case CodeNotReused:
			// The caller's: only it has the history.
		case CodeNotCommon:
			rules[i].checked, rules[i].Verified = true, !isCommon(key, e.CustomWords)
		case CodeNoPersonalInfo:
			rules[i].checked, rules[i].Verified = true, !containsPersonalInfo(key, user.pieces(false))
		default:
			e.verify(&rules[i], f)
		}
	}
	return rules
}

// Checked reports whether Verified says something about a password: the rule
// comes from a check (Error.Description, Evaluate). Rules returns rules that are
// not checked.
func (r Rule) Checked() bool { return r.checked }

// Live reports whether the rule depends on the password alone and cheaply
// enough to be checked in the browser as the user types: the length, the
// character classes, identical characters in a row. The others (the strength
// score, the dictionary, personal information, the history) need the server's
// data and are checked when the form is sent. A page lists these first, under
// "Your password must contain:".
func (r Rule) Live() bool {
	switch r.Code {
	case CodeNonEmpty, CodeLengthAtLeast, CodeMaxLength, CodeShouldContain, CodeContainsAtLeast,
		CodeIdenticalChars, CodeLowerCase, CodeUpperCase, CodeNumbers, CodeSpecialCharacters:
		return true
	}
	return false
}

// listMessages word the rules for a page's lists, by code: the live rules read
// after "Your password must contain:", the others after "It must also:". The
// messages of Rule are sheriff's, kept for Auth0's bodies, and some of them read
// wrongly there ("Your password must contain: Contain at least 3 of ...").
// Auth0's own page words its list the same way ("At least 8 characters").
var listMessages = map[string]string{
	CodeNonEmpty:          "At least 1 character",
	CodeLengthAtLeast:     "At least %d characters",
	CodeMaxLength:         "At most %d characters",
	CodeShouldContain:     "All of the following types of characters:",
	CodeContainsAtLeast:   "At least %d of the following %d types of characters:",
	CodeIdenticalChars:    `No more than %d identical characters in a row (e.g., "%s" not allowed)`,
	CodeLowerCase:         "Lower case letters (a-z)",
	CodeUpperCase:         "Upper case letters (A-Z)",
	CodeNumbers:           "Numbers (0-9)",
	CodeSpecialCharacters: "Special characters (e.g. !@#$%^&*)",
	CodeStrengthScore:     "Be hard to guess (strength score at least %d of %d)",
	CodeNotCommon:         "Not be a commonly used password",
	CodeNoPersonalInfo:    "Not be based on your name or email address",
	CodeNotReused:         "Not be one of your last %d passwords",
}

// ListText is the rule worded as an item of a page's list of rules (see Live);
// Text is sheriff's wording, which Auth0's bodies carry. A rule of a code this
// package does not define reads as its Text.
func (r Rule) ListText() string {
	msg, ok := listMessages[r.Code]
	if !ok {
		return r.Text()
	}
	r.Message = msg
	return r.Text()
}
