package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
)

// files returns the paths of the files the config reads when it loads.
func (a *App) files() []string {
	var paths []string
	for _, e := range a.Emails {
		paths = append(paths, e.HTMLFile, e.TextFile)
	}
	return append(paths, a.ResetPage, a.TextsFile)
}

// filesDigest hashes the names and contents of the config's files. Caddy
// applies a reload only when the config's JSON changed, and the JSON names a
// file, not its content: with the digest in it, editing a template file and
// running `caddy reload` applies the new template. A file that cannot be read
// counts as such (provisioning reports why).
func (a *App) filesDigest() string {
	h := sha256.New()
	named := false
	for _, path := range a.files() {
		if path == "" {
			continue
		}
		named = true
		h.Write([]byte(path + "\x00"))
		if data, err := os.ReadFile(path); err == nil {
			h.Write(data)
		} else {
			h.Write([]byte("\x00unreadable"))
		}
		h.Write([]byte{0})
	}
	if !named {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
