package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var levels = []Level{LevelNone, LevelLow, LevelFair, LevelGood, LevelExcellent}

// broken returns the codes of the top-level rules err says the password broke, nil
// for a nil err, and fails the test for any other kind of error.
func broken(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Check error %v (%T), want *Error", err, err)
	}
	var codes []string
	for _, r := range pe.Description.Rules {
		if !r.Verified {
			codes = append(codes, r.Code)
		}
	}
	return codes
}

func TestCheck(t *testing.T) {
	var (
		none      = Policy{Level: LevelNone}
		low       = Policy{Level: LevelLow}
		fair      = Policy{Level: LevelFair}
		good      = Policy{Level: LevelGood}
		excellent = Policy{Level: LevelExcellent}
	)
	tests := []struct {
		name   string
		p      Policy
		pw     string
		broken []string // codes of the broken rules; nil means the password passes
	}{
		{"none/empty", none, "", []string{CodeNonEmpty}},
		{"none/one char", none, "a", nil},
		{"none/space", none, " ", nil},
		{"none/emoji", none, "😀", nil},

		{"low/5", low, "hello", []string{CodeLengthAtLeast}},
		{"low/6", low, "mypwd!", nil},
		{"low/5 two-byte code points", low, "ééééé", []string{CodeLengthAtLeast}},
		{"low/6 two-byte code points", low, "éééééé", nil},
		// Six UTF-16 units, so sheriff accepts it; three code points here.
		{"low/3 emoji", low, "😀😀😀", []string{CodeLengthAtLeast}},
		{"low/6 emoji", low, "😀😀😀😀😀😀", nil},

		{"fair/empty", fair, "", []string{CodeLengthAtLeast, CodeShouldContain}},
		{"fair/7", fair, "someP12", []string{CodeLengthAtLeast}},
		{"fair/8", fair, "someP123", nil},
		{"fair/no lower", fair, "KTHXBYE123", []string{CodeShouldContain}},
		{"fair/no upper", fair, "123hellogoodbye", []string{CodeShouldContain}},
		{"fair/no digit", fair, "helloGOODBYE", []string{CodeShouldContain}},
		{"fair/non-ASCII upper is not upper", fair, "Éclair12", []string{CodeShouldContain}},
		{"fair/non-ASCII counts in length", fair, "Ab1ÀÀÀÀÀ", nil},

		{"good/7", good, "aB1!xyz", []string{CodeLengthAtLeast}},
		{"good/8", good, "aB1!xyzw", nil},
		{"good/2 classes", good, "hello123", []string{CodeContainsAtLeast}},
		{"good/3 classes", good, "hello12!", nil},
		{"good/lower upper", good, "helloHEL", []string{CodeContainsAtLeast}},
		{"good/space is special", good, "hello HE", nil},
		{"good/tab is not special", good, "hello\tHE", []string{CodeContainsAtLeast}},
		{"good/euro is not special", good, "hello€HE", []string{CodeContainsAtLeast}},
		{"good/upper digit", good, "HELLO123", []string{CodeContainsAtLeast}},
		{"good/7 code points with emoji", good, "Ab1😀😀😀😀", []string{CodeLengthAtLeast}},
		{"good/8 code points with emoji", good, "Ab1😀😀😀😀😀", nil},
		{"good/sheriff sample", good, "someP1! ", nil},
		{"good/NUL is a character", good, "aB1\x00xyzw", nil},
		{"good/U+FFFD is valid", good, "aB1\uFFFDxyzw", nil},

		{"excellent/9", excellent, "somePas1!", []string{CodeLengthAtLeast}},
		{"excellent/10", excellent, "somePas1! ", nil},
		{"excellent/aaa", excellent, "hello111HELLO", []string{CodeIdenticalChars}},
		{"excellent/aa", excellent, "hello11HELLO", nil},
		{"excellent/!!", excellent, "Passw0rd!!", nil},
		{"excellent/!!!", excellent, "Passw0rd!!!", []string{CodeIdenticalChars}},
		{"excellent/case differs", excellent, "aAaAaA1!xy", nil},
		{"excellent/3 identical emoji", excellent, "Ab1!😀😀😀xyz", []string{CodeIdenticalChars}},
		{"excellent/2 identical emoji", excellent, "Ab1!😀😀x😀yz", nil},
		{"excellent/2 classes", excellent, "helloHELLO", []string{CodeContainsAtLeast}},
		{"excellent/everything", excellent, "aaa", []string{CodeLengthAtLeast, CodeContainsAtLeast, CodeIdenticalChars}},

		{"min 12/11", Policy{Level: LevelGood, MinLength: 12}, "aB1!xyzwvut", []string{CodeLengthAtLeast}},
		{"min 12/12", Policy{Level: LevelGood, MinLength: 12}, "aB1!xyzwvuts", nil},
		{"min 1/good", Policy{Level: LevelGood, MinLength: 1}, "aB1", nil},
		{"min 1/good empty", Policy{Level: LevelGood, MinLength: 1}, "", []string{CodeNonEmpty, CodeContainsAtLeast}},
		{"min 8/none 7", Policy{Level: LevelNone, MinLength: 8}, "abcdefg", []string{CodeLengthAtLeast}},
		{"min 8/none 8", Policy{Level: LevelNone, MinLength: 8}, "abcdefgh", nil},
		{"min 4/excellent", Policy{Level: LevelExcellent, MinLength: 4}, "aB1!", nil},

		{"max/128", good, strings.Repeat("aB1!", 32), nil},
		{"max/129", good, strings.Repeat("aB1!", 32) + "x", []string{CodeMaxLength}},
		{"max/128 multibyte", good, strings.Repeat("é", 125) + "aB1", nil},
		{"max/129 multibyte", good, strings.Repeat("é", 126) + "aB1", []string{CodeMaxLength}},
		{"max/129 and weak", good, strings.Repeat("a", 129), []string{CodeContainsAtLeast, CodeMaxLength}},
		{"max 64/64", Policy{MaxLength: 64}, strings.Repeat("aB1!", 16), nil},
		{"max 64/65", Policy{MaxLength: 64}, strings.Repeat("aB1!", 16) + "x", []string{CodeMaxLength}},
		{"max 1024/1024 four-byte", Policy{MaxLength: 1024}, "aB1" + strings.Repeat("😀", 1021), nil},
		{"max 1024/over MaxBytes", Policy{MaxLength: 1024}, strings.Repeat("a", MaxBytes+1), []string{CodeMaxLength}},

		{"zero value is good", Policy{}, "hello123", []string{CodeContainsAtLeast}},
		{"zero value/8", Policy{}, "hello12!", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := broken(t, tt.p.Check(tt.pw)); !slices.Equal(got, tt.broken) {
				t.Errorf("Check(%q) broke %q, want %q", tt.pw, got, tt.broken)
			}
		})
	}
}

