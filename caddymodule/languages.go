package caddymodule

import (
	"fmt"
	"os"

	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// languages loads the enabled catalogs with the texts file's overrides. A
// language without a catalog, or an override that does not fit the text it
// replaces, is a configuration error, so caddy validate reports it.
func (a *App) languages() (*templates.Languages, error) {
	def := a.DefaultLanguage
	if def == "" && len(a.Languages) > 0 {
		def = a.Languages[0]
	}
	var overrides templates.Overrides
	if a.TextsFile != "" {
		data, err := os.ReadFile(a.TextsFile)
		if err != nil {
			return nil, fmt.Errorf("texts: %w", err)
		}
		if overrides, err = templates.ParseOverrides(data); err != nil {
			return nil, fmt.Errorf("texts %s: %w", a.TextsFile, err)
		}
	}
	langs, err := templates.NewLanguages(a.Languages, def, overrides)
	if err != nil {
		return nil, fmt.Errorf("languages: %w", err)
	}
	return langs, nil
}
