package caddymodule

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/internal/emailtemplates"
	"github.com/caddy-password-reset/caddy-password-reset/internal/mail"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// checkErr fails unless err matches want: nil for "", else an error containing want.
func checkErr(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
		return false
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
		return false
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
		return false
	}
	return err == nil
}

func TestParsePublicURL(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"https://app.example.com", ""},
		{"https://app.example.com/auth", ""},
		{"http://localhost:8080", ""},
		{"http://127.0.0.1:2015/prefix/", ""},
		{"", "public_url is required"},
		{"app.example.com", "absolute http or https URL"},
		{"/auth", "absolute http or https URL"},
		{"//app.example.com", "absolute http or https URL"},
		{"ftp://app.example.com", "absolute http or https URL"},
		{"javascript:alert(1)", "absolute http or https URL"},
		{"https:app.example.com", "absolute http or https URL"},
		{"https://", "absolute http or https URL"},
		{"https://app.example.com:port", "absolute http or https URL"},
		{"https://user:pw@app.example.com", "must not carry credentials"},
		{"https://app.example.com/?next=x", "must not carry credentials, a query or a fragment"},
		{"https://app.example.com/#top", "must not carry credentials, a query or a fragment"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := parsePublicURL(tc.in)
			if checkErr(t, err, tc.wantErr) && u.String() != tc.in {
				t.Errorf("parsed %q as %q", tc.in, u)
			}
		})
	}
}

func TestCheckResultURL(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"", true}, // no result URL: the success page
		{"https://app.example.com/login", true},
		{"http://localhost:3000/after-reset?from=email", true},
		{"HTTPS://APP.EXAMPLE.COM/", true},
		{"javascript:alert(document.cookie)", false},
		{"JavaScript:alert(1)", false},
		{"javascript://app.example.com/%0aalert(1)", false},
		{"//evil.example/login", false},
		{"///evil.example", false},
		{"https://app.example.com@evil.example/", false},
		{"https://user:password@app.example.com/", false},
		{"https://@evil.example/", false},
		{"/login", false},
		{"login", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"vbscript:msgbox(1)", false},
		{"ftp://app.example.com/", false},
		{"https:evil.example", false},
		{"https:/evil.example", false},
		{"https://", false},
		{" https://app.example.com", false},
		{"https://app.example.com\n.evil.example", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			err := checkResultURL(tc.in)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Errorf("accepted %q", tc.in)
			}
		})
	}
}