func TestCheckInvalidUTF8(t *testing.T) {
	for _, pw := range []string{
		"aB1!\xffxyzw",
		"\xff",
		"aB1!xyzw\xc3",     // truncated sequence
		"aB1!\xc0\xafxyz",  // overlong "/"
		"aB1!\xed\xa0\x80", // encoded surrogate
	} {
		for _, l := range levels {
			if err := (Policy{Level: l}).Check(pw); !errors.Is(err, ErrInvalidUTF8) {
				t.Errorf("%s: Check(%q) = %v, want ErrInvalidUTF8", l, pw, err)
			}
		}
	}
}

// Over MaxBytes the password is refused before it is decoded.
func TestCheckTooLongBeforeUTF8(t *testing.T) {
	pw := strings.Repeat("\xff", MaxBytes+1)
	if got := broken(t, Policy{}.Check(pw)); !slices.Equal(got, []string{CodeMaxLength}) {
		t.Errorf("broke %q, want [maxLength]", got)
	}
}

func TestCheckInvalidPolicyFailsClosed(t *testing.T) {
	for _, p := range []Policy{{Level: "medium"}, {MinLength: 200}, {MaxLength: 10}} {
		err := p.Check("correct horse Battery staple 1!")
		var pe *Error
		if err == nil || errors.As(err, &pe) {
			t.Errorf("%+v: Check = %v, want a configuration error", p, err)
		}
	}
}

