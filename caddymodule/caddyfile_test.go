package caddymodule

import (
	"time"

	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-password-reset/caddy-password-reset/handlers"
)

// fullBlock uses every subdirective of the global option (see parseGlobalOption).
const fullBlock = `password_reset {
	public_url https://app.example.com/auth
	storage badger /var/lib/caddy/password_reset {
		sync_writes off
	}
	friendly_name "Example App"
	support_email support@example.com
	support_url https://example.com/help
	languages fr en de
	default_language en
	texts /etc/caddy/texts.json
	smtp smtp.example.com:587 {
		security starttls
		username {env.SMTP_USER}
		password {env.SMTP_PASSWORD}
		from "Example <no-reply@example.com>"
		hello_name app.example.com
		timeout 20s
	}
	connection Username-Password-Authentication database {
		upstream http://127.0.0.1:9000 {
			get_user /hooks/lookup
			change_password /hooks/password
			secret {env.HOOK_SECRET}
			timeout 3s
		}
		password_policy excellent
		min_length 12
		max_length 64
	}
	connection google-oauth2 social
	client abc123 {
		name "Example Web"
		result_url https://app.example.com/login
	}
	email change_password {
		from "Example <accounts@example.com>"
		subject "Reset your password"
		url_lifetime 2h
		result_url https://app.example.com/after
		include_email_in_redirect off
		enabled on
		html_file /etc/caddy/reset.html
		text_file /etc/caddy/reset.txt
	}
}`

func ptr[T any](v T) *T { return &v }

// parse runs the global option parser on input.
func parse(t *testing.T, input string) (App, error) {
	t.Helper()
	v, err := parseGlobalOption(caddyfile.NewTestDispenser(input), nil)
	if err != nil {
		return App{}, err
	}
	app, ok := v.(httpcaddyfile.App)
	if !ok {
		t.Fatalf("parseGlobalOption returned %T, want httpcaddyfile.App", v)
	}
	if app.Name != "password_reset" {
		t.Errorf("app name %q, want password_reset", app.Name)
	}
	var a App
	if err := json.Unmarshal(app.Value, &a); err != nil {
		t.Fatalf("app JSON %s: %v", app.Value, err)
	}
	return a, nil
}

