package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// errTooLarge is answered with 413.
var errTooLarge = &fault.Error{Kind: fault.TooLarge, Code: "invalid_request", Message: "request body is too large"}

// fieldSpec says which fields a body may carry.
type fieldSpec struct {
	allowed []string
	// refused maps a field to the error its presence gets, for fields that must be
	// named in the answer rather than reported as merely unknown.
	refused map[string]string
}

// readFields reads a JSON object or a URL-encoded form from r's body, of at most
// maxBytes, and returns its fields. It is strict where lenient parsers have been
// exploited (GitLab CVE-2023-7028, HTTP parameter pollution): every value must be a
// single string (JSON null counts as absent), a field may appear once, keys match
// exactly (encoding/json alone would match case-insensitively and keep the last of
// duplicates), unknown fields and invalid UTF-8 are refused. The URL's query is
// never read.
func readFields(r *http.Request, maxBytes int64, spec fieldSpec) (map[string]string, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mediaType = ""
	}
	var body []byte
	if mediaType == "application/json" || mediaType == "application/x-www-form-urlencoded" {
		if body, err = readBody(r, maxBytes); err != nil {
			return nil, err
		}
		if !utf8.Valid(body) {
			return nil, invalid("request body is not valid UTF-8")
		}
	}
	var fields map[string]string
	switch mediaType {
	case "application/json":
		fields, err = parseJSONObject(body)
	case "application/x-www-form-urlencoded":
		fields, err = parseForm(body)
	default:
		return nil, invalid("Content-Type must be application/json or application/x-www-form-urlencoded")
	}
	if err != nil {
		return nil, err
	}
	return fields, spec.check(fields)
}

func readBody(r *http.Request, maxBytes int64) ([]byte, error) {
	if r.ContentLength > maxBytes {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return nil, invalid("could not read the request body")
	}
	if int64(len(body)) > maxBytes {
		return nil, errTooLarge
	}
	return body, nil
}

func invalid(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "invalid_request", format, args...)
}

func (spec fieldSpec) check(fields map[string]string) error {
	for name := range fields {
		if msg, ok := spec.refused[name]; ok {
			return invalid("%s", msg)
		}
	}
	for name := range fields {
		if !slices.Contains(spec.allowed, name) {
			return invalid("unknown field %q (allowed: %s)", name, strings.Join(spec.allowed, ", "))
		}
	}
	return nil
}

// parseJSONObject walks the tokens of a single JSON object whose values are strings.
func parseJSONObject(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, invalid("request body must be a JSON object")
	}
	fields := map[string]string{}
	seen := map[string]bool{} // lower-cased keys, to refuse case variants
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("request body is not valid JSON")
		}
		key := tok.(string) // object keys are always strings
		if seen[strings.ToLower(key)] {
			return nil, invalid("field %q appears more than once", key)
		}
		seen[strings.ToLower(key)] = true
		val, err := dec.Token()
		if err != nil {
			return nil, invalid("request body is not valid JSON")
		}
		switch v := val.(type) {
		case string:
			fields[key] = v
		case nil:
			// null: the field is absent.
		default:
			return nil, invalid("field %q must be a string, not %s", key, jsonKind(v))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, invalid("request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("request body must hold exactly one JSON object")
	}
	return fields, nil
}

func jsonKind(tok json.Token) string {
	switch tok {
	case json.Delim('['):
		return "an array"
	case json.Delim('{'):
		return "an object"
	}
	switch tok.(type) {
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	}
	return "a " + fmt.Sprintf("%T", tok)
}

// parseForm parses a URL-encoded body and refuses repeated fields.
func parseForm(body []byte) (map[string]string, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalid("request body is not a valid URL-encoded form")
	}
	fields := make(map[string]string, len(values))
	for name, vals := range values {
		if len(vals) != 1 {
			return nil, invalid("field %q appears more than once", name)
		}
		if !utf8.ValidString(name) || !utf8.ValidString(vals[0]) {
			return nil, invalid("request body is not valid UTF-8")
		}
		fields[name] = vals[0]
	}
	return fields, nil
}
