package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// outcome summarizes a CheckFor result: "" for nil, the error's name and broken
// strength rules for a *Error, "utf8" for ErrInvalidUTF8, "config" otherwise.
func outcome(err error) string {
	var pe *Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInvalidUTF8):
		return "utf8"
	case errors.As(err, &pe):
		if pe.Name != NameStrength {
			return pe.Name
		}
		var codes []string
		for _, r := range pe.Description.Rules {
			if !r.Verified {
				codes = append(codes, r.Code)
			}
		}
		return NameStrength + " " + strings.Join(codes, ",")
	}
	return "config"
}

const (
	strength   = NameStrength + " "
	dictionary = NameDictionary
	noUserInfo = NameNoUserInfo
)

// nfd returns s decomposed, as macOS often sends it.
func nfd(s string) string { return norm.NFD.String(s) }

func TestNIST(t *testing.T) {
	nist := Policy{Level: LevelNIST}
	const (
		p14 = "crème brûlée a"  // 14 code points in NFC
		p15 = "crème brûlée ab" // 15
	)
	if utf8.RuneCountInString(p14) != 14 || utf8.RuneCountInString(nfd(p14)) != 17 {
		t.Fatal("bad test strings")
	}
	tests := []struct {
		name string
		p    Policy
		pw   string
		want string
	}{
		{"14 ASCII", nist, "abcdefghijklmn", strength + CodeLengthAtLeast},
		{"15 ASCII, lower case only", nist, "abcdefghijklmno", ""},
		{"15 digits only", nist, "394857201938475", ""},
		{"15 spaces", nist, strings.Repeat(" ", 15), ""},
		{"14 NFC", nist, p14, strength + CodeLengthAtLeast},
		{"14 in NFC is 17 in NFD, still 14", nist, nfd(p14), strength + CodeLengthAtLeast},
		{"15 NFC", nist, p15, ""},
		{"15 NFD", nist, nfd(p15), ""},
		{"15 emoji", nist, strings.Repeat("🔑", 15), ""},
		{"14 emoji", nist, strings.Repeat("🔑", 14), strength + CodeLengthAtLeast},
		{"no identical-characters rule", nist, strings.Repeat("a", 20), ""},
		{"common, 16", nist, "1qaz2wsx3edc4rfv", dictionary},
		{"common, upper case", nist, "1QAZ2WSX3EDC4RFV", dictionary},
		{"common, 18", nist, "123456789987654321", dictionary},
		{"common but 14: length first", nist, "chickenwing101", strength + CodeLengthAtLeast},
		{"custom word", Policy{Level: LevelNIST, CustomWords: []string{"Acme Widgets Inc."}}, "acme widgets inc.", dictionary},
		{"128", nist, strings.Repeat("abcd", 32), ""},
		{"129", nist, strings.Repeat("abcd", 32) + "e", strength + CodeMaxLength},
		{"max 64/64", Policy{Level: LevelNIST, MaxLength: 64}, strings.Repeat("abcd", 16), ""},
		{"max 64/65", Policy{Level: LevelNIST, MaxLength: 64}, strings.Repeat("abcd", 16) + "e", strength + CodeMaxLength},
		{"MFA min 8/8", Policy{Level: LevelNIST, MinLength: 8}, "abcdefgh", ""},
		{"MFA min 8/7", Policy{Level: LevelNIST, MinLength: 8}, "abcdefg", strength + CodeLengthAtLeast},
		{"MFA min 8, common", Policy{Level: LevelNIST, MinLength: 8}, "password", dictionary},
		{"min 7 is refused", Policy{Level: LevelNIST, MinLength: 7}, "abcdefghijklmnop", "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(tt.p.Check(tt.pw)); got != tt.want {
				t.Errorf("Check(%q) = %q, want %q", tt.pw, got, tt.want)
			}
		})
	}
	if got, want := nist.Describe(), "* At least 15 characters in length\n* Not a commonly used password"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	if l, err := ParseLevel("NIST"); l != LevelNIST || err != nil {
		t.Errorf("ParseLevel(NIST) = %q, %v", l, err)
	}
}

