package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// Template is an email template in the shape of Auth0's Management API object.
type Template = emailtemplates.Template

// TemplateVersion is one stored version of a template.
type TemplateVersion = emailtemplates.Version

// CanonicalTemplate returns the stored name of the template called name (Auth0's
// legacy change_password is reset_email), and whether such a template exists.
func (s *Service) CanonicalTemplate(name string) (string, bool) {
	return s.cfg.Templates.Canonical(name)
}

// TemplateNames returns the names of the editable templates, reset_email first.
func (s *Service) TemplateNames() []string { return s.cfg.Templates.Names() }

func (s *Service) templateName(name string) (string, error) {
	canon, ok := s.cfg.Templates.Canonical(name)
	if !ok {
		return "", fail(fault.NotFound, "inexistent_email_template", "The template does not exist: %s", name)
	}
	return canon, nil
}

// GetTemplate returns the current version of the named template. A template not
// yet in the store is its seed, as version 0.
func (s *Service) GetTemplate(ctx context.Context, name string) (*TemplateVersion, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return nil, err
	}
	tv, err := s.cfg.Templates.Get(ctx, canon)
	if err != nil {
		return nil, s.storeErr("read template", err)
	}
	return tv, nil
}

// TemplateVersions returns the named template's stored versions, newest first.
func (s *Service) TemplateVersions(ctx context.Context, name string) ([]TemplateVersion, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return nil, err
	}
	out, err := s.cfg.Templates.Versions(ctx, canon)
	if err != nil {
		return nil, s.storeErr("read template versions", err)
	}
	return out, nil
}

// TemplatePatch is a change to a template in Auth0's field names; nil fields are
// left as they are (PATCH) or take their defaults (PUT).
type TemplatePatch struct {
	Template               *string
	Body                   *string
	Text                   *string
	From                   *string
	Subject                *string
	Syntax                 *string
	ResultURL              *string
	URLLifetimeInSeconds   *int
	IncludeEmailInRedirect *bool
	Enabled                *bool
}

func (p *TemplatePatch) apply(t *Template) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&t.Body, p.Body)
	set(&t.Text, p.Text)
	set(&t.From, p.From)
	set(&t.Subject, p.Subject)
	set(&t.Syntax, p.Syntax)
	set(&t.ResultURL, p.ResultURL)
	if p.URLLifetimeInSeconds != nil {
		t.URLLifetimeInSeconds = *p.URLLifetimeInSeconds
	}
	if p.IncludeEmailInRedirect != nil {
		t.IncludeEmailInRedirect = *p.IncludeEmailInRedirect
	}
	if p.Enabled != nil {
		t.Enabled = *p.Enabled
	}
}

// draft returns the template that p makes of name: the current version changed by
// p (PATCH, preview) or, with replace, a template from p alone (PUT).
func (s *Service) draft(ctx context.Context, name string, p TemplatePatch, replace bool) (string, Template, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return "", Template{}, err
	}
	if p.Template != nil && *p.Template != name && *p.Template != canon {
		return "", Template{}, invalid("template is %q, but the URL names %q", *p.Template, name)
	}
	var t Template
	if replace {
		if p.Body == nil {
			return "", Template{}, invalid("Payload validation error: 'Missing required property: body'")
		}
		t = Template{Syntax: "liquid", IncludeEmailInRedirect: true, Enabled: true}
	} else {
		cur, err := s.GetTemplate(ctx, canon)
		if err != nil {
			return "", Template{}, err
		}
		t = cur.Template
	}
	p.apply(&t)
	t.Template = canon
	if t.URLLifetimeInSeconds == 0 {
		t.URLLifetimeInSeconds = int(emailtemplates.DefaultURLLifetime / time.Second)
	}
	if _, err := s.checkTemplate(t); err != nil {
		return "", Template{}, err
	}
	return canon, t, nil
}