// writeFile writes content to name in a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuildEmail(t *testing.T) {
	def, err := emailtemplates.Default(templates.ResetEmail, nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.Text == "" || def.Body == "" {
		t.Fatal("the built-in reset_email has no text or HTML part; the tests below rely on both")
	}
	html := writeFile(t, "reset.html", "<p>Reset: {{ url }}</p>")
	text := writeFile(t, "reset.txt", "Reset: {{ url }}")
	missing := filepath.Join(t.TempDir(), "missing.html")
	dir := t.TempDir()

	tests := []struct {
		name    string
		in      EmailConfig
		wantErr string
		check   func(t *testing.T, got emailtemplates.Template)
	}{
		{
			name: "defaults",
			in:   EmailConfig{Template: "reset_email"},
			check: func(t *testing.T, got emailtemplates.Template) {
				if got != def {
					t.Errorf("got %+v, want the built-in %+v", got, def)
				}
			},
		},
		{
			name: "Auth0's change_password is an alias",
			in:   EmailConfig{Template: "change_password"},
			check: func(t *testing.T, got emailtemplates.Template) {
				if got.Template != templates.ResetEmail || got.Body != def.Body {
					t.Errorf("template %q, want the built-in %q", got.Template, templates.ResetEmail)
				}
			},
		},
		{name: "unknown template", in: EmailConfig{Template: "verify_email"}, wantErr: `unknown email template "verify_email"`},
		{name: "empty template name", in: EmailConfig{}, wantErr: "unknown email template"},
		{
			name: "every field set",
			in: EmailConfig{
				Template: "reset_email", From: "Accounts <accounts@example.com>", Subject: "Reset it",
				URLLifetime: caddy.Duration(90 * time.Minute), ResultURL: "https://app.example.com/done",
				IncludeEmailInRedirect: ptr(false), Enabled: ptr(false),
			},
			check: func(t *testing.T, got emailtemplates.Template) {
				want := def
				want.From, want.Subject, want.URLLifetimeInSeconds = "Accounts <accounts@example.com>", "Reset it", 5400
				want.ResultURL, want.IncludeEmailInRedirect, want.Enabled = "https://app.example.com/done", false, false
				if got != want {
					t.Errorf("got %+v\nwant %+v", got, want)
				}
			},
		},
		{
			name: "url_lifetime of exactly 1m",
			in:   EmailConfig{Template: "reset_email", URLLifetime: caddy.Duration(time.Minute)},
			check: func(t *testing.T, got emailtemplates.Template) {
				if got.URLLifetimeInSeconds != 60 {
					t.Errorf("URLLifetimeInSeconds = %d, want 60", got.URLLifetimeInSeconds)
				}
			},
		},
		{name: "url_lifetime below 1m", in: EmailConfig{Template: "reset_email", URLLifetime: caddy.Duration(59 * time.Second)}, wantErr: "at least 1m"},
		{name: "url_lifetime of 1ns", in: EmailConfig{Template: "reset_email", URLLifetime: 1}, wantErr: "at least 1m"},
		{name: "negative url_lifetime", in: EmailConfig{Template: "reset_email", URLLifetime: caddy.Duration(-time.Hour)}, wantErr: "at least 1m"},
		{name: "bad result_url", in: EmailConfig{Template: "reset_email", ResultURL: "javascript:alert(1)"}, wantErr: "result_url"},
		{
			name: "html_file only clears the built-in text part",
			in:   EmailConfig{Template: "reset_email", HTMLFile: html},
			check: func(t *testing.T, got emailtemplates.Template) {
				if got.Body != "<p>Reset: {{ url }}</p>" {
					t.Errorf("Body = %q", got.Body)
				}
				if got.Text != "" {
					t.Errorf("Text = %q, want empty (derived from the custom body)", got.Text)
				}
			},
		},
		{
			name: "html_file and text_file",
			in:   EmailConfig{Template: "reset_email", HTMLFile: html, TextFile: text},
			check: func(t *testing.T, got emailtemplates.Template) {
				if got.Body != "<p>Reset: {{ url }}</p>" || got.Text != "Reset: {{ url }}" {
					t.Errorf("Body %q Text %q", got.Body, got.Text)
				}
			},
		},
		{
			name: "text_file only keeps the built-in body",
			in:   EmailConfig{Template: "reset_email", TextFile: text},
			check: func(t *testing.T, got emailtemplates.Template) {
				if got.Body != def.Body || got.Text != "Reset: {{ url }}" {
					t.Errorf("Body changed or Text %q", got.Text)
				}
			},
		},
		{name: "missing html_file", in: EmailConfig{Template: "reset_email", HTMLFile: missing}, wantErr: "template file"},
		{name: "missing text_file", in: EmailConfig{Template: "reset_email", HTMLFile: html, TextFile: missing}, wantErr: "template file"},
		{name: "html_file is a directory", in: EmailConfig{Template: "reset_email", HTMLFile: dir}, wantErr: "template file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildEmail(tc.in, nil)
			if checkErr(t, err, tc.wantErr) && tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestSMTPConfig(t *testing.T) {
	t.Setenv("TEST_SMTP_ADDR", "smtp.example.com:587")
	t.Setenv("TEST_SMTP_USER", "mailer")
	t.Setenv("TEST_SMTP_PASS", "s3cret")

	tests := []struct {
		name    string
		in      *SMTPConfig
		want    mail.Config
		wantErr string
	}{
		{
			name:    "address from an unset variable",
			in:      &SMTPConfig{Address: "{env.TEST_SMTP_NOT_SET_ANYWHERE}"},
			wantErr: "is the environment variable set",
		},
		{
			name: "no smtp block: plain to the local relay",
			in:   nil,
			want: mail.Config{Addr: "127.0.0.1:25", Security: mail.SecurityPlain},
		},
		{
			name: "empty smtp block: the same",
			in:   &SMTPConfig{},
			want: mail.Config{Addr: "127.0.0.1:25", Security: mail.SecurityPlain},
		},
		{
			name: "localhost without credentials defaults to plain",
			in:   &SMTPConfig{Address: "localhost:1025"},
			want: mail.Config{Addr: "localhost:1025", Security: mail.SecurityPlain},
		},
		{
			name: "IPv6 loopback without credentials defaults to plain",
			in:   &SMTPConfig{Address: "[::1]:25"},
			want: mail.Config{Addr: "[::1]:25", Security: mail.SecurityPlain},
		},
		{
			name: "loopback with credentials defaults to starttls",
			in:   &SMTPConfig{Address: "127.0.0.1:587", Username: "u", Password: "p"},
			want: mail.Config{Addr: "127.0.0.1:587", Security: mail.SecurityStartTLS, Username: "u", Password: "p"},
		},
		{
			name: "non-loopback defaults to starttls",
			in:   &SMTPConfig{Address: "smtp.example.com:587"},
			want: mail.Config{Addr: "smtp.example.com:587", Security: mail.SecurityStartTLS},
		},
		{
			name: "explicit security is kept",
			in:   &SMTPConfig{Address: "127.0.0.1:465", Security: "tls"},
			want: mail.Config{Addr: "127.0.0.1:465", Security: mail.SecurityTLS},
		},
		{
			name: "every field, with placeholders expanded",
			in: &SMTPConfig{
				Address: "{env.TEST_SMTP_ADDR}", Security: "starttls", Username: "{env.TEST_SMTP_USER}",
				Password: "{env.TEST_SMTP_PASS}", HelloName: "app.example.com", Timeout: caddy.Duration(7 * time.Second),
				Connections: 8,
			},
			want: mail.Config{
				Addr: "smtp.example.com:587", Security: mail.SecurityStartTLS, Username: "mailer",
				Password: "s3cret", HelloName: "app.example.com", Timeout: 7 * time.Second, Connections: 8,
			},
		},
		{name: "plain to another host", in: &SMTPConfig{Address: "smtp.example.com:25", Security: "plain"}, wantErr: "only allowed to a loopback host"},
		{name: "plain credentials to another host", in: &SMTPConfig{Address: "smtp.example.com:25", Security: "plain", Username: "u", Password: "p"}, wantErr: "clear text"},
		{name: "unknown security", in: &SMTPConfig{Address: "smtp.example.com:465", Security: "ssl"}, wantErr: "unknown security"},
		{name: "address without port", in: &SMTPConfig{Address: "smtp.example.com"}, wantErr: "smtp: addr"},
		{name: "password without username", in: &SMTPConfig{Address: "smtp.example.com:587", Username: "{env.TEST_SMTP_UNSET}", Password: "p"}, wantErr: "without a username"},
		{name: "hello name with a space", in: &SMTPConfig{Address: "smtp.example.com:587", HelloName: "my host"}, wantErr: "hello name"},
		{name: "too many connections", in: &SMTPConfig{Address: "smtp.example.com:587", Connections: 100}, wantErr: "connections 100: want 1 to 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := (&App{SMTP: tc.in}).smtpConfig()
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			// The zero Security means starttls to package mail.
			if got.Security == "" {
				got.Security = mail.SecurityStartTLS
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBuildUpstream(t *testing.T) {
	const secret = "0123456789abcdef" // 16 characters, the shortest accepted
	t.Setenv("TEST_HOOK_SECRET", "secret-from-the-environment")
	t.Setenv("TEST_APP_URL", "http://app.internal:9000")
	t.Setenv("TEST_EMPTY", "")

	tests := []struct {
		name        string
		in          UpstreamConnection
		wantErr     string
		wantGetUser string
		wantChange  string
		wantSecret  string
	}{
		{
			name:        "default hook paths",
			in:          UpstreamConnection{URL: "http://127.0.0.1:9000", Secret: secret},
			wantGetUser: "http://127.0.0.1:9000/internal/users/lookup",
			wantChange:  "http://127.0.0.1:9000/internal/users/password",
			wantSecret:  secret,
		},
		{
			name:        "default paths under a base path",
			in:          UpstreamConnection{URL: "https://app.example.com/api/", Secret: secret},
			wantGetUser: "https://app.example.com/api/internal/users/lookup",
			wantChange:  "https://app.example.com/api/internal/users/password",
			wantSecret:  secret,
		},
		{
			name:        "custom paths",
			in:          UpstreamConnection{URL: "http://127.0.0.1:9000", GetUserPath: "/hooks/lookup", ChangePasswordPath: "hooks/password", Secret: secret},
			wantGetUser: "http://127.0.0.1:9000/hooks/lookup",
			wantChange:  "http://127.0.0.1:9000/hooks/password",
			wantSecret:  secret,
		},
		{
			name:        "placeholders expanded from the environment",
			in:          UpstreamConnection{URL: "{env.TEST_APP_URL}", Secret: "{env.TEST_HOOK_SECRET}", Insecure: true},
			wantGetUser: "http://app.internal:9000/internal/users/lookup",
			wantChange:  "http://app.internal:9000/internal/users/password",
			wantSecret:  "secret-from-the-environment",
		},
		{name: "secret one character short", in: UpstreamConnection{URL: "http://app", Secret: secret[:15]}, wantErr: "at least 16 characters"},
		{name: "empty secret", in: UpstreamConnection{URL: "http://app"}, wantErr: "secret is required"},
		{name: "secret from an empty variable", in: UpstreamConnection{URL: "http://app", Secret: "{env.TEST_EMPTY}"}, wantErr: "secret is required"},
		{name: "secret from an unset variable", in: UpstreamConnection{URL: "http://app", Secret: "{env.TEST_NOT_SET_ANYWHERE}"}, wantErr: "is the environment variable set?"},
		{name: "url without scheme", in: UpstreamConnection{URL: "127.0.0.1:9000", Secret: secret}, wantErr: "absolute http or https URL"},
		{name: "url with another scheme", in: UpstreamConnection{URL: "unix:///run/app.sock", Secret: secret}, wantErr: "absolute http or https URL"},
		{name: "relative url", in: UpstreamConnection{URL: "/hooks", Secret: secret}, wantErr: "absolute http or https URL"},
		{name: "empty url", in: UpstreamConnection{Secret: secret}, wantErr: "absolute http or https URL"},
		{name: "plain http to a remote host", in: UpstreamConnection{URL: "http://app.internal:9000", Secret: secret}, wantErr: "write insecure in the upstream block"},
		{name: "plain http from the environment", in: UpstreamConnection{URL: "{env.TEST_APP_URL}", Secret: secret}, wantErr: "plain http to app.internal:9000 is refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Timeout = caddy.Duration(3 * time.Second)
			err := tc.in.Provision(testContext(t))
			if !checkErr(t, err, tc.wantErr) {
				if err != nil && strings.Contains(err.Error(), "secret-from-the-environment") {
					t.Errorf("error %q reveals the secret", err)
				}
				return
			}
			u := tc.in.upstream
			if u.Timeout != 3*time.Second {
				t.Errorf("timeout %v", u.Timeout)
			}
			if u.GetUserURL.String() != tc.wantGetUser || u.ChangePasswordURL.String() != tc.wantChange {
				t.Errorf("hooks %s and %s, want %s and %s", u.GetUserURL, u.ChangePasswordURL, tc.wantGetUser, tc.wantChange)
			}
			if string(u.Secret) != tc.wantSecret {
				t.Errorf("secret %q, want %q", u.Secret, tc.wantSecret)
			}
		})
	}
}

func TestBuildConnection(t *testing.T) {
	up := upstreamJSON(UpstreamConnection{URL: "http://127.0.0.1:9000", Secret: "0123456789abcdef"})
	tests := []struct {
		name     string
		in       ConnectionConfig
		wantErr  string
		wantKind users.Kind
	}{
		{name: "database by default", in: ConnectionConfig{Name: "users", UsersRaw: up}, wantKind: users.Database},
		{name: "social without upstream", in: ConnectionConfig{Name: "google-oauth2", Kind: "social"}, wantKind: users.Social},
		{name: "enterprise without upstream", in: ConnectionConfig{Name: "corp", Kind: "enterprise"}, wantKind: users.Enterprise},
		{name: "no name", in: ConnectionConfig{UsersRaw: up}, wantErr: "needs a name"},
		{name: "unknown kind", in: ConnectionConfig{Name: "x", Kind: "passwordless"}, wantErr: "unknown connection kind"},
		{name: "database without upstream", in: ConnectionConfig{Name: "users"}, wantErr: "needs an upstream"},
		{name: "social with upstream", in: ConnectionConfig{Name: "g", Kind: "social", UsersRaw: up}, wantErr: "no user store"},
		{name: "unknown policy", in: ConnectionConfig{Name: "users", UsersRaw: up, PasswordPolicy: "strong"}, wantErr: "unknown level"},
		{name: "min above max", in: ConnectionConfig{Name: "users", UsersRaw: up, MinLength: 40, MaxLength: 20}, wantErr: "policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testApp(t).buildConnection(testContext(t), &tc.in)
			if checkErr(t, err, tc.wantErr) && (c.Kind != tc.wantKind || c.Name != tc.in.Name) {
				t.Errorf("connection %+v, want kind %s", c, tc.wantKind)
			}
		})
	}
}

func TestServiceConfig(t *testing.T) {
	up := upstreamJSON(UpstreamConnection{URL: "http://127.0.0.1:9000", Secret: "0123456789abcdef"})
	base := func() App {
		return App{
			PublicURL:   "https://app.example.com/auth",
			Connections: []ConnectionConfig{{Name: "users", UsersRaw: up}, {Name: "google-oauth2", Kind: "social"}},
			Clients:     []ClientConfig{{ID: "web"}, {ID: "mobile", ResultURL: "https://app.example.com/m"}},
			Emails:      []EmailConfig{{Template: "change_password", Subject: "Reset"}},
		}
	}

	t.Run("valid", func(t *testing.T) {
		a := base()
		cfg, err := a.serviceConfig(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Site.PublicURL.String() != "https://app.example.com/auth" || cfg.Site.FriendlyName != "app.example.com" {
			t.Errorf("public URL %s friendly name %q", cfg.Site.PublicURL, cfg.Site.FriendlyName)
		}
		if cfg.Site.DefaultClient != "web" || len(cfg.Site.Clients) != 2 || len(cfg.Site.Connections) != 2 {
			t.Errorf("default client %q, %d clients, %d connections", cfg.Site.DefaultClient, len(cfg.Site.Clients), len(cfg.Site.Connections))
		}
		if e, ok := cfg.Emails[templates.ResetEmail]; !ok || e.Subject != "Reset" {
			t.Errorf("emails %v: the change_password block should seed reset_email", cfg.Emails)
		}
		if cfg.Site.DefaultFrom != "no-reply@app.example.com" {
			t.Errorf("DefaultFrom %q", cfg.Site.DefaultFrom)
		}
	})

	t.Run("from and friendly name set", func(t *testing.T) {
		a := base()
		a.SMTP, a.FriendlyName = &SMTPConfig{From: "Example <hi@example.com>"}, "Example"
		cfg, err := a.serviceConfig(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Site.DefaultFrom != "Example <hi@example.com>" || cfg.Site.FriendlyName != "Example" {
			t.Errorf("DefaultFrom %q FriendlyName %q", cfg.Site.DefaultFrom, cfg.Site.FriendlyName)
		}
	})

	errs := []struct {
		name    string
		change  func(*App)
		wantErr string
	}{
		{"no public_url", func(a *App) { a.PublicURL = "" }, "public_url is required"},
		{"public_url from an unset variable", func(a *App) { a.PublicURL = "{env.TEST_NOT_SET_ANYWHERE}" }, "public_url is required"},
		{"connection declared twice", func(a *App) { a.Connections = append(a.Connections, a.Connections[0]) }, "declared twice"},
		{"bad connection", func(a *App) { a.Connections[0].UsersRaw = nil }, "connection users"},
		{"client declared twice", func(a *App) { a.Clients = append(a.Clients, ClientConfig{ID: "web"}) }, "client web is declared twice"},
		{"client without id", func(a *App) { a.Clients[0].ID = "" }, "needs an id"},
		{"client with a javascript: result_url", func(a *App) { a.Clients[1].ResultURL = "javascript:alert(1)" }, "client mobile"},
		{"bad email", func(a *App) { a.Emails[0].URLLifetime = caddy.Duration(time.Second) }, "email change_password"},
		{"email declared twice under its two names", func(a *App) {
			a.Emails = append(a.Emails, EmailConfig{Template: "reset_email"})
		}, "email reset_email is declared twice"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			tc.change(&a)
			_, err := a.serviceConfig(testContext(t))
			checkErr(t, err, tc.wantErr)
		})
	}
}

func TestLoadKeys(t *testing.T) {
	const secret = "an-encryption-key-of-40-characters-01234"
	t.Setenv("TEST_ENCRYPTION_KEY", secret)
	t.Setenv("TEST_EMPTY", "")
	sealed := func(t *testing.T, a *App) []byte {
		t.Helper()
		keys, err := a.loadKeys(false)
		if err != nil {
			t.Fatal(err)
		}
		return keys.Sealer(mail.SealPurpose).Seal([]byte("message"), []byte("item"))
	}
	literal := sealed(t, &App{EncryptionKey: secret, logger: zap.NewNop()})

	t.Run("from the environment", func(t *testing.T) {
		a := &App{EncryptionKey: "{env.TEST_ENCRYPTION_KEY}", logger: zap.NewNop()}
		keys, err := a.loadKeys(false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Sealer(mail.SealPurpose).Open(literal, []byte("item")); err != nil {
			t.Errorf("the key from {env.X} is not the key given literally: %v", err)
		}
	})
	for _, tc := range []struct{ name, key, wantErr string }{
		{"too short", "0123456789abcdef", "shorter than 32 characters"},
		{"from an empty variable", "{env.TEST_EMPTY}", "is the environment variable set?"},
		{"from an unset variable", "{env.TEST_NOT_SET_ANYWHERE}", "is the environment variable set?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&App{EncryptionKey: tc.key, logger: zap.NewNop()}).loadKeys(false)
			checkErr(t, err, tc.wantErr)
			if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("the error echoes the key: %v", err)
			}
		})
	}

	t.Run("a shared store needs encryption_key", func(t *testing.T) {
		data := t.TempDir()
		t.Setenv("XDG_DATA_HOME", data)
		_, err := (&App{logger: zap.NewNop()}).loadKeys(true)
		checkErr(t, err, "encryption_key is required with a storage shared by several nodes")
		if _, statErr := os.Stat(filepath.Join(data, "caddy", "password_reset.key")); statErr == nil {
			t.Error("a key file was made for a shared store")
		}
		if _, err := (&App{EncryptionKey: secret, logger: zap.NewNop()}).loadKeys(true); err != nil {
			t.Errorf("with encryption_key: %v", err)
		}
	})

	t.Run("default key file", func(t *testing.T) {
		data := t.TempDir()
		t.Setenv("XDG_DATA_HOME", data)
		path := filepath.Join(data, "caddy", "password_reset.key")
		first := sealed(t, &App{logger: zap.NewNop()})
		info, err := os.Stat(path)
		if err != nil {
			t.Fatalf("no key file in Caddy's data directory: %v", err)
		}
		if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %04o, want 0600", info.Mode().Perm())
		}
		if filepath.Dir(path) == filepath.Join(caddy.AppDataDir(), "password_reset") {
			t.Error("the key file is inside the default store directory")
		}
		a := &App{logger: zap.NewNop()}
		keys, err := a.loadKeys(false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Sealer(mail.SealPurpose).Open(first, []byte("item")); err != nil {
			t.Errorf("the next start got another key: %v", err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" {
			_, err = a.loadKeys(false)
			checkErr(t, err, "chmod 600")
		}
	})
}
