package templates

import (
	"fmt"
	"html"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/osteele/liquid/parser"
	"github.com/osteele/liquid/values"
)

// HTML bodies are escaped at output, not at binding: every object token
// {{ expr }} is compiled as {{ (expr) | outputFilter }}, so the escaping comes
// after the template's own filters. Escaping the variables when they are bound
// would let a filter undo it: url_decode, replace or slice can turn "&lt;img"
// back into "<img" (issue 8, item 11).
//
// The parentheses make any object expression a single operand: Liquid's grammar
// accepts "(x == y)" and "(x | f)" where a filter's receiver goes, but not
// "x == y | f".
const outputFilter = "pwreset_output_html"

// refusedTags are tags no email template may use: include, render and layout
// read files; cycle writes its values without an object node, so they would
// bypass the output escaping. tablerow stays: besides its body, whose outputs
// are escaped, it writes only its own <tr> and <td> with numbered classes.
var refusedTags = map[string]bool{"include": true, "render": true, "layout": true, "cycle": true}

// loopVariables are the names the for and tablerow tags set besides their own.
var loopVariables = []string{"forloop", "tablerowloop"}

// outputHTML is outputFilter: it writes v as Liquid writes an object's value, and
// escapes the result. nil stays nil, so that StrictVariables still reports
// {{ user.nmae }} as an undefined variable.
func outputHTML(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string: // nearly every output
		return html.EscapeString(v)
	}
	var b strings.Builder
	writeValue(&b, v)
	return html.EscapeString(b.String())
}

// writeValue mirrors liquid's render.writeObject (v1.6.0), so that an escaped
// value reads exactly as the unescaped one would: times in Liquid's format,
// arrays as their elements one after the other, pointers by what they point to.
func writeValue(b *strings.Builder, v any) {
	v = values.ToLiquid(v)
	switch v := v.(type) {
	case nil:
		return
	case time.Time:
		b.WriteString(v.Format("2006-01-02 15:04:05 -0700"))
		return
	case []byte:
		b.Write(v)
		return
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Array, reflect.Slice:
		for i := range rv.Len() {
			if item := rv.Index(i); item.IsValid() {
				writeValue(b, item.Interface())
			}
		}
	case reflect.Ptr:
		// writeObject passes the reflect.Value itself on, which fmt prints as
		// the value it holds.
		writeValue(b, rv.Elem())
	default:
		fmt.Fprint(b, v)
	}
}

// escapedSource is an HTML body rewritten for output escaping.
type escapedSource struct {
	src string
	// objects maps each rewritten object token to the template's own text, so
	// that an error names what the operator wrote, not the internal filter.
	objects []rewrite
}

type rewrite struct{ internal, original string }

// original replaces, in an error message from the rewritten template, every
// rewritten object token and expression by the operator's own.
func (s escapedSource) original(msg string) string {
	for _, r := range s.objects {
		msg = strings.ReplaceAll(msg, r.internal, r.original)
	}
	msg = strings.ReplaceAll(msg, tickOutput, "")
	return strings.ReplaceAll(msg, " | "+outputFilter, "")
}

// token is a scanned token with its byte offset in the source.
type token struct {
	parser.Token
	offset int
}

// scanTokens runs Liquid's own scanner, so the rewrite sees exactly the tokens
// the parser will, and keeps the tokens that the parser reads as template code:
// those inside {% raw %} and {% comment %} are written or dropped verbatim and
// are left out. The parser's rules are mirrored: a comment ends at the first
// endcomment, a raw block at the first endraw, and neither nests.
func scanTokens(src string) []token {
	var (
		out              []token
		offset           int
		inRaw, inComment bool
	)
	isTag := func(t parser.Token, name string) bool { return t.Type == parser.TagTokenType && t.Name == name }
	for _, t := range parser.Scan(src, parser.SourceLoc{LineNo: 1}, nil) {
		at := offset
		offset += len(t.Source) // trim markers have no source: the braces' token has it
		switch {
		case inComment:
			inComment = !isTag(t, "endcomment")
		case inRaw:
			inRaw = !isTag(t, "endraw")
		default:
			inRaw, inComment = isTag(t, "raw"), isTag(t, "comment")
			out = append(out, token{Token: t, offset: at})
		}
	}
	return out
}

