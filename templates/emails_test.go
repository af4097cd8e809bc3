package templates

import (
	"errors"
	"strings"
	"testing"
)

// renderBody compiles body as an HTML body and renders it for a user called name.
func renderBody(t *testing.T, body, name string) string {
	t.Helper()
	e, err := CompileEmail(EmailSource{Subject: "s", HTML: body})
	if err != nil {
		t.Fatalf("CompileEmail(%q): %v", body, err)
	}
	d := SampleData()
	d.User.Name = name
	r, err := e.Render(d)
	if err != nil {
		t.Fatalf("Render(%q): %v", body, err)
	}
	return r.HTML
}

// TestFiltersCannotUndoEscaping: a user's name reaches the HTML escaped whatever
// the filters between the variable and the output do. When variables were
// escaped as they were bound, url_decode or replace turned "&lt;img" back into
// "<img" (issue 8, item 11).
func TestFiltersCannotUndoEscaping(t *testing.T) {
	const (
		img     = `<img src=x onerror=alert(1)>`
		encoded = `%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E`
		escImg  = `&lt;img src=x onerror=alert(1)&gt;`
		quote   = `x" onmouseover="alert(1)`
	)
	for _, tt := range []struct {
		name, body, user, want string
	}{
		{"url_decode", `{{ user.name | url_decode }}`, encoded, escImg},
		{"replace", `{{ user.name | replace: "&lt;", "<" | replace: "&gt;", ">" }}`, img, escImg},
		{"replace builds markup", `{{ user.name | replace: "[", "<" | replace: "]", ">" }}`, "[img src=x onerror=alert(1)]", escImg},
		{"replace_first", `{{ user.name | replace_first: "[", "<" }}`, "[b>", "&lt;b&gt;"},
		{"remove", `{{ user.name | remove: "amp;" }}`, img, escImg},
		{"append a variable", `{{ "Hi " | append: user.name }}`, img, "Hi " + escImg},
		{"prepend a variable", `{{ "!" | prepend: user.name }}`, img, escImg + "!"},
		{"slice", `{{ user.name | slice: 0, 4 }}`, img, "&lt;img"},
		{"upcase", `{{ user.name | upcase }}`, "<b>", "&lt;B&gt;"},
		{"escape then url_decode", `{{ user.name | escape | url_decode }}`, encoded, escImg},
		{"attribute", `<a title="{{ user.name | url_decode }}">`, strings.ReplaceAll(quote, `"`, "%22"), `<a title="x&#34; onmouseover=&#34;alert(1)">`},
		{"assign then output", `{% assign n = user.name | url_decode %}{{ n }}`, encoded, escImg},
		{"capture then output", `{% capture n %}{{ user.name | url_decode }}{% endcapture %}{{ n }}`, encoded, escImg},
		{"capture then url_decode", `{% capture n %}{{ user.name }}{% endcapture %}{{ n | url_decode }}`, encoded, escImg},
		{"split and join", `{{ user.name | split: "" | join: "" }}`, img, escImg},
		{"array output", `{{ user.name | split: " " }}`, img, "&lt;imgsrc=xonerror=alert(1)&gt;"},
		{"default", `{{ user.nickname | remove: "jane" | default: user.name }}`, img, escImg},
		{"for over split", `{% for w in user.name | split: " " %}{{ w }}{% endfor %}`, img, "&lt;imgsrc=xonerror=alert(1)&gt;"},
		{"trim markers", "a {{- user.name | url_decode -}} b", encoded, "a" + escImg + "b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderBody(t, tt.body, tt.user); got != tt.want {
				t.Errorf("%s with name %q:\n got %s\nwant %s", tt.body, tt.user, got, tt.want)
			}
		})
	}
}

// TestEscapedOnce: the built-in templates and Auth0's, which write
// "| escape", show a name with an ampersand escaped once, as before the
// escaping moved to the output.
func TestEscapedOnce(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{`Hello {{ user.name }}`, `Hello Tom &amp; Jerry`},
		{`Hello {{ user.name | escape }}`, `Hello Tom &amp; Jerry`},
		{`Hello {{ user.name | escape_once }}`, `Hello Tom &amp; Jerry`},
		{`Hello {{ user.name | escape | escape }}`, `Hello Tom &amp; Jerry`},
		{`{% capture who %}<b>{{ user.name }}</b>{% endcapture %}Hello {{ who }}`, `Hello <b>Tom &amp; Jerry</b>`},
		{`{% capture who %}<b>{{ user.name }}</b>{% endcapture %}{% capture hi %}Hello {{ who }}{% endcapture %}{{ hi }}`, `Hello <b>Tom &amp; Jerry</b>`},
		{`{% if user.name contains "&" %}and{% endif %}`, `and`},
		{`{{ user.name | size }}`, `11`},
	} {
		if got := renderBody(t, tt.body, "Tom & Jerry"); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.body, got, tt.want)
		}
	}
	for _, name := range []string{ResetEmail, PasswordChanged} {
		src, err := DefaultEmail(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := CompileEmail(src)
		if err != nil {
			t.Fatal(err)
		}
		d := SampleData()
		d.User.Name, d.Application.Name = "Tom & Jerry", `<b>"Acme"</b>`
		r, err := e.Render(d)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.HTML, "Hello Tom &amp; Jerry,") || !strings.Contains(r.HTML, "the &lt;b&gt;&#34;Acme&#34;&lt;/b&gt; account") {
			t.Errorf("%s: the HTML does not escape the names once:\n%s", name, r.HTML)
		}
		if !strings.Contains(r.Text, "Hello Tom & Jerry,") || !strings.Contains(r.Text, `the <b>"Acme"</b> account`) {
			t.Errorf("%s: the text part is escaped:\n%s", name, r.Text)
		}
	}
}

