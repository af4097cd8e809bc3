package policy

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// nfc returns s in Unicode Normalization Form C. It returns s itself, without
// allocating, when s already is in NFC, which every ASCII string is.
func nfc(s string) string { return norm.NFC.String(s) }

// foldKey returns the key under which strings compare equal when they differ
// only by case or by canonical equivalence: Unicode's canonical caseless match
// (NFD, full case folding, NFD again; Unicode 15 §3.13 D145), recomposed to NFC.
// Full folding maps "ß" to "ss" and "ﬀ" to "ff" (so both spellings of a word
// meet), and, unlike strings.ToLower, "Σ" and final "ς" alike to "σ". ASCII,
// which every entry of the common-password list is, takes strings.ToLower's
// fast path and gives the same key.
func foldKey(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	return norm.NFC.String(cases.Fold().String(norm.NFD.String(s)))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
