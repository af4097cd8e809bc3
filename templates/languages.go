package templates

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Shipped are the languages with a built-in catalog, English first.
var Shipped = []string{
	"en", "fr", "de", "es", "it", "pt-BR", "pt-PT", "nl", "pl", "sv", "da", "nb",
	"fi", "cs", "tr", "ru", "uk", "ja", "zh-CN", "zh-TW", "ko", "ar", "he",
}

// DefaultLanguage is the language of a site that names none.
const DefaultLanguage = "en"

// Languages are the languages a site speaks: the enabled catalogs, with the
// operator's overrides applied, and the default.
type Languages struct {
	byTag   map[string]*Lang
	tags    []language.Tag // enabled, the default first
	matcher language.Matcher
}

// Lang is one language's texts. Its methods are what pages and the built-in
// emails call.
type Lang struct {
	tag language.Tag
	cat *catalog
}

// Overrides replace texts: by language, then by key, a string (or, for a
// counted text, an object of plural forms) in the catalogs' format.
type Overrides map[string]map[string]json.RawMessage

// NewLanguages loads the catalogs of enabled (nil: every shipped language),
// default first, and applies overrides. A language without a catalog, a
// default that is not enabled, or an override of an unknown key, or one that
// uses a placeholder the text does not have, is an error.
func NewLanguages(enabled []string, def string, overrides Overrides) (*Languages, error) {
	if def == "" {
		def = DefaultLanguage
	}
	if len(enabled) == 0 {
		enabled = Shipped
	}
	defTag, err := language.Parse(def)
	if err != nil {
		return nil, fmt.Errorf("default language %q: %w", def, err)
	}
	ls := &Languages{byTag: map[string]*Lang{}}
	ls.tags = append(ls.tags, defTag)
	for _, name := range enabled {
		tag, err := language.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("language %q: %w", name, err)
		}
		if !slices.Contains(ls.tags, tag) {
			ls.tags = append(ls.tags, tag)
		}
	}
	if !slices.ContainsFunc(enabled, func(s string) bool { t, _ := language.Parse(s); return t == defTag }) {
		return nil, fmt.Errorf("default language %s is not among the enabled languages %s", def, strings.Join(enabled, " "))
	}
	for _, tag := range ls.tags {
		cat, err := loadCatalog(files, tag)
		if err != nil {
			return nil, fmt.Errorf("%w (shipped: %s)", err, strings.Join(Shipped, " "))
		}
		ls.byTag[tag.String()] = &Lang{tag: tag, cat: cat}
	}
	if err := ls.override(overrides); err != nil {
		return nil, err
	}
	ls.matcher = language.NewMatcher(ls.tags)
	return ls, nil
}

// override applies overrides, checking each against the text it replaces.
func (ls *Languages) override(overrides Overrides) error {
	for name, texts := range overrides {
		tag, err := language.Parse(name)
		if err != nil {
			return fmt.Errorf("texts: language %q: %w", name, err)
		}
		l, ok := ls.byTag[tag.String()]
		if !ok {
			return fmt.Errorf("texts: language %s is not enabled", name)
		}
		for key, raw := range texts {
			if err := l.cat.replace(key, raw); err != nil {
				return fmt.Errorf("texts: %s: %w", name, err)
			}
		}
	}
	return nil
}

