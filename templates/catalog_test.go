package templates

import (
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

func mustCatalog(t *testing.T, tag string) *catalog {
	t.Helper()
	c, err := loadCatalog(files, language.MustParse(tag))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// placeholdersOf returns the placeholders of each form of m, and of all of
// them together.
func placeholdersOf(m message) (byForm map[string][]string, all []string) {
	byForm = map[string][]string{}
	for form, s := range m.forms {
		byForm[form] = Placeholders(s)
		all = append(all, byForm[form]...)
	}
	slices.Sort(all)
	return byForm, slices.Compact(all)
}

// TestCatalogsComplete: every shipped catalog has exactly English's keys,
// each text with English's placeholders, and each counted text with exactly
// the plural categories CLDR gives whole numbers in that language.
func TestCatalogsComplete(t *testing.T) {
	en := mustCatalog(t, "en")
	for _, name := range Shipped[1:] {
		t.Run(name, func(t *testing.T) {
			c := mustCatalog(t, name)
			cats := PluralCategories(c.tag)
			for key, want := range en.texts {
				got, ok := c.texts[key]
				if !ok {
					t.Errorf("%s: missing", key)
					continue
				}
				_, wantAll := placeholdersOf(want)
				byForm, gotAll := placeholdersOf(got)
				if !slices.Equal(gotAll, wantAll) {
					t.Errorf("%s: placeholders %v, English has %v", key, gotAll, wantAll)
				}
				for form, phs := range byForm {
					for _, ph := range phs {
						if !slices.Contains(wantAll, ph) {
							t.Errorf("%s[%s]: placeholder %s is not English's", key, form, ph)
						}
					}
				}
				if got.plural != want.plural {
					t.Errorf("%s: counted is %v, English's is %v", key, got.plural, want.plural)
				}
				if got.plural {
					forms := slices.Sorted(maps.Keys(got.forms))
					wantForms := slices.Clone(cats)
					slices.Sort(wantForms)
					if !slices.Equal(forms, wantForms) {
						t.Errorf("%s: plural forms %v, CLDR's for %s are %v", key, forms, name, cats)
					}
				}
				for form, s := range got.forms {
					if (s == "") != (want.forms["other"] == "") {
						t.Errorf("%s[%s]: empty is %v, English's is %v", key, form, s == "", want.forms["other"] == "")
					}
					if strings.Contains(s, "{{") || strings.Contains(s, "{%") {
						t.Errorf("%s[%s]: %q has template delimiters", key, form, s)
					}
				}
			}
			for key := range c.texts {
				if _, ok := en.texts[key]; !ok {
					t.Errorf("%s: not a key of English's catalog", key)
				}
			}
		})
	}
}

// TestShippedAreTheFiles: every catalog file is a shipped language and the
// other way round.
func TestShippedAreTheFiles(t *testing.T) {
	entries, err := fs.ReadDir(files, "locales")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	shipped := slices.Sorted(slices.Values(Shipped))
	if !slices.Equal(names, shipped) {
		t.Errorf("catalog files %v, Shipped %v", names, shipped)
	}
	if len(Shipped) < 20 {
		t.Errorf("%d languages shipped, want at least 20", len(Shipped))
	}
}