func TestDictionary(t *testing.T) {
	on := Policy{Level: LevelNone, Dictionary: true}
	custom := Policy{Level: LevelNone, Dictionary: true, CustomWords: []string{"Acme-Corp", "Straße", "Crème Brûlée", "ΣΟΦΙΑ"}}
	tests := []struct {
		name string
		p    Policy
		pw   string
		want string
	}{
		{"first entry", on, "123456", dictionary},
		{"last entry", on, "159753456", dictionary},
		{"lower", on, "password", dictionary},
		{"upper", on, "PASSWORD", dictionary},
		{"mixed", on, "PassWord", dictionary},
		{"leet in list", on, "passw0rd", dictionary},
		{"near miss: suffix", on, "password!", ""},
		{"near miss: prefix", on, "xpassword", ""},
		{"near miss: inner space", on, "pass word", ""},
		{"near miss: leading space", on, " password", ""},
		{"near miss: trailing space", on, "password ", ""},
		{"substring is not a match", on, "my dragon is green", ""},
		{"off", Policy{Level: LevelNone}, "password", ""},
		{"off by default", Policy{}, "Password1", ""},
		{"good level, passes strength", Policy{Dictionary: true}, "Password1", dictionary},
		{"good level, fails strength first", Policy{Dictionary: true}, "password", strength + CodeContainsAtLeast},
		{"custom word", custom, "acme-corp", dictionary},
		{"custom word, upper", custom, "ACME-CORP", dictionary},
		{"custom word, near miss", custom, "acme-corp1", ""},
		{"custom word, ß folds to ss", custom, "STRASSE", dictionary},
		{"custom word, NFD password", custom, nfd("crème brûlée"), dictionary},
		{"custom word, upper NFC", custom, "CRÈME BRÛLÉE", dictionary},
		{"custom word, final sigma", custom, "σοφια", dictionary},
		{"list still applies with custom words", custom, "qwerty", dictionary},
		{"ASCII custom word, ß in the password", Policy{Level: LevelNone, Dictionary: true, CustomWords: []string{"STRASSE"}}, "Straße", dictionary},
		{"ASCII custom word, Kelvin sign in the password", Policy{Level: LevelNone, Dictionary: true, CustomWords: []string{"kelvin"}}, "\u212Aelvin", dictionary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(tt.p.Check(tt.pw)); got != tt.want {
				t.Errorf("Check(%q) = %q, want %q", tt.pw, got, tt.want)
			}
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	set := commonPasswords()
	if len(set) != CommonPasswords {
		t.Errorf("the list has %d distinct entries, want %d", len(set), CommonPasswords)
	}
	for key := range set {
		if key != foldKey(key) || key == "" || strings.HasPrefix(key, "#") {
			t.Errorf("entry %q is not a fold key", key)
		}
	}
	if !strings.Contains(commonPasswordsFile, "github.com/trustelem/zxcvbn v1.0.1") {
		t.Error("the list's header does not name its source")
	}
}

func TestPersonalInfo(t *testing.T) {
	on := Policy{Level: LevelNone, NoPersonalInfo: true}
	john := UserInfo{Name: "John", Email: "jane.doe+shop@example.com", Username: "jdoe42@corp.example",
		GivenName: "Al", FamilyName: "Tom", Nickname: "Jöse", Other: []string{"+1 555-123-4567", "1987"}}
	tests := []struct {
		name string
		p    Policy
		user UserInfo
		pw   string
		want string
	}{
		{"Auth0's example: name John", on, john, "John1234", noUserInfo},
		{"name, upper", on, john, "JOHN-rocks", noUserInfo},
		{"name inside", on, john, "xxjohnxx", noUserInfo},
		{"email local part word", on, john, "i am jane!", noUserInfo},
		{"email local part joined", on, john, "JaneDoe!!", noUserInfo},
		{"email local part whole", on, john, "jane.doe+shop", noUserInfo},
		{"email domain is not used", on, john, "example-corp", ""},
		{"3-letter family name ignored", on, john, "tomatoes", ""},
		{"2-letter given name ignored", on, john, "always", ""},
		{"3-letter word of the email ignored", on, john, "doe-eyed", ""},
		{"username local part", on, john, "xjdoe42x", noUserInfo},
		{"username's word", on, john, "jdoe", noUserInfo},
		{"username domain is not used", on, john, "corporate", ""},
		{"nickname NFC password", on, john, "jöse2024", noUserInfo},
		{"nickname NFD password", on, john, nfd("JÖSE2024"), noUserInfo},
		{"other: phone's last digits", on, john, "call 4567 now", noUserInfo},
		{"other: phone digits joined", on, john, "15551234567", noUserInfo},
		{"other: birth year", on, john, "since1987", noUserInfo},
		{"unrelated", on, john, "purple-monkey", ""},
		{"off", Policy{Level: LevelNone}, john, "John1234", ""},
		{"no user info", on, UserInfo{}, "John1234", ""},
		{"blank fields", on, UserInfo{Name: "  ", Other: []string{"", "@"}}, "  @  ", ""},
		{"NFD name, NFC password", on, UserInfo{Name: nfd("Zoë Brontë")}, "zoëbrontë!", noUserInfo},
		{"dictionary first", Policy{Level: LevelNone, Dictionary: true, NoPersonalInfo: true}, UserInfo{Name: "Michael"}, "michael", dictionary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(tt.p.CheckFor(tt.pw, tt.user)); got != tt.want {
				t.Errorf("CheckFor(%q) = %q, want %q", tt.pw, got, tt.want)
			}
		})
	}
	if err := on.Check("John1234"); err != nil {
		t.Errorf("Check without user info = %v, want nil", err)
	}
}

func TestPieces(t *testing.T) {
	u := UserInfo{Email: "John.Smith1987+tag@example.com", Name: "Mary Ann", Other: []string{"+1 555-123-4567"}, Nickname: "Al"}
	want := []string{"+1 555-123-4567", "15551234567", "1987", "4567", "john", "john.smith1987+tag", "johnsmith1987tag", "mary", "mary ann", "maryann", "smith"}
	if got := u.pieces(false); !slices.Equal(got, want) {
		t.Errorf("pieces(false) = %q, want %q", got, want)
	}
	all := u.pieces(true)
	for _, w := range []string{"al", "ann", "tag", "1", "555", "123"} {
		if !slices.Contains(all, w) {
			t.Errorf("pieces(true) = %q, lacks %q", all, w)
		}
	}
}

// Scores of github.com/trustelem/zxcvbn v1.0.1 (zxcvbn 4.4.2) for the passwords
// used below, without user inputs.
var zxcvbnScores = map[string]int{
	"password1":     0,
	"mypassword":    1,
	"Summer2024":    2,
	"purple-monkey": 3,
	"Mark-Twain-42": 4,
}

func TestZxcvbnThresholds(t *testing.T) {
	for pw, score := range zxcvbnScores {
		if got := strengthScore(pw, nil); got != score {
			t.Fatalf("zxcvbn scores %q %d, the table says %d", pw, got, score)
		}
		for min := 1; min <= MaxZxcvbnScore; min++ {
			p := Policy{Level: LevelNone, MinZxcvbnScore: min}
			want := ""
			if score < min {
				want = strength + CodeStrengthScore
			}
			if got := outcome(p.Check(pw)); got != want {
				t.Errorf("min %d: Check(%q) (score %d) = %q, want %q", min, pw, score, got, want)
			}
		}
	}
	// The user's information counts as a dictionary: the same password scores
	// lower for the user it is made of.
	alice := UserInfo{Name: "Alice Smith", Email: "alice.smith@example.com"}
	p := Policy{Level: LevelNone, MinZxcvbnScore: 3}
	if got := outcome(p.Check("alicesmith2024")); got != "" {
		t.Errorf("without user info: %q, want accepted", got)
	}
	if got := outcome(p.CheckFor("alicesmith2024", alice)); got != strength+CodeStrengthScore {
		t.Errorf("for Alice Smith: %q, want the score refused", got)
	}
}

// A long password is scored on its first zxcvbnMaxRunes code points only, so its
// cost is bounded; a weak prefix is refused whatever follows.
func TestZxcvbnLongPassword(t *testing.T) {
	p := Policy{Level: LevelNone, MinZxcvbnScore: 3, MaxLength: 1024}
	strong := strings.Repeat("Mark-Twain-42 ", 80)[:900]
	if got := outcome(p.Check(strong)); got != "" {
		t.Errorf("900 code points of a strong pattern: %q", got)
	}
	weak := strings.Repeat("a", zxcvbnMaxRunes) + strong
	if got := outcome(p.Check(weak)); got != strength+CodeStrengthScore {
		t.Errorf("weak 64-code-point prefix: %q, want refused", got)
	}
}

// Strength rules are reported together, the score among them with its verdict.
func TestStrengthErrorListsScore(t *testing.T) {
	p := Policy{Level: LevelGood, MinZxcvbnScore: 4}
	err := p.Check("Summer2024") // passes good (8+, 3 classes), scores 2
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Check = %v", err)
	}
	want := `{"rules":[{"message":"At least %d characters in length","format":[8],"code":"lengthAtLeast","verified":true},` +
		`{"message":"Contain at least %d of the following %d types of characters:","code":"containsAtLeast","format":[3,4],"items":[` +
		`{"message":"lower case letters (a-z)","code":"lowerCase","verified":true},` +
		`{"message":"upper case letters (A-Z)","code":"upperCase","verified":true},` +
		`{"message":"numbers (i.e. 0-9)","code":"numbers","verified":true},` +
		`{"message":"special characters (e.g. !@#$%^&*)","code":"specialCharacters","verified":false}],"verified":true},` +
		`{"message":"Be hard to guess (strength score at least %d of %d)","code":"strengthScore","format":[4,4],"verified":false}],"verified":false}`
	if got := encodeNoEscape(t, pe.Description); got != want {
		t.Errorf("description =\n%s\nwant\n%s", got, want)
	}
	if !strings.HasSuffix(pe.Policy, "\n* Be hard to guess (strength score at least 4 of 4)") {
		t.Errorf("policy = %q", pe.Policy)
	}
	// Length and score both broken: one error with both.
	if got := outcome(p.Check("Sum2024")); got != strength+CodeLengthAtLeast+","+CodeStrengthScore {
		t.Errorf("short and weak: %q", got)
	}
	// Length broken, score fine: the score's rule is verified.
	if got := outcome(Policy{Level: LevelGood, MinLength: 20, MinZxcvbnScore: 3}.Check("Mark-Twain-42")); got != strength+CodeLengthAtLeast {
		t.Errorf("short but strong: %q", got)
	}
}

