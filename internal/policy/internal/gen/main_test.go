package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The shipped list is exactly what the generator makes from the module's data.
func TestShippedListIsGenerated(t *testing.T) {
	src, err := SourcePath()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want bytes.Buffer
	if err := Generate(&want, f, 10000); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../data/common-passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("policy/data/common-passwords.txt differs from the generator's output; run go generate ./policy")
	}
}

func TestGenerateRefusesBadInput(t *testing.T) {
	for _, in := range []string{
		"abc 3\n#x 2\n",
		"abc 3\nAbc 2\n",
		"abc 3\nabc 2\n",
		"abc\n",
		"abc 3\n", // too few for n=2
	} {
		if err := Generate(&bytes.Buffer{}, strings.NewReader(in), 2); err == nil {
			t.Errorf("Generate(%q) = nil, want an error", in)
		}
	}
	var b bytes.Buffer
	if err := Generate(&b, strings.NewReader("abc 3\ndef 2\nghi 1\n"), 2); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimPrefix(b.String(), Header(2)), "abc\ndef\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}
