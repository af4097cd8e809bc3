package hook

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("a shared secret of reasonable length")
	testBody   = []byte(`{"connection":"Username-Password-Authentication","email":"alice@example.com"}`)
	// testNow is a whole second so that timestamps survive the trip through Unix().
	testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

func testSig() Signature {
	return Signature{Hook: GetUser, ID: "req-0001", Timestamp: testNow}
}

// signedHeader returns the headers a plugin would send for sig and body.
func signedHeader(secret []byte, sig Signature, body []byte) http.Header {
	h := http.Header{}
	SetHeaders(h, secret, sig, body)
	return h
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, name := range []string{GetUser, ChangePassword} {
		sig := testSig()
		sig.Hook = name
		h := signedHeader(testSecret, sig, testBody)
		if _, err := Verify(h, testBody, testSecret, name, testNow, DefaultTolerance); err != nil {
			t.Errorf("%s: Verify of a fresh signature: %v", name, err)
		}
	}
}

func TestSetHeadersWritesAllFour(t *testing.T) {
	h := signedHeader(testSecret, testSig(), testBody)
	want := map[string]string{
		HeaderHook:      GetUser,
		HeaderID:        "req-0001",
		HeaderTimestamp: strconv.FormatInt(testNow.Unix(), 10),
		HeaderSignature: Sign(testSecret, testSig(), testBody),
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(h.Get(HeaderSignature), "v2=") {
		t.Errorf("signature %q lacks the v2= prefix", h.Get(HeaderSignature))
	}
}

func TestSignIsDeterministicAndInputSensitive(t *testing.T) {
	base := Sign(testSecret, testSig(), testBody)
	if again := Sign(testSecret, testSig(), testBody); again != base {
		t.Fatalf("Sign is not deterministic: %q then %q", base, again)
	}
	later := testSig()
	later.Timestamp = later.Timestamp.Add(time.Second)
	variants := map[string]string{
		"body":      Sign(testSecret, testSig(), append(bytes.Clone(testBody), ' ')),
		"secret":    Sign([]byte("another secret"), testSig(), testBody),
		"id":        Sign(testSecret, Signature{Hook: GetUser, ID: "req-0002", Timestamp: testNow}, testBody),
		"hook":      Sign(testSecret, Signature{Hook: ChangePassword, ID: "req-0001", Timestamp: testNow}, testBody),
		"timestamp": Sign(testSecret, later, testBody),
	}
	for what, s := range variants {
		if s == base {
			t.Errorf("changing the %s does not change the signature", what)
		}
	}
}

// TestVerifyRefusesTampering changes one signed input at a time after signing, as an
// attacker who intercepted a call would, and checks the sentinel error.
func TestVerifyRefusesTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(h http.Header, body []byte) []byte
		secret  []byte
		want    string // hook the app expects
		wantErr error
	}{
		{
			name:    "body",
			tamper:  func(_ http.Header, b []byte) []byte { return bytes.Replace(b, []byte("alice"), []byte("mallory"), 1) },
			wantErr: ErrBadSignature,
		},
		{
			name:    "empty body",
			tamper:  func(http.Header, []byte) []byte { return nil },
			wantErr: ErrBadSignature,
		},
		{
			name: "id",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderID, "req-0002")
				return b
			},
			wantErr: ErrBadSignature,
		},
		{
			name: "timestamp by one second",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderTimestamp, strconv.FormatInt(testNow.Unix()+1, 10))
				return b
			},
			wantErr: ErrBadSignature,
		},
		{
			// The header names the hook the app expects, but the MAC was made for
			// the other one: a get_user body replayed against change_password.
			name: "hook name in header",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderHook, ChangePassword)
				return b
			},
			want:    ChangePassword,
			wantErr: ErrBadSignature,
		},
		{
			name:    "call for the other hook",
			tamper:  func(_ http.Header, b []byte) []byte { return b },
			want:    ChangePassword,
			wantErr: ErrWrongHook,
		},
		{
			name:    "secret",
			tamper:  func(_ http.Header, b []byte) []byte { return b },
			secret:  []byte("a shared secret of reasonable lengtH"),
			wantErr: ErrBadSignature,
		},
		{
			name:    "empty secret",
			tamper:  func(_ http.Header, b []byte) []byte { return b },
			secret:  []byte{},
			wantErr: ErrBadSignature,
		},
		{
			name: "signature truncated",
			tamper: func(h http.Header, b []byte) []byte {
				s := h.Get(HeaderSignature)
				h.Set(HeaderSignature, s[:len(s)-2])
				return b
			},
			wantErr: ErrBadSignature,
		},
		{
			name: "signature not hex",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderSignature, "v2=zz"+h.Get(HeaderSignature)[5:])
				return b
			},
			wantErr: ErrBadSignature,
		},
		{
			name: "signature of an unknown version",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderSignature, "v3="+strings.TrimPrefix(h.Get(HeaderSignature), "v2="))
				return b
			},
			wantErr: ErrBadSignature,
		},
		{
			// A plugin or app that was not upgraded is told so.
			name: "signature of hook protocol v1",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderSignature, "v1="+strings.TrimPrefix(h.Get(HeaderSignature), "v2="))
				return b
			},
			wantErr: ErrOldVersion,
		},
		{
			name: "signature without version",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderSignature, strings.TrimPrefix(h.Get(HeaderSignature), "v2="))
				return b
			},
			wantErr: ErrBadSignature,
		},
		{
			name: "id with a space",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderID, "req 0001")
				return b
			},
			wantErr: ErrMissingSignature,
		},
		{
			name: "id too long",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderID, strings.Repeat("a", MaxIDLen+1))
				return b
			},
			wantErr: ErrMissingSignature,
		},
		{
			name: "timestamp not a number",
			tamper: func(h http.Header, b []byte) []byte {
				h.Set(HeaderTimestamp, "2025-06-01T12:00:00Z")
				return b
			},
			wantErr: ErrMissingSignature,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := signedHeader(testSecret, testSig(), testBody)
			body := tt.tamper(h, bytes.Clone(testBody))
			secret, want := testSecret, GetUser
			if tt.secret != nil {
				secret = tt.secret
			}
			if tt.want != "" {
				want = tt.want
			}
			_, err := Verify(h, body, secret, want, testNow, DefaultTolerance)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyTimestampWindow(t *testing.T) {
	const tol = DefaultTolerance
	tests := []struct {
		name    string
		skew    time.Duration // app clock minus signing time
		wantErr error
	}{
		{"same second", 0, nil},
		{"old, at the boundary", tol, nil},
		{"from the future, at the boundary", -tol, nil},
		{"stale by one second", tol + time.Second, ErrStale},
		{"stale by a nanosecond past the boundary", tol + time.Nanosecond, ErrStale},
		{"future by one second past the boundary", -tol - time.Second, ErrStale},
		{"a day old", 24 * time.Hour, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := signedHeader(testSecret, testSig(), testBody)
			_, err := Verify(h, testBody, testSecret, GetUser, testNow.Add(tt.skew), tol)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify with skew %v = %v, want %v", tt.skew, err, tt.wantErr)
			}
		})
	}
}

