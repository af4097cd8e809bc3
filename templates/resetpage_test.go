package templates

import (
	"errors"
	"strings"
	"testing"
)

// renderResetPage compiles src as a custom reset page and renders it with d.
func renderResetPage(t *testing.T, src string, d ResetPageData) string {
	t.Helper()
	p, err := CompileResetPage(src)
	if err != nil {
		t.Fatalf("CompileResetPage(%q): %v", src, err)
	}
	var b strings.Builder
	if err := p.Render(&b, d); err != nil {
		t.Fatalf("Render(%q): %v", src, err)
	}
	return b.String()
}

// TestResetPageVariables: a custom reset page gets Auth0's variables of its
// Classic reset page (email, ticket, csrf_token, tenant.*, lang,
// password_policy, password_complexity_options, min_length) and ours.
func TestResetPageVariables(t *testing.T) {
	d := SampleResetPageData()
	d.Error = "Password is too weak."
	d.Rules[0].State = RuleUnmet
	for _, tt := range []struct{ src, want string }{
		{`{{ email }}|{{ ticket }}|{{ csrf_token }}|{{ lang }}`, "jane@example.com|SAMPLE-TICKET|SAMPLE-CSRF-TOKEN|en"},
		{`{{ tenant.name }}|{{ tenant.friendly_name }}|{{ tenant.picture_url }}|{{ tenant.support_email }}|{{ tenant.support_url }}`,
			"app.example.com|Example||support@example.com|https://example.com/support"},
		{`{{ password_policy }} {{ min_length | plus: 1 }}`, "good 9"},
		{`<div data-options="{{ password_complexity_options }}">`, `<div data-options="{&#34;min_length&#34;:8}">`},
		{`{{ tenant.colors.primary | default: '#ea5323' }}`, "#ea5323"},
		{`{{ application.name }}/{{ client.clientID }}/{{ connection.name }}`, "Example App/example-app/Username-Password-Authentication"},
		{`{{ form_action }} {{ assets_path }}`, "/lo/reset /lo/assets"},
		{`{% if error %}<p>{{ error }}</p>{% endif %}`, "<p>Password is too weak.</p>"},
		{`{% for r in rules %}[{{ r.code }}={{ r.state }}:{{ r.count }}{% for i in r.items %} {{ i.text }}{% endfor %}]{% endfor %}`,
			"[lengthAtLeast=unmet:8][containsAtLeast=:3 Lower case letters (a-z)]"},
	} {
		if got := renderResetPage(t, tt.src, d); got != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
}

// TestResetPageEscapes: every output of a custom page is HTML-escaped after
// its filters, as in email bodies: an email or an app name cannot become
// markup, in text or in an attribute, whatever the filters do.
func TestResetPageEscapes(t *testing.T) {
	d := SampleResetPageData()
	d.Email = `"><script>alert(1)</script>@example.com`
	d.Application.Name = "%3Cimg%20src%3Dx%3E"
	got := renderResetPage(t, `<input value="{{ email }}"><p>{{ email | escape }}</p><h1>{{ application.name | url_decode }}</h1>`, d)
	want := `<input value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.com">` +
		`<p>&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.com</p><h1>&lt;img src=x&gt;</h1>`
	if got != want {
		t.Errorf("got\n %s\nwant\n %s", got, want)
	}
}

// TestResetPageRefused: a page that cannot work is refused when it is
// compiled, with the line: a syntax error, an unknown variable (also in the
// branch shown only after a refused submit), a tag that reads files.
func TestResetPageRefused(t *testing.T) {
	for _, tt := range []struct {
		src  string
		line int
		want string
	}{
		{"<p>\n{{ emial }}</p>", 2, "undefined variable"},
		{"<p>\n\n{% if error %}{{ eror }}{% endif %}</p>", 3, "undefined variable"},
		{"{% if email %}\n<p>", 1, `unterminated "if" block`},
		{"a\n{% include 'reset.html' %}", 2, "the include tag is not allowed in the reset page"},
		{"{{ email | nofilter }}", 1, "nofilter"},
	} {
		_, err := CompileResetPage(tt.src)
		var te *TemplateError
		if !errors.As(err, &te) || te.Part != "reset page" || te.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CompileResetPage(%q): %v, want a reset page error on line %d with %q", tt.src, err, tt.line, tt.want)
		}
	}
}

// TestResetPageRenderHidesSecrets: an error while rendering (here the loop
// budget, spent by a value the compiled sample did not have) does not quote
// the ticket or the CSRF token.
func TestResetPageRenderHidesSecrets(t *testing.T) {
	p, err := CompileResetPage(`{% for c in email | split: "" %}{% for c2 in email | split: "" %}{% for c3 in email | split: "" %}.{% endfor %}{% endfor %}{% endfor %}{{ ticket }}`)
	if err != nil {
		t.Fatal(err)
	}
	d := SampleResetPageData()
	d.Email = strings.Repeat("x", 100) + "@example.com"
	d.Ticket, d.CSRF = "TICKET-SECRET-123", "CSRF-SECRET-456"
	var b strings.Builder
	err = p.Render(&b, d)
	if err == nil || strings.Contains(err.Error(), d.Ticket) || strings.Contains(err.Error(), d.CSRF) || b.Len() != 0 {
		t.Errorf("Render: %v, wrote %d bytes", err, b.Len())
	}
}
