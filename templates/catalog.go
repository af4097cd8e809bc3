package templates

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// A catalog holds the texts of one language, by key. A text is either one
// string or, for a count, one string per CLDR plural category of the language
// ("one", "few", "many", "other"...), chosen with golang.org/x/text's plural
// rules. Placeholders are {name}; T and N fill them from name-value pairs.
type catalog struct {
	tag   language.Tag
	texts map[string]message
}

// message is one entry: forms["other"] for a plain string.
type message struct {
	forms  map[string]string
	plural bool
}

// pluralForms names x/text's plural forms as CLDR and the catalogs do.
var pluralForms = map[plural.Form]string{
	plural.Other: "other", plural.Zero: "zero", plural.One: "one",
	plural.Two: "two", plural.Few: "few", plural.Many: "many",
}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// parseCatalog reads a catalog file: a JSON object of keys to strings or to
// objects of plural forms.
func parseCatalog(tag language.Tag, data []byte) (*catalog, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", tag, err)
	}
	c := &catalog{tag: tag, texts: make(map[string]message, len(raw))}
	for key, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			c.texts[key] = message{forms: map[string]string{"other": s}}
			continue
		}
		var forms map[string]string
		if err := json.Unmarshal(v, &forms); err != nil {
			return nil, fmt.Errorf("catalog %s: %s: want a string or an object of plural forms", tag, key)
		}
		for form := range forms {
			if !isPluralForm(form) {
				return nil, fmt.Errorf("catalog %s: %s: %q is not a plural category", tag, key, form)
			}
		}
		c.texts[key] = message{forms: forms, plural: true}
	}
	return c, nil
}

func isPluralForm(name string) bool {
	for _, f := range pluralForms {
		if f == name {
			return true
		}
	}
	return false
}

// loadCatalog reads locales/<tag>.json from files.
func loadCatalog(files fs.FS, tag language.Tag) (*catalog, error) {
	data, err := fs.ReadFile(files, "locales/"+tag.String()+".json")
	if err != nil {
		return nil, fmt.Errorf("no catalog for language %s", tag)
	}
	return parseCatalog(tag, data)
}

// PluralCategories returns the CLDR plural categories that whole numbers take
// in the language, in CLDR's order: the forms a catalog's counted texts must
// have. (Fractions add categories that a count of hours or characters never
// meets.)
func PluralCategories(tag language.Tag) []string {
	seen := map[string]bool{}
	for _, n := range integerSamples {
		seen[formOf(tag, n)] = true
	}
	var out []string
	for _, f := range []string{"zero", "one", "two", "few", "many", "other"} {
		if seen[f] {
			out = append(out, f)
		}
	}
	return out
}

// integerSamples reach every integer category of every CLDR language: the
// small numbers, the teens and hundreds where the rules look at the last two
// digits, and the millions of French, Spanish, Italian and Portuguese "many".
var integerSamples = func() []int {
	var out []int
	for n := 0; n <= 220; n++ {
		out = append(out, n)
	}
	return append(out, 1000, 1001, 10000, 100000, 1000000, 2000000)
}()

// formOf is the plural category of the whole number n in the language.
func formOf(tag language.Tag, n int) string {
	return pluralForms[plural.Cardinal.MatchPlural(tag, n, 0, 0, 0, 0)]
}

// text returns the form of key for n (plain strings ignore n), and whether the
// catalog has key.
func (c *catalog) text(key string, n int) (string, bool) {
	m, ok := c.texts[key]
	if !ok {
		return "", false
	}
	if !m.plural {
		return m.forms["other"], true
	}
	if s, ok := m.forms[formOf(c.tag, n)]; ok {
		return s, true
	}
	s, ok := m.forms["other"]
	return s, ok
}

// fill replaces each {name} of s with the value after name in args (pairs of
// name, value); a placeholder without a value stays as it is.
func fill(s string, args []any) string {
	if len(args) == 0 || !strings.Contains(s, "{") {
		return s
	}
	return placeholder.ReplaceAllStringFunc(s, func(ph string) string {
		name := ph[1 : len(ph)-1]
		for i := 0; i+1 < len(args); i += 2 {
			if args[i] == name {
				return fmt.Sprint(args[i+1])
			}
		}
		return ph
	})
}

// Placeholders returns the {name} placeholders of s, sorted, for the
// completeness test and the overrides check.
func Placeholders(s string) []string {
	found := placeholder.FindAllString(s, -1)
	slices.Sort(found)
	return slices.Compact(found)
}

// durationUnits are the units a lifetime is said in, largest first.
var durationUnits = []struct {
	key  string
	size time.Duration
}{
	{"duration.days", 24 * time.Hour}, {"duration.hours", time.Hour},
	{"duration.minutes", time.Minute}, {"duration.seconds", time.Second},
}

// CatalogFile returns the catalog file of a shipped language: the format an
// overrides file and a new language's catalog follow.
func CatalogFile(tag string) ([]byte, error) {
	t, err := language.Parse(tag)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(files, "locales/"+t.String()+".json")
}