// checkTemplate refuses what would break or misuse mail (emailtemplates.Check),
// and a Redirect To outside every client's allowed URLs.
func (s *Service) checkTemplate(t Template) (*templates.Email, error) {
	if t.ResultURL != "" {
		if err := s.checkTemplateResultURL(t.ResultURL); err != nil {
			return nil, err
		}
	}
	return emailtemplates.Check(t)
}

// checkTemplateResultURL accepts a Redirect To that some client may use: every
// emailed link of every client would carry it, so it must not be an open redirect.
func (s *Service) checkTemplateResultURL(raw string) error {
	if err := reset.ValidateResultURL(raw); err != nil {
		return invalid("resultUrl: %v", err)
	}
	if len(s.site.Clients) == 0 {
		u, _ := url.Parse(raw)
		if u.Scheme == s.site.PublicURL.Scheme && strings.EqualFold(u.Host, s.site.PublicURL.Host) {
			return nil
		}
		return invalid("resultUrl must be on the public URL's origin when no client is declared")
	}
	var allowed []string
	for _, c := range s.site.Clients {
		if c.CheckResultURL(raw) == nil {
			return nil
		}
		allowed = append(allowed, c.AllowedList())
	}
	return invalid("resultUrl %s is not in any client's allowed_urls (%s)", raw, strings.Join(allowed, ", "))
}

// SaveTemplate stores a new version of the named template: the current one
// changed by p, or with replace (PUT) one made from p alone. A template that does
// not compile changes nothing. source says where the change came from ("api",
// "dashboard").
func (s *Service) SaveTemplate(ctx context.Context, a Actor, name string, p TemplatePatch, replace bool, source string) (*TemplateVersion, error) {
	canon, t, err := s.draft(ctx, name, p, replace)
	if err != nil {
		return nil, err
	}
	return s.storeTemplate(ctx, a, canon, t, source, 0)
}

// CreateTemplate is Auth0's POST /api/v2/email-templates: p names the template
// and is its whole content, as for a PUT, and the template must not exist
// yet, which here means that the one in use is still the built-in default
// (see emailtemplates.Store.Create): else the refusal is Auth0's 409
// "Template <name> already exists.", and nothing is stored.
func (s *Service) CreateTemplate(ctx context.Context, a Actor, p TemplatePatch, source string) (*TemplateVersion, error) {
	if p.Template == nil || *p.Template == "" {
		return nil, invalid("Payload validation error: 'Missing required property: template'")
	}
	name := *p.Template
	if _, ok := s.cfg.Templates.Canonical(name); !ok {
		return nil, invalid("Payload validation error: template %s is not one of the supported templates (%s)",
			quoteForMessage(name), strings.Join(s.TemplateNames(), ", "))
	}
	canon, t, err := s.draft(ctx, name, p, true)
	if err != nil {
		return nil, err
	}
	tv, err := s.cfg.Templates.Create(ctx, t, source, a.Name)
	if errors.Is(err, emailtemplates.ErrExists) {
		return nil, fail(fault.Conflict, "template_exists", "Template %s already exists.", name)
	}
	if err != nil {
		return nil, s.storeErr("create template", err)
	}
	s.record(ctx, audit.Entry{Type: audit.TemplateChanged, Target: canon,
		Description: fmt.Sprintf("Email template %s created: version %d", canon, tv.Version)}.By(a))
	s.templateChanged(ctx, a, canon, "", tv.Version, source)
	return tv, nil
}

func (s *Service) storeTemplate(ctx context.Context, a Actor, name string, t Template, source string, restoredFrom int) (*TemplateVersion, error) {
	tv, err := s.cfg.Templates.Save(ctx, t, source, a.Name, restoredFrom)
	if err != nil {
		return nil, s.storeErr("store template", err)
	}
	desc := fmt.Sprintf("Email template %s changed: version %d", name, tv.Version)
	if restoredFrom > 0 {
		desc = fmt.Sprintf("Email template %s restored: version %d is a copy of version %d", name, tv.Version, restoredFrom)
	}
	s.record(ctx, audit.Entry{Type: audit.TemplateChanged, Description: desc, Target: name}.By(a))
	s.templateChanged(ctx, a, name, "", tv.Version, source)
	return tv, nil
}