// canonical re-encodes JSON with sorted keys so that two encodings compare equal.
func canonical(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(generic, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestParseFullBlock(t *testing.T) {
	got, err := parse(t, fullBlock)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := App{
		PublicURL:       "https://app.example.com/auth",
		StorageRaw:      json.RawMessage(`{"backend":"badger","path":"/var/lib/caddy/password_reset","sync_writes":false}`),
		FriendlyName:    "Example App",
		SupportEmail:    "support@example.com",
		SupportURL:      "https://example.com/help",
		Languages:       []string{"fr", "en", "de"},
		DefaultLanguage: "en",
		TextsFile:       "/etc/caddy/texts.json",
		SMTP: &SMTPConfig{
			Address:   "smtp.example.com:587",
			Security:  "starttls",
			Username:  "{env.SMTP_USER}",
			Password:  "{env.SMTP_PASSWORD}",
			From:      "Example <no-reply@example.com>",
			HelloName: "app.example.com",
			Timeout:   caddy.Duration(20e9),
		},
		Connections: []ConnectionConfig{
			{
				Name: "Username-Password-Authentication",
				Kind: "database",
				UsersRaw: upstreamJSON(UpstreamConnection{
					URL:                "http://127.0.0.1:9000",
					GetUserPath:        "/hooks/lookup",
					ChangePasswordPath: "/hooks/password",
					Secret:             "{env.HOOK_SECRET}",
					Timeout:            caddy.Duration(3e9),
				}),
				PasswordPolicy: "excellent",
				MinLength:      12,
				MaxLength:      64,
			},
			{Name: "google-oauth2", Kind: "social"},
		},
		Clients: []ClientConfig{{ID: "abc123", Name: "Example Web", ResultURL: "https://app.example.com/login"}},
		Emails: []EmailConfig{{
			Template:               "change_password",
			From:                   "Example <accounts@example.com>",
			Subject:                "Reset your password",
			URLLifetime:            caddy.Duration(7200e9),
			ResultURL:              "https://app.example.com/after",
			IncludeEmailInRedirect: ptr(false),
			Enabled:                ptr(true),
			HTMLFile:               "/etc/caddy/reset.html",
			TextFile:               "/etc/caddy/reset.txt",
		}},
	}
	want.FilesDigest = want.filesDigest() // of the files named, which do not exist here
	if g, w := canonical(t, got), canonical(t, want); g != w {
		t.Errorf("parsed app:\n%s\nwant:\n%s", g, w)
	}
}

// TestFilesDigestFollowsTheFiles: the digest changes with a file's content
// and with the files named, and is empty when no file is named.
func TestFilesDigestFollowsTheFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reset.html")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	app := App{Emails: []EmailConfig{{Template: "reset_email", HTMLFile: path}}}
	write("<p>one</p>")
	one := app.filesDigest()
	write("<p>two</p>")
	two := app.filesDigest()
	app.TextsFile = path
	both := app.filesDigest()
	if one == "" || one == two || two == both {
		t.Errorf("digests %q, %q, %q: want three different ones", one, two, both)
	}
	if d := (&App{}).filesDigest(); d != "" {
		t.Errorf("no file named: digest %q, want none", d)
	}
}

func TestParseVariants(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  App
	}{
		{
			name:  "empty block",
			input: "password_reset {\n}",
			want:  App{},
		},
		{
			name:  "no block",
			input: "password_reset",
			want:  App{},
		},
		{
			name:  "backlog",
			input: "password_reset {\n backlog 5000\n}",
			want:  App{Backlog: 5000},
		},
		{
			name:  "backlog with its wait",
			input: "password_reset {\n backlog 64 2s\n}",
			want:  App{Backlog: 64, BacklogWait: caddy.Duration(2 * time.Second)},
		},
		{
			name:  "bare starttls",
			input: "password_reset {\n smtp mail.example.com:587 {\n  starttls\n }\n}",
			want:  App{SMTP: &SMTPConfig{Address: "mail.example.com:587", Security: "starttls"}},
		},
		{
			name:  "bare tls",
			input: "password_reset {\n smtp mail.example.com:465 {\n  tls\n }\n}",
			want:  App{SMTP: &SMTPConfig{Address: "mail.example.com:465", Security: "tls"}},
		},
		{
			name:  "bare plain",
			input: "password_reset {\n smtp 127.0.0.1:1025 {\n  plain\n }\n}",
			want:  App{SMTP: &SMTPConfig{Address: "127.0.0.1:1025", Security: "plain"}},
		},
		{
			name:  "smtp without address",
			input: "password_reset {\n smtp {\n  from reset@example.com\n }\n}",
			want:  App{SMTP: &SMTPConfig{From: "reset@example.com"}},
		},
		{
			name:  "smtp one-liner",
			input: "password_reset {\n smtp 127.0.0.1:25\n}",
			want:  App{SMTP: &SMTPConfig{Address: "127.0.0.1:25"}},
		},
		{
			name:  "social connection one-liner",
			input: "password_reset {\n connection google-oauth2 social\n}",
			want:  App{Connections: []ConnectionConfig{{Name: "google-oauth2", Kind: "social"}}},
		},
		{
			name:  "connection without kind",
			input: "password_reset {\n connection users {\n  upstream http://app:9000\n }\n}",
			want: App{Connections: []ConnectionConfig{{
				Name: "users", UsersRaw: upstreamJSON(UpstreamConnection{URL: "http://app:9000"}),
			}}},
		},
		{
			name:  "upstream insecure",
			input: "password_reset {\n connection users {\n  upstream http://app.internal.example:9000 {\n   insecure\n  }\n }\n}",
			want: App{Connections: []ConnectionConfig{{
				Name: "users", UsersRaw: upstreamJSON(UpstreamConnection{URL: "http://app.internal.example:9000", Insecure: true}),
			}}},
		},
		{
			name:  "connections keep their order",
			input: "password_reset {\n connection b enterprise\n connection a social\n}",
			want: App{Connections: []ConnectionConfig{
				{Name: "b", Kind: "enterprise"}, {Name: "a", Kind: "social"},
			}},
		},
		{
			name:  "storage badger without path or block",
			input: "password_reset {\n storage badger\n}",
			want:  App{StorageRaw: json.RawMessage(`{"backend":"badger"}`)},
		},
		{
			name:  "storage postgres from the environment",
			input: "password_reset {\n storage postgres {env.PASSWORD_RESET_DSN} {\n  max_conns 32\n  table_prefix pr_\n }\n}",
			want:  App{StorageRaw: json.RawMessage(`{"backend":"postgres","dsn":"{env.PASSWORD_RESET_DSN}","max_conns":32,"table_prefix":"pr_"}`)},
		},
		{
			name:  "storage postgres with a DSN and no password",
			input: "password_reset {\n storage postgres \"postgres://reset@db.internal:5432/reset?sslmode=verify-full\"\n}",
			want:  App{StorageRaw: json.RawMessage(`{"backend":"postgres","dsn":"postgres://reset@db.internal:5432/reset?sslmode=verify-full"}`)},
		},
		{
			name:  "storage badger with sync_writes only",
			input: "password_reset {\n storage badger {\n  sync_writes on\n }\n public_url https://x.example\n}",
			want: App{
				StorageRaw: json.RawMessage(`{"backend":"badger","sync_writes":true}`),
				PublicURL:  "https://x.example",
			},
		},
		{
			name:  "on/off accept true/false",
			input: "password_reset {\n email reset_email {\n  enabled false\n  include_email_in_redirect true\n }\n}",
			want: App{Emails: []EmailConfig{{
				Template: "reset_email", Enabled: ptr(false), IncludeEmailInRedirect: ptr(true),
			}}},
		},
		{
			name:  "client one-liner",
			input: "password_reset {\n client spa\n}",
			want:  App{Clients: []ClientConfig{{ID: "spa"}}},
		},
		{
			// The placeholder, not the secret, lands in the adapted JSON.
			name:  "encryption_key from the environment",
			input: "password_reset {\n encryption_key {env.RESET_ENCRYPTION_KEY}\n}",
			want:  App{EncryptionKey: "{env.RESET_ENCRYPTION_KEY}"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(t, tc.input)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if g, w := canonical(t, got), canonical(t, tc.want); g != w {
				t.Errorf("parsed app:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

// block wraps body in the global option.
func block(body string) string { return "password_reset {\n" + body + "\n}" }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // a substring of the error
	}{
		// Unknown subdirectives at each level.
		{"unknown option", block("bogus 1"), "unrecognized password_reset option 'bogus'"},
		{"unknown storage backend", block("storage redis"), "password_reset.storage.redis"},
		{"unknown badger option", block("storage badger {\n compress on\n}"), "unrecognized badger storage option 'compress'"},
		{"unknown postgres option", block("storage postgres {env.DSN} {\n sslmode off\n}"), "unrecognized postgres storage option 'sslmode'"},
		{"postgres without DSN", block("storage postgres"), "wrong argument count"},
		{"postgres DSN URL with a password", block("storage postgres postgres://reset:hunter2@db/reset"), "the DSN holds a password"},
		{"postgres DSN with a password parameter", block(`storage postgres "postgres://reset@db/reset?password=hunter2"`), "the DSN holds a password"},
		{"postgres key=value DSN with a password", block(`storage postgres "host=db user=reset password=hunter2"`), "the DSN holds a password"},
		{"unknown smtp option", block("smtp {\n port 25\n}"), "unrecognized smtp option 'port'"},
		{"unknown connection option", block("connection users {\n realm x\n}"), "unrecognized connection option 'realm'"},
		{"unknown upstream option", block("connection users {\n upstream http://app {\n  retries 3\n }\n}"), "unrecognized upstream option 'retries'"},
		{"unknown client option", block("client spa {\n logo x\n}"), "unrecognized client option 'logo'"},
		{"unknown email option", block("email reset_email {\n cc x\n}"), "unrecognized email option 'cc'"},

		{"backlog of none", block("backlog 0"), "not a number of requests from 1 to 1000000"},
		{"backlog not a number", block("backlog many"), "not a number of requests"},
		{"backlog wait too long", block("backlog 10 5m"), "not a wait from 1ms to 1m0s"},
		{"backlog without value", block("backlog"), "wrong argument count"},
		{"no smtp connections", block("smtp {\n connections 0\n}"), "connections 0: want 1 to 32"},

		// Missing arguments.
		{"public_url without value", block("public_url"), "wrong argument count"},
		{"friendly_name without value", block("friendly_name"), "wrong argument count"},
		{"storage without backend", block("storage"), "wrong argument count"},
		{"sync_writes without value", block("storage badger {\n sync_writes\n}"), "wrong argument count"},
		{"smtp username without value", block("smtp {\n username\n}"), "wrong argument count"},
		{"smtp security without value", block("smtp {\n security\n}"), "wrong argument count"},
		{"smtp timeout without value", block("smtp {\n timeout\n}"), "wrong argument count"},
		{"connection without name", block("connection"), "wrong argument count"},
		{"upstream without url", block("connection users {\n upstream\n}"), "wrong argument count"},
		{"upstream secret without value", block("connection users {\n upstream http://app {\n  secret\n }\n}"), "wrong argument count"},
		{"min_length without value", block("connection users {\n min_length\n}"), "wrong argument count"},
		{"client without id", block("client"), "wrong argument count"},
		{"email without template", block("email"), "wrong argument count"},
		{"email enabled without value", block("email reset_email {\n enabled\n}"), "wrong argument count"},
		{"encryption_key without value", block("encryption_key"), "wrong argument count"},

		// Extra arguments.
		{"argument on password_reset", "password_reset extra {\n}", "wrong argument count"},
		{"public_url with two values", block("public_url https://a.example https://b.example"), "wrong argument count"},
		{"badger with two paths", block("storage badger /a /b"), "wrong argument count"},
		{"smtp with two addresses", block("smtp a:25 b:25"), "wrong argument count"},
		{"bare starttls with an argument", block("smtp {\n starttls now\n}"), "wrong argument count"},
		{"security with two values", block("smtp {\n security tls starttls\n}"), "wrong argument count"},
		{"connection with three arguments", block("connection users database extra"), "wrong argument count"},
		{"upstream with two urls", block("connection users {\n upstream http://a http://b\n}"), "wrong argument count"},
		{"insecure with an argument", block("connection users {\n upstream http://a {\n  insecure yes\n }\n}"), "wrong argument count"},
		{"client with two ids", block("client a b"), "wrong argument count"},
		{"email with two templates", block("email reset_email verify_email"), "wrong argument count"},
		{"max_length with two values", block("connection users {\n max_length 64 128\n}"), "wrong argument count"},
		{"sync_writes with two values", block("storage badger {\n sync_writes on off\n}"), "wrong argument count"},
		{"encryption_key with two values", block("encryption_key {env.A} {env.B}"), "wrong argument count"},

		// Bad values.
		{"bad smtp timeout", block("smtp {\n timeout soon\n}"), `bad duration "soon"`},
		{"bad upstream timeout", block("connection users {\n upstream http://app {\n  timeout 5parsecs\n }\n}"), `bad duration "5parsecs"`},
		{"bad url_lifetime", block("email reset_email {\n url_lifetime forever\n}"), `bad duration "forever"`},
		{"bad min_length", block("connection users {\n min_length twelve\n}"), `bad number "twelve"`},
		{"fractional max_length", block("connection users {\n max_length 1.5\n}"), `bad number "1.5"`},
		{"bad sync_writes", block("storage badger {\n sync_writes maybe\n}"), `want on or off, got "maybe"`},
		{"bad enabled", block("email reset_email {\n enabled 1\n}"), `want on or off, got "1"`},
		{"bad include_email_in_redirect", block("email reset_email {\n include_email_in_redirect yes\n}"), `want on or off, got "yes"`},

		// Duplicates.
		{"duplicate smtp", block("smtp a:25\nsmtp b:25"), "smtp already specified"},
		{"duplicate storage", block("storage badger /a\nstorage badger /b"), "storage already specified"},
		{"duplicate upstream", block("connection users {\n upstream http://a\n upstream http://b\n}"), "user store (upstream or store) is already specified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := parse(t, tc.input)
			if err == nil {
				t.Fatalf("parsed without error into %s", canonical(t, app))
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
}

// buildFromCaddyfile parses a global block with one connection and builds it,
// as provisioning (and so caddy validate) does.
func buildFromCaddyfile(t *testing.T, upstream string) error {
	t.Helper()
	app, err := parse(t, block("connection users {\n upstream "+upstream+"\n}"))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return buildOne(t, app.Connections[0])
}

// upstreamJSON is the JSON the Caddyfile's upstream block becomes.
func upstreamJSON(u UpstreamConnection) json.RawMessage {
	return caddyconfig.JSONModuleObject(u, "store", "upstream", nil)
}

// buildOne builds one connection as provisioning does, loading its user store.
func buildOne(t *testing.T, cc ConnectionConfig) error {
	t.Helper()
	_, err := testApp(t).buildConnection(testContext(t), &cc)
	return err
}

// testApp is an app ready to build connections.
func testApp(*testing.T) *App { return &App{inbound: map[string]handlers.InboundVerifier{}} }

// testContext is a Caddy context for loading modules, cancelled at the end.
func testContext(t *testing.T) caddy.Context {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// TestPlainHTTPHookRefused (issue 8 item 5): caddy validate accepted plain http
// hooks to any host, and a man in the middle rewrote get_user's answer. Plain
// http is for loopback only, unless the operator writes insecure.
func TestPlainHTTPHookRefused(t *testing.T) {
	const secret = "secret 0123456789abcdef"
	tests := []struct {
		name, upstream, wantErr string
	}{
		{"plain http to a remote host", "http://app.internal.example:9000 {\n  secret \"" + secret + "\"\n }",
			"plain http to app.internal.example:9000 is refused"},
		{"plain http to a private address", "http://10.1.2.3:9000 {\n  secret \"" + secret + "\"\n }", "write insecure in the upstream block"},
		{"plain http to a remote host, insecure", "http://app.internal.example:9000 {\n  secret \"" + secret + "\"\n  insecure\n }", ""},
		{"plain http to 127.0.0.1", "http://127.0.0.1:9000 {\n  secret \"" + secret + "\"\n }", ""},
		{"plain http to ::1", "http://[::1]:9000 {\n  secret \"" + secret + "\"\n }", ""},
		{"plain http to localhost", "http://localhost:9000 {\n  secret \"" + secret + "\"\n }", ""},
		{"https to a remote host", "https://app.internal.example {\n  secret \"" + secret + "\"\n }", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := buildFromCaddyfile(t, tc.upstream)
			if checkErr(t, err, tc.wantErr) || err == nil {
				return
			}
			if !strings.Contains(err.Error(), "use https") {
				t.Errorf("error %q does not say how to fix it", err)
			}
		})
	}
}

// TestHookTimeoutBounded (issue 8 item 9): a hook call must end well within the
// minute a reset holds its ticket.
func TestHookTimeoutBounded(t *testing.T) {
	const up = "http://127.0.0.1:9000 {\n  secret \"secret 0123456789abcdef\"\n  timeout "
	checkErr(t, buildFromCaddyfile(t, up+"30s\n }"), "")
	checkErr(t, buildFromCaddyfile(t, up+"31s\n }"), "timeout 31s is above the maximum of 30s")
	checkErr(t, buildFromCaddyfile(t, up+"2m\n }"), "a reset holds its ticket for one minute")
}

// TestBadDurationErrorNamesTheSubdirective: the error for a bad duration should
// say which subdirective it belongs to. durationArg formats it with d.Val() after
// oneArg has consumed the argument, so it names the bad value twice instead.
func TestBadDurationErrorNamesTheSubdirective(t *testing.T) {
	tests := []struct{ input, subdirective string }{
		{block("smtp {\n timeout soon\n}"), "timeout"},
		{block("email reset_email {\n url_lifetime forever\n}"), "url_lifetime"},
	}
	for _, tc := range tests {
		_, err := parse(t, tc.input)
		if err == nil {
			t.Fatalf("%s: no error", tc.subdirective)
		}
		if !strings.Contains(err.Error(), "for "+tc.subdirective) {
			t.Errorf("error %q does not name the subdirective %s", err, tc.subdirective)
		}
	}
}

func TestParseErrorsCarryTheLine(t *testing.T) {
	_, err := parse(t, block("public_url https://x.example\n\nbogus"))
	if err == nil || !strings.Contains(err.Error(), ":4") {
		t.Errorf("error %v does not point at line 4", err)
	}
}

func TestGlobalOptionDeclaredTwice(t *testing.T) {
	first, err := parseGlobalOption(caddyfile.NewTestDispenser(block("public_url https://a.example")), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parseGlobalOption(caddyfile.NewTestDispenser(block("public_url https://b.example")), first)
	if err == nil || !strings.Contains(err.Error(), "only once") {
		t.Errorf("second password_reset block: %v, want an error saying it may be declared only once", err)
	}
}

func TestHandlerDirective(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr bool
	}{
		{"bare", "password_reset", false},
		{"empty block", "password_reset {\n}", false},
		{"argument", "password_reset /auth/*", true},
		{"option in a block", "password_reset {\n public_url https://x.example\n}", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseHandler(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tc.input)})
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "takes no options") {
					t.Errorf("parseHandler = %v, %v; want an error saying it takes no options", h, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseHandler: %v", err)
			}
			if _, ok := h.(*Handler); !ok {
				t.Errorf("parseHandler returned %T, want *Handler", h)
			}
		})
	}
}

// adapt runs the whole Caddyfile adapter, as `caddy adapt` does.
func adapt(t *testing.T, caddyfileText string) ([]byte, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	return out, err
}

func TestAdaptRefusesHandlerOptions(t *testing.T) {
	_, err := adapt(t, "app.example.com {\n\tpassword_reset {\n\t\tpublic_url https://x.example\n\t}\n}\n")
	if err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("adapt = %v, want the directive's refusal", err)
	}
}

func TestAdaptRefusesTwoGlobalBlocks(t *testing.T) {
	_, err := adapt(t, "{\n\tpassword_reset {\n\t}\n\tpassword_reset {\n\t}\n}\n")
	if err == nil || !strings.Contains(err.Error(), "only once") {
		t.Errorf("adapt = %v, want an error saying it may be declared only once", err)
	}
}

// secretEnv holds the variables the golden Caddyfile names in {env.X}
// placeholders, with values that must never show up in adapted JSON.
var secretEnv = map[string]string{
	"SMTP_USER":     "smtp-user-value-7f3a",
	"SMTP_PASSWORD": "smtp-password-value-9c2e",
	"HOOK_SECRET":   "hook-secret-value-0123456789abcdef",
}

// TestCaddyfileAdapt checks each testdata/caddyfile_adapt/*.caddytest: a Caddyfile,
// a line of ten dashes, and the JSON `caddy adapt` must produce for it. The secrets
// are {env.X} placeholders, expanded at provision time: the adapted JSON must keep
// them verbatim, whatever the environment holds while adapting.
func TestCaddyfileAdapt(t *testing.T) {
	for k, v := range secretEnv {
		t.Setenv(k, v)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "*.caddytest"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files (%v)", err)
	}
	crlf := regexp.MustCompile(`\r?\n`)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfileText, expected, ok := strings.Cut(crlf.ReplaceAllString(string(data), "\n"), "----------")
			if !ok {
				t.Fatal("no ---------- separator")
			}
			caddyfileText, expected = strings.TrimSpace(caddyfileText)+"\n", strings.TrimSpace(expected)
			if !caddytest.CompareAdapt(t, file, caddyfileText, "caddyfile", expected) {
				t.Errorf("adapting %s does not give the expected JSON (diff on stdout)", file)
			}

			out, err := adapt(t, caddyfileText)
			if err != nil {
				t.Fatal(err)
			}
			for name, value := range secretEnv {
				if bytes.Contains(out, []byte(value)) {
					t.Errorf("the value of $%s was expanded into the adapted JSON", name)
				}
				if strings.Contains(caddyfileText, "{env."+name+"}") && !bytes.Contains(out, []byte("{env."+name+"}")) {
					t.Errorf("the placeholder {env.%s} is missing from the adapted JSON", name)
				}
			}
		})
	}
}