// The most specific refusal comes first: strength, dictionary, personal
// information, then the score.
func TestCheckOrder(t *testing.T) {
	all := Policy{Level: LevelLow, Dictionary: true, NoPersonalInfo: true, MinZxcvbnScore: 4}
	user := UserInfo{Name: "Monkey Smith"}
	for _, tt := range []struct{ pw, want string }{
		{"abc", strength + CodeLengthAtLeast + "," + CodeStrengthScore},
		{"monkey", dictionary},
		{"monkeyrocks", noUserInfo},
		{"Summer2024", strength + CodeStrengthScore},
		{"Mark-Twain-42", ""},
	} {
		if got := outcome(all.CheckFor(tt.pw, user)); got != tt.want {
			t.Errorf("CheckFor(%q) = %q, want %q", tt.pw, got, tt.want)
		}
	}
}

// The same password typed in NFC and in NFD gets the same answer under every
// option.
func TestNFCAndNFDAgree(t *testing.T) {
	policies := []Policy{
		{Level: LevelExcellent},
		{Level: LevelNIST},
		{Level: LevelLow, Dictionary: true, CustomWords: []string{"Ünïcödé"}},
		{Level: LevelLow, NoPersonalInfo: true},
		{Level: LevelLow, MinZxcvbnScore: 3},
	}
	user := UserInfo{Name: "Zoë Brontë", Email: "zoë@example.com"}
	for _, pw := range []string{
		"ÜNÏCÖDÉ", "ünïcödé", "Zoë Brontë 1", "zoëbrontë", "Crème brûlée 1!", "ééé", "Ééé-Ààà-1x",
		"한국어 비밀번호 문장입니다", "Ωμέγα-Ἀθῆναι", "ṩ̣̇ṩ̣̇ṩ̣̇ṩ̣̇ṩ̣̇ṩ̣̇ṩ̣̇ṩ̣̇",
	} {
		for _, p := range policies {
			a, b := outcome(p.CheckFor(norm.NFC.String(pw), user)), outcome(p.CheckFor(nfd(pw), user))
			if a != b {
				t.Errorf("%+v: NFC %q gives %q, NFD gives %q", p, pw, a, b)
			}
		}
	}
}

