package reset

import (
	"errors"
	"testing"
)

func TestClientCheckResultURL(t *testing.T) {
	var allowed []AllowedURL
	for _, raw := range []string{"https://app.example.com/login", "https://m.example.com/"} {
		a, err := ParseAllowedURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		allowed = append(allowed, a)
	}
	c := &Client{ID: "app", AllowedURLs: allowed}
	ok := []string{
		"https://app.example.com/login",
		"https://app.example.com/login/",
		"https://app.example.com/login/done?x=1#frag",
		"https://APP.example.com/login",
		"https://m.example.com/anything/at/all",
		"https://m.example.com",
	}
	for _, raw := range ok {
		if err := c.CheckResultURL(raw); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
	refused := map[string]string{
		"javascript: URL":               "javascript:alert(1)",
		"data: URL":                     "data:text/html,<script>alert(1)</script>",
		"scheme-relative":               "//evil.example/login",
		"relative path":                 "/login",
		"userinfo trick":                "https://app.example.com@evil.example/login",
		"userinfo with password":        "https://app.example.com:x@evil.example/login",
		"backslash trick":               "https://evil.example\\@app.example.com/login",
		"other host":                    "https://evil.example/login",
		"suffix host":                   "https://app.example.com.evil.example/login",
		"other port":                    "https://app.example.com:8443/login",
		"http instead of https":         "http://app.example.com/login",
		"path prefix without boundary":  "https://app.example.com/loginx",
		"other path":                    "https://app.example.com/admin",
		"dot segments":                  "https://app.example.com/login/../admin",
		"encoded dot segments":          "https://app.example.com/login/%2e%2e/admin",
		"encoded slash":                 "https://app.example.com/login%2f..%2fadmin",
		"double slash":                  "https://app.example.com//evil.example/login",
		"tab inside":                    "https://app.example.com/lo\tgin",
		"newline inside":                "https://app.example.com/login\n",
		"leading space":                 " https://app.example.com/login",
		"empty":                         "",
		"ftp":                           "ftp://app.example.com/login",
		"uppercase scheme not a prefix": "HTTPS://evil.example/login",
	}
	for name, raw := range refused {
		if err := c.CheckResultURL(raw); err == nil {
			t.Errorf("%s (%q) was allowed", name, raw)
		}
	}
	if err := c.CheckResultURL("https://evil.example/"); !errors.Is(err, ErrResultURLNotAllowed) {
		t.Errorf("a well-formed URL outside the list: got %v, want ErrResultURLNotAllowed", err)
	}
}

func TestParseAllowedURL(t *testing.T) {
	for _, bad := range []string{"", "/relative", "https://u@app.example.com/", "https://app.example.com/?q=1", "javascript:x"} {
		if _, err := ParseAllowedURL(bad); err == nil {
			t.Errorf("ParseAllowedURL(%q) accepted", bad)
		}
	}
	a, err := ParseAllowedURL("https://App.Example.com")
	if err != nil || a.String() != "https://app.example.com/" {
		t.Errorf("got %v, %v", a, err)
	}
}