// TestVerifyExtremeTimestamps makes sure that timestamps near the int64 limits, whose
// distance from now overflows a time.Duration, are refused and do not wrap around.
func TestVerifyExtremeTimestamps(t *testing.T) {
	for _, ts := range []int64{1<<63 - 1, -1 << 63, 0} {
		h := signedHeader(testSecret, testSig(), testBody)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		sig := testSig()
		sig.Timestamp = time.Unix(ts, 0)
		h.Set(HeaderSignature, Sign(testSecret, sig, testBody)) // validly signed
		_, err := Verify(h, testBody, testSecret, GetUser, testNow, DefaultTolerance)
		if !errors.Is(err, ErrStale) {
			t.Errorf("timestamp %d: Verify = %v, want ErrStale", ts, err)
		}
	}
}

func TestVerifyMissingHeaders(t *testing.T) {
	for _, missing := range []string{HeaderHook, HeaderID, HeaderTimestamp, HeaderSignature} {
		t.Run(missing, func(t *testing.T) {
			h := signedHeader(testSecret, testSig(), testBody)
			h.Del(missing)
			_, err := Verify(h, testBody, testSecret, GetUser, testNow, DefaultTolerance)
			if !errors.Is(err, ErrMissingSignature) {
				t.Fatalf("Verify without %s = %v, want ErrMissingSignature", missing, err)
			}
		})
	}
	t.Run("all", func(t *testing.T) {
		_, err := Verify(http.Header{}, testBody, testSecret, GetUser, testNow, DefaultTolerance)
		if !errors.Is(err, ErrMissingSignature) {
			t.Fatalf("Verify without headers = %v, want ErrMissingSignature", err)
		}
	})
}

// TestVerifyErrorsDoNotLeakSecrets checks that no error text carries the secret or
// the expected MAC, which an app might log or send back.
func TestVerifyErrorsDoNotLeakSecrets(t *testing.T) {
	h := signedHeader(testSecret, testSig(), testBody)
	expected := strings.TrimPrefix(h.Get(HeaderSignature), "v2=")
	h.Set(HeaderSignature, "v2="+strings.Repeat("00", 32))
	_, err := Verify(h, testBody, testSecret, GetUser, testNow, DefaultTolerance)
	if err == nil {
		t.Fatal("Verify accepted a zero signature")
	}
	if msg := err.Error(); strings.Contains(msg, string(testSecret)) || strings.Contains(msg, expected) {
		t.Fatalf("error %q reveals the secret or the expected signature", msg)
	}
}

// newVerifier returns a verifier of testSecret on the real clock.
func newVerifier() *Verifier { return &Verifier{Secret: testSecret} }

