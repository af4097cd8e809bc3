package keyring_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/internal/keyring"
)

const secret = "an-operator-secret-of-40-characters-0123"

func mustKeys(t testing.TB, s string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.FromSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFromSecretRefusesShortSecretsWithoutEchoingThem(t *testing.T) {
	for _, s := range []string{"", "tiny-secret-9", strings.Repeat("x", keyring.MinSecretLength-1),
		// 31 characters of several bytes each: the rule counts characters.
		strings.Repeat("é", keyring.MinSecretLength-1)} {
		_, err := keyring.FromSecret(s)
		if !errors.Is(err, keyring.ErrShortSecret) {
			t.Errorf("FromSecret(%d characters) = %v, want ErrShortSecret", len([]rune(s)), err)
			continue
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("the error %q echoes the secret", err)
		}
	}
	if _, err := keyring.FromSecret(strings.Repeat("x", keyring.MinSecretLength)); err != nil {
		t.Errorf("a secret of exactly %d characters: %v", keyring.MinSecretLength, err)
	}
}

func TestKeysAreDerivedPerPurpose(t *testing.T) {
	a, b := mustKeys(t, secret), mustKeys(t, secret)
	if got := a.Key("outbox/v1"); len(got) != keyring.KeySize || !bytes.Equal(got, b.Key("outbox/v1")) {
		t.Errorf("the same secret and purpose gave different keys (or not %d bytes)", keyring.KeySize)
	}
	if bytes.Equal(a.Key("outbox/v1"), a.Key("outbox/v2")) {
		t.Error("two purposes share a key")
	}
	if other := mustKeys(t, secret+"!"); bytes.Equal(a.Key("outbox/v1"), other.Key("outbox/v1")) {
		t.Error("two secrets share a key")
	}
	if bytes.Contains(a.Key("outbox/v1"), []byte(secret)[:8]) {
		t.Error("the key holds the secret")
	}
}

func TestSealOpen(t *testing.T) {
	s := mustKeys(t, secret).Sealer("outbox/v1")
	msg := []byte("Subject: Reset\r\n\r\nhttps://app.example.com/lo/reset?ticket=abc")
	ad := []byte("item-1")
	sealed := s.Seal(msg, ad)
	if bytes.Contains(sealed, msg[:20]) {
		t.Fatal("the sealed value holds the plaintext")
	}
	got, err := s.Open(sealed, ad)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if again := s.Seal(msg, ad); bytes.Equal(again, sealed) {
		t.Error("two seals of one plaintext are equal: the nonce is not random")
	}
	if empty, err := s.Open(s.Seal(nil, nil), nil); err != nil || len(empty) != 0 {
		t.Errorf("an empty plaintext: %q, %v", empty, err)
	}
}

func TestOpenFailsWithTheWrongKey(t *testing.T) {
	msg, ad := []byte("the message"), []byte("item-1")
	sealed := mustKeys(t, secret).Sealer("outbox/v1").Seal(msg, ad)
	for name, s := range map[string]*keyring.Sealer{
		"another secret":  mustKeys(t, strings.Repeat("y", 40)).Sealer("outbox/v1"),
		"another purpose": mustKeys(t, secret).Sealer("outbox/v2"),
	} {
		if got, err := s.Open(sealed, ad); !errors.Is(err, keyring.ErrOpen) || got != nil {
			t.Errorf("%s: Open = %q, %v; want ErrOpen", name, got, err)
		}
	}
}

func TestOpenFailsForTamperedData(t *testing.T) {
	s := mustKeys(t, secret).Sealer("outbox/v1")
	ad := []byte("item-1")
	sealed := s.Seal([]byte("the message"), ad)
	// Every byte: the version, the nonce, the ciphertext and the tag.
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := s.Open(bad, ad); err == nil {
			t.Errorf("a flipped bit in byte %d was not noticed", i)
		}
	}
	for _, n := range []int{0, 1, 12, 28, len(sealed) - 1} {
		if _, err := s.Open(sealed[:n], ad); err == nil {
			t.Errorf("%d of %d bytes opened", n, len(sealed))
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), ad); !errors.Is(err, keyring.ErrOpen) {
		t.Errorf("an appended byte: %v", err)
	}
	if _, err := s.Open([]byte(`{"raw":"plain"}`), ad); !errors.Is(err, keyring.ErrFormat) {
		t.Errorf("data that was never sealed: %v, want ErrFormat", err)
	}
}