// Golden strings from password-sheriff's test/policies/*.js. Good and excellent use
// "Contain at least", the wording Auth0 still sends; sheriff 1.1.1 reworded it.
var describeGolden = map[Level]string{
	LevelNone: "* Non-empty password required",
	LevelLow:  "* At least 6 characters in length",
	LevelFair: "* At least 8 characters in length\n" +
		"* Should contain:\n" +
		" * lower case letters (a-z)\n" +
		" * upper case letters (A-Z)\n" +
		" * numbers (i.e. 0-9)",
	LevelGood: "* At least 8 characters in length\n" +
		"* Contain at least 3 of the following 4 types of characters:\n" +
		" * lower case letters (a-z)\n" +
		" * upper case letters (A-Z)\n" +
		" * numbers (i.e. 0-9)\n" +
		" * special characters (e.g. !@#$%^&*)",
	LevelExcellent: "* At least 10 characters in length\n" +
		"* Contain at least 3 of the following 4 types of characters:\n" +
		" * lower case letters (a-z)\n" +
		" * upper case letters (A-Z)\n" +
		" * numbers (i.e. 0-9)\n" +
		" * special characters (e.g. !@#$%^&*)\n" +
		"* No more than 2 identical characters in a row (e.g., \"aaa\" not allowed)",
}

func TestDescribe(t *testing.T) {
	for _, l := range levels {
		if got := (Policy{Level: l}).Describe(); got != describeGolden[l] {
			t.Errorf("%s: Describe() =\n%s\nwant\n%s", l, got, describeGolden[l])
		}
	}
	if got, want := (Policy{}).Describe(), describeGolden[DefaultLevel]; got != want {
		t.Errorf("zero Policy: Describe() =\n%s\nwant\n%s", got, want)
	}
	overrides := []struct {
		p    Policy
		want string
	}{
		{Policy{Level: LevelNone, MinLength: 12}, "* At least 12 characters in length"},
		{Policy{Level: LevelLow, MinLength: 1}, "* Non-empty password required"},
		{Policy{Level: LevelGood, MinLength: 15}, strings.Replace(describeGolden[LevelGood], "8", "15", 1)},
		{Policy{Level: LevelGood, MaxLength: 64}, describeGolden[LevelGood]},
	}
	for _, tt := range overrides {
		if got := tt.p.Describe(); got != tt.want {
			t.Errorf("%+v: Describe() =\n%s\nwant\n%s", tt.p, got, tt.want)
		}
	}
}

// sheriff's flatDescriptions indents the first item of a nested list twice.
func TestFlattenNested(t *testing.T) {
	rules := []Rule{{Message: "a", Items: []Rule{{Message: "b", Items: []Rule{{Message: "c"}, {Message: "d"}}}}}}
	var b strings.Builder
	flatten(&b, rules, 0)
	if got, want := b.String(), "* a\n * b\n   * c\n  * d"; got != want {
		t.Errorf("flatten = %q, want %q", got, want)
	}
}

func TestRuleText(t *testing.T) {
	tests := []struct {
		r    Rule
		want string
	}{
		{Rule{Message: "special characters (e.g. !@#$%^&*)"}, "special characters (e.g. !@#$%^&*)"},
		{Rule{Message: "At least %d characters in length", Format: []any{8}}, "At least 8 characters in length"},
		{Rule{Message: `No more than %d identical characters in a row (e.g., "%s" not allowed)`, Format: []any{2, "aaa"}},
			`No more than 2 identical characters in a row (e.g., "aaa" not allowed)`},
		{Rule{Message: "100%% of %d", Format: []any{3}}, "100% of 3"},
		{Rule{Message: "%d and %d", Format: []any{1}}, "1 and %d"},
		{Rule{Message: "extra", Format: []any{1, "x"}}, "extra 1 x"},
		{Rule{Message: "trailing %", Format: []any{1}}, "trailing % 1"},
	}
	for _, tt := range tests {
		if got := tt.r.Text(); got != tt.want {
			t.Errorf("Text(%q, %v) = %q, want %q", tt.r.Message, tt.r.Format, got, tt.want)
		}
	}
}