// newSignedRequest builds a hook call as the plugin sends it, signed now.
func newSignedRequest(t *testing.T, secret []byte, hookName string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/internal/users/lookup", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	SetHeaders(r.Header, secret, Signature{Hook: hookName, ID: "req-1", Timestamp: time.Now()}, body)
	return r
}

func TestVerifyRequest(t *testing.T) {
	r := newSignedRequest(t, testSecret, GetUser, testBody)
	call, err := newVerifier().VerifyRequest(r, GetUser)
	if err != nil {
		t.Fatalf("VerifyRequest: %v", err)
	}
	if !bytes.Equal(call.Body, testBody) || call.Hook != GetUser || call.ID != "req-1" {
		t.Fatalf("call = %s %s %q, want get_user req-1 %q", call.Hook, call.ID, call.Body, testBody)
	}
	// The body is put back so that a handler may decode r.Body as usual.
	var again bytes.Buffer
	if _, err := again.ReadFrom(r.Body); err != nil {
		t.Fatalf("reading r.Body after VerifyRequest: %v", err)
	}
	if !bytes.Equal(again.Bytes(), testBody) {
		t.Fatalf("r.Body after VerifyRequest = %q, want %q", again.Bytes(), testBody)
	}
}

func TestVerifyRequestRefusals(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		r := newSignedRequest(t, []byte("not the secret"), GetUser, testBody)
		if _, err := newVerifier().VerifyRequest(r, GetUser); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("VerifyRequest = %v, want ErrBadSignature", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(testBody))
		if _, err := newVerifier().VerifyRequest(r, GetUser); !errors.Is(err, ErrMissingSignature) {
			t.Fatalf("VerifyRequest = %v, want ErrMissingSignature", err)
		}
	})
	t.Run("wrong hook", func(t *testing.T) {
		r := newSignedRequest(t, testSecret, GetUser, testBody)
		if _, err := newVerifier().VerifyRequest(r, ChangePassword); !errors.Is(err, ErrWrongHook) {
			t.Fatalf("VerifyRequest = %v, want ErrWrongHook", err)
		}
	})
	t.Run("stale", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(testBody))
		old := Signature{Hook: GetUser, ID: "req-1", Timestamp: time.Now().Add(-DefaultTolerance - time.Minute)}
		SetHeaders(r.Header, testSecret, old, testBody)
		if _, err := newVerifier().VerifyRequest(r, GetUser); !errors.Is(err, ErrStale) {
			t.Fatalf("VerifyRequest = %v, want ErrStale", err)
		}
	})
}

func TestVerifyRequestBodySize(t *testing.T) {
	t.Run("at the limit", func(t *testing.T) {
		body := bytes.Repeat([]byte("a"), MaxBodyBytes)
		r := newSignedRequest(t, testSecret, GetUser, body)
		got, err := newVerifier().VerifyRequest(r, GetUser)
		if err != nil {
			t.Fatalf("VerifyRequest with a %d-byte body: %v", len(body), err)
		}
		if len(got.Body) != MaxBodyBytes {
			t.Fatalf("body length = %d, want %d", len(got.Body), MaxBodyBytes)
		}
	})
	t.Run("one byte over", func(t *testing.T) {
		// Validly signed, so only the size can be the reason for the refusal.
		body := bytes.Repeat([]byte("a"), MaxBodyBytes+1)
		r := newSignedRequest(t, testSecret, GetUser, body)
		if _, err := newVerifier().VerifyRequest(r, GetUser); !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("VerifyRequest = %v, want ErrBodyTooLarge", err)
		}
	})
	t.Run("far over, read is bounded", func(t *testing.T) {
		src := &countingReader{limit: 10 << 20}
		r := httptest.NewRequest(http.MethodPost, "/", src)
		SetHeaders(r.Header, testSecret, Signature{Hook: GetUser, ID: "x", Timestamp: time.Now()}, nil)
		if _, err := newVerifier().VerifyRequest(r, GetUser); !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("VerifyRequest = %v, want ErrBodyTooLarge", err)
		}
		if src.read > MaxBodyBytes+1 {
			t.Fatalf("VerifyRequest read %d bytes of an oversized body, want at most %d", src.read, MaxBodyBytes+1)
		}
	})
}

func TestVerifyRequestReadError(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", errReader{})
	SetHeaders(r.Header, testSecret, Signature{Hook: GetUser, ID: "x", Timestamp: time.Now()}, nil)
	_, err := newVerifier().VerifyRequest(r, GetUser)
	if !errors.Is(err, errBroken) {
		t.Fatalf("VerifyRequest = %v, want the read error wrapped", err)
	}
}

// countingReader yields limit bytes of 'a' and records how many were read.
type countingReader struct {
	limit, read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n := min(len(p), c.limit-c.read)
	if n == 0 {
		return 0, io.EOF
	}
	for i := range p[:n] {
		p[i] = 'a'
	}
	c.read += n
	return n, nil
}

var errBroken = errors.New("connection reset")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }
