package caddymodule

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzUnmarshalCaddyfile: any global block either parses into an App whose JSON
// round-trips, or is refused with an error; it never panics.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"password_reset {\n public_url https://a.example\n}",
		"password_reset {\n smtp 127.0.0.1:25 {\n plain\n from \"A <a@b.c>\"\n }\n}",
		"password_reset {\n connection c {\n upstream http://127.0.0.1:9 {\n secret {env.X}\n }\n password_policy good\n }\n}",
		"password_reset {\n rate_limit {\n ip 10 1m\n email off\n }\n}",
		"password_reset {\n email reset_email {\n url_lifetime 5d\n enabled off\n }\n}",
		"password_reset {\n client a {\n result_url javascript:alert(1)\n allowed_urls https://a/ //b\n }\n}",
		"password_reset {\n storage badger /x {\n sync_writes maybe\n }\n}",
		"password_reset {\n\n}", "password_reset extra", "password_reset {\n connection\n}", "password_reset {\n {\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tokens, err := caddyfile.Tokenize([]byte(src), "Caddyfile")
		if err != nil || len(tokens) == 0 {
			return
		}
		d := caddyfile.NewDispenser(tokens)
		var app App
		if err := app.UnmarshalCaddyfile(d); err != nil {
			return
		}
		data, err := json.Marshal(app)
		if err != nil {
			t.Fatalf("parsed config does not encode: %v", err)
		}
		var back App
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("encoded config does not decode: %v\n%s", err, data)
		}
	})
}