// Bodies as Auth0's /lo/reset sends them (auth0/auth0-custom-password-reset-hosted-page).
var auth0Bodies = map[string]string{
	NameDictionary: `{"name":"PasswordDictionaryError","message":"Password is too common","code":"invalid_password","description":"Password is not allowed, it might be too common.","statusCode":400}`,
	NameNoUserInfo: `{"name":"PasswordNoUserInfoError","message":"Password contains user information","code":"invalid_password","description":"Password is based on user information","statusCode":400}`,
	NameHistory:    `{"name":"PasswordHistoryError","message":"Password has previously been used","code":"invalid_password","description":"You may not reuse any of the last 5 passwords. This password was used a minute ago.","statusCode":400}`,
}

func TestAuth0ErrorBodies(t *testing.T) {
	p := Policy{Level: LevelNone, Dictionary: true, NoPersonalInfo: true}
	errs := map[string]error{
		NameDictionary: p.Check("qwerty"),
		NameNoUserInfo: p.CheckFor("john1234", UserInfo{Name: "John"}),
		NameHistory:    HistoryError(5, time.Minute),
	}
	for name, err := range errs {
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("%s: %v is not a *Error", name, err)
		}
		if got := encodeNoEscape(t, pe); got != auth0Bodies[name] {
			t.Errorf("%s JSON =\n%s\nwant\n%s", name, got, auth0Bodies[name])
		}
		// The default encoder gives the same bytes: there is nothing to escape.
		if b, _ := json.Marshal(pe); string(b) != auth0Bodies[name] {
			t.Errorf("%s json.Marshal = %s", name, b)
		}
		var back Error
		if err := json.Unmarshal([]byte(auth0Bodies[name]), &back); err != nil || !reflect.DeepEqual(&back, pe) {
			t.Errorf("%s: decoding the body gives %+v, %v; want %+v", name, back, err, pe)
		}
		if strings.Contains(err.Error(), "john") || !strings.HasPrefix(err.Error(), "policy: ") {
			t.Errorf("%s: Error() = %q", name, err.Error())
		}
	}
	// A strength error still decodes into rules.
	var back Error
	if err := json.Unmarshal([]byte(auth0Body), &back); err != nil || back.Description.Text != "" || len(back.Description.Rules) != 2 {
		t.Errorf("decoding a PasswordStrengthError: %+v, %v", back.Description, err)
	}
	if err := json.Unmarshal([]byte(`{"description":42}`), &back); err == nil {
		t.Error("decoding a number as a description succeeded")
	}
}