// The body go-auth0 (authentication/error_test.go) records from Auth0 for a good
// policy and a password with lower case and special characters only.
const auth0Body = `{"name":"PasswordStrengthError","message":"Password is too weak","code":"invalid_password","description":{"rules":[{"message":"At least %d characters in length","format":[8],"code":"lengthAtLeast","verified":true},{"message":"Contain at least %d of the following %d types of characters:","code":"containsAtLeast","format":[3,4],"items":[{"message":"lower case letters (a-z)","code":"lowerCase","verified":true},{"message":"upper case letters (A-Z)","code":"upperCase","verified":false},{"message":"numbers (i.e. 0-9)","code":"numbers","verified":false},{"message":"special characters (e.g. !@#$%^&*)","code":"specialCharacters","verified":true}],"verified":false}],"verified":false},"policy":"* At least 8 characters in length\n* Contain at least 3 of the following 4 types of characters:\n * lower case letters (a-z)\n * upper case letters (A-Z)\n * numbers (i.e. 0-9)\n * special characters (e.g. !@#$%^&*)","statusCode":400}`

func encodeNoEscape(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestErrorJSONMatchesAuth0(t *testing.T) {
	err := Policy{Level: LevelGood}.Check("hello!@#")
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Check = %v, want *Error", err)
	}
	if got := encodeNoEscape(t, pe); got != auth0Body {
		t.Errorf("JSON =\n%s\nwant\n%s", got, auth0Body)
	}

	// The default encoder escapes "&"; the JSON is the same.
	b, jerr := json.Marshal(pe)
	if jerr != nil {
		t.Fatal(jerr)
	}
	var got, want any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(auth0Body), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("json.Marshal =\n%s\nwant the same JSON as\n%s", b, auth0Body)
	}
}

// Key order and "verified" follow sheriff's missing() for every rule kind.
func TestErrorJSONRuleShapes(t *testing.T) {
	tests := []struct {
		p    Policy
		pw   string
		want string
	}{
		{Policy{Level: LevelNone}, "",
			`{"rules":[{"message":"Non-empty password required","code":"nonEmpty","verified":false}],"verified":false}`},
		{Policy{Level: LevelFair}, "abcdefgh",
			`{"rules":[{"message":"At least %d characters in length","format":[8],"code":"lengthAtLeast","verified":true},` +
				`{"message":"Should contain:","code":"shouldContain","verified":false,"items":[` +
				`{"message":"lower case letters (a-z)","code":"lowerCase","verified":true},` +
				`{"message":"upper case letters (A-Z)","code":"upperCase","verified":false},` +
				`{"message":"numbers (i.e. 0-9)","code":"numbers","verified":false}]}],"verified":false}`},
		{Policy{Level: LevelExcellent}, "Passw0rd!!!",
			`{"rules":[{"message":"At least %d characters in length","format":[10],"code":"lengthAtLeast","verified":true},` +
				`{"message":"Contain at least %d of the following %d types of characters:","code":"containsAtLeast","format":[3,4],"items":[` +
				`{"message":"lower case letters (a-z)","code":"lowerCase","verified":true},` +
				`{"message":"upper case letters (A-Z)","code":"upperCase","verified":true},` +
				`{"message":"numbers (i.e. 0-9)","code":"numbers","verified":true},` +
				`{"message":"special characters (e.g. !@#$%^&*)","code":"specialCharacters","verified":true}],"verified":true},` +
				`{"message":"No more than %d identical characters in a row (e.g., \"%s\" not allowed)","code":"identicalChars","format":[2,"aaa"],"verified":false}],"verified":false}`},
		{Policy{Level: LevelLow, MaxLength: 64}, strings.Repeat("x", 65),
			`{"rules":[{"message":"At least %d characters in length","format":[6],"code":"lengthAtLeast","verified":true},` +
				`{"message":"At most %d characters in length","code":"maxLength","format":[64],"verified":false}],"verified":false}`},
		{Policy{Level: LevelLow}, strings.Repeat("x", MaxBytes+1),
			`{"rules":[{"message":"At most %d characters in length","code":"maxLength","format":[128],"verified":false}],"verified":false}`},
	}
	for _, tt := range tests {
		err := tt.p.Check(tt.pw)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("%+v: Check = %v, want *Error", tt.p, err)
		}
		if got := encodeNoEscape(t, pe.Description); got != tt.want {
			t.Errorf("%+v: description =\n%s\nwant\n%s", tt.p, got, tt.want)
		}
		if pe.Name != "PasswordStrengthError" || pe.Message != "Password is too weak" ||
			pe.Code != "invalid_password" || pe.StatusCode != 400 || pe.Policy != tt.p.Describe() {
			t.Errorf("%+v: envelope = %+v", tt.p, pe)
		}
	}
}

