package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/audit"
	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// The email templates in each enabled language. The default language's text
// is the template itself; another language's is its variant (subject, body,
// text), with the template's settings. See emailtemplates.InLanguage.

// TemplateInLanguage is a template as the users of one language get it, with
// the language and where its text comes from (LanguageOwn, LanguageBuiltIn,
// LanguageDefault).
type TemplateInLanguage = emailtemplates.InLanguage

// VariantVersion is one stored version of a template's text in a language
// other than the default.
type VariantVersion = emailtemplates.VariantVersion

// Where a language's text comes from (TemplateInLanguage.LanguageSource).
const (
	LanguageOwn     = emailtemplates.LanguageOwn
	LanguageBuiltIn = emailtemplates.LanguageBuiltIn
	LanguageDefault = emailtemplates.LanguageDefault
)

// Languages returns the languages the site's emails speak.
func (s *Service) Languages() *templates.Languages { return s.site.Langs() }

// TemplateLanguage returns the enabled language tag names exactly ("" is the
// default language), or a refusal naming the enabled ones.
func (s *Service) TemplateLanguage(tag string) (*templates.Lang, error) {
	langs := s.site.Langs()
	if tag == "" {
		return langs.Default(), nil
	}
	if lang := langs.Lookup(tag); lang != nil {
		return lang, nil
	}
	return nil, invalid("language %s is not enabled; the enabled languages are %s (the default: %s)",
		quoteForMessage(tag), strings.Join(langs.Enabled(), ", "), langs.Default().Tag())
}

// isDefault reports whether lang is the default language, whose text is the
// template itself.
func (s *Service) isDefault(lang *templates.Lang) bool {
	return lang.Tag() == s.site.Langs().Default().Tag()
}

// GetTemplateIn returns the named template as the users of the language tag
// get it.
func (s *Service) GetTemplateIn(ctx context.Context, name, tag string) (*TemplateInLanguage, error) {
	lang, err := s.TemplateLanguage(tag)
	if err != nil {
		return nil, err
	}
	canon, err := s.templateName(name)
	if err != nil {
		return nil, err
	}
	in, err := s.cfg.Templates.InLanguage(ctx, canon, lang)
	if err != nil {
		return nil, s.storeErr("read template", err)
	}
	return in, nil
}

// checkVariantPatch refuses, for a language other than the default, a change
// to what is the template's in every language: only the subject, the bodies,
// and a template name and syntax equal to the current ones may be sent.
func (s *Service) checkVariantPatch(p TemplatePatch, base Template, lang *templates.Lang) error {
	shared := []struct {
		name string
		set  bool
	}{
		{"from", p.From != nil}, {"resultUrl", p.ResultURL != nil}, {"urlLifetimeInSeconds", p.URLLifetimeInSeconds != nil},
		{"includeEmailInRedirect", p.IncludeEmailInRedirect != nil}, {"enabled", p.Enabled != nil},
	}
	var named []string
	for _, f := range shared {
		if f.set {
			named = append(named, f.name)
		}
	}
	if p.Syntax != nil && *p.Syntax != base.Syntax {
		named = append(named, "syntax")
	}
	if len(named) == 0 {
		return nil
	}
	def := s.site.Langs().Default()
	return invalid("%s: the template's for every language, not only %s: send it without language (or with language %q, the default, %s)",
		strings.Join(named, ", "), lang.Tag(), def.Tag(), def.Name())
}

// draftIn returns the template that p makes of name in lang (not the
// default): the text in effect for lang changed by p or, with replace, made
// from p alone, with the template's settings; checked as the template is.
func (s *Service) draftIn(ctx context.Context, name string, lang *templates.Lang, p TemplatePatch, replace bool) (string, Template, error) {
	canon, err := s.templateName(name)
	if err != nil {
		return "", Template{}, err
	}
	if p.Template != nil && *p.Template != name && *p.Template != canon {
		return "", Template{}, invalid("template is %q, but the URL names %q", *p.Template, name)
	}
	cur, err := s.cfg.Templates.InLanguage(ctx, canon, lang)
	if err != nil {
		return "", Template{}, s.storeErr("read template", err)
	}
	if err := s.checkVariantPatch(p, cur.Template, lang); err != nil {
		return "", Template{}, err
	}
	t := cur.Template
	if replace {
		if p.Body == nil {
			return "", Template{}, invalid("Payload validation error: 'Missing required property: body'")
		}
		t.Subject, t.Body, t.Text = "", "", ""
	}
	for _, kv := range []struct {
		dst *string
		v   *string
	}{{&t.Subject, p.Subject}, {&t.Body, p.Body}, {&t.Text, p.Text}} {
		if kv.v != nil {
			*kv.dst = *kv.v
		}
	}
	t.Template = canon
	if _, err := emailtemplates.Check(t); err != nil {
		return "", Template{}, err
	}
	return canon, t, nil
}

