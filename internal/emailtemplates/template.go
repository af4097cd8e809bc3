// Package emailtemplates keeps the email templates in the store: each template's
// versions with who made them and when, the Caddyfile's seeds, and the compiled
// current version that a job renders. Rendering itself is package templates'.
package emailtemplates

import (
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// DefaultURLLifetime is how long an emailed link lives unless configured: one
// hour, as OWASP's testing guide asks ("rarely more than an hour"), long enough
// for slow mail (Authelia's five minutes drew complaints). Auth0's default is
// 432000 seconds (5 days): `url_lifetime 5d` restores it.
const DefaultURLLifetime = time.Hour

// MaxLifetime bounds a template's urlLifetimeInSeconds.
const MaxLifetime = 30 * 24 * time.Hour

// Template is an email template in the shape of Auth0's Management API object.
// Templates are runtime data: seeded from the Caddyfile, kept with their versions
// in the store.
type Template struct {
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
func (t *Template) URLLifetime() time.Duration {
	if t.URLLifetimeInSeconds <= 0 {
		return DefaultURLLifetime
	}
	return time.Duration(t.URLLifetimeInSeconds) * time.Second
}

func (t *Template) source() templates.EmailSource {
	return templates.EmailSource{Subject: t.Subject, HTML: t.Body, Text: t.Text}
}

// Default returns the built-in template called name, in lang (nil: English).
func Default(name string, lang *templates.Lang) (Template, error) {
	src, err := templates.DefaultEmail(name, lang)
	if err != nil {
		return Template{}, err
	}
	return Template{
		Template: name, Body: src.HTML, Text: src.Text, Subject: src.Subject, Syntax: "liquid",
		URLLifetimeInSeconds: int(DefaultURLLifetime / time.Second), IncludeEmailInRedirect: true, Enabled: true,
	}, nil
}

// Check refuses what would break or misuse mail: a syntax error or an unknown
// variable (with the part, line and reason), a From that is not one address, a
// lifetime out of range. It returns the compiled template. (Whether a Redirect
// To is allowed depends on the clients: the caller checks it.)
func Check(t Template) (*templates.Email, error) {
	invalid := func(format string, args ...any) error {
		return fault.New(fault.Invalid, "invalid_body", format, args...)
	}
	if t.Syntax != "liquid" {
		return nil, invalid("syntax must be \"liquid\"")
	}
	if t.From != "" {
		if strings.ContainsAny(t.From, "\r\n\x00") {
			return nil, invalid("from must be one line")
		}
		if _, err := mail.ParseAddress(t.From); err != nil {
			return nil, invalid("from is not an email address: %v", err)
		}
	}
	if strings.ContainsRune(t.Subject, 0) {
		return nil, invalid("subject contains a NUL character")
	}
	lifetime := time.Duration(t.URLLifetimeInSeconds) * time.Second
	if lifetime < time.Minute || lifetime > MaxLifetime {
		return nil, invalid("urlLifetimeInSeconds must be between 60 and %d", int(MaxLifetime/time.Second))
	}
	email, err := templates.CompileEmail(t.source())
	var te *templates.TemplateError
	if errors.As(err, &te) {
		return nil, fault.New(fault.Invalid, "invalid_template", "The template was not saved: %s", te.Error())
	}
	if err != nil {
		return nil, fault.New(fault.Invalid, "invalid_template", "The template was not saved: %v", err)
	}
	return email, nil
}

// LifetimeWords says a duration the way a person would: "5 days", "1 hour".
func LifetimeWords(d time.Duration) string {
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

// errNotStored: a template the store has no version of.
func errNotStored(name string) error { return fmt.Errorf("email template %s: not in the store", name) }