func TestHistoryError(t *testing.T) {
	for _, tt := range []struct {
		size  int
		since time.Duration
		want  string
	}{
		{5, time.Minute, "You may not reuse any of the last 5 passwords. This password was used a minute ago."},
		{2, 24 * time.Hour, "You may not reuse any of the last 2 passwords. This password was used a day ago."},
		{24, 3 * time.Hour, "You may not reuse any of the last 24 passwords. This password was used 3 hours ago."},
		{3, 0, "You may not reuse any of the last 3 passwords."},
		{3, -time.Hour, "You may not reuse any of the last 3 passwords."},
	} {
		e := HistoryError(tt.size, tt.since)
		if e.Description.Text != tt.want || e.Name != NameHistory || e.Code != ErrorCode || e.StatusCode != 400 || e.Policy != "" {
			t.Errorf("HistoryError(%d, %v) = %+v, want description %q", tt.size, tt.since, e, tt.want)
		}
	}
}

// moment.js's documented thresholds for fromNow, in English.
func TestHumanizeAgo(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "a few seconds"},
		{44 * time.Second, "a few seconds"},
		{45 * time.Second, "a minute"},
		{89 * time.Second, "a minute"},
		{90 * time.Second, "2 minutes"},
		{44 * time.Minute, "44 minutes"},
		{44*time.Minute + 30*time.Second, "an hour"},
		{89 * time.Minute, "an hour"},
		{90 * time.Minute, "2 hours"},
		{21 * time.Hour, "21 hours"},
		{21*time.Hour + 30*time.Minute, "a day"},
		{35 * time.Hour, "a day"},
		{36 * time.Hour, "2 days"},
		{25 * day, "25 days"},
		{25*day + 12*time.Hour, "a month"},
		{45 * day, "a month"},
		{46 * day, "2 months"},
		{319 * day, "10 months"},
		{320 * day, "a year"},
		{547 * day, "a year"},
		{548 * day, "2 years"},
		{3650 * day, "10 years"},
	} {
		if got := humanizeAgo(tt.d); got != tt.want {
			t.Errorf("humanizeAgo(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestValidateOptions(t *testing.T) {
	tests := []struct {
		p    Policy
		want []string // substrings of the error; none means valid
	}{
		{Policy{History: 24}, nil},
		{Policy{History: 25}, []string{"history 25 out of range 0..24"}},
		{Policy{History: -1}, []string{"history -1 out of range"}},
		{Policy{MinZxcvbnScore: 4}, nil},
		{Policy{MinZxcvbnScore: 5}, []string{"min_zxcvbn_score 5 out of range 0..4"}},
		{Policy{MinZxcvbnScore: -1}, []string{"min_zxcvbn_score -1 out of range"}},
		{Policy{Dictionary: true, CustomWords: []string{"acme"}}, nil},
		{Policy{Level: LevelNIST, CustomWords: []string{"acme"}}, nil},
		{Policy{CustomWords: []string{"acme"}}, []string{"custom dictionary words are set but the dictionary is off"}},
		{Policy{Dictionary: true, CustomWords: []string{"acme", " "}}, []string{"custom dictionary word 2 is empty"}},
		{Policy{Dictionary: true, CustomWords: []string{"\xff"}}, []string{"word 1 is not valid UTF-8"}},
		{Policy{Dictionary: true, CustomWords: []string{strings.Repeat("x", 1025)}}, []string{"word 1 is longer than 1024"}},
		{Policy{Dictionary: true, CustomWords: make([]string, MaxCustomWords+1)}, []string{"1001 custom dictionary words, more than 1000"}},
		{Policy{Level: LevelNIST, MinLength: 8}, nil},
		{Policy{Level: LevelNIST, MinLength: 7}, []string{"min_length 7 is below 8"}},
		{Policy{Level: LevelNIST, MaxLength: 63}, []string{"max_length 63 out of range"}},
		{Policy{Level: "nist2"}, []string{`unknown level "nist2" (want none, low, fair, good, excellent or nist)`}},
		{Policy{History: 30, MinZxcvbnScore: 9, CustomWords: []string{""}}, []string{"history 30", "min_zxcvbn_score 9", "dictionary is off", "word 1 is empty"}},
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
				t.Errorf("Validate = %v, want it to contain %q", err, w)
			}
		}
		// A bad configuration fails closed.
		if got := outcome(tt.p.Check("Mark-Twain-42 is a fine password")); got != "config" {
			t.Errorf("%+v: Check = %q, want the configuration error", tt.p, got)
		}
	}
}

