package caddymodule

import (
	"fmt"

	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// loadResetPage reads and compiles the custom reset page at path ("": none).
// The page is compiled here rather than when a user opens a link, so that a
// syntax error, a refused tag or an unknown variable stops the config with the
// file and the line, instead of failing a user's page.
func loadResetPage(path string) (*templates.ResetPage, error) {
	if path == "" {
		return nil, nil
	}
	var src string
	if err := readTemplateFile(path, &src); err != nil {
		return nil, fmt.Errorf("reset_page: %w", err)
	}
	page, err := templates.CompileResetPage(src)
	if err != nil {
		return nil, fmt.Errorf("reset_page %s: %w", path, err)
	}
	return page, nil
}
