package mailbox

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"
)

//go:embed web.html
var webHTML string

//go:embed style.css
var styleCSS []byte

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"datetime": func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
}).Parse(webHTML))

// Content security policies. Nothing on these pages runs script. The message page
// also allows inline styles, because the mail's HTML (shown in a sandboxed srcdoc
// iframe, which inherits the policy) is usually styled inline; it still cannot
// load anything from the network, so opening a mail does not fetch trackers.
const (
	cspStrict  = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	cspMessage = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	cspRaw     = "default-src 'none'; sandbox; frame-ancestors 'none'"
)

func (b *Box) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", b.list)
	mux.HandleFunc("GET /messages/{id}", b.show)
	mux.HandleFunc("GET /messages/{id}/raw", b.raw)
	mux.HandleFunc("GET /api/messages", b.api)
	mux.HandleFunc("GET /style.css", serveCSS)
	return mux
}

// setHeaders sets the headers every answer carries. Pages hold reset links, which
// are secrets until used: no caching, no referrer.
func setHeaders(w http.ResponseWriter, contentType, csp string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	setHeaders(w, "text/css; charset=utf-8", cspStrict)
	w.Write(styleCSS)
}

func (b *Box) list(w http.ResponseWriter, _ *http.Request) {
	msgs := b.Messages()
	slices.Reverse(msgs)
	render(w, "list", msgs)
}

func (b *Box) show(w http.ResponseWriter, r *http.Request) {
	m, ok := b.lookup(w, r)
	if !ok {
		return
	}
	setHeaders(w, "text/html; charset=utf-8", cspMessage)
	pages.ExecuteTemplate(w, "message", m)
}

func (b *Box) raw(w http.ResponseWriter, r *http.Request) {
	m, ok := b.lookup(w, r)
	if !ok {
		return
	}
	setHeaders(w, "text/plain; charset=utf-8", cspRaw)
	w.Write(m.Raw)
}

func (b *Box) api(w http.ResponseWriter, _ *http.Request) {
	msgs := b.Messages()
	if msgs == nil {
		msgs = []Message{} // [] rather than null
	}
	setHeaders(w, "application/json", cspStrict)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(msgs)
}

// lookup finds the message named by the request's {id}, or answers 404.
func (b *Box) lookup(w http.ResponseWriter, r *http.Request) (Message, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err == nil {
		if m, ok := b.Message(id); ok {
			return m, true
		}
	}
	setHeaders(w, "text/html; charset=utf-8", cspStrict)
	w.WriteHeader(http.StatusNotFound)
	pages.ExecuteTemplate(w, "notfound", nil)
	return Message{}, false
}

// render writes the named page with the strict policy. Template errors can only
// come from the writer (a client gone away), so they are dropped.
func render(w http.ResponseWriter, name string, data any) {
	setHeaders(w, "text/html; charset=utf-8", cspStrict)
	pages.ExecuteTemplate(w, name, data)
}
