package templates

import (
	"strings"
	"testing"
	"time"
)

// TestTemplatesRenderWithinBounds: a template cannot make a rendering spin or
// fill memory (found by FuzzCompileEmail: a range of 100 million iterations hung
// the compile that checks a template before it is saved). Loops run at most
// maxLoopRuns times in a part, however they nest, and a part is at most
// maxRenderBytes; a template within the bounds renders as before, and the error
// names neither the budget's variable nor its filter.
func TestTemplatesRenderWithinBounds(t *testing.T) {
	refused := map[string]EmailSource{
		"a huge range":         {Subject: "s", HTML: "{% for i in (1..100770000) %}x{% endfor %}"},
		"an empty huge loop":   {Subject: "s", HTML: "{% for i in (1..100000000) %}{% endfor %}"},
		"nested loops":         {Subject: "s", HTML: "{% for a in (1..1000) %}{% for b in (1..1000) %}{% endfor %}{% endfor %}"},
		"a loop in the text":   {Subject: "s", HTML: "<p>hi</p>", Text: "{% for i in (1..20000) %}.{% endfor %}"},
		"a loop in a subject":  {Subject: "{% for i in (1..20000) %}.{% endfor %}", HTML: "<p>hi</p>"},
		"a tablerow":           {Subject: "s", HTML: "<table>{% tablerow i in (1..20000) %}{{ i }}{% endtablerow %}</table>"},
		"over a megabyte":      {Subject: "s", HTML: "{% for i in (1..9000) %}" + strings.Repeat("x", 200) + "{% endfor %}"},
		"a loop in a capture":  {Subject: "s", HTML: "{% capture c %}{% for i in (1..20000) %}.{% endfor %}{% endcapture %}{{ c }}"},
		"over a split name x3": {Subject: "s", HTML: `{% assign p = "abcdefghijklmnopqrstuvwxyz" | split: "" %}{% for a in p %}{% for b in p %}{% for c in p %}.{% endfor %}{% endfor %}{% endfor %}`},
	}
	for name, src := range refused {
		start := time.Now()
		_, err := CompileEmail(src)
		if err == nil {
			t.Errorf("%s: compiled", name)
			continue
		}
		if strings.Contains(err.Error(), budgetVar) || strings.Contains(err.Error(), tickFilter) {
			t.Errorf("%s: the error names the internal budget: %v", name, err)
		}
		if !strings.Contains(err.Error(), "loops run more than") && !strings.Contains(err.Error(), "longer than") {
			t.Errorf("%s: %v, want the bound it passed", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: refused after %s", name, d)
		}
	}
	ok := EmailSource{Subject: "Hi {{ user.name }}", HTML: "<ul>{% for i in (1..100) %}<li>{{ i }}{% else %}none{% endfor %}</ul>{% for i in (1..5) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"}
	e, err := CompileEmail(ok)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Render(SampleData())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.HTML, "<ul><li>1<li>2") || !strings.HasSuffix(r.HTML, "<li>100</ul>12") {
		t.Errorf("a loop within the bounds rendered %q", r.HTML)
	}
}
