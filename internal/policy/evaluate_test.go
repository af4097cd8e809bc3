package policy

import (
	"errors"
	"strings"
	"testing"
)

// marks renders evaluated rules as "code=state" ("+" met, "-" not, "?" not
// checked), items in brackets.
func marks(rules []Rule) string {
	var parts []string
	for _, r := range rules {
		state := "?"
		if r.Checked() {
			state = map[bool]string{true: "+", false: "-"}[r.Verified]
		}
		s := r.Code + state
		if len(r.Items) > 0 {
			s += "[" + marks(r.Items) + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestEvaluate(t *testing.T) {
	john := UserInfo{Name: "Johnathan", Email: "jsmith@example.com"}
	all := Policy{Level: LevelExcellent, Dictionary: true, NoPersonalInfo: true, History: 3}
	for _, tt := range []struct {
		p    Policy
		pw   string
		want string
	}{
		{Policy{Level: LevelGood}, "abc!", "lengthAtLeast- containsAtLeast-[lowerCase+ upperCase- numbers- specialCharacters+]"},
		{Policy{Level: LevelGood}, "abcdefG1", "lengthAtLeast+ containsAtLeast+[lowerCase+ upperCase+ numbers+ specialCharacters-]"},
		{Policy{Level: LevelFair}, "abcdefgh1", "lengthAtLeast+ shouldContain-[lowerCase+ upperCase- numbers+]"},
		{Policy{Level: LevelNone}, "", "nonEmpty-"},
		{Policy{Level: LevelLow}, "😀😀😀😀😀😀", "lengthAtLeast+"},
		{all, "aaaBcdef12!", "lengthAtLeast+ containsAtLeast+[lowerCase+ upperCase+ numbers+ specialCharacters+] identicalChars- notCommon+ noPersonalInfo+ notReused?"},
		{all, "Password123", "lengthAtLeast+ containsAtLeast+[lowerCase+ upperCase+ numbers+ specialCharacters-] identicalChars+ notCommon- noPersonalInfo+ notReused?"},
		{all, "Johnathan-99X", "lengthAtLeast+ containsAtLeast+[lowerCase+ upperCase+ numbers+ specialCharacters+] identicalChars+ notCommon+ noPersonalInfo- notReused?"},
		{Policy{Level: LevelLow}, strings.Repeat("x", 129), "lengthAtLeast+ maxLength-"},
		{Policy{Level: LevelLow}, strings.Repeat("x", MaxBytes+1), "lengthAtLeast? maxLength-"},
		{Policy{Level: LevelLow}, "abc\xffdefg", "lengthAtLeast?"},
		{Policy{Level: "bogus"}, "abcdefgh", "nonEmpty?"},
		{Policy{Level: LevelNone, MinZxcvbnScore: 4}, "password", "nonEmpty+ strengthScore-"},
	} {
		if got := marks(tt.p.Evaluate(tt.pw, john)); got != tt.want {
			t.Errorf("%+v.Evaluate(%q) =\n %s\nwant\n %s", tt.p, tt.pw, got, tt.want)
		}
	}
}

// evaluateAgrees checks that Evaluate says what CheckFor decided: an accepted
// password meets every rule Evaluate checks, and a refused one breaks the rule
// its error names.
func evaluateAgrees(t *testing.T, p Policy, pw string, user UserInfo, err error) {
	t.Helper()
	rules := p.Evaluate(pw, user)
	failed := map[string]bool{}
	for _, r := range rules {
		if r.Checked() && !r.Verified {
			failed[r.Code] = true
		}
	}
	var pe *Error
	switch {
	case err == nil:
		if len(failed) > 0 {
			t.Fatalf("%+v accepts %q, but Evaluate says it breaks %v", p, pw, failed)
		}
	case errors.As(err, &pe) && pe.Name == NameStrength:
		for _, r := range pe.Description.Rules {
			if failed[r.Code] == r.Verified {
				t.Fatalf("%+v refuses %q: %s is verified=%v, Evaluate says %v", p, pw, r.Code, r.Verified, marks(rules))
			}
		}
	case errors.As(err, &pe) && pe.Name == NameDictionary && !failed[CodeNotCommon],
		errors.As(err, &pe) && pe.Name == NameNoUserInfo && !failed[CodeNoPersonalInfo]:
		t.Fatalf("%+v refuses %q with %s, Evaluate says %v", p, pw, pe.Name, marks(rules))
	}
}

// Every Code the package defines has a list wording, and a list item reads as
// one after the page's heading: no sheriff "Contain at least" or "Should
// contain:".
func TestListText(t *testing.T) {
	p := Policy{Level: LevelExcellent, Dictionary: true, NoPersonalInfo: true, History: 5, MinZxcvbnScore: 3}
	var got []string
	for _, r := range p.Rules() {
		got = append(got, r.ListText())
		for _, item := range r.Items {
			got = append(got, "  "+item.ListText())
		}
	}
	want := []string{
		"At least 10 characters",
		"At least 3 of the following 4 types of characters:",
		"  Lower case letters (a-z)", "  Upper case letters (A-Z)", "  Numbers (0-9)", "  Special characters (e.g. !@#$%^&*)",
		`No more than 2 identical characters in a row (e.g., "aaa" not allowed)`,
		"Be hard to guess (strength score at least 3 of 4)",
		"Not be a commonly used password",
		"Not be based on your name or email address",
		"Not be one of your last 5 passwords",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ListText:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, tt := range []struct {
		p    Policy
		want string
	}{
		{Policy{Level: LevelNone}, "At least 1 character"},
		{Policy{Level: LevelFair}, "All of the following types of characters:"},
	} {
		if r := tt.p.Rules(); r[len(r)-1].ListText() != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, r[len(r)-1].ListText(), tt.want)
		}
	}
	for _, r := range p.Rules() {
		if r.Live() != (r.Code != CodeStrengthScore && r.Code != CodeNotCommon && r.Code != CodeNoPersonalInfo && r.Code != CodeNotReused) {
			t.Errorf("%s: Live() = %v", r.Code, r.Live())
		}
	}
}