// templateChanged tells the events app of a template's new version (lang:
// "" for the template itself, else the language of its variant).
func (s *Service) templateChanged(ctx context.Context, a Actor, name, lang string, version int, source string) {
	if lang == "" {
		lang = s.site.Langs().Default().Tag()
	}
	s.flow.Emit(ctx, reset.EventTemplateChanged, map[string]any{"template": name, "language": lang,
		"version": version, "source": source, "actor": a.Name})
}

// RestoreTemplate makes a copy of an earlier version the current one.
func (s *Service) RestoreTemplate(ctx context.Context, a Actor, name string, version int) (*TemplateVersion, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return nil, err
	}
	old, err := s.cfg.Templates.Version(ctx, canon, version)
	if errors.Is(err, emailtemplates.ErrNoVersion) {
		return nil, fail(fault.NotFound, "inexistent_version", "Template %s has no version %d", canon, version)
	}
	if err != nil {
		return nil, s.storeErr("read template version", err)
	}
	if _, err := s.checkTemplate(old.Template); err != nil {
		return nil, err
	}
	return s.storeTemplate(ctx, a, canon, old.Template, "restore", version)
}

// Preview is a template rendered for a sample user, and what it would be sent as.
type Preview struct {
	From    string `json:"from"`
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
}

// PreviewTemplate renders the named template, changed by p, for a sample user
// with this site's names and a link on its public URL. Nothing is stored or
// sent.
func (s *Service) PreviewTemplate(ctx context.Context, name string, p TemplatePatch) (*Preview, error) {
	_, t, err := s.draft(ctx, name, p, false)
	if err != nil {
		return nil, err
	}
	email, err := s.checkTemplate(t)
	if err != nil {
		return nil, err
	}
	return s.renderPreview(t, email, s.site.Langs().Default())
}

// renderPreview renders email, compiled from t, for a sample user with this
// site's names and a link on its public URL, in lang: the lifetime and the
// date as a user of lang reads them.
func (s *Service) renderPreview(t Template, email *templates.Email, lang *templates.Lang) (*Preview, error) {
	data := templates.SampleData()
	data.URL = s.site.PageURL("/lo/reset", url.Values{"ticket": {"PREVIEW-NOT-A-REAL-TICKET"}})
	data.URLLifetime = lang.Duration(t.URLLifetime())
	data.ChangedAt = lang.Date(time.Date(2006, time.January, 2, 15, 4, 0, 0, time.UTC))
	data.RequestLanguage = lang.Tag()
	data.FriendlyName, data.SupportEmail, data.SupportURL = s.site.FriendlyName, s.site.SupportEmail, s.site.SupportURL
	if client, ok := s.site.Client(""); ok {
		data.Application = templates.ApplicationData{Name: s.site.AppName(client), ClientID: client.ID}
	}
	if conns := s.site.DatabaseConnections(); len(conns) > 0 {
		data.ConnectionName = conns[0]
	}
	r, err := email.Render(data)
	var te *templates.TemplateError
	if errors.As(err, &te) {
		return nil, fail(fault.Invalid, "invalid_template", "%s", te.Error())
	}
	if err != nil {
		return nil, fail(fault.Invalid, "invalid_template", "%v", err)
	}
	return &Preview{From: reset.FirstNonEmpty(t.From, s.site.DefaultFrom), Subject: r.Subject, HTML: r.HTML, Text: r.Text}, nil
}

// AuditLog returns the page'th page (from 0) of perPage entries, newest first,
// and the number of entries kept.
func (s *Service) AuditLog(ctx context.Context, page, perPage int) ([]audit.Entry, int, error) {
	entries, total, err := s.cfg.Audit.Page(ctx, page, perPage)
	if err != nil {
		return nil, 0, s.storeErr("read audit log", err)
	}
	return entries, total, nil
}
