package hook

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// answered returns a call verified now and the recorder of its answer.
func answered(t *testing.T, write func(c *Call, w http.ResponseWriter)) (Signature, *httptest.ResponseRecorder) {
	t.Helper()
	r := newSignedRequest(t, testSecret, GetUser, testBody)
	call, err := newVerifier().VerifyRequest(r, GetUser)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	write(call, w)
	return call.Signature, w
}

func TestAnswerRoundTrip(t *testing.T) {
	sig, w := answered(t, func(c *Call, w http.ResponseWriter) {
		if err := c.AnswerJSON(w, http.StatusOK, User{UserID: "u1", Email: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
	})
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if err := VerifyAnswer(w.Header(), testSecret, sig, w.Code, w.Body.Bytes()); err != nil {
		t.Fatalf("VerifyAnswer: %v", err)
	}
	if !strings.HasPrefix(w.Header().Get(HeaderSignature), Version+"=") {
		t.Errorf("answer signature %q lacks the version", w.Header().Get(HeaderSignature))
	}
}

// TestVerifyAnswerRefusesTampering changes one signed part of an answer at a time,
// as a proxy in between would.
func TestVerifyAnswerRefusesTampering(t *testing.T) {
	body := []byte(`{"user_id":"u1","email":"alice@example.com"}`)
	sig, w := answered(t, func(c *Call, w http.ResponseWriter) { c.Answer(w, http.StatusOK, body) })
	other := sig
	other.ID = "req-2"
	otherHook := sig
	otherHook.Hook = ChangePassword
	tests := []struct {
		name    string
		header  http.Header
		call    Signature
		status  int
		body    []byte
		secret  []byte
		wantErr error
	}{
		{"body (the email rewritten)", w.Header(), sig, 200, bytes.Replace(body, []byte("alice@"), []byte("mallory@"), 1), testSecret, ErrBadSignature},
		{"status", w.Header(), sig, 404, body, testSecret, ErrBadSignature},
		{"answer of another call", w.Header(), other, 200, body, testSecret, ErrBadSignature},
		{"answer for another hook", w.Header(), otherHook, 200, body, testSecret, ErrBadSignature},
		{"secret", w.Header(), sig, 200, body, []byte("another secret entirely"), ErrBadSignature},
		{"unsigned (an app on v1)", http.Header{}, sig, 200, body, testSecret, ErrUnsignedAnswer},
		{"v1-looking signature", http.Header{HeaderSignature: {"v1=00"}}, sig, 200, body, testSecret, ErrOldVersion},
		{"not hex", http.Header{HeaderSignature: {"v2=zz"}}, sig, 200, body, testSecret, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyAnswer(tt.header, tt.secret, tt.call, tt.status, tt.body); !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyAnswer = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestRequestSignatureIsNotAnAnswerSignature: the kind is signed, so a call's
// signature over some bytes never verifies as an answer over the same bytes.
func TestRequestSignatureIsNotAnAnswerSignature(t *testing.T) {
	sig := testSig()
	h := http.Header{HeaderSignature: {Sign(testSecret, sig, testBody)}}
	for _, status := range []int{200, 204} {
		if err := VerifyAnswer(h, testSecret, sig, status, testBody); !errors.Is(err, ErrBadSignature) {
			t.Errorf("a call's signature verified as a %d answer: %v", status, err)
		}
	}
}

// TestCallDoesNotPrintTheSecret: a Call that ends up in a log line with %+v
// must not show the secret it signs with.
func TestCallDoesNotPrintTheSecret(t *testing.T) {
	r := newSignedRequest(t, testSecret, GetUser, testBody)
	call, err := newVerifier().VerifyRequest(r, GetUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v"} {
		if s := fmt.Sprintf(format, call); strings.Contains(s, string(testSecret)) || strings.Contains(s, fmt.Sprint(testSecret)) {
			t.Errorf("%s of a Call shows the secret: %s", format, s)
		}
	}
}