// SaveTemplateIn stores a new version of the named template's text in the
// language tag: for the default language, the template itself (SaveTemplate:
// every field may change); for another, its variant, of which only the
// subject, body and text may change. A variant that does not compile changes
// nothing.
func (s *Service) SaveTemplateIn(ctx context.Context, a Actor, name, tag string, p TemplatePatch, replace bool, source string) (*TemplateInLanguage, error) {
	lang, err := s.TemplateLanguage(tag)
	if err != nil {
		return nil, err
	}
	if s.isDefault(lang) {
		if _, err := s.SaveTemplate(ctx, a, name, p, replace, source); err != nil {
			return nil, err
		}
		return s.GetTemplateIn(ctx, name, lang.Tag())
	}
	canon, t, err := s.draftIn(ctx, name, lang, p, replace)
	if err != nil {
		return nil, err
	}
	if _, err := s.storeVariant(ctx, a, canon, lang, emailtemplates.VariantOf(t), source, 0); err != nil {
		return nil, err
	}
	return s.GetTemplateIn(ctx, canon, lang.Tag())
}

func (s *Service) storeVariant(ctx context.Context, a Actor, name string, lang *templates.Lang, v emailtemplates.Variant, source string, restoredFrom int) (*VariantVersion, error) {
	vv, err := s.cfg.Templates.SaveVariant(ctx, name, lang.Tag(), v, source, a.Name, restoredFrom)
	if err != nil {
		return nil, s.storeErr("store template", err)
	}
	desc := fmt.Sprintf("Email template %s in %s changed: version %d", name, lang.Tag(), vv.Version)
	if restoredFrom > 0 {
		desc = fmt.Sprintf("Email template %s in %s restored: version %d is a copy of version %d", name, lang.Tag(), vv.Version, restoredFrom)
	}
	s.record(ctx, audit.Entry{Type: audit.TemplateChanged, Description: desc, Target: name}.By(a))
	s.templateChanged(ctx, a, name, lang.Tag(), vv.Version, source)
	return vv, nil
}

// TemplateVersionsIn returns the stored versions of the named template's
// variant in the language tag (not the default: its versions are
// TemplateVersions'), newest first.
func (s *Service) TemplateVersionsIn(ctx context.Context, name, tag string) ([]VariantVersion, error) {
	lang, canon, err := s.variantTarget(name, tag)
	if err != nil {
		return nil, err
	}
	out, err := s.cfg.Templates.VariantVersions(ctx, canon, lang.Tag())
	if err != nil {
		return nil, s.storeErr("read template versions", err)
	}
	return out, nil
}

// RestoreTemplateIn makes a copy of an earlier version of the named
// template's variant in the language tag (not the default: RestoreTemplate)
// the current one.
func (s *Service) RestoreTemplateIn(ctx context.Context, a Actor, name, tag string, version int) (*VariantVersion, error) {
	lang, canon, err := s.variantTarget(name, tag)
	if err != nil {
		return nil, err
	}
	old, err := s.cfg.Templates.VariantVersion(ctx, canon, lang.Tag(), version)
	if errors.Is(err, emailtemplates.ErrNoVersion) {
		return nil, fail(fault.NotFound, "inexistent_version", "Template %s in %s has no version %d", canon, lang.Tag(), version)
	}
	if err != nil {
		return nil, s.storeErr("read template version", err)
	}
	base, err := s.GetTemplate(ctx, canon)
	if err != nil {
		return nil, err
	}
	t := base.Template
	t.Subject, t.Body, t.Text = old.Template.Subject, old.Template.Body, old.Template.Text
	if _, err := emailtemplates.Check(t); err != nil {
		return nil, err
	}
	return s.storeVariant(ctx, a, canon, lang, old.Template, "restore", version)
}

// variantTarget checks a language other than the default and a template name.
func (s *Service) variantTarget(name, tag string) (*templates.Lang, string, error) {
	lang, err := s.TemplateLanguage(tag)
	if err != nil {
		return nil, "", err
	}
	if s.isDefault(lang) {
		return nil, "", invalid("language %s is the default: its versions are the template's", lang.Tag())
	}
	canon, err := s.templateName(name)
	return lang, canon, err
}

// PreviewTemplateIn renders the named template in the language tag, changed
// by p, for a sample user of that language (the lifetime and date in it).
// For a language other than the default, p may change only the subject and
// bodies. Nothing is stored or sent.
func (s *Service) PreviewTemplateIn(ctx context.Context, name, tag string, p TemplatePatch) (*Preview, error) {
	lang, err := s.TemplateLanguage(tag)
	if err != nil {
		return nil, err
	}
	var t Template
	if s.isDefault(lang) {
		_, t, err = s.draft(ctx, name, p, false)
	} else {
		_, t, err = s.draftIn(ctx, name, lang, p, false)
	}
	if err != nil {
		return nil, err
	}
	email, err := emailtemplates.Check(t)
	if err != nil {
		return nil, err
	}
	return s.renderPreview(t, email, lang)
}
