package reset

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxEmailBytes is the longest address SMTP can carry (RFC 5321: a 256-octet path
// less the angle brackets).
const maxEmailBytes = 254

// NormalizeEmail checks an address as typed by a user and returns the form that is
// sent to the app's lookup: trimmed, in Unicode NFC (the composed form, which is
// what a form in one browser sends and another may not), with the domain
// lower-cased. It refuses what no mailbox can be: invalid UTF-8, control
// characters, display names, comments. Mail never goes to this string: it goes to
// the address the app's lookup returns (GitHub's dotless-i case, Django
// CVE-2019-19844).
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.ValidString(s) {
		s = norm.NFC.String(s)
	}
	switch {
	case s == "":
		return "", badRequest("Missing required parameter: email")
	case len(s) > maxEmailBytes:
		return "", badRequest("email is longer than %d bytes", maxEmailBytes)
	case !utf8.ValidString(s):
		return "", badRequest("email is not valid UTF-8")
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", badRequest("email contains control characters")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", badRequest("email is not a valid email address")
	}
	at := strings.LastIndexByte(s, '@')
	return s[:at] + "@" + strings.ToLower(s[at+1:]), nil
}
