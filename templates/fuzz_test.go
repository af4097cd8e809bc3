package templates

import (
	"strings"
	"testing"

	"github.com/osteele/liquid/parser"
)

// FuzzCompileEmail: any template source either compiles or is refused with a
// TemplateError that does not name the internal output filter; a compiled one
// renders without panicking, and user data in the HTML part is always escaped,
// whatever filters it goes through. The last property is checked exactly for
// bodies without tags: there every '<', '>' and '"' of the HTML must come from
// the template's own text, so the HTML has as many as the text has, whatever
// the user's name holds. (With tags, what is written may depend on the name,
// and no such count holds; the unit tests cover the tags.)
func FuzzCompileEmail(f *testing.F) {
	for _, seed := range []string{
		"Hi {{ user.name }}", "{% include '/etc/passwd' %}", "{% render 'x' %}", "{{ user.nmae }}",
		"{% for i in (1..1000000) %}x{% endfor %}", "{{ url | escape }}", "{% if %}", "{{", "{{ user.name | escape }}",
		"{% raw %}{{ url }}{% endraw %}", "{{ 'x' | append: user.email }}", "{{ user.name | url_decode }}",
		`<a title="{{ user.name | replace: '[', '<' }}">`, "{{- user.name | slice: 1, 3 -}}", "{{ user.name | split: '' }}",
		"{% capture c %}<b>{{ user.name }}</b>{% endcapture %}{{ c }}", "{% assign n = user.name | upcase %}{{ n }}",
	} {
		f.Add(seed, "<script>alert(1)</script>")
		f.Add(seed, `%3Cimg%20src%3Dx%3E" onload="x`)
	}
	f.Fuzz(func(t *testing.T, body, name string) {
		e, err := CompileEmail(EmailSource{Subject: "s", HTML: body})
		if err != nil {
			if _, ok := err.(*TemplateError); !ok {
				t.Fatalf("refusal is not a TemplateError: %T %v", err, err)
			}
			if strings.Contains(err.Error(), outputFilter) && !strings.Contains(body, outputFilter) {
				t.Fatalf("the error names the internal filter: %v", err)
			}
			return
		}
		d := SampleData()
		d.User.Name = name
		r, err := e.Render(d)
		if err != nil {
			return // e.g. a loop over something sample data made empty
		}
		text, tagFree := templateText(body)
		if !tagFree {
			return
		}
		for _, c := range []string{"<", ">", `"`} {
			if got, want := strings.Count(r.HTML, c), strings.Count(text, c); got != want {
				t.Fatalf("the HTML has %d %s where the template's text has %d: user data reached it unescaped: %q", got, c, want, r.HTML)
			}
		}
	})
}

// templateText returns the text between body's tokens, as Liquid's scanner
// splits it, and whether body has no tag.
func templateText(body string) (string, bool) {
	var b strings.Builder
	for _, tok := range parser.Scan(body, parser.SourceLoc{LineNo: 1}, nil) {
		switch tok.Type {
		case parser.TagTokenType:
			return "", false
		case parser.TextTokenType:
			b.WriteString(tok.Source)
		}
	}
	return b.String(), true
}
