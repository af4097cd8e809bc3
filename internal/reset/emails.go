package reset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// DefaultURLLifetime is how long an emailed link lives unless configured: one
// hour, as OWASP's testing guide asks ("rarely more than an hour"), long enough
// for slow mail (Authelia's five minutes drew complaints). Auth0's default is
// 432000 seconds (5 days): `url_lifetime 5d` restores it.
const DefaultURLLifetime = time.Hour

// EmailTemplate is an email template in the shape of Auth0's Management API object.
// Templates are runtime data: seeded from the Caddyfile, kept with their versions
// in the store.
type EmailTemplate struct {
	Template               string `json:"template"`
	Body                   string `json:"body"`
	Text                   string `json:"text,omitempty"` // not in Auth0: a text part; empty derives it from Body
	From                   string `json:"from"`
	Subject                string `json:"subject"`
	Syntax                 string `json:"syntax"`
	ResultURL              string `json:"resultUrl,omitempty"`
	URLLifetimeInSeconds   int    `json:"urlLifetimeInSeconds"`
	IncludeEmailInRedirect bool   `json:"includeEmailInRedirect"`
	Enabled                bool   `json:"enabled"`
}

// URLLifetime returns the link lifetime, with the default for zero.
func (t *EmailTemplate) URLLifetime() time.Duration {
	if t.URLLifetimeInSeconds <= 0 {
		return DefaultURLLifetime
	}
	return time.Duration(t.URLLifetimeInSeconds) * time.Second
}

func (t *EmailTemplate) source() templates.EmailSource {
	return templates.EmailSource{Subject: t.Subject, HTML: t.Body, Text: t.Text}
}

// DefaultEmailTemplate returns the built-in template called name.
func DefaultEmailTemplate(name string) (EmailTemplate, error) {
	src, err := templates.DefaultEmail(name)
	if err != nil {
		return EmailTemplate{}, err
	}
	return EmailTemplate{
		Template: name, Body: src.HTML, Text: src.Text, Subject: src.Subject, Syntax: "liquid",
		URLLifetimeInSeconds: int(DefaultURLLifetime / time.Second), IncludeEmailInRedirect: true, Enabled: true,
	}, nil
}

// TemplateVersion is one stored version of a template.
type TemplateVersion struct {
	Version   int           `json:"version"`
	Template  EmailTemplate `json:"template"`
	Source    string        `json:"source"` // "caddyfile" or "api"
	Author    string        `json:"author,omitempty"`
	CreatedAt time.Time     `json:"created_at"`

	// RestoredFrom is the version this one copies, for a restore.
	RestoredFrom int `json:"restored_from,omitempty"`
}

func tplHeadKey(name string) string           { return "tpl/" + name + "/head" }
func tplSeedKey(name string) string           { return "tpl/" + name + "/seed" }
func tplVersionKey(name string, v int) string { return fmt.Sprintf("tpl/%s/v/%08d", name, v) }

// emailTemplates keeps templates in the store and caches their compiled form by
// version, so a job costs one small read and no parsing.
type emailTemplates struct {
	store storage.Store
	now   func() time.Time

	mu       sync.Mutex
	compiled map[string]compiledVersion
}

type compiledVersion struct {
	version int
	tpl     EmailTemplate
	email   *templates.Email
}

// seed makes the Caddyfile's template the current version when it differs from the
// one seeded last time. A template edited at runtime therefore survives reloads of
// an unchanged Caddyfile, and an operator who changes the Caddyfile's template gets
// it: the most recent change wins, whichever side made it.
func (e *emailTemplates) seed(ctx context.Context, t EmailTemplate) error {
	if _, err := templates.CompileEmail(t.source()); err != nil {
		return fmt.Errorf("email template %s: %w", t.Template, err)
	}
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	return storage.UpdateRetry(ctx, e.store, func(tx storage.Tx) error {
		last, err := tx.Get(tplSeedKey(t.Template))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if string(last) == hash {
			return nil
		}
		if _, err := e.putVersion(tx, t, "caddyfile", ""); err != nil {
			return err
		}
		return tx.Set(tplSeedKey(t.Template), []byte(hash), 0)
	})
}

// putVersion stores t as the next version of its template and makes it current.
func (e *emailTemplates) putVersion(tx storage.Tx, t EmailTemplate, source, author string) (int, error) {
	head, err := headVersion(tx, t.Template)
	if err != nil {
		return 0, err
	}
	v := TemplateVersion{Version: head + 1, Template: t, Source: source, Author: author, CreatedAt: e.now()}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if err := tx.Set(tplVersionKey(t.Template, v.Version), data, 0); err != nil {
		return 0, err
	}
	return v.Version, tx.Set(tplHeadKey(t.Template), []byte(strconv.Itoa(v.Version)), 0)
}

func headVersion(tx storage.Tx, name string) (int, error) {
	data, err := tx.Get(tplHeadKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(data))
}

// current returns the current version of the named template, compiled.
func (e *emailTemplates) current(ctx context.Context, name string) (compiledVersion, error) {
	var tv TemplateVersion
	err := e.store.View(ctx, func(tx storage.Tx) error {
		head, err := headVersion(tx, name)
		if err != nil {
			return err
		}
		if head == 0 {
			return fmt.Errorf("email template %s: not in the store", name)
		}
		if cv, ok := e.cached(name, head); ok {
			tv.Version, tv.Template = cv.version, cv.tpl
			return nil
		}
		data, err := tx.Get(tplVersionKey(name, head))
		if err != nil {
			return fmt.Errorf("email template %s version %d: %w", name, head, err)
		}
		return json.Unmarshal(data, &tv)
	})
	if err != nil {
		return compiledVersion{}, err
	}
	if cv, ok := e.cached(name, tv.Version); ok {
		return cv, nil
	}
	email, err := templates.CompileEmail(tv.Template.source())
	if err != nil {
		return compiledVersion{}, fmt.Errorf("email template %s version %d: %w", name, tv.Version, err)
	}
	cv := compiledVersion{version: tv.Version, tpl: tv.Template, email: email}
	e.mu.Lock()
	e.compiled[name] = cv
	e.mu.Unlock()
	return cv, nil
}

func (e *emailTemplates) cached(name string, version int) (compiledVersion, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cv, ok := e.compiled[name]
	return cv, ok && cv.version == version
}

// lifetimeWords says a duration the way a person would: "5 days", "1 hour".
func lifetimeWords(d time.Duration) string {
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	for _, u := range units {
		if d >= u.size && d%u.size == 0 || u.size == time.Second {
			n := int64(d / u.size)
			if n == 1 {
				return "1 " + u.name
			}
			return strconv.FormatInt(n, 10) + " " + u.name + "s"
		}
	}
	return d.String()
}
