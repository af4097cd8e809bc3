package reset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// templateAliases maps Auth0's legacy template names to ours.
var templateAliases = map[string]string{"change_password": templates.ResetEmail}

// MaxTemplateLifetime bounds a template's urlLifetimeInSeconds.
const MaxTemplateLifetime = 30 * 24 * time.Hour

// CanonicalTemplate returns the stored name of the template called name (Auth0's
// legacy change_password is reset_email), and whether such a template exists: one
// with a built-in default or seeded by the configuration. New templates need no
// change here: a built-in email is a template.
func (s *Service) CanonicalTemplate(name string) (string, bool) {
	if alias, ok := templateAliases[name]; ok {
		name = alias
	}
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "", false
	}
	if _, ok := s.cfg.Emails[name]; ok {
		return name, true
	}
	_, err := templates.DefaultEmail(name)
	return name, err == nil
}

// TemplateNames returns the names of the editable templates, reset_email first.
func (s *Service) TemplateNames() []string {
	names := []string{templates.ResetEmail}
	for name := range s.cfg.Emails {
		if name != templates.ResetEmail {
			names = append(names, name)
		}
	}
	for _, n := range templates.EmailNames() {
		if !contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Service) templateName(name string) (string, error) {
	canon, ok := s.CanonicalTemplate(name)
	if !ok {
		return "", adminErr(404, "inexistent_email_template", "The template does not exist: %s", name)
	}
	return canon, nil
}

// GetTemplate returns the current version of the named template. A template not
// yet in the store (one the service has not seeded) is its built-in default, as
// version 0.
func (s *Service) GetTemplate(ctx context.Context, name string) (*TemplateVersion, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return nil, err
	}
	var tv *TemplateVersion
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		head, err := headVersion(tx, canon)
		if err != nil || head == 0 {
			return err
		}
		tv, err = readVersion(tx, canon, head)
		return err
	})
	if err != nil {
		return nil, s.storeErr("read template", err)
	}
	if tv == nil {
		t, err := s.seedTemplate(canon)
		if err != nil {
			return nil, err
		}
		tv = &TemplateVersion{Template: t, Source: "default"}
	}
	return tv, nil
}

// seedTemplate is what the configuration says for name: the Caddyfile's, else the
// built-in default.
func (s *Service) seedTemplate(name string) (EmailTemplate, error) {
	if t, ok := s.cfg.Emails[name]; ok {
		return t, nil
	}
	return DefaultEmailTemplate(name)
}

func readVersion(tx storage.Tx, name string, v int) (*TemplateVersion, error) {
	data, err := tx.Get(tplVersionKey(name, v))
	if err != nil {
		return nil, fmt.Errorf("template %s version %d: %w", name, v, err)
	}
	var tv TemplateVersion
	if err := json.Unmarshal(data, &tv); err != nil {
		return nil, fmt.Errorf("decode template %s version %d: %w", name, v, err)
	}
	return &tv, nil
}