// replace sets key's text from raw, which must have the shape of the text it
// replaces and no placeholder that text lacks.
func (c *catalog) replace(key string, raw json.RawMessage) error {
	old, ok := c.texts[key]
	if !ok {
		return fmt.Errorf("no text %q", key)
	}
	parsed, err := parseCatalog(c.tag, []byte(`{"k":`+string(raw)+`}`))
	if err != nil {
		return fmt.Errorf("%s: want a string or an object of plural forms", key)
	}
	m := parsed.texts["k"]
	if m.plural != old.plural {
		return fmt.Errorf("%s: want %s", key, map[bool]string{true: "an object of plural forms", false: "a string"}[old.plural])
	}
	allowed := map[string]bool{}
	for _, s := range old.forms {
		for _, ph := range Placeholders(s) {
			allowed[ph] = true
		}
	}
	for _, s := range m.forms {
		if strings.Contains(s, "{{") || strings.Contains(s, "{%") {
			return fmt.Errorf("%s: texts are not templates: {{ and {%% are not allowed", key)
		}
		for _, ph := range Placeholders(s) {
			if !allowed[ph] {
				return fmt.Errorf("%s: %s is not a placeholder of this text", key, ph)
			}
		}
	}
	if m.plural {
		for _, f := range PluralCategories(c.tag) {
			if _, ok := m.forms[f]; !ok {
				return fmt.Errorf("%s: the %q form is missing", key, f)
			}
		}
	}
	c.texts[key] = m
	return nil
}

// ParseOverrides reads an overrides file's content.
func ParseOverrides(data []byte) (Overrides, error) {
	var o Overrides
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("texts file: want {\"<language>\": {\"<key>\": \"<text>\"}}: %w", err)
	}
	return o, nil
}

// Default returns the default language.
func (ls *Languages) Default() *Lang { return ls.byTag[ls.tags[0].String()] }

// Enabled returns the enabled languages' tags, the default first.
func (ls *Languages) Enabled() []string {
	out := make([]string, len(ls.tags))
	for i, t := range ls.tags {
		out[i] = t.String()
	}
	return out
}

// Choose returns the language of the first preference that matches an
// enabled language, else the default. Each preference is what one source says:
// a list of tags separated by spaces (Auth0's ui_locales), an Accept-Language
// header, or one tag. Unknown and malformed tags are passed over silently.
func (ls *Languages) Choose(prefs ...string) *Lang {
	for _, p := range prefs {
		if l, ok := ls.Match(p); ok {
			return l
		}
	}
	return ls.Default()
}

// Match returns the enabled language closest to the preference p (see
// Choose), and whether one matches at all.
func (ls *Languages) Match(p string) (*Lang, bool) {
	tags := parsePreference(p)
	if len(tags) == 0 {
		return nil, false
	}
	_, i, conf := ls.matcher.Match(tags...)
	if conf == language.No {
		return nil, false
	}
	return ls.byTag[ls.tags[i].String()], true
}

// Lookup returns the enabled language that tag names exactly, or nil.
func (ls *Languages) Lookup(tag string) *Lang {
	t, err := language.Parse(tag)
	if err != nil {
		return nil
	}
	return ls.byTag[t.String()]
}

// maxPreference bounds what is parsed of one preference: a header is the
// client's to make long.
const (
	maxPreference     = 256
	maxPreferenceTags = 16
)

// parsePreference reads one source's tags, best first.
func parsePreference(p string) []language.Tag {
	p = strings.TrimSpace(p)
	if len(p) > maxPreference {
		p = p[:maxPreference]
	}
	if p == "" {
		return nil
	}
	if strings.ContainsAny(p, ",;") {
		if tags, _, err := language.ParseAcceptLanguage(p); err == nil {
			return tags[:min(len(tags), maxPreferenceTags)]
		}
		p = strings.NewReplacer(",", " ", ";", " ").Replace(p)
	}
	var tags []language.Tag
	for _, f := range strings.Fields(p) {
		if t, err := language.Parse(f); err == nil {
			tags = append(tags, t)
		}
		if len(tags) == maxPreferenceTags {
			break
		}
	}
	return tags
}

// Tag is the language's BCP 47 tag, as pages' lang attributes take it.
func (l *Lang) Tag() string { return l.tag.String() }

// Dir is the direction of the language's script: "rtl" for Arabic and Hebrew
// script, else "ltr".
func (l *Lang) Dir() string {
	script, _ := l.tag.Script()
	switch script.String() {
	case "Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg":
		return "rtl"
	}
	return "ltr"
}

