package reset

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzNormalizeEmail: an accepted address is bounded, valid UTF-8, free of
// control characters (no header injection), a single bare address, and a fixed
// point of normalization. Seeds are the CVE classes of reference/security.md.
func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{
		"alice@example.com", " ALICE@Example.COM ", "alıce@example.com", "ａｌｉｃｅ@example.com",
		"alice@example.com\r\nBcc: eve@evil.test", "\"alice\r\n\"@example.com", "a@b@c", "Eve <a@b.c>",
		"a@example.com, b@example.com", "a\xff@example.com", "a\x00@example.com", strings.Repeat("a", 300) + "@x.com",
		"e\u0301@example.com", "é@example.com", "user@[192.0.2.1]", "(comment)a@b.c", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEmail(in)
		if err != nil {
			return
		}
		if len(out) > maxEmailBytes || !utf8.ValidString(out) || strings.ContainsFunc(out, unicode.IsControl) {
			t.Fatalf("accepted %q as %q", in, out)
		}
		if strings.ContainsAny(out, "<>,") && !strings.HasPrefix(out, "\"") {
			t.Fatalf("accepted a list or a display name: %q -> %q", in, out)
		}
		again, err := NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("not a fixed point: %q -> %q -> %q (%v)", in, out, again, err)
		}
	})
}
