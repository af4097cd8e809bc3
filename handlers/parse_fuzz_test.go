package handlers

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// fuzzFields runs readFields on body and checks what every accepted body must
// satisfy: known fields only, single valid-UTF-8 strings, and a 4xx RequestError
// for everything refused.
func fuzzFields(t *testing.T, contentType string, body []byte) {
	r := httptest.NewRequest(http.MethodPost, "/dbconnections/change_password", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", contentType)
	fields, err := readFields(r, maxRequestBody, changePasswordFields)
	if err != nil {
		re, ok := fault.As(err)
		if !ok || statusOf(re.Kind) < 400 || statusOf(re.Kind) > 499 || re.Message == "" {
			t.Fatalf("refusal is not a clear 4xx: %v", err)
		}
		return
	}
	for name, value := range fields {
		if !slices.Contains(changePasswordFields.allowed, name) {
			t.Fatalf("accepted unknown field %q", name)
		}
		if !utf8.ValidString(value) {
			t.Fatalf("accepted invalid UTF-8 in %q", name)
		}
	}
	if len(body) > maxRequestBody {
		t.Fatalf("accepted a body of %d bytes", len(body))
	}
}

// FuzzReadFieldsJSON: seeds are the parameter-shape attacks of the CVE classes.
func FuzzReadFieldsJSON(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.c","connection":"c"}`, `{"email":["a@b.c","e@evil"]}`, `{"email":{"$ne":null}}`,
		`{"email":"a","email":"b"}`, `{"email":"a","Email":"b"}`, `{"password":"x"}`, `{"email":null}`,
		`{"email":"a"}{"email":"b"}`, `[]`, `"str"`, `{"email":"\u0000"}`, "{\"email\":\"a\xffb\"}", `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzFields(t, "application/json", body) })
}

// FuzzReadFieldsForm: repeated fields, arrays in names, bad escapes.
func FuzzReadFieldsForm(f *testing.F) {
	for _, seed := range []string{
		"email=a%40b.c&connection=c", "email=a&email=b", "email[]=a", "email=%ff", "email=%zz", "a=1;b=2",
		"email=a%0d%0aBcc:e", "&&&", "=", "email",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzFields(t, "application/x-www-form-urlencoded", body) })
}
