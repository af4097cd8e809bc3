package templates

import (
	htmltemplate "html/template"
	"regexp"
	"strings"
	"testing"
	texttemplate "text/template"
)

// Email rendering, with a baseline in this file so the figure reads as a ratio:
//
//	BenchmarkRenderResetEmail        the built-in reset email (subject, HTML, text)
//	                                 rendered by the Liquid engine with Auth0's variables
//	BenchmarkBaselineStdlibTemplates the same three parts, translated to Go's
//	                                 text/template and html/template, with the same data
//
//	go test -run '^$' -bench . -benchmem ./templates

func BenchmarkRenderResetEmail(b *testing.B) {
	src, err := DefaultEmail(ResetEmail, nil)
	if err != nil {
		b.Fatal(err)
	}
	e, err := CompileEmail(src)
	if err != nil {
		b.Fatal(err)
	}
	data := SampleData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	liquidIf    = regexp.MustCompile(`{%\s*if ([a-z_.]+) != "" %}`)
	liquidEndIf = regexp.MustCompile(`{%\s*endif\s*%}`)
	liquidVar   = regexp.MustCompile(`{{\s*([a-z_.]+)\s*}}`)
)

// toGoTemplate translates the subset of Liquid the built-in emails use.
func toGoTemplate(src string) string {
	src = liquidVar.ReplaceAllString(src, "{{.$1}}")
	src = liquidIf.ReplaceAllString(src, "{{if .$1}}")
	return liquidEndIf.ReplaceAllString(src, "{{end}}")
}

func BenchmarkBaselineStdlibTemplates(b *testing.B) {
	src, err := DefaultEmail(ResetEmail, nil)
	if err != nil {
		b.Fatal(err)
	}
	subject := texttemplate.Must(texttemplate.New("subject").Parse(toGoTemplate(src.Subject)))
	html := htmltemplate.Must(htmltemplate.New("html").Parse(toGoTemplate(src.HTML)))
	text := texttemplate.Must(texttemplate.New("text").Parse(toGoTemplate(src.Text)))
	data := map[string]any(SampleData().bindings())
	b.ReportAllocs()
	for b.Loop() {
		var s, h, t strings.Builder
		if err := subject.Execute(&s, data); err != nil {
			b.Fatal(err)
		}
		if err := html.Execute(&h, data); err != nil {
			b.Fatal(err)
		}
		if err := text.Execute(&t, data); err != nil {
			b.Fatal(err)
		}
	}
}