// TestSubjectAndTextAreNotEscaped: they are not HTML.
func TestSubjectAndTextAreNotEscaped(t *testing.T) {
	e, err := CompileEmail(EmailSource{Subject: "For {{ user.name }}", HTML: "<p>{{ user.name }}</p>", Text: "Hi {{ user.name }}"})
	if err != nil {
		t.Fatal(err)
	}
	d := SampleData()
	d.User.Name = "<Tom & Jerry>"
	r, err := e.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "For <Tom & Jerry>" || r.Text != "Hi <Tom & Jerry>" || r.HTML != "<p>&lt;Tom &amp; Jerry&gt;</p>" {
		t.Errorf("got subject %q, text %q, HTML %q", r.Subject, r.Text, r.HTML)
	}
}

// TestRawAndCommentAreUntouched: the rewrite leaves what Liquid writes or drops
// verbatim alone, and keeps line numbers.
func TestRawAndCommentAreUntouched(t *testing.T) {
	body := "{% raw %}{{ user.name }} {% if %}{% endraw %}|{% comment %}{{ user.name }}{% cycle 'a' %}{% endcomment %}|{{ user.name }}"
	if got, want := renderBody(t, body, "<x>"), "{{ user.name }} {% if %}||&lt;x&gt;"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestTemplateErrors: errors quote what the operator wrote, on the right line,
// and never the internal output filter.
func TestTemplateErrors(t *testing.T) {
	for _, tt := range []struct {
		body   string
		line   int
		reason string
	}{
		{"a\n{{ user.nmae }}", 2, "undefined variable in {{ user.nmae }}"},
		{"a\n\n{{ user.name | nofilter }}", 3, `undefined filter "nofilter" in {{ user.name | nofilter }}`},
		{"a\n{{ user.name | append: }}", 2, `syntax error in "user.name | append:" in {{ user.name | append: }}`},
		{"{{ user.name | url_decode: 3 }}", 1, `error applying filter "url_decode"`},
		{"a\n{% include '/etc/passwd' %}", 2, "the include tag is not allowed in email templates"},
		{"{% if false %}\n{% render 'x' %}{% endif %}", 2, "the render tag is not allowed in email templates"},
		{"{% layout 'x' %}", 1, "the layout tag is not allowed in email templates"},
		{"{% for i in (1..2) %}\n\n{% cycle 'a', 'b' %}{% endfor %}", 3, "the cycle tag is not allowed in email templates"},
	} {
		_, err := CompileEmail(EmailSource{Subject: "s", HTML: tt.body})
		var te *TemplateError
		if !errors.As(err, &te) {
			t.Errorf("%q: got %v, want a TemplateError", tt.body, err)
			continue
		}
		if te.Part != "body" || te.Line != tt.line || !strings.Contains(te.Reason, tt.reason) || strings.Contains(err.Error(), outputFilter) {
			t.Errorf("%q: got %+v, want line %d with %q and no %s", tt.body, te, tt.line, tt.reason, outputFilter)
		}
	}
	for _, part := range []EmailSource{
		{Subject: "{% include 'x' %}", HTML: "b"},
		{Subject: "s", HTML: "b", Text: "{% for i in (1..2) %}{% cycle 'a' %}{% endfor %}"},
	} {
		if _, err := CompileEmail(part); err == nil || !strings.Contains(err.Error(), "not allowed in email templates") {
			t.Errorf("%+v: got %v, want the tag refused", part, err)
		}
	}
}

// TestTablerowIsAllowed: tablerow writes only its own markup around a body whose
// outputs are escaped.
func TestTablerowIsAllowed(t *testing.T) {
	got := renderBody(t, `<table>{% tablerow w in user.name | split: " " %}{{ w }}{% endtablerow %}</table>`, "<a> b")
	if want := `<table><tr class="row1"><td class="col1">&lt;a&gt;</td><td class="col2">b</td></tr></table>`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
