package templates

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

// Page names.
const (
	PageReset   = "reset"
	PageMessage = "message"
	PageForgot  = "forgot"
	PageCancel  = "cancel"
)

// PageData is what the pages show. Each page uses the fields it needs.
type PageData struct {
	// Lang is the language the page is in (nil: English).
	Lang       *Lang
	Title      string
	AppName    string
	AssetsPath string // where static/ is served, e.g. "/lo/assets"
	FormAction string
	CSRF       string
	Error      string

	// reset
	Email string
	// Rules are the rules the page's script checks as the user types (Auth0's
	// "Your password must contain:"); MoreRules are checked by the server only.
	Rules, MoreRules []RuleLine
	// Ref names the ticket without being one (reset.TicketRef): a submit that
	// arrives after the ticket's cookie expired can still be told why the link
	// no longer works.
	Ref string
	// cancel: the hash that names the ticket to cancel (never the ticket)
	CancelID string

	// message
	Message  string
	LinkURL  string
	LinkText string
	// RefreshURL makes the page move on to that URL at once (a meta refresh).
	RefreshURL string

	// forgot
	ClientID   string
	Connection string
	BackURL    string
}

// RuleLine is one rule of the password policy as a page lists it.
type RuleLine struct {
	Code string // the policy's rule code: the reset page's script checks the codes it knows
	Text string
	// Format are the rule's numbers (and example), which a language's wording
	// of the rule fills in (Lang.Rule).
	Format []any
	// Count is the rule's number for the script: the length for a length
	// rule, how many classes for "at least 3 of", how many identical
	// characters in a row are allowed; 0 for the others.
	Count int
	// State is RuleMet or RuleUnmet for a password the server checked, and
	// empty when the rule was not checked.
	State string
	// StateText words State for screen readers, in the page's language.
	StateText string
	// Live says that the page's script checks the rule as the user types: it
	// is listed under "Your password must contain:", the others below.
	Live  bool
	Items []RuleLine
}

// The states of a RuleLine, which are also its CSS classes.
const (
	RuleMet   = "met"
	RuleUnmet = "unmet"
)

// Pages renders the HTML pages.
type Pages struct {
	byName map[string]*template.Template
	// reset is the operator's page for the reset form, or nil.
	reset *ResetPage
}

// UseResetPage replaces the built-in reset form with page (nil: the built-in
// one). Call it before the pages are served.
func (p *Pages) UseResetPage(page *ResetPage) { p.reset = page }

// CustomReset returns the operator's reset form page, or nil.
func (p *Pages) CustomReset() *ResetPage { return p.reset }

// LoadPages parses the built-in pages.
func LoadPages() (*Pages, error) {
	layout, err := template.ParseFS(files, "pages/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse page layout: %w", err)
	}
	p := &Pages{byName: map[string]*template.Template{}}
	for _, name := range []string{PageReset, PageMessage, PageForgot, PageCancel} {
		t, err := template.Must(layout.Clone()).ParseFS(files, "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// Render writes the named page. It renders into a buffer first so that a template
// error never leaves a half-written page behind a 200.
func (p *Pages) Render(w io.Writer, name string, data PageData) error {
	t, ok := p.byName[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	if data.Lang == nil {
		data.Lang = English()
	}
	data.Rules, data.MoreRules = data.Lang.Rules(data.Rules), data.Lang.Rules(data.MoreRules)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render page %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// Static returns the files the pages link to: the stylesheet and the reset page's
// script.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