func TestRulesWithOptions(t *testing.T) {
	p := Policy{Level: LevelFair, Dictionary: true, NoPersonalInfo: true, MinZxcvbnScore: 3, History: 5}
	want := "* At least 8 characters in length\n" +
		"* Should contain:\n" +
		" * lower case letters (a-z)\n" +
		" * upper case letters (A-Z)\n" +
		" * numbers (i.e. 0-9)\n" +
		"* Be hard to guess (strength score at least 3 of 4)\n" +
		"* Not a commonly used password\n" +
		"* Not based on your name or email address\n" +
		"* Not one of your last 5 passwords"
	if got := p.Describe(); got != want {
		t.Errorf("Describe() =\n%s\nwant\n%s", got, want)
	}
	wantJSON := `[{"message":"At least %d characters in length","format":[8],"code":"lengthAtLeast"},` +
		`{"message":"Should contain:","code":"shouldContain","items":[{"message":"lower case letters (a-z)","code":"lowerCase"},` +
		`{"message":"upper case letters (A-Z)","code":"upperCase"},{"message":"numbers (i.e. 0-9)","code":"numbers"}]},` +
		`{"message":"Be hard to guess (strength score at least %d of %d)","code":"strengthScore","format":[3,4]},` +
		`{"message":"Not a commonly used password","code":"notCommon"},` +
		`{"message":"Not based on your name or email address","code":"noPersonalInfo"},` +
		`{"message":"Not one of your last %d passwords","code":"notReused","format":[5]}]`
	if got := encodeNoEscape(t, p.Rules()); got != wantJSON {
		t.Errorf("Rules JSON =\n%s\nwant\n%s", got, wantJSON)
	}
	// The policy string of a strength error lists every rule; its description
	// only the strength rules.
	err := p.Check("abc")
	var pe *Error
	if !errors.As(err, &pe) || pe.Policy != want || len(pe.Description.Rules) != 3 {
		t.Errorf("Check(abc) = %+v", err)
	}
}

