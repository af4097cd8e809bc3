package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Rule codes, sheriff's stable identifiers. Clients (Auth0 Lock, the change-password
// widget) translate a rule by its code and substitute Format into their own string.
const (
	CodeNonEmpty          = "nonEmpty"
	CodeLengthAtLeast     = "lengthAtLeast"
	CodeMaxLength         = "maxLength"
	CodeShouldContain     = "shouldContain"
	CodeContainsAtLeast   = "containsAtLeast"
	CodeIdenticalChars    = "identicalChars"
	CodeLowerCase         = "lowerCase"
	CodeUpperCase         = "upperCase"
	CodeNumbers           = "numbers"
	CodeSpecialCharacters = "specialCharacters"

	// Ours, for the rules Auth0 keeps outside sheriff (its connection options
	// password_dictionary, password_no_personal_info, password_history) and for
	// the zxcvbn score, which Auth0 does not have.
	CodeNotCommon      = "notCommon"
	CodeNoPersonalInfo = "noPersonalInfo"
	CodeNotReused      = "notReused"
	CodeStrengthScore  = "strengthScore"
)

// Rule is one line of a policy, as sheriff's explain() and missing() give it. Message
// is a printf-style template kept apart from its Format arguments so clients can
// translate it; Text renders both.
type Rule struct {
	Message  string
	Format   []any  // arguments for the %d and %s verbs in Message; nil when it has none
	Code     string // one of the Code constants
	Items    []Rule // sub-rules of a composite rule ("Should contain:")
	Verified bool   // the checked password satisfies the rule

	// checked marks a rule that comes from a check (Error.Description): only those
	// encode "verified", as sheriff's missing() does and its explain() does not.
	checked bool
}

// Text renders Message with Format as sheriff's format helper (Node's util.format)
// does: %d and %s take the next argument, %% is a percent sign, and arguments left
// over are appended after a space. A rule without Format is its Message verbatim, so
// "special characters (e.g. !@#$%^&*)" keeps its percent sign.
func (r Rule) Text() string {
	if len(r.Format) == 0 {
		return r.Message
	}
	var b strings.Builder
	args := r.Format
	for i := 0; i < len(r.Message); i++ {
		c := r.Message[i]
		if c != '%' || i+1 == len(r.Message) {
			b.WriteByte(c)
			continue
		}
		switch verb := r.Message[i+1]; {
		case verb == '%':
			b.WriteByte('%')
			i++
		case (verb == 'd' || verb == 's') && len(args) > 0:
			fmt.Fprint(&b, args[0])
			args = args[1:]
			i++
		default:
			b.WriteByte(c)
		}
	}
	for _, a := range args {
		fmt.Fprint(&b, " ", a)
	}
	return b.String()
}

// MarshalJSON encodes the rule with sheriff's keys in sheriff's order, so a body
// encoded without HTML escaping is byte for byte the one Auth0 sends: message, then
// format and code (format first only for the length rule), then items and verified
// (verified first only for "Should contain:"). Empty fields are left out, and
// verified is present only in rules from a check.
func (r Rule) MarshalJSON() ([]byte, error) {
	var w objectWriter
	w.field("message", r.Message)
	if r.Code == CodeLengthAtLeast {
		w.fieldIf(r.Format != nil, "format", r.Format)
		w.fieldIf(r.Code != "", "code", r.Code)
	} else {
		w.fieldIf(r.Code != "", "code", r.Code)
		w.fieldIf(r.Format != nil, "format", r.Format)
	}
	if r.Code == CodeShouldContain {
		w.fieldIf(r.checked, "verified", r.Verified)
		w.fieldIf(r.Items != nil, "items", r.Items)
	} else {
		w.fieldIf(r.Items != nil, "items", r.Items)
		w.fieldIf(r.checked, "verified", r.Verified)
	}
	return w.bytes()
}

