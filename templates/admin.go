package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
)

//go:embed admin
var adminFiles embed.FS

// EmailNames returns the names of the built-in emails, sorted.
func EmailNames() []string {
	entries, err := fs.ReadDir(files, "emails")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".subject"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// AdminPages renders the admin dashboard's pages (html/template, server-rendered).
type AdminPages struct {
	byName map[string]*template.Template
}

// The dashboard's pages.
const (
	AdminLogin     = "login"
	AdminUsers     = "users"
	AdminTemplates = "templates"
	AdminOutbox    = "outbox"
	AdminLogs      = "logs"
	AdminMessage   = "message"
)

var adminFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
}

// LoadAdminPages parses the built-in dashboard pages.
func LoadAdminPages() (*AdminPages, error) {
	layout, err := template.New("layout").Funcs(adminFuncs).ParseFS(adminFiles, "admin/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse admin layout: %w", err)
	}
	p := &AdminPages{byName: map[string]*template.Template{}}
	for _, name := range []string{AdminLogin, AdminUsers, AdminTemplates, AdminOutbox, AdminLogs, AdminMessage} {
		t, err := template.Must(layout.Clone()).ParseFS(adminFiles, "admin/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse admin page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// Render writes the named page with data, rendered into a buffer first so that an
// error never leaves half a page behind a 200.
func (p *AdminPages) Render(w io.Writer, name string, data any) error {
	t, ok := p.byName[name]
	if !ok {
		return fmt.Errorf("no admin page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render admin page %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// AdminStatic returns the dashboard's stylesheet and script.
func AdminStatic() fs.FS {
	sub, err := fs.Sub(adminFiles, "admin/static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