// The hooks a test can rely on when the list is first used from many goroutines.
func TestConcurrentCheckFor(t *testing.T) {
	p := Policy{Level: LevelNIST, NoPersonalInfo: true, MinZxcvbnScore: 3}
	user := UserInfo{Name: "Alice Smith", Email: "alice@example.com"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				pw := fmt.Sprintf("correct horse battery %d-%d", i, j)
				if err := p.CheckFor(pw, user); err != nil {
					t.Errorf("CheckFor(%q) = %v", pw, err)
				}
				if err := p.CheckFor("1qaz2wsx3edc4rfv", user); outcome(err) != dictionary {
					t.Errorf("common password: %v", err)
				}
			}
		})
	}
	wg.Wait()
}

var fuzzOptionPolicies = []Policy{
	{Level: LevelNIST},
	{Level: LevelNone, Dictionary: true, CustomWords: []string{"Acme", "Straße"}},
	{Level: LevelLow, NoPersonalInfo: true},
	{Level: LevelNone, MinZxcvbnScore: 2},
	{Level: LevelGood, Dictionary: true, NoPersonalInfo: true, MinZxcvbnScore: 3, History: 5},
	{Level: LevelNIST, MinLength: 8, MaxLength: 64, NoPersonalInfo: true, MinZxcvbnScore: 4},
}