// objectWriter writes a JSON object with keys in the order given. It does not escape
// HTML, like JavaScript's JSON.stringify, so nested rules keep "&" as sheriff does.
type objectWriter struct {
	buf bytes.Buffer
	err error
}

func (w *objectWriter) fieldIf(ok bool, name string, v any) {
	if ok {
		w.field(name, v)
	}
}

func (w *objectWriter) field(name string, v any) {
	if w.err != nil {
		return
	}
	if w.buf.Len() == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	fmt.Fprintf(&w.buf, "%q:", name) // names are fixed ASCII identifiers
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	w.err = enc.Encode(v)
	w.buf.Truncate(w.buf.Len() - 1) // Encode ends each value with a newline
}

// value encodes v alone, as field does.
func (w *objectWriter) value(v any) ([]byte, error) {
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(w.buf.Bytes(), []byte("\n")), nil
}

func (w *objectWriter) bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	w.buf.WriteByte('}')
	return w.buf.Bytes(), nil
}

// Rules returns the policy's rules, sheriff's explain(): what a page lists under
// "Your password must contain:". After sheriff's rules come ours, each when its
// option is on: the strength score ("Be hard to guess (strength score at least
// %d of 4)"), the dictionary ("Not a commonly used password"), personal
// information ("Not based on your name or email address") and history ("Not one
// of your last %d passwords"). The maximum length is not among them, because
// Auth0's lists do not have it; it appears in Error.Description only when broken.
// Verified is false throughout. The slice is new on each call. For a policy that
// fails Validate the list is not meaningful.
func (p Policy) Rules() []Rule {
	e := p.Effective()
	rules := e.strengthRules()
	if e.Dictionary {
		rules = append(rules, Rule{Message: "Not a commonly used password", Code: CodeNotCommon})
	}
	if e.NoPersonalInfo {
		rules = append(rules, Rule{Message: "Not based on your name or email address", Code: CodeNoPersonalInfo})
	}
	if e.History > 0 {
		rules = append(rules, Rule{Message: "Not one of your last %d passwords", Format: []any{e.History}, Code: CodeNotReused})
	}
	return rules
}

// strengthRules are the rules a PasswordStrengthError describes: sheriff's for
// the level, then the zxcvbn score. The dictionary, personal-information and
// history rules have errors of their own. e is an effective policy.
func (e Policy) strengthRules() []Rule {
	rules := []Rule{lengthRule(e.MinLength)}
	switch e.Level {
	case LevelFair:
		rules = append(rules, Rule{
			Message: "Should contain:",
			Code:    CodeShouldContain,
			Items:   classRules(classLower, classUpper, classDigit),
		})
	case LevelGood, LevelExcellent:
		rules = append(rules, Rule{
			Message: "Contain at least %d of the following %d types of characters:",
			Format:  []any{atLeast, 4},
			Code:    CodeContainsAtLeast,
			Items:   classRules(classLower, classUpper, classDigit, classSpecial),
		})
	}
	if e.Level == LevelExcellent {
		rules = append(rules, Rule{
			Message: `No more than %d identical characters in a row (e.g., "%s" not allowed)`,
			Format:  []any{maxIdentical, strings.Repeat("a", maxIdentical+1)},
			Code:    CodeIdenticalChars,
		})
	}
	if e.MinZxcvbnScore > 0 {
		rules = append(rules, Rule{
			Message: "Be hard to guess (strength score at least %d of %d)",
			Format:  []any{e.MinZxcvbnScore, MaxZxcvbnScore},
			Code:    CodeStrengthScore,
		})
	}
	return rules
}

// lengthRule is sheriff's length rule, which words a minimum of 1 as "non-empty".
func lengthRule(min int) Rule {
	if min == 1 {
		return Rule{Message: "Non-empty password required", Code: CodeNonEmpty}
	}
	return Rule{Message: "At least %d characters in length", Format: []any{min}, Code: CodeLengthAtLeast}
}

