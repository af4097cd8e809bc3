package reset

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// AllowedURL is one entry of a client's result-URL allow list: an exact origin and
// a path prefix.
type AllowedURL struct {
	Scheme, Host string // Host includes any port, lower-cased
	Path         string // prefix; "/" allows the whole origin
}

// ParseAllowedURL parses an allow-list entry such as https://app.example.com/login.
func ParseAllowedURL(raw string) (AllowedURL, error) {
	u, err := parseResultURL(raw)
	if err != nil {
		return AllowedURL{}, err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return AllowedURL{}, fmt.Errorf("allowed URL %q must not carry a query or fragment", raw)
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	return AllowedURL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Path: p}, nil
}

// String returns the entry as a URL.
func (a AllowedURL) String() string { return a.Scheme + "://" + a.Host + a.Path }

// allows reports whether u (already parsed by parseResultURL) is under a.
func (a AllowedURL) allows(u *url.URL) bool {
	if u.Scheme != a.Scheme || strings.ToLower(u.Host) != a.Host {
		return false
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	if a.Path == "/" || p == a.Path {
		return true
	}
	prefix := strings.TrimSuffix(a.Path, "/") + "/"
	return strings.HasPrefix(p, prefix)
}

// ErrResultURLNotAllowed is returned for a result URL outside the client's list.
var ErrResultURLNotAllowed = errors.New("result_url is not allowed for this client")

// parseResultURL accepts only what a browser will take as an absolute http(s) URL
// on the host it names: no javascript: or data:, no scheme-relative //host, no
// user@host, no backslashes or control characters that browsers and Go's parser
// read differently, no dot segments that walk out of an allowed path.
func parseResultURL(raw string) (*url.URL, error) {
	if raw == "" || strings.ContainsAny(raw, "\\\x00\t\r\n ") || strings.ContainsFunc(raw, isControl) {
		return nil, fmt.Errorf("result_url %q is not a plain absolute http(s) URL", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("result_url %q must be an absolute http or https URL", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("result_url %q must not carry credentials", raw)
	}
	if u.RawPath != "" && strings.Contains(strings.ToLower(u.RawPath), "%2f") {
		return nil, fmt.Errorf("result_url %q has an encoded slash in its path", raw)
	}
	if u.Path != "" && path.Clean(u.Path) != strings.TrimSuffix(u.Path, "/") && path.Clean(u.Path) != u.Path {
		return nil, fmt.Errorf("result_url %q has dot segments in its path", raw)
	}
	return u, nil
}

// ValidateResultURL checks that raw is a plain absolute http(s) URL, as every
// result URL must be, wherever it comes from.
func ValidateResultURL(raw string) error {
	_, err := parseResultURL(raw)
	return err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// CheckResultURL returns nil if raw may be used as a result URL for c: it must be
// an absolute http(s) URL (see parseResultURL) under one of c's allowed URLs.
func (c *Client) CheckResultURL(raw string) error {
	u, err := parseResultURL(raw)
	if err != nil {
		return err
	}
	for _, a := range c.AllowedURLs {
		if a.allows(u) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrResultURLNotAllowed, raw)
}
