package passhash

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/text/unicode/norm"
)

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashVerify(t *testing.T) {
	const pw = "correct horse battery staple"
	h, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h) {
		t.Fatalf("Hash = %q, want a PHC argon2id string with the default parameters", h)
	}
	if strings.Contains(h, pw) {
		t.Fatal("the hash contains the password")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{pw, true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false},
		{pw + " ", false},
		{"", false},
	} {
		ok, err := Verify(h, tt.pw)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%q) = %v, %v; want %v, nil", tt.pw, ok, err, tt.want)
		}
	}
	if NeedsRehash(h) {
		t.Error("NeedsRehash of a fresh hash = true")
	}
}

func TestSaltIsFresh(t *testing.T) {
	a, err := Hash("same")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash("same")
	if err != nil {
		t.Fatal(err)
	}
	if a == b || strings.Split(a, "$")[4] == strings.Split(b, "$")[4] {
		t.Errorf("two hashes of one password share a salt: %q, %q", a, b)
	}
}

// Strings written by the reference implementation's command (Debian's argon2
// package, "argon2 <salt> -id -t <t> -k <m> -p <p> -l <len> -e"), so our format
// and parameters are the standard ones.
func TestReferenceVectors(t *testing.T) {
	for _, tt := range []struct{ encoded, pw string }{
		// echo -n "correct horse battery staple" | argon2 saltsaltsaltsalt -id -t 2 -k 19456 -p 1 -l 32 -e
		{"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM", "correct horse battery staple"},
		// The NFC bytes of "Crème brûlée": printf 'Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e' | argon2 somesalt-8bytes! -id -t 3 -k 12288 -p 1 -l 32 -e
		{"$argon2id$v=19$m=12288,t=3,p=1$c29tZXNhbHQtOGJ5dGVzIQ$MRWWnga5duUd1g8FuZJckNEx0yVrcgUeGaWYmxlaei0", "Cr\u00e8me br\u00fbl\u00e9e"},
		// printf 'x' | argon2 saltsaltsaltsalt -id -t 1 -k 64 -p 2 -l 16 -e
		{"$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$2TCooui6f1cr7ZlPDsKbSA", "x"},
	} {
		ok, err := Verify(tt.encoded, tt.pw)
		if err != nil || !ok {
			t.Errorf("Verify(%q, %q) = %v, %v; want true", tt.encoded, tt.pw, ok, err)
		}
		if ok, _ := Verify(tt.encoded, tt.pw+"!"); ok {
			t.Errorf("Verify(%q) accepted a different password", tt.encoded)
		}
	}
}

