package emailtemplates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// A template speaks every enabled language. The default language's text is
// the template itself (its versions under tpl/<name>/v/); each other language
// may have a variant of its own, kept with its versions beside it:
//
//	tpl/<name>/lang/<tag>/head      the current variant version, as for the template
//	tpl/<name>/lang/<tag>/v/%08d    each variant version (a VariantVersion)
//
// A variant holds a subject, an HTML body and an optional text part; the
// settings (from, result URL, lifetime, redirect, enabled, syntax) are the
// template's for every language. A language without a variant gets the
// built-in email written in it while the template's text is the built-in one,
// and the template's (default language's) text once an operator changed it:
// never an empty mail.

// Variant is a template's text in one language other than the default.
type Variant struct {
	Template string `json:"template"`
	Subject  string `json:"subject"`
	Body     string `json:"body"`
	Text     string `json:"text,omitempty"` // empty derives it from Body
}

// VariantVersion is one stored version of a variant.
type VariantVersion struct {
	Version   int       `json:"version"`
	Language  string    `json:"language"`
	Template  Variant   `json:"template"`
	Source    string    `json:"source"` // "api", "dashboard" or "restore"
	Author    string    `json:"author,omitempty"`
	CreatedAt time.Time `json:"created_at"`

	// RestoredFrom is the version this one copies, for a restore.
	RestoredFrom int `json:"restored_from,omitempty"`
}

// Where the text a language gets comes from (InLanguage.LanguageSource).
const (
	// LanguageOwn: the operator's own text for this language: its stored
	// variant or, for the default language, a template that is no longer the
	// built-in one.
	LanguageOwn = "own"
	// LanguageBuiltIn: the built-in email written in this language (the
	// template's text is still the built-in one).
	LanguageBuiltIn = "built-in"
	// LanguageDefault: the language has no text of its own and the template's
	// was changed: it gets the default language's text.
	LanguageDefault = "default-language"
)

// InLanguage is a template as the users of one language get it: the
// template's settings with the language's subject and bodies.
type InLanguage struct {
	Template
	Language       string `json:"language"`
	LanguageSource string `json:"languageSource"`
	// Version is the variant's version for a variant of its own, else the
	// template's (0 before the store has one).
	Version int `json:"-"`
}

// with returns t with v's text.
func (v Variant) with(t Template) Template {
	t.Subject, t.Body, t.Text = v.Subject, v.Body, v.Text
	return t
}

// VariantOf returns t's text as a variant.
func VariantOf(t Template) Variant {
	return Variant{Template: t.Template, Subject: t.Subject, Body: t.Body, Text: t.Text}
}

func variantHeadKey(name, tag string) string { return "tpl/" + name + "/lang/" + tag + "/head" }
func variantVersionKey(name, tag string, v int) string {
	return fmt.Sprintf("tpl/%s/lang/%s/v/%08d", name, tag, v)
}
func variantVersionsPrefix(name, tag string) string { return "tpl/" + name + "/lang/" + tag + "/v/" }

// variantLang returns the enabled language that tag names, which must not be
// the default (whose text is the template itself).
func (s *Store) variantLang(tag string) (*templates.Lang, error) {
	lang := s.langs.Lookup(tag)
	if lang == nil {
		return nil, fmt.Errorf("language %q is not enabled (enabled: %s)", tag, strings.Join(s.langs.Enabled(), ", "))
	}
	if lang.Tag() == s.langs.Default().Tag() {
		return nil, fmt.Errorf("language %s is the default: its text is the template itself", tag)
	}
	return lang, nil
}