// Rules encodes as sheriff's explain(): no "verified".
func TestRulesJSON(t *testing.T) {
	want := `[{"message":"At least %d characters in length","format":[8],"code":"lengthAtLeast"},` +
		`{"message":"Contain at least %d of the following %d types of characters:","code":"containsAtLeast","format":[3,4],"items":[` +
		`{"message":"lower case letters (a-z)","code":"lowerCase"},` +
		`{"message":"upper case letters (A-Z)","code":"upperCase"},` +
		`{"message":"numbers (i.e. 0-9)","code":"numbers"},` +
		`{"message":"special characters (e.g. !@#$%^&*)","code":"specialCharacters"}]}]`
	if got := encodeNoEscape(t, Policy{Level: LevelGood}.Rules()); got != want {
		t.Errorf("Rules JSON =\n%s\nwant\n%s", got, want)
	}
}

func TestErrorString(t *testing.T) {
	const pw = "hunter2"
	err := Policy{Level: LevelGood}.Check(pw)
	want := "policy: password is too weak (breaks lengthAtLeast, containsAtLeast)"
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v, want %q", err, want)
	}
	if strings.Contains(err.Error(), pw) {
		t.Error("Error() contains the password")
	}
}

func TestParseLevel(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Level
		ok   bool
	}{
		{"none", LevelNone, true},
		{"low", LevelLow, true},
		{"fair", LevelFair, true},
		{"good", LevelGood, true},
		{"excellent", LevelExcellent, true},
		{"Good", LevelGood, true},
		{"EXCELLENT", LevelExcellent, true},
		{"", "", false},
		{"medium", "", false},
		{" good", "", false},
	} {
		got, err := ParseLevel(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		p    Policy
		want []string // substrings of the error; none means valid
	}{
		{Policy{}, nil},
		{Policy{Level: LevelNone, MinLength: 1}, nil},
		{Policy{Level: LevelExcellent, MinLength: 128, MaxLength: 128}, nil},
		{Policy{MaxLength: 64}, nil},
		{Policy{MaxLength: 1024}, nil},
		{Policy{Level: "medium"}, []string{`unknown level "medium"`}},
		{Policy{Level: "Good"}, []string{`unknown level "Good"`}},
		{Policy{MinLength: -1}, []string{"min_length -1 out of range 1..128"}},
		{Policy{MinLength: 129}, []string{"min_length 129 out of range"}},
		{Policy{MaxLength: -1}, []string{"max_length -1 out of range 64..1024"}},
		{Policy{MaxLength: 63}, []string{"max_length 63 out of range"}},
		{Policy{MaxLength: 1025}, []string{"max_length 1025 out of range"}},
		{Policy{MinLength: 100, MaxLength: 64}, []string{"min_length 100 exceeds max_length 64"}},
		{Policy{Level: "x", MinLength: 500, MaxLength: 5}, []string{"unknown level", "min_length 500", "max_length 5"}},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%+v: Validate = %v, want nil", tt.p, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v: Validate = nil, want %q", tt.p, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: Validate = %v, want it to contain %q", tt.p, err, w)
			}
		}
	}
}