// The same password typed on macOS (NFD) and on Windows (NFC) verifies either way.
func TestNFCEquivalence(t *testing.T) {
	nfc := "Cr\u00e8me br\u00fbl\u00e9e \uac00"          // precomposed è, û, é and the Hangul syllable GA
	nfd := "Cre\u0300me bru\u0302le\u0301e \u1100\u1161" // the same, decomposed
	if nfc == nfd || norm.NFC.String(nfd) != nfc {
		t.Fatal("test strings are not canonically equivalent")
	}
	for _, pair := range [][2]string{{nfc, nfd}, {nfd, nfc}} {
		h, err := Hash(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := Verify(h, pair[1]); err != nil || !ok {
			t.Errorf("hash of %+q does not verify %+q: %v, %v", pair[0], pair[1], ok, err)
		}
	}
	// Compatibility forms stay distinct: NFKC would merge these.
	h, err := Hash("\ufb01re") // "ﬁre" with the fi ligature
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := Verify(h, "fire"); ok {
		t.Error(`"ﬁre" and "fire" verify as the same password`)
	}
}

func TestDecodeRefuses(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM"
	ok := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if _, err := decode(ok); err != nil {
		t.Fatalf("decode(%q) = %v", ok, err)
	}
	tests := []struct {
		name, encoded string
		want          error
	}{
		{"empty", "", ErrMalformed},
		{"garbage", "not a hash", ErrMalformed},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", ErrMalformed},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupported},
		{"argon2d", "$argon2d$v=19$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupported},
		{"version 16", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupported},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"extra field", ok + "$x", ErrMalformed},
		{"prefix", "x" + ok, ErrMalformed},
		{"order", "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key, ErrMalformed},
		{"missing p", "$argon2id$v=19$m=19456,t=2$" + salt + "$" + key, ErrMalformed},
		{"extra param", "$argon2id$v=19$m=19456,t=2,p=1,x=1$" + salt + "$" + key, ErrMalformed},
		{"leading zero", "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"sign", "$argon2id$v=19$m=+19456,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"negative", "$argon2id$v=19$m=19456,t=-2,p=1$" + salt + "$" + key, ErrMalformed},
		{"empty number", "$argon2id$v=19$m=,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"huge number", "$argon2id$v=19$m=99999999999999999999,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"4 GiB memory", "$argon2id$v=19$m=4194304,t=2,p=1$" + salt + "$" + key, ErrParams},
		{"memory just over the cap", "$argon2id$v=19$m=65537,t=2,p=1$" + salt + "$" + key, ErrParams},
		{"uint32 overflow", "$argon2id$v=19$m=4294967297,t=2,p=1$" + salt + "$" + key, ErrParams},
		{"a million passes", "$argon2id$v=19$m=19456,t=1000000,p=1$" + salt + "$" + key, ErrParams},
		{"zero passes", "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key, ErrParams},
		{"255 lanes", "$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + key, ErrParams},
		{"zero lanes", "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key, ErrParams},
		{"memory under 8 KiB per lane", "$argon2id$v=19$m=15,t=2,p=2$" + salt + "$" + key, ErrParams},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key, ErrMalformed},
		{"CR in the salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRz\rYWx0c2FsdA$" + key, ErrMalformed},
		{"LF at the end", ok + "\n", ErrMalformed},
		{"url base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "+", "-"), ErrMalformed},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, ErrParams},
		{"no key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$", ErrParams},
		{"short key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$QKHrg5tayLGc", ErrParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify(tt.encoded, "correct horse battery staple")
			if ok || !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, %v; want false, %v", ok, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), salt) {
				t.Errorf("error %q repeats the stored string", err)
			}
			if !NeedsRehash(tt.encoded) {
				t.Error("NeedsRehash = false for an unusable string")
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	for encoded, want := range map[string]bool{
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM": false,
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM": false,
		"$argon2id$v=19$m=12288,t=3,p=1$c29tZXNhbHQtOGJ5dGVzIQ$MRWWnga5duUd1g8FuZJckNEx0yVrcgUeGaWYmxlaei0": true, // memory
		"$argon2id$v=19$m=19456,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM": true, // passes
		"$argon2id$v=19$m=19456,t=2,p=1$dHdlbHZlLWJ5dGVz$MRWWnga5duUd1g8FuZJckNEx0yVrcgUeGaWYmxlaei0":       true, // 12-byte salt
		"$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$2TCooui6f1cr7ZlPDsKbSA":                         true,
	} {
		if got := NeedsRehash(encoded); got != want {
			t.Errorf("NeedsRehash(%q) = %v, want %v", encoded, got, want)
		}
	}
}

func TestContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	started := 0
	testHookRunning = func(d int) { started++ }
	defer func() { testHookRunning = nil }()
	if h, err := HashContext(ctx, "pw"); h != "" || !errors.Is(err, context.Canceled) {
		t.Errorf("HashContext = %q, %v; want context.Canceled", h, err)
	}
	const enc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM"
	if ok, err := VerifyContext(ctx, enc, "correct horse battery staple"); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyContext = %v, %v; want context.Canceled", ok, err)
	}
	if started != 0 {
		t.Errorf("%d hashes ran for an ended context", started)
	}
}

// TestConcurrencyCap floods the package with more hashes than it has slots and
// counts the hashes running at once. Without sleeps it also proves that the cap
// is reached and that a caller who cannot get a slot gives up when its context
// ends: the first MaxConcurrent hashes are held inside (at the hook) until one
// more caller has been cancelled while they held every slot.
func TestConcurrencyCap(t *testing.T) {
	limit := MaxConcurrent()
	var (
		running, peak atomic.Int64
		full          = make(chan struct{}) // closed when limit hashes run at once
		release       = make(chan struct{}) // closed to let the held hashes finish
		fullOnce      sync.Once
	)
	testHookRunning = func(d int) {
		n := running.Add(int64(d))
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if d > 0 && n == int64(limit) {
			fullOnce.Do(func() { close(full) })
		}
		if d > 0 {
			<-release // hashes stay inside until the check below is done
		}
	}
	defer func() { testHookRunning = nil }()

	n := 3*limit + 1
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			h, err := Hash("flood")
			if err == nil && !phc.MatchString(h) {
				err = errors.New("bad hash " + h)
			}
			errs <- err
		})
	}
	<-full // every slot is held
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := HashContext(ctx, "one more")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("a caller beyond the cap got %v, want context.Canceled", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p != int64(limit) {
		t.Errorf("peak concurrent hashes = %d, want the cap %d", p, limit)
	}
	if r := running.Load(); r != 0 {
		t.Errorf("%d hashes still counted as running", r)
	}
}

func TestMaxConcurrent(t *testing.T) {
	if n := MaxConcurrent(); n < 1 {
		t.Errorf("MaxConcurrent = %d", n)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM",
		"$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$2TCooui6f1cr7ZlPDsKbSA",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$$",
		"$$$$$",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := decode(s)
		if err != nil {
			return
		}
		p := d.params
		if p.Memory > MaxMemory || p.Time > MaxTime || p.Threads > MaxThreads || p.Time < 1 || p.Threads < 1 {
			t.Fatalf("decode(%q) accepted %+v", s, p)
		}
		if got := encode(p, d.salt, d.key); got != s {
			t.Fatalf("decode(%q) re-encodes as %q: parsing is not canonical", s, got)
		}
	})
}

var (
	sinkString string
	sinkBool   bool
	sinkSum    [sha256.Size]byte
)

const benchPassword = "Tr0ub4dor&3x"

// BenchmarkBaselineSHA256 is one SHA-256 of the password: read the hash
// benchmarks as multiples of it. That multiple is the work factor an attacker
// with a stolen record pays per guess compared with a fast hash.
func BenchmarkBaselineSHA256(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkSum = sha256.Sum256([]byte(benchPassword))
	}
}

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		h, err := Hash(benchPassword)
		if err != nil {
			b.Fatal(err)
		}
		sinkString = h
	}
}

func BenchmarkVerify(b *testing.B) {
	h, err := Hash(benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := Verify(h, benchPassword)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		sinkBool = ok
	}
}

// BenchmarkHashParallel floods the package from many goroutines: ns/op is the
// throughput under the cap, and B/op stays that of one hash.
func BenchmarkHashParallel(b *testing.B) {
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Hash(benchPassword); err != nil {
				b.Error(err)
			}
		}
	})
}
