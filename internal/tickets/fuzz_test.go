package tickets

import (
	"strings"
	"testing"
)

// FuzzParseTicket: only 43 characters of base64url are tickets; anything else is
// ErrInvalid without a store lookup, and a ticket maps to one fixed-shape key.
func FuzzParseTicket(f *testing.F) {
	token, _ := New()
	for _, seed := range []string{token, token[:42], token + "A", strings.ToUpper(token), "", "../../etc/passwd",
		strings.Repeat("=", 43), strings.Repeat("+", 43), "tk/" + token[:40]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := Parse(in)
		if err != nil {
			if err != ErrInvalid {
				t.Fatalf("Parse(%q) = %v", in, err)
			}
			return
		}
		if len(in) != tokenLen || strings.Trim(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("accepted %q", in)
		}
		if len(key) != len(keyPrefix)+64 || !strings.HasPrefix(key, keyPrefix) {
			t.Fatalf("key %q", key)
		}
	})
}