// ForLanguage returns the named template as a user whose language is lang
// gets it: the language's own variant if it has one; else, while the
// template's subject and bodies are the built-in ones (in the default
// language), the built-in email written in lang; else the template as it is
// (the default language's text). The settings (from, lifetime, redirect,
// enabled) are the template's in every language. Like Current it costs one
// small read (the two heads, in one transaction) and no parsing once a
// version was compiled.
func (s *Store) ForLanguage(ctx context.Context, name string, lang *templates.Lang) (Compiled, error) {
	if lang == nil || lang.Tag() == s.langs.Default().Tag() {
		return s.Current(ctx, name)
	}
	tag := lang.Tag()
	var (
		base    Compiled
		baseTV  *Version
		variant *VariantVersion
		cv      compiledVariant
		vhead   int
	)
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		if base, baseTV, err = s.currentIn(tx, name); err != nil {
			return err
		}
		if vhead, err = variantHead(tx, name, tag); err != nil || vhead == 0 {
			return err
		}
		if c, ok := s.cachedVariant(name, tag, vhead); ok {
			cv = c
			return nil
		}
		variant, err = readVariant(tx, name, tag, vhead)
		return err
	})
	if err != nil {
		return Compiled{}, err
	}
	if baseTV != nil {
		if base, err = s.compile(name, baseTV); err != nil {
			return Compiled{}, err
		}
	}
	if vhead > 0 {
		if variant != nil {
			if cv, err = s.compileVariant(name, tag, variant); err != nil {
				return Compiled{}, err
			}
		}
		base.Template, base.Email, base.Language, base.VariantVersion = cv.variant.with(base.Template), cv.email, tag, vhead
		return base, nil
	}
	// Without a built-in email to compare with, or one in lang, the
	// template's text is what every language gets: a mail in the default
	// language rather than none.
	builtIn, err := s.builtIn(name, s.langs.Default())
	if err != nil || base.Template.source() != builtIn.source {
		return base, nil
	}
	local, err := s.builtIn(name, lang)
	if err != nil {
		return base, nil
	}
	base.Email, base.Language = local.email, tag
	return base, nil
}

// InLanguage returns the named template (a canonical name) as the users of
// lang get it, and where its text comes from (see ForLanguage); before the
// store has a version of the template, the template is its seed.
func (s *Store) InLanguage(ctx context.Context, name string, lang *templates.Lang) (*InLanguage, error) {
	base, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	builtIn, err := s.builtIn(name, s.langs.Default())
	untouched := err == nil && base.Template.source() == builtIn.source
	out := &InLanguage{Template: base.Template, Language: lang.Tag(), Version: base.Version}
	if lang.Tag() == s.langs.Default().Tag() {
		out.LanguageSource = LanguageOwn
		if untouched {
			out.LanguageSource = LanguageBuiltIn
		}
		return out, nil
	}
	v, err := s.Variant(ctx, name, lang.Tag())
	if err != nil {
		return nil, err
	}
	switch {
	case v != nil:
		out.Template, out.LanguageSource, out.Version = v.Template.with(base.Template), LanguageOwn, v.Version
	case untouched:
		if local, err := s.builtIn(name, lang); err == nil {
			out.Template = Variant{Subject: local.source.Subject, Body: local.source.HTML, Text: local.source.Text}.with(base.Template)
			out.LanguageSource = LanguageBuiltIn
			break
		}
		out.LanguageSource = LanguageDefault
	default:
		out.LanguageSource = LanguageDefault
	}
	return out, nil
}

// Variant returns the current version of the named template's variant in the
// language tag, or nil when the language has none.
func (s *Store) Variant(ctx context.Context, name, tag string) (*VariantVersion, error) {
	var vv *VariantVersion
	err := s.store.View(ctx, func(tx storage.Tx) error {
		head, err := variantHead(tx, name, tag)
		if err != nil || head == 0 {
			return err
		}
		vv, err = readVariant(tx, name, tag, head)
		return err
	})
	return vv, err
}

// VariantVersion returns version v of the named template's variant in tag, or
// ErrNoVersion.
func (s *Store) VariantVersion(ctx context.Context, name, tag string, v int) (*VariantVersion, error) {
	if v <= 0 {
		return nil, ErrNoVersion
	}
	var vv *VariantVersion
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		vv, err = readVariant(tx, name, tag, v)
		return err
	})
	return vv, err
}

// VariantVersions returns the stored versions of the named template's
// variant in tag, newest first.
func (s *Store) VariantVersions(ctx context.Context, name, tag string) ([]VariantVersion, error) {
	return newestFirst[VariantVersion](ctx, s.store, variantVersionsPrefix(name, tag))
}