// maxLengthRule is ours: sheriff has no code-point maximum. It reuses the code of
// sheriff's byte-based maxLength rule so clients that know that code recognise it,
// and words the limit like the minimum.
func maxLengthRule(max int) Rule {
	return Rule{Message: "At most %d characters in length", Format: []any{max}, Code: CodeMaxLength}
}

// classRules returns sheriff's character-class items, in the order given.
func classRules(classes ...class) []Rule {
	rules := make([]Rule, len(classes))
	for i, c := range classes {
		switch c {
		case classLower:
			rules[i] = Rule{Message: "lower case letters (a-z)", Code: CodeLowerCase}
		case classUpper:
			rules[i] = Rule{Message: "upper case letters (A-Z)", Code: CodeUpperCase}
		case classDigit:
			rules[i] = Rule{Message: "numbers (i.e. 0-9)", Code: CodeNumbers}
		case classSpecial:
			rules[i] = Rule{Message: "special characters (e.g. !@#$%^&*)", Code: CodeSpecialCharacters}
		}
	}
	return rules
}

// classOfCode is the class a character-class rule tests.
var classOfCode = map[string]class{
	CodeLowerCase:         classLower,
	CodeUpperCase:         classUpper,
	CodeNumbers:           classDigit,
	CodeSpecialCharacters: classSpecial,
}

// facts is what the strength rules need to know about a password.
type facts struct {
	st    stats
	score int // zxcvbn's score; meaningful only when the policy sets MinZxcvbnScore
}

// verify sets r.Verified from the password's facts, items first, with the same
// checks CheckFor applies. e is an effective policy.
func (e Policy) verify(r *Rule, f facts) {
	st := f.st
	r.checked = true
	passed := 0
	for i := range r.Items {
		e.verify(&r.Items[i], f)
		if r.Items[i].Verified {
			passed++
		}
	}
	switch r.Code {
	case CodeNonEmpty, CodeLengthAtLeast:
		r.Verified = e.lengthOK(st)
	case CodeMaxLength:
		r.Verified = e.maxOK(st)
	case CodeShouldContain:
		r.Verified = passed == len(r.Items)
	case CodeContainsAtLeast:
		r.Verified = passed >= atLeast
	case CodeIdenticalChars:
		r.Verified = st.maxRun <= maxIdentical
	case CodeStrengthScore:
		r.Verified = e.scoreOK(f.score)
	default:
		r.Verified = st.hasAll(classOfCode[r.Code])
	}
}

// Describe returns the policy as sheriff's toString() writes it, the "policy" field
// of the 400 body. For the good level it is
//
//	"* At least 8 characters in length\n* Contain at least 3 of the following 4 types of characters:\n * lower case letters (a-z)\n ..."
func (p Policy) Describe() string {
	var b strings.Builder
	flatten(&b, p.Rules(), 0)
	return b.String()
}

// flatten is sheriff's flatDescriptions: one "* " line per rule, items one space
// deeper. It keeps sheriff's quirk of indenting the first item of a nested list by
// the parent's indent as well, which shows only below the top level.
func flatten(b *strings.Builder, rules []Rule, depth int) {
	indent := strings.Repeat(" ", depth)
	for i, r := range rules {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(indent)
		b.WriteString("* ")
		b.WriteString(r.Text())
		if len(r.Items) > 0 {
			b.WriteByte('\n')
			b.WriteString(indent)
			flatten(b, r.Items, depth+1)
		}
	}
}

// Description is the "description" of an error. For a PasswordStrengthError it is
// sheriff's missing() result: every strength rule with whether the password
// satisfies it, and whether it satisfies them all. For Auth0's other errors it is
// a sentence, Text, which encodes as a JSON string, as Auth0 sends it.
type Description struct {
	Rules    []Rule `json:"rules"`
	Verified bool   `json:"verified"`

	// Text, when not empty, is the whole description, and Rules and Verified are
	// not encoded.
	Text string `json:"-"`
}

