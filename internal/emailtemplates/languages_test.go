package emailtemplates_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/testenv"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
	pgstore "github.com/caddy-password-reset/caddy-password-reset/storage/postgres"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// The templates in each language (languages.go), on both stores: Badger on
// disk and a PostgreSQL server the test starts.

func testLanguages(t *testing.T) *templates.Languages {
	t.Helper()
	langs, err := templates.NewLanguages([]string{"en", "fr", "de"}, "en", nil)
	if err != nil {
		t.Fatal(err)
	}
	return langs
}

// eachStore runs fn on a Badger store and on a PostgreSQL one.
func eachStore(t *testing.T, fn func(t *testing.T, st storage.Store)) {
	t.Run("badger", func(t *testing.T) {
		s, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		pg := testenv.StartPostgres(t)
		s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: pg.NewDatabase(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

func render(t *testing.T, c emailtemplates.Compiled) templates.Rendered {
	t.Helper()
	r, err := c.Email.Render(templates.SampleData())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestForLanguage: a language's own variant is what its users get, with the
// template's settings; a language without one gets the built-in email in it
// while the template is the built-in one, and the template's text once it
// was edited; the default language always gets the template. A compiled
// version is reused, and a variant that does not compile, or a language that
// is not enabled or is the default, stores nothing.
func TestForLanguage(t *testing.T) {
	eachStore(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		langs := testLanguages(t)
		en, fr, de := langs.Default(), langs.Lookup("fr"), langs.Lookup("de")
		s := emailtemplates.NewStore(st, nil, langs, nil)
		if err := s.Seed(ctx); err != nil {
			t.Fatal(err)
		}
		name := templates.ResetEmail
		builtIn := func(lang *templates.Lang) templates.EmailSource {
			src, err := templates.DefaultEmail(name, lang)
			if err != nil {
				t.Fatal(err)
			}
			return src
		}
		subjectFor := func(lang *templates.Lang) (string, emailtemplates.Compiled) {
			c, err := s.ForLanguage(ctx, name, lang)
			if err != nil {
				t.Fatal(err)
			}
			return render(t, c).Subject, c
		}

		// Untouched: each language gets the built-in email in it.
		for _, lang := range []*templates.Lang{en, fr, de} {
			if got, _ := subjectFor(lang); got != builtIn(lang).Subject {
				t.Errorf("untouched, %s: subject %q, want the built-in %q", lang.Tag(), got, builtIn(lang).Subject)
			}
			in, err := s.InLanguage(ctx, name, lang)
			if err != nil || in.LanguageSource != emailtemplates.LanguageBuiltIn || in.Subject != builtIn(lang).Subject {
				t.Errorf("untouched, InLanguage %s: %+v, %v", lang.Tag(), in, err)
			}
		}

		// A French variant: French users get it, with the template's settings.
		base, err := s.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		v := emailtemplates.Variant{Subject: "Bonjour {{ user.name }}", Body: "<p>{{ url }}</p>", Text: "{{ url }}"}
		vv, err := s.SaveVariant(ctx, name, "fr", v, "api", "ops", 0)
		if err != nil || vv.Version != 1 || vv.Language != "fr" || vv.Author != "ops" {
			t.Fatalf("SaveVariant: %+v, %v", vv, err)
		}
		got, c := subjectFor(fr)
		if got != "Bonjour Jane Doe" || c.Language != "fr" || c.VariantVersion != 1 || c.Version != base.Version ||
			c.Template.URLLifetimeInSeconds != base.Template.URLLifetimeInSeconds || c.Template.Enabled != base.Template.Enabled ||
			c.Template.Body != v.Body {
			t.Errorf("fr with a variant: %q %+v", got, c)
		}
		if _, again := subjectFor(fr); again.Email != c.Email {
			t.Error("the variant was compiled again: want the cached one")
		}
		if got, _ := subjectFor(de); got != builtIn(de).Subject {
			t.Errorf("de, no variant, template untouched: %q, want the built-in German", got)
		}
		if got, _ := subjectFor(en); got != builtIn(en).Subject {
			t.Errorf("en: %q, want the template", got)
		}

		// The template edited: German (no variant) gets its text, French keeps
		// its own.
		edited := base.Template
		edited.Subject = "Reset at {{ application.name }}"
		edited.URLLifetimeInSeconds = 600
		if _, err := s.Save(ctx, edited, "api", "ops", 0); err != nil {
			t.Fatal(err)
		}
		if got, c := subjectFor(de); got != "Reset at Example App" || c.Language != "" {
			t.Errorf("de after the template was edited: %q (language %q), want the template's text", got, c.Language)
		}
		if got, c := subjectFor(fr); got != "Bonjour Jane Doe" || c.Template.URLLifetimeInSeconds != 600 {
			t.Errorf("fr after the template was edited: %q, lifetime %d: want its variant with the new settings", got, c.Template.URLLifetimeInSeconds)
		}
		if in, err := s.InLanguage(ctx, name, de); err != nil || in.LanguageSource != emailtemplates.LanguageDefault || in.Subject != edited.Subject {
			t.Errorf("InLanguage de: %+v, %v", in, err)
		}
		if in, err := s.InLanguage(ctx, name, fr); err != nil || in.LanguageSource != emailtemplates.LanguageOwn || in.Version != 1 ||
			in.Subject != v.Subject || in.URLLifetimeInSeconds != 600 {
			t.Errorf("InLanguage fr: %+v, %v", in, err)
		}
		if in, err := s.InLanguage(ctx, name, en); err != nil || in.LanguageSource != emailtemplates.LanguageOwn {
			t.Errorf("InLanguage en after an edit: %+v, %v", in, err)
		}

		// Refusals store nothing.
		for _, tt := range []struct {
			what, tag string
			v         emailtemplates.Variant
			want      string
		}{
			{"bad Liquid", "fr", emailtemplates.Variant{Subject: "x", Body: "<p>\n{% if %}</p>"}, "line 2"},
			{"unknown variable", "fr", emailtemplates.Variant{Subject: "{{ nope }}", Body: "<p></p>"}, "subject"},
			{"a language not enabled", "es", v, "not enabled (enabled: en, fr, de)"},
			{"the default language", "en", v, "the default"},
		} {
			if _, err := s.SaveVariant(ctx, name, tt.tag, tt.v, "api", "ops", 0); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v, want an error with %q", tt.what, err, tt.want)
			}
		}
		versions, err := s.VariantVersions(ctx, name, "fr")
		if err != nil || len(versions) != 1 {
			t.Errorf("fr's versions after the refusals: %+v, %v", versions, err)
		}
		if es, _ := s.VariantVersions(ctx, name, "es"); len(es) != 0 {
			t.Errorf("es's versions: %+v", es)
		}

		// Versions, newest first; the template's own versions are apart.
		if _, err := s.SaveVariant(ctx, name, "fr", emailtemplates.Variant{Subject: "Deux", Body: "<p>{{ url }}</p>"}, "dashboard", "ops", 0); err != nil {
			t.Fatal(err)
		}
		versions, _ = s.VariantVersions(ctx, name, "fr")
		if len(versions) != 2 || versions[0].Version != 2 || versions[0].Template.Subject != "Deux" || versions[1].Version != 1 {
			t.Errorf("fr's versions: %+v", versions)
		}
		old, err := s.VariantVersion(ctx, name, "fr", 1)
		if err != nil || old.Template.Subject != v.Subject {
			t.Errorf("fr version 1: %+v, %v", old, err)
		}
		if _, err := s.VariantVersion(ctx, name, "fr", 3); err != emailtemplates.ErrNoVersion {
			t.Errorf("fr version 3: %v, want ErrNoVersion", err)
		}
		all, _ := s.Versions(ctx, name)
		for _, tv := range all {
			if strings.Contains(tv.Template.Subject, "Bonjour") || tv.Template.Subject == "Deux" {
				t.Errorf("a variant among the template's versions: %+v", tv)
			}
		}
		if got, _ := subjectFor(fr); got != "Deux" {
			t.Errorf("fr after its second version: %q", got)
		}

		// Another store on the same data (another node, a reload) reads the
		// variants as they are.
		other := emailtemplates.NewStore(st, nil, langs, func() time.Time { return time.Now() })
		c2, err := other.ForLanguage(ctx, name, fr)
		if err != nil || render(t, c2).Subject != "Deux" || c2.VariantVersion != 2 {
			t.Errorf("another store: %+v, %v", c2, err)
		}
	})
}
