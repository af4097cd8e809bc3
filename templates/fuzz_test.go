package templates

import (
	"strings"
	"testing"
)

// FuzzCompileEmail: any template source either compiles or is refused with a
// TemplateError; a compiled one renders without panicking, and user data in the
// HTML part is always escaped, whatever it holds.
func FuzzCompileEmail(f *testing.F) {
	for _, seed := range []string{
		"Hi {{ user.name }}", "{% include '/etc/passwd' %}", "{% render 'x' %}", "{{ user.nmae }}",
		"{% for i in (1..1000000) %}x{% endfor %}", "{{ url | escape }}", "{% if %}", "{{", "{{ user.name | escape }}",
		"{% raw %}{{ url }}{% endraw %}", "{{ 'x' | append: user.email }}",
	} {
		f.Add(seed, "<script>alert(1)</script>")
	}
	f.Fuzz(func(t *testing.T, body, name string) {
		e, err := CompileEmail(EmailSource{Subject: "s", HTML: body})
		if err != nil {
			if _, ok := err.(*TemplateError); !ok {
				t.Fatalf("refusal is not a TemplateError: %T %v", err, err)
			}
			return
		}
		d := SampleData()
		d.User.Name = name
		r, err := e.Render(d)
		if err != nil {
			return // e.g. a loop over something sample data made empty
		}
		if strings.Contains(name, "<") && strings.Contains(body, "{{ user.name }}") &&
			!strings.Contains(body, "{%") && strings.Contains(r.HTML, name) {
			t.Fatalf("user data reached the HTML unescaped: %q", r.HTML)
		}
	})
}