// SaveVariant stores v as a new version of the named template's variant in
// the language tag (enabled, not the default), by author, from source; for a
// restore, restoredFrom is the version v copies. A variant that does not
// compile is refused (the caller checks it against the template's settings
// first, with Check) and nothing is stored.
func (s *Store) SaveVariant(ctx context.Context, name, tag string, v Variant, source, author string, restoredFrom int) (*VariantVersion, error) {
	lang, err := s.variantLang(tag)
	if err != nil {
		return nil, err
	}
	v.Template = name
	if _, err := templates.CompileEmail(v.source()); err != nil {
		return nil, fmt.Errorf("email template %s in %s: %w", name, lang.Tag(), err)
	}
	var vv *VariantVersion
	err = storage.UpdateRetry(ctx, s.store, func(tx storage.Tx) error {
		head, err := variantHead(tx, name, lang.Tag())
		if err != nil {
			return err
		}
		vv = &VariantVersion{Version: head + 1, Language: lang.Tag(), Template: v, Source: source, Author: author,
			CreatedAt: s.now(), RestoredFrom: restoredFrom}
		data, err := json.Marshal(vv)
		if err != nil {
			return err
		}
		if err := tx.Set(variantVersionKey(name, lang.Tag(), vv.Version), data, 0); err != nil {
			return err
		}
		return tx.Set(variantHeadKey(name, lang.Tag()), []byte(strconv.Itoa(vv.Version)), 0)
	})
	if err != nil {
		return nil, err
	}
	return vv, nil
}

func (v Variant) source() templates.EmailSource {
	return templates.EmailSource{Subject: v.Subject, HTML: v.Body, Text: v.Text}
}

func variantHead(tx storage.Tx, name, tag string) (int, error) {
	data, err := tx.Get(variantHeadKey(name, tag))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(data))
}

func readVariant(tx storage.Tx, name, tag string, v int) (*VariantVersion, error) {
	data, err := tx.Get(variantVersionKey(name, tag, v))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoVersion
	}
	if err != nil {
		return nil, fmt.Errorf("template %s in %s, version %d: %w", name, tag, v, err)
	}
	var vv VariantVersion
	if err := json.Unmarshal(data, &vv); err != nil {
		return nil, fmt.Errorf("decode template %s in %s, version %d: %w", name, tag, v, err)
	}
	return &vv, nil
}

// compiledVariant is a variant's version, compiled.
type compiledVariant struct {
	version int
	variant Variant
	email   *templates.Email
}

func (s *Store) cachedVariant(name, tag string, version int) (compiledVariant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.variants[name+"/"+tag]
	return c, ok && c.version == version
}

func (s *Store) compileVariant(name, tag string, vv *VariantVersion) (compiledVariant, error) {
	if c, ok := s.cachedVariant(name, tag, vv.Version); ok {
		return c, nil
	}
	email, err := templates.CompileEmail(vv.Template.source())
	if err != nil {
		return compiledVariant{}, fmt.Errorf("email template %s in %s, version %d: %w", name, tag, vv.Version, err)
	}
	c := compiledVariant{version: vv.Version, variant: vv.Template, email: email}
	s.mu.Lock()
	s.variants[name+"/"+tag] = c
	s.mu.Unlock()
	return c, nil
}

// compiledBuiltIn is a built-in email in one language.
type compiledBuiltIn struct {
	source templates.EmailSource
	email  *templates.Email
}

// builtIn returns the built-in email name in lang, compiled once.
func (s *Store) builtIn(name string, lang *templates.Lang) (compiledBuiltIn, error) {
	key := name + "/" + lang.Tag()
	s.mu.Lock()
	c, ok := s.builtIns[key]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	src, err := templates.DefaultEmail(name, lang)
	if err != nil {
		return c, err
	}
	email, err := templates.CompileEmail(src)
	if err != nil {
		return c, fmt.Errorf("built-in email %s in %s: %w", name, lang.Tag(), err)
	}
	c = compiledBuiltIn{source: src, email: email}
	s.mu.Lock()
	s.builtIns[key] = c
	s.mu.Unlock()
	return c, nil
}
