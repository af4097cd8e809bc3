package admin

import (
	"errors"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// The subset of Auth0's Lucene query syntax (user search v3, log search v3)
// that the reads answer. Refusing the rest, with the supported forms named, is
// safer than answering a query half understood: a search for "email:*@corp.com"
// read as an exact address would say "no such users" when there are many.

// LogQueryForms names the supported log searches, for refusals and the docs.
const LogQueryForms = `type:<code>, type:(<code> OR <code> ...), user_id:"<id>", user_name:"<email>", ` +
	`connection:"<name>", client_id:"<id>", ip:"<address>", date:<day> and date:[<from> TO <to>] ` +
	`(a day as 2006-01-02 or a time as 2006-01-02T15:04:05Z, * for an open end, { } to leave an end out), ` +
	`each field once, joined by AND or by spaces`

// ParseLogQuery reads q (GET /api/v2/logs's q, or its older name search) into
// an audit filter. An empty q matches every entry.
func ParseLogQuery(q string) (audit.Filter, error) {
	var f audit.Filter
	seen := map[string]bool{}
	s := strings.TrimSpace(q)
	for first := true; s != ""; first = false {
		if rest, ok := cutWord(s, "AND"); ok && !first {
			s = rest
		}
		field, rest, err := logClause(s)
		if err == nil && seen[field] {
			err = errors.New("field " + field + " appears more than once")
		}
		if err == nil {
			seen[field] = true
			rest, err = setLogField(&f, field, rest)
		}
		if err != nil {
			return audit.Filter{}, fail(fault.Invalid, "invalid_query_string", "%s: the supported queries are %s", sentence(err.Error()), LogQueryForms)
		}
		s = strings.TrimSpace(rest)
	}
	return f, nil
}

// logClause reads the field name of the clause that starts s.
func logClause(s string) (field, rest string, err error) {
	for _, op := range []string{"AND", "OR", "NOT"} {
		if _, ok := cutWord(s, op); ok || s == op {
			return "", "", errors.New("the operator " + op + " is not supported here")
		}
	}
	field, rest, ok := strings.Cut(s, ":")
	if !ok || field == "" || strings.Trim(field, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "", "", errors.New("unsupported query " + quoteForMessage(s))
	}
	return field, rest, nil
}

// setLogField reads field's value from the start of s into f and returns what
// follows.
func setLogField(f *audit.Filter, field, s string) (string, error) {
	switch field {
	case "type":
		return readTypes(f, s)
	case "date":
		return readDates(f, s)
	}
	dst := map[string]*string{"user_id": &f.UserID, "user_name": &f.UserName, "connection": &f.Connection,
		"client_id": &f.ClientID, "ip": &f.IP}[field]
	if dst == nil {
		return "", errors.New("unsupported field " + field)
	}
	val, rest, err := readValue(s)
	if err == nil && val == "" {
		err = errors.New("the value of " + field + " is empty")
	}
	*dst = val
	return rest, err
}

// readTypes reads type:<code> or type:(<code> OR <code> ...).
func readTypes(f *audit.Filter, s string) (string, error) {
	if !strings.HasPrefix(s, "(") {
		code, rest, err := readValue(s)
		if err == nil {
			err = addType(f, code)
		}
		return rest, err
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return "", errors.New("a ( has no closing )")
	}
	words := strings.Fields(s[1:end])
	if len(words)%2 == 0 {
		return "", errors.New("an event type is missing in ( )")
	}
	for i, w := range words {
		switch {
		case i%2 == 1 && w != "OR":
			return "", errors.New("event types in ( ) are joined by OR, not " + quoteForMessage(w))
		case i%2 == 0:
			if err := addType(f, w); err != nil {
				return "", err
			}
		}
	}
	return s[end+1:], nil
}

// addType adds an event type code (Auth0's are lower case letters) to f.
func addType(f *audit.Filter, code string) error {
	switch {
	case strings.ContainsAny(code, "*?"):
		return errors.New("wildcards are not supported: only exact values")
	case code == "" || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz0123456789_") != "":
		return errors.New("unsupported event type " + quoteForMessage(code))
	}
	f.Types = append(f.Types, code)
	return nil
}

// readDates reads date:<day or time> or a range date:[<from> TO <to>], whose
// ends may be * (open) and which { or } leaves out.
func readDates(f *audit.Filter, s string) (string, error) {
	if s == "" || (s[0] != '[' && s[0] != '{') {
		val, rest, err := readValue(s)
		if err != nil {
			return "", err
		}
		f.Since, f.Until, err = dateBounds(val, val, false, false)
		return rest, err
	}
	end := strings.IndexAny(s, "]}")
	if end < 0 {
		return "", errors.New("a date range has no closing ] or }")
	}
	parts := strings.Fields(s[1:end])
	if len(parts) != 3 || parts[1] != "TO" {
		return "", errors.New("a date range is [<from> TO <to>]")
	}
	var err error
	f.Since, f.Until, err = dateBounds(parts[0], parts[2], s[0] == '{', s[end] == '}')
	return s[end+1:], err
}

// dateBounds returns the times from and to bound, both included: a day covers
// the whole day (UTC), an excluded end moves past itself, * is no bound.
func dateBounds(from, to string, exclFrom, exclTo bool) (since, until time.Time, err error) {
	if from != "*" {
		start, end, err := parseDay(from)
		if err != nil {
			return since, until, err
		}
		since = start
		if exclFrom {
			since = end.Add(time.Nanosecond)
		}
	}
	if to != "*" {
		start, end, err := parseDay(to)
		if err != nil {
			return since, until, err
		}
		until = end
		if exclTo {
			until = start.Add(-time.Nanosecond)
		}
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return since, until, errors.New("the date range is empty: its end is before its start")
	}
	return since, until, nil
}

// parseDay reads a day (2006-01-02, UTC) or a time (RFC 3339; without a zone,
// UTC) and returns the first and last instants it covers.
func parseDay(s string) (first, last time.Time, err error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, t.AddDate(0, 0, 1).Add(-time.Nanosecond), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, t, nil
		}
	}
	return first, last, errors.New("unsupported date " + quoteForMessage(s) + " (want 2006-01-02 or 2006-01-02T15:04:05Z)")
}

// sentence returns s with its first letter in upper case, for a message made
// of an error's text.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// cutWord cuts word, followed by a space, from the start of s.
func cutWord(s, word string) (string, bool) {
	rest, ok := strings.CutPrefix(s, word)
	if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return s, false
	}
	return strings.TrimSpace(rest), true
}

// readValue reads a field's value from the start of s: a quoted string (with
// \" and \\ escapes) or a bare word (up to a space, with \ escaping the next
// character). A bare word with a wildcard or Lucene's other special characters
// is refused: only exact values are answered.
func readValue(s string) (val, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		return readQuoted(s[1:])
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			return b.String(), s[i:], nil
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case strings.IndexByte(`*?`, c) >= 0:
			return "", "", errors.New("wildcards are not supported: only exact values")
		case strings.IndexByte(`"()[]{}^~!:\+`, c) >= 0:
			return "", "", errors.New("unsupported character " + quoteForMessage(string(c)) + " in a value: quote the value")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "", nil
}

// readQuoted reads a quoted string whose opening quote is already read.
func readQuoted(s string) (val, rest string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("a quoted value has no closing quote")
}