// TemplateVersions returns the named template's stored versions, newest first.
func (s *Service) TemplateVersions(ctx context.Context, name string) ([]TemplateVersion, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return nil, err
	}
	var out []TemplateVersion
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan("tpl/"+canon+"/v/", "", func(_ string, value []byte) error {
			var tv TemplateVersion
			if err := json.Unmarshal(value, &tv); err != nil {
				return err
			}
			out = append(out, tv)
			return nil
		})
	})
	if err != nil {
		return nil, s.storeErr("read template versions", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
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

func (p *TemplatePatch) apply(t *EmailTemplate) {
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
func (s *Service) draft(ctx context.Context, name string, p TemplatePatch, replace bool) (string, EmailTemplate, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return "", EmailTemplate{}, err
	}
	if p.Template != nil && *p.Template != name && *p.Template != canon {
		return "", EmailTemplate{}, adminErr(400, "invalid_body", "template is %q, but the URL names %q", *p.Template, name)
	}
	var t EmailTemplate
	if replace {
		if p.Body == nil {
			return "", EmailTemplate{}, adminErr(400, "invalid_body", "Payload validation error: 'Missing required property: body'")
		}
		t = EmailTemplate{Syntax: "liquid", IncludeEmailInRedirect: true, Enabled: true}
	} else {
		cur, err := s.GetTemplate(ctx, canon)
		if err != nil {
			return "", EmailTemplate{}, err
		}
		t = cur.Template
	}
	p.apply(&t)
	t.Template = canon
	if t.URLLifetimeInSeconds == 0 {
		t.URLLifetimeInSeconds = int(DefaultURLLifetime / time.Second)
	}
	if _, err := s.checkTemplate(t); err != nil {
		return "", EmailTemplate{}, err
	}
	return canon, t, nil
}

// checkTemplate refuses what would break or misuse mail: a syntax error or an
// unknown variable (with the part, line and reason), a From that is not one
// address, a Redirect To outside every client's allowed URLs.
func (s *Service) checkTemplate(t EmailTemplate) (*templates.Email, error) {
	if t.Syntax != "liquid" {
		return nil, adminErr(400, "invalid_body", "syntax must be \"liquid\"")
	}
	if t.From != "" {
		if strings.ContainsAny(t.From, "\r\n\x00") {
			return nil, adminErr(400, "invalid_body", "from must be one line")
		}
		if _, err := mail.ParseAddress(t.From); err != nil {
			return nil, adminErr(400, "invalid_body", "from is not an email address: %v", err)
		}
	}
	if strings.ContainsRune(t.Subject, 0) {
		return nil, adminErr(400, "invalid_body", "subject contains a NUL character")
	}
	lifetime := time.Duration(t.URLLifetimeInSeconds) * time.Second
	if lifetime < time.Minute || lifetime > MaxTemplateLifetime {
		return nil, adminErr(400, "invalid_body", "urlLifetimeInSeconds must be between 60 and %d", int(MaxTemplateLifetime/time.Second))
	}
	if t.ResultURL != "" {
		if err := s.checkTemplateResultURL(t.ResultURL); err != nil {
			return nil, err
		}
	}
	email, err := templates.CompileEmail(t.source())
	var te *templates.TemplateError
	if errors.As(err, &te) {
		return nil, adminErr(400, "invalid_template", "The template was not saved: %s", te.Error())
	}
	if err != nil {
		return nil, adminErr(400, "invalid_template", "The template was not saved: %v", err)
	}
	return email, nil
}

// checkTemplateResultURL accepts a Redirect To that some client may use: every
// emailed link of every client would carry it, so it must not be an open redirect.
func (s *Service) checkTemplateResultURL(raw string) error {
	if err := ValidateResultURL(raw); err != nil {
		return adminErr(400, "invalid_body", "resultUrl: %v", err)
	}
	if len(s.cfg.Clients) == 0 {
		u, _ := url.Parse(raw)
		if u.Scheme == s.cfg.PublicURL.Scheme && strings.EqualFold(u.Host, s.cfg.PublicURL.Host) {
			return nil
		}
		return adminErr(400, "invalid_body", "resultUrl must be on the public URL's origin when no client is declared")
	}
	var allowed []string
	for _, c := range s.cfg.Clients {
		if c.CheckResultURL(raw) == nil {
			return nil
		}
		allowed = append(allowed, allowedList(c))
	}
	return adminErr(400, "invalid_body", "resultUrl %s is not in any client's allowed_urls (%s)", raw, strings.Join(allowed, ", "))
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

func (s *Service) storeTemplate(ctx context.Context, a Actor, name string, t EmailTemplate, source string, restoredFrom int) (*TemplateVersion, error) {
	var tv *TemplateVersion
	err := storage.UpdateRetry(ctx, s.cfg.Store, func(tx storage.Tx) error {
		if err := s.ensureSeeded(tx, name); err != nil {
			return err
		}
		v, err := s.emails.putVersion(tx, t, source, a.Name)
		if err != nil {
			return err
		}
		if tv, err = readVersion(tx, name, v); err != nil {
			return err
		}
		if restoredFrom == 0 {
			return nil
		}
		tv.RestoredFrom = restoredFrom
		data, err := json.Marshal(tv)
		if err != nil {
			return err
		}
		return tx.Set(tplVersionKey(name, v), data, 0)
	})
	if err != nil {
		return nil, s.storeErr("store template", err)
	}
	desc := fmt.Sprintf("Email template %s changed: version %d", name, tv.Version)
	if restoredFrom > 0 {
		desc = fmt.Sprintf("Email template %s restored: version %d is a copy of version %d", name, tv.Version, restoredFrom)
	}
	s.auditAdmin(ctx, a, AuditEntry{Type: AuditTemplateChanged, Description: desc, Target: name})
	return tv, nil
}

// ensureSeeded stores the configured template as version 1 before a first edit of
// a template the service has not seeded, so the history starts from it.
func (s *Service) ensureSeeded(tx storage.Tx, name string) error {
	head, err := headVersion(tx, name)
	if err != nil || head > 0 {
		return err
	}
	t, err := s.seedTemplate(name)
	if err != nil {
		return err
	}
	_, err = s.emails.putVersion(tx, t, "default", "")
	return err
}

// RestoreTemplate makes a copy of an earlier version the current one.
func (s *Service) RestoreTemplate(ctx context.Context, a Actor, name string, version int) (*TemplateVersion, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return nil, err
	}
	var old *TemplateVersion
	err = s.cfg.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		old, err = readVersion(tx, canon, version)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) || version <= 0 {
		return nil, adminErr(404, "inexistent_version", "Template %s has no version %d", canon, version)
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
// with this service's names and a link on its public URL. Nothing is stored or
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
	data := templates.SampleData()
	u := *s.cfg.PublicURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/lo/reset"
	u.RawPath, u.RawQuery, u.Fragment = "", "ticket=PREVIEW-NOT-A-REAL-TICKET", ""
	data.URL = u.String()
	data.URLLifetime = lifetimeWords(t.URLLifetime())
	data.FriendlyName, data.SupportEmail, data.SupportURL = s.cfg.FriendlyName, s.cfg.SupportEmail, s.cfg.SupportURL
	if client, ok := s.Client(""); ok {
		data.Application = templates.ApplicationData{Name: s.appName(client), ClientID: client.ID}
	}
	if conns := s.DatabaseConnections(); len(conns) > 0 {
		data.ConnectionName = conns[0]
	}
	r, err := email.Render(data)
	var te *templates.TemplateError
	if errors.As(err, &te) {
		return nil, adminErr(400, "invalid_template", "%s", te.Error())
	}
	if err != nil {
		return nil, adminErr(400, "invalid_template", "%v", err)
	}
	return &Preview{From: firstNonEmpty(t.From, s.cfg.DefaultFrom), Subject: r.Subject, HTML: r.HTML, Text: r.Text}, nil
}