func TestAdditionalDataBindsTheSealedValue(t *testing.T) {
	s := mustKeys(t, secret).Sealer("outbox/v1")
	sealed := s.Seal([]byte("the message"), []byte("item-1"))
	for _, ad := range [][]byte{[]byte("item-2"), []byte("item-1 "), nil} {
		if _, err := s.Open(sealed, ad); !errors.Is(err, keyring.ErrOpen) {
			t.Errorf("opened with additional data %q: %v", ad, err)
		}
	}
}

func TestPrintingShowsNoKeyMaterial(t *testing.T) {
	k := mustKeys(t, secret)
	s := k.Sealer("outbox/v1")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		for _, v := range []any{k, *k, s, *s} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret[:8]) || strings.Contains(out, fmt.Sprintf("%x", secret[:8])) ||
				!strings.Contains(out, "redacted") {
				t.Errorf("fmt %s of %T prints %q", verb, v, out)
			}
		}
	}
}

func TestLoadOrCreateCreatesAPrivateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "caddy", "password_reset.key")
	k, err := keyring.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	content := strings.TrimSuffix(string(data), "\n")
	if len(content) != 64 || strings.Trim(content, "0123456789abcdef") != "" {
		t.Errorf("key file holds %q, want 64 hex characters", data)
	}
	if runtime.GOOS != "windows" {
		checkMode(t, path, 0o600)
		checkMode(t, filepath.Dir(path), 0o700)
		checkMode(t, filepath.Dir(filepath.Dir(path)), 0o700)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the key's directory holds %d entries (a temporary file left behind?)", len(entries))
	}
	again, err := keyring.LoadOrCreate(path)
	if err != nil || !bytes.Equal(again.Key("p"), k.Key("p")) {
		t.Fatalf("loading the file again gave another key (%v)", err)
	}
	// The file's content is a secret as the configuration takes it.
	fromConfig := mustKeys(t, content)
	if !bytes.Equal(fromConfig.Key("p"), k.Key("p")) {
		t.Error("the key file's content, given as a secret, gives another key")
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

func TestLoadOrCreateRefusesAFileOthersCanRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o644} {
		path := filepath.Join(t.TempDir(), "password_reset.key")
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := keyring.LoadOrCreate(path)
		if err == nil || !strings.Contains(err.Error(), "group or others") || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v", mode, err)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("the error echoes the key: %v", err)
		}
	}
}

func TestLoadOrCreateRefusesBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.LoadOrCreate(short); !errors.Is(err, keyring.ErrShortSecret) || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("a short key file: %v", err)
	}
	huge := filepath.Join(dir, "huge.key")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("a"), 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.LoadOrCreate(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a 1 MiB key file: %v", err)
	}
	if _, err := keyring.LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}

// Several processes (here goroutines) starting at once on a fresh data
// directory agree on one key.
func TestLoadOrCreateConcurrentlyYieldsOneKey(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), fmt.Sprint(round), "password_reset.key")
		const n = 8
		keys := make([][]byte, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				k, err := keyring.LoadOrCreate(path)
				if errs[i] = err; err == nil {
					keys[i] = k.Key("outbox/v1")
				}
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("round %d: callers %d and 0 got different keys", round, i)
			}
		}
		file, err := keyring.LoadOrCreate(path)
		if err != nil || !bytes.Equal(file.Key("outbox/v1"), keys[0]) {
			t.Fatalf("round %d: the file's key is not the one the callers got (%v)", round, err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	s := mustKeys(b, secret).Sealer("outbox/v1")
	msg := bytes.Repeat([]byte("x"), 6<<10) // a reset email with its HTML part
	ad := []byte("0000018f2b3c4d5e-abcdefghij")
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		s.Seal(msg, ad)
	}
}

func BenchmarkOpen(b *testing.B) {
	s := mustKeys(b, secret).Sealer("outbox/v1")
	msg := bytes.Repeat([]byte("x"), 6<<10)
	ad := []byte("0000018f2b3c4d5e-abcdefghij")
	sealed := s.Seal(msg, ad)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := s.Open(sealed, ad); err != nil {
			b.Fatal(err)
		}
	}
}