// MarshalJSON encodes a Text description as a string, and any other as
// {"rules":[...],"verified":false}, without escaping HTML (see objectWriter).
func (d Description) MarshalJSON() ([]byte, error) {
	var w objectWriter
	if d.Text != "" {
		return w.value(d.Text)
	}
	w.field("rules", d.Rules)
	w.field("verified", d.Verified)
	return w.bytes()
}

// UnmarshalJSON reads either form MarshalJSON writes, so a client in Go can
// decode any of the four bodies into an Error.
func (d *Description) UnmarshalJSON(b []byte) error {
	var text string
	if err := json.Unmarshal(b, &text); err == nil {
		*d = Description{Text: text}
		return nil
	}
	type object Description // without these methods
	var o object
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("policy: decoding description: %w", err)
	}
	*d = Description(o)
	return nil
}

// Error is a password that breaks the policy. Its JSON encoding is the body of
// Auth0's 400 answer to POST /lo/reset, one of four by Name:
//
//	{"name":"PasswordStrengthError","message":"Password is too weak","code":"invalid_password",
//	 "description":{"rules":[...],"verified":false},"policy":"* At least 8 ...","statusCode":400}
//	{"name":"PasswordDictionaryError","message":"Password is too common","code":"invalid_password",
//	 "description":"Password is not allowed, it might be too common.","statusCode":400}
//	{"name":"PasswordNoUserInfoError","message":"Password contains user information","code":"invalid_password",
//	 "description":"Password is based on user information","statusCode":400}
//	{"name":"PasswordHistoryError","message":"Password has previously been used","code":"invalid_password",
//	 "description":"You may not reuse any of the last 5 passwords. This password was used a minute ago.","statusCode":400}
//
// Only PasswordStrengthError has a "policy"; the others have a string
// description (see Description). Encode with SetEscapeHTML(false) to get Auth0's
// bytes exactly; the default encoder writes "&" as \u0026, which is the same JSON.
type Error struct {
	Name        string      `json:"name"`             // NameStrength, NameDictionary, NameNoUserInfo or NameHistory
	Message     string      `json:"message"`          // "Password is too weak", ...
	Code        string      `json:"code"`             // ErrorCode, "invalid_password"
	Description Description `json:"description"`      // which rules the password broke, or a sentence
	Policy      string      `json:"policy,omitempty"` // Describe(), for PasswordStrengthError
	StatusCode  int         `json:"statusCode"`       // 400
}

// Error says which rule the password broke, naming strength rules by code. It
// never contains the password.
func (e *Error) Error() string {
	switch e.Name {
	case NameDictionary:
		return "policy: password is too common"
	case NameNoUserInfo:
		return "policy: password contains user information"
	case NameHistory:
		return "policy: password has previously been used"
	}
	var broken []string
	for _, r := range e.Description.Rules {
		if !r.Verified {
			broken = append(broken, r.Code)
		}
	}
	return "policy: password is too weak (breaks " + strings.Join(broken, ", ") + ")"
}

// weak builds the PasswordStrengthError for a password with facts f. e is an
// effective policy.
func (e Policy) weak(f facts) *Error {
	rules := e.strengthRules()
	if !e.maxOK(f.st) {
		rules = append(rules, maxLengthRule(e.MaxLength))
	}
	for i := range rules {
		e.verify(&rules[i], f)
	}
	return e.newError(rules)
}

// tooLong builds the error for a password over MaxBytes. Such a password is longer
// than any valid MaxLength and was not inspected, so its description names only the
// maximum length.
func (e Policy) tooLong() *Error {
	r := maxLengthRule(e.MaxLength)
	r.checked = true
	return e.newError([]Rule{r})
}

func (e Policy) newError(rules []Rule) *Error {
	return &Error{
		Name:        NameStrength,
		Message:     "Password is too weak",
		Code:        ErrorCode,
		Description: Description{Rules: rules, Verified: false},
		Policy:      e.Describe(),
		StatusCode:  400,
	}
}