// emailTemplates is what checkTags' errors call the templates it checks.
const emailTemplates = "email templates"

// checkTags refuses the tags no email template may use, wherever they are (a
// refused tag in a branch the sample data does not take is still refused), and
// names the first one's line.
func checkTags(part string, toks []token) error { return refuseTags(part, emailTemplates, toks) }

// refuseTags is checkTags for templates of kind ("email templates", "the reset
// page").
func refuseTags(part, kind string, toks []token) error {
	for _, t := range toks {
		if t.Type == parser.TagTokenType && refusedTags[t.Name] {
			return &TemplateError{Part: part, Line: t.SourceLoc.LineNo,
				Reason: fmt.Sprintf("the %s tag is not allowed in %s: %s", t.Name, kind, t.Source)}
		}
	}
	return nil
}

// escapeOutputs rewrites every object token of src to end with outputFilter,
// except the output of a variable that only capture sets (see safeCaptures).
// Nothing is added or removed outside the tokens' braces, and no line break is
// inserted, so line numbers in errors stay the operator's.
func escapeOutputs(src string, toks []token, bound []string) (escapedSource, error) {
	safe := safeCaptures(toks, bound)
	var b strings.Builder
	out := escapedSource{}
	last := 0
	for _, t := range toks {
		args := strings.TrimSpace(t.Args)
		if t.Type != parser.ObjTokenType || args == "" || safe[args] {
			continue
		}
		at := argsOffset(t.Source, t.Args)
		if at < 0 {
			return escapedSource{}, fmt.Errorf("cannot place the output escaping in %s", t.Source)
		}
		internal := t.Source[:at] + "(" + t.Args + ") | " + outputFilter + t.Source[at+len(t.Args):]
		b.WriteString(src[last:t.offset])
		b.WriteString(internal)
		last = t.offset + len(t.Source)
		out.objects = append(out.objects, rewrite{internal, t.Source}, rewrite{"(" + t.Args + ") | " + outputFilter, t.Args})
	}
	b.WriteString(src[last:])
	out.src = b.String()
	return out, nil
}

// argsOffset finds the expression in an object token: after "{{", an optional
// trim marker and white space, where the scanner's expression group starts.
func argsOffset(source, args string) int {
	i := len("{{")
	if strings.HasPrefix(source[i:], "-") {
		i++
	}
	for i < len(source) && strings.ContainsRune(" \t\r\n\f\v", rune(source[i])) {
		i++
	}
	if strings.HasPrefix(source[i:], args) {
		return i
	}
	if j := strings.Index(source[len("{{"):], args); j >= 0 {
		return j + len("{{")
	}
	return -1
}

var identifier = regexp.MustCompile(`^[A-Za-z_][\w-]*$`)

// safeCaptures returns the variables whose bare output {{ name }} is written
// unescaped: those set only by {% capture name %}. A capture's text is the
// rendered block, made of the template's own text and of outputs that were
// escaped already; escaping it again would show "&amp;amp;" and the template's
// own markup as text. A name that is bound (user, url...), assigned, or a loop
// variable anywhere in the template may hold something else when it is
// written, and is escaped as usual.
func safeCaptures(toks []token, bound []string) map[string]bool {
	captured, other := map[string]bool{}, map[string]bool{}
	for _, name := range append(bound, loopVariables...) {
		other[name] = true
	}
	for _, t := range toks {
		if t.Type != parser.TagTokenType {
			continue
		}
		args := strings.TrimSpace(t.Args)
		switch t.Name {
		case "capture":
			captured[args] = true
		case "assign":
			name, _, _ := strings.Cut(args, "=")
			other[strings.TrimSpace(name)] = true
		case "for", "tablerow":
			name, _, _ := strings.Cut(args, " ")
			other[strings.TrimSpace(name)] = true
		}
	}
	safe := map[string]bool{}
	for name := range captured {
		if identifier.MatchString(name) && !other[name] {
			safe[name] = true
		}
	}
	return safe
}