func TestEffective(t *testing.T) {
	tests := []struct{ in, want Policy }{
		{Policy{}, Policy{Level: LevelGood, MinLength: 8, MaxLength: 128}},
		{Policy{Level: LevelNone}, Policy{Level: LevelNone, MinLength: 1, MaxLength: 128}},
		{Policy{Level: LevelLow}, Policy{Level: LevelLow, MinLength: 6, MaxLength: 128}},
		{Policy{Level: LevelFair}, Policy{Level: LevelFair, MinLength: 8, MaxLength: 128}},
		{Policy{Level: LevelExcellent}, Policy{Level: LevelExcellent, MinLength: 10, MaxLength: 128}},
		{Policy{MinLength: 3, MaxLength: 64}, Policy{Level: LevelGood, MinLength: 3, MaxLength: 64}},
		{Policy{Level: LevelNIST}, Policy{Level: LevelNIST, MinLength: 15, MaxLength: 128, Dictionary: true}},
		{Policy{Level: LevelNIST, MinLength: 8, MaxLength: 256}, Policy{Level: LevelNIST, MinLength: 8, MaxLength: 256, Dictionary: true}},
		{Policy{History: 5, NoPersonalInfo: true, MinZxcvbnScore: 3, Dictionary: true, CustomWords: []string{"acme"}},
			Policy{Level: LevelGood, MinLength: 8, MaxLength: 128, History: 5, NoPersonalInfo: true, MinZxcvbnScore: 3, Dictionary: true, CustomWords: []string{"acme"}}},
	}
	for _, tt := range tests {
		if got := tt.in.Effective(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v.Effective() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// sheriffSpecial is sheriff's special-characters expression, built the same way:
// the OWASP list joined as alternatives.
var sheriffSpecial = func() *regexp.Regexp {
	chars := []string{" ", "!", `"`, "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";",
		"<", "=", ">", "?", "@", "[", `\`, "]", "^", "_", "`", "{", "|", "}", "~"}
	for i, c := range chars {
		chars[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(strings.Join(chars, "|"))
}()

var (
	sheriffUpper = regexp.MustCompile(`[A-Z]`)
	sheriffLower = regexp.MustCompile(`[a-z]`)
	sheriffDigit = regexp.MustCompile(`[0-9]`)
)

// reference is a direct transcription of sheriff's rules, with lengths and runs
// in code points and the maximum length added, to cross-check Check.
func reference(p Policy, pw string) bool {
	e := p.Effective()
	pw = norm.NFC.String(pw)
	runes := []rune(pw)
	if len(runes) < e.MinLength || len(runes) > e.MaxLength {
		return false
	}
	lower, upper := sheriffLower.MatchString(pw), sheriffUpper.MatchString(pw)
	digit, special := sheriffDigit.MatchString(pw), sheriffSpecial.MatchString(pw)
	n := 0
	for _, ok := range []bool{lower, upper, digit, special} {
		if ok {
			n++
		}
	}
	run, longest := 0, 0
	for i, r := range runes {
		if i > 0 && r == runes[i-1] {
			run++
		} else {
			run = 1
		}
		longest = max(longest, run)
	}
	switch e.Level {
	case LevelFair:
		return lower && upper && digit
	case LevelGood:
		return n >= 3
	case LevelExcellent:
		return n >= 3 && longest <= 2
	}
	return true
}

func TestSpecialCharactersMatchSheriff(t *testing.T) {
	for c := range utf8.RuneSelf {
		s := string(rune(c))
		st, _ := scan(s)
		if got, want := st.classes == classSpecial, sheriffSpecial.MatchString(s); got != want {
			t.Errorf("%q: special = %v, sheriff says %v", s, got, want)
		}
	}
}

var fuzzPolicies = []Policy{
	{Level: LevelNone}, {Level: LevelLow}, {Level: LevelFair}, {Level: LevelGood}, {Level: LevelExcellent},
	{Level: LevelGood, MinLength: 12, MaxLength: 64},
	{Level: LevelNone, MaxLength: 64},
	{Level: LevelExcellent, MinLength: 1},
}

// checkProperties asserts what must hold for any password: Check agrees with the
// reference, accepts only passwords within the length bounds, and explains every
// refusal with at least one broken rule.
func checkProperties(t *testing.T, p Policy, pw string) {
	e := p.Effective()
	err := p.Check(pw)
	var pe *Error
	switch {
	case err == nil:
		n := utf8.RuneCountInString(norm.NFC.String(pw))
		if !utf8.ValidString(pw) || len(pw) > MaxBytes || n < e.MinLength || n > e.MaxLength {
			t.Fatalf("%+v accepted %q (%d code points, %d bytes)", p, pw, n, len(pw))
		}
		if !reference(p, pw) {
			t.Fatalf("%+v accepted %q, the reference refuses it", p, pw)
		}
	case errors.Is(err, ErrInvalidUTF8):
		if utf8.ValidString(pw) || len(pw) > MaxBytes {
			t.Fatalf("%+v: ErrInvalidUTF8 for %q", p, pw)
		}
	case errors.As(err, &pe):
		if pe.Description.Verified || len(broken(t, err)) == 0 {
			t.Fatalf("%+v refused %q without a broken rule: %+v", p, pw, pe.Description)
		}
		if utf8.ValidString(pw) && len(pw) <= MaxBytes && reference(p, pw) {
			t.Fatalf("%+v refused %q, the reference accepts it", p, pw)
		}
		if _, err := json.Marshal(pe); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("%+v: Check(%q) = %v", p, pw, err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"",
		"a",
		strings.Repeat("aB1!", 32),
		strings.Repeat("aB1!", 32) + "x",
		strings.Repeat("x", MaxBytes+1),
		"aB1!\xffxyzw",
		"\xed\xa0\x80",
		"aB1\x00xyzw",
		"\x00\x00\x00",
		"😀😀😀Ab1!xyzw",
		"Éclair12 ",
		"hello111HELLO",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		for _, p := range fuzzPolicies {
			checkProperties(t, p, pw)
		}
	})
}

func TestConcurrentCheck(t *testing.T) {
	p := Policy{Level: LevelExcellent}
	done := make(chan bool)
	for range 8 {
		go func() {
			for range 100 {
				_ = p.Check("Passw0rd!!!")
				_ = p.Check("Tr0ub4dor&3x")
			}
			done <- true
		}()
	}
	for range 8 {
		<-done
	}
}

// benchPassword is a typical 12-character password that passes every level.
const benchPassword = "Tr0ub4dor&3x"

var (
	sinkErr error
	sinkInt int
)

// BenchmarkBaseline is the cost of counting the code points of benchPassword, the
// least a length check can do; read BenchmarkCheck as a ratio of it.
func BenchmarkBaseline(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkInt = utf8.RuneCountInString(benchPassword)
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, l := range levels {
		b.Run(string(l), func(b *testing.B) {
			p := Policy{Level: l}
			if err := p.Check(benchPassword); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sinkErr = p.Check(benchPassword)
			}
		})
	}
}

// BenchmarkCheckWeak measures the refusal path, which builds the *Error.
func BenchmarkCheckWeak(b *testing.B) {
	p := Policy{Level: LevelExcellent}
	b.ReportAllocs()
	for b.Loop() {
		sinkErr = p.Check("password")
	}
}