// Name is the language's name in itself ("Deutsch"), for pickers.
func (l *Lang) Name() string { return display.Self.Name(l.tag) }

// T returns key's text with its placeholders filled from args, pairs of name
// and value. A key the catalog lacks (the completeness test forbids it) reads
// as the key, so that it shows rather than a blank.
func (l *Lang) T(key string, args ...any) string {
	s, ok := l.cat.text(key, 0)
	if !ok {
		return key
	}
	return fill(s, args)
}

// N returns key's form for the count n, with {count} and the placeholders of
// args filled.
func (l *Lang) N(key string, n int, args ...any) string {
	s, ok := l.cat.text(key, n)
	if !ok {
		return key
	}
	return fill(s, append([]any{"count", n}, args...))
}

// Has reports whether the catalog has key with a non-empty text.
func (l *Lang) Has(key string) bool {
	s, ok := l.cat.text(key, 0)
	return ok && s != ""
}

// Duration says d in the largest unit that divides it: "1 Stunde", "5 dni".
func (l *Lang) Duration(d time.Duration) string {
	for _, u := range durationUnits {
		if d >= u.size && d%u.size == 0 || u.size == time.Second {
			return l.N(u.key, int(d/u.size))
		}
	}
	return d.String()
}

// Date says when t was, in UTC, in the language's format.
func (l *Lang) Date(t time.Time) string {
	t = t.UTC()
	return l.T("date.format", "day", t.Day(), "month", l.T("month."+strconv.Itoa(int(t.Month()))),
		"year", t.Year(), "time", t.Format("15:04"))
}

// ruleArgs names the format arguments of the rules that have more than a
// count.
var ruleArgs = map[string][]string{
	"containsAtLeast": {"count", "total"},
	"identicalChars":  {"count", "example"},
	"strengthScore":   {"score", "max"},
}

// Rule words a policy rule in the language; a rule of a code the catalog
// does not know keeps its text.
func (l *Lang) Rule(line RuleLine) string {
	key := "rule." + line.Code
	if _, ok := l.cat.texts[key]; !ok {
		return line.Text
	}
	names := ruleArgs[line.Code]
	if names == nil {
		names = []string{"count"}
	}
	var args []any
	n := 0
	for i, v := range line.Format {
		if i < len(names) {
			args = append(args, names[i], v)
		}
		if c, ok := v.(int); ok && i == 0 {
			n = c
		}
	}
	s, _ := l.cat.text(key, n)
	return fill(s, args)
}

// Rules returns lines worded in the language.
func (l *Lang) Rules(lines []RuleLine) []RuleLine {
	if lines == nil {
		return nil
	}
	out := make([]RuleLine, len(lines))
	for i, line := range lines {
		line.Text = l.Rule(line)
		switch line.State {
		case RuleMet:
			line.StateText = l.T("reset.rule_met")
		case RuleUnmet:
			line.StateText = l.T("reset.rule_unmet")
		}
		line.Items = l.Rules(line.Items)
		out[i] = line
	}
	return out
}

// English returns the English catalog without overrides, for what is rendered
// outside a site (a page rendered without a language, the samples).
var English = sync.OnceValue(func() *Lang {
	ls, err := NewLanguages([]string{"en"}, "en", nil)
	if err != nil {
		panic(err) // the embedded catalog is fixed at build time
	}
	return ls.Default()
})

// AllLanguages returns every shipped language, English the default, without
// overrides: the languages of a site that configures none.
var AllLanguages = sync.OnceValue(func() *Languages {
	ls, err := NewLanguages(nil, DefaultLanguage, nil)
	if err != nil {
		panic(err) // the embedded catalogs are fixed at build time
	}
	return ls
})

// Preference returns the tags of one preference (see Choose), canonical, best
// first and separated by spaces, for keeping with a job: what cannot be
// parsed is dropped, and the result is bounded.
func Preference(p string) string {
	tags := parsePreference(p)
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = t.String()
	}
	return strings.Join(names, " ")
}