// FuzzCheckFor checks, for any password and user, that CheckFor answers one of
// its documented kinds, that what it accepts obeys every enabled rule, that
// Evaluate marks the rules as CheckFor decided, and that NFC and NFD forms of
// the password get the same answer.
func FuzzCheckFor(f *testing.F) {
	for _, s := range [][3]string{
		{"John1234", "John", "john@example.com"},
		{"password", "", ""},
		{"1qaz2wsx3edc4rfv", "Q", "q@x"},
		{"crème brûlée ab", "Zoë", "zoë@example.com"},
		{"Cre\u0300me bru\u0302le\u0301e ab", "Zoe\u0308", ""},
		{"STRASSE", "", ""},
		{"correct horse battery staple", "Horse", "battery@example.com"},
		{strings.Repeat("😀", 20), "😀😀😀😀", ""},
		{"\xff\xfe", "\xff", "@"},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pw, name, email string) {
		user := UserInfo{Name: name, Email: email}
		for _, p := range fuzzOptionPolicies {
			err := p.CheckFor(pw, user)
			got := outcome(err)
			evaluateAgrees(t, p, pw, user, err)
			switch {
			case got == "config":
				t.Fatalf("%+v: CheckFor(%q) = %v", p, pw, err)
			case got == "":
				e := p.Effective()
				key := foldKey(norm.NFC.String(pw))
				if e.Dictionary && isCommon(key, e.CustomWords) {
					t.Fatalf("%+v accepted common %q", p, pw)
				}
				if e.NoPersonalInfo && containsPersonalInfo(key, user.pieces(false)) {
					t.Fatalf("%+v accepted %q containing %+v", p, pw, user)
				}
				if e.MinZxcvbnScore > 0 && strengthScore(norm.NFC.String(pw), user.pieces(true)) < e.MinZxcvbnScore {
					t.Fatalf("%+v accepted weak %q", p, pw)
				}
			}
			var pe *Error
			if errors.As(err, &pe) {
				if _, err := json.Marshal(pe); err != nil {
					t.Fatal(err)
				}
			}
			if d := nfd(pw); utf8.ValidString(pw) && len(d) <= MaxBytes && len(pw) <= MaxBytes {
				if other := outcome(p.CheckFor(d, user)); other != got {
					t.Fatalf("%+v: %q gives %q, its NFD form %q", p, pw, got, other)
				}
			}
		}
	})
}

// benchWords returns n distinct custom words of assorted lengths, a tenth of
// them not ASCII.
func benchWords(n int) []string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("word%0*d", i%9+1, i)
		if i%10 == 0 {
			words[i] = fmt.Sprintf("wört%d", i)
		}
	}
	return words
}

// benchUser is a typical profile for the option benchmarks.
var benchUser = UserInfo{Name: "Alice Smith", Nickname: "alice", GivenName: "Alice", FamilyName: "Smith",
	Email: "alice.smith@example.com", Username: "asmith"}

// BenchmarkCheckLevelOnly is the baseline: Check with only a level, as before
// the options existed. Read BenchmarkCheckFor as a multiple of it.
func BenchmarkCheckLevelOnly(b *testing.B) {
	p := Policy{Level: LevelGood}
	if err := p.Check(benchPassword); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkErr = p.Check(benchPassword)
	}
}

// BenchmarkCheckFor measures each option alone and all together, on an accepted
// 12-character password (the whole path runs) for a typical profile.
func BenchmarkCheckFor(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Policy
	}{
		{"dictionary", Policy{Level: LevelGood, Dictionary: true}},
		{"personal", Policy{Level: LevelGood, NoPersonalInfo: true}},
		{"zxcvbn", Policy{Level: LevelGood, MinZxcvbnScore: 3}},
		{"nist", Policy{Level: LevelNIST}},
		{"all", Policy{Level: LevelGood, Dictionary: true, CustomWords: []string{"acme", "widgets"}, NoPersonalInfo: true, MinZxcvbnScore: 3}},
		{"1000 custom words", Policy{Level: LevelGood, Dictionary: true, CustomWords: benchWords(MaxCustomWords)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pw := benchPassword
			if bc.p.Level == LevelNIST {
				pw = "Tr0ub4dor&3x-horse"
			}
			if err := bc.p.CheckFor(pw, benchUser); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sinkErr = bc.p.CheckFor(pw, benchUser)
			}
		})
	}
}

// BenchmarkCheckForRefused measures the refusals that end before the estimator.
func BenchmarkCheckForRefused(b *testing.B) {
	p := Policy{Level: LevelNone, Dictionary: true, NoPersonalInfo: true, MinZxcvbnScore: 3}
	for _, pw := range []string{"password1", "alicesmith!"} {
		b.Run(pw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkErr = p.CheckFor(pw, benchUser)
			}
		})
	}
}
