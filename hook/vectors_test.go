package hook

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The known-answer vectors of hook protocol v2, as README.md lists them. They
// were computed independently of this package, with
//
//	printf 'v2\nrequest\n1750000000\nABCDEFGHIJKLMNOPQRSTUVWXYZ\nget_user\n{"connection":...}' |
//		openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
//
// so an app in another language can check its implementation against them.
const (
	vectorSecret    = "0123456789abcdef0123456789abcdef"
	vectorID        = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	vectorTimestamp = 1750000000 // 2025-06-15T15:06:40Z
)

var vectors = []struct {
	name         string
	hook         string
	body         string
	wantRequest  string // X-Password-Reset-Signature of the call
	status       int
	answer       string
	wantResponse string // X-Password-Reset-Signature of the answer
}{
	{
		name:         "get_user, a user found",
		hook:         GetUser,
		body:         `{"connection":"Username-Password-Authentication","email":"alice@example.com"}`,
		wantRequest:  "v2=f2da3bf2d8050bfc7eb2cf976d2a65b1420f577fc10c70f2b789692c364acbf3",
		status:       200,
		answer:       `{"user_id":"user-alice","email":"alice@example.com"}`,
		wantResponse: "v2=2a8812fa40201aef0592cd905d18441a89c0830dbb4e50b5e408cd6cc9a191aa",
	},
	{
		name:         "revoke_tickets, an empty 204 answer",
		hook:         RevokeTickets,
		body:         `{"connection":"Username-Password-Authentication","user_id":"user-alice"}`,
		wantRequest:  "v2=5211559d662d9f31bf9643ca4587915527897d93e0b0317a2cd4f2afd1fc082c",
		status:       204,
		answer:       "",
		wantResponse: "v2=b215477c78e048c39062e5bec74f54be0b4a98affa212793ef8fca10fff088cc",
	},
}

// TestHookVectors checks the exact header values for fixed inputs, for a call
// and for its answer, so that the wire format cannot drift unnoticed.
func TestHookVectors(t *testing.T) {
	at := time.Unix(vectorTimestamp, 0)
	for _, tc := range vectors {
		t.Run(tc.name, func(t *testing.T) {
			sig := Signature{Hook: tc.hook, ID: vectorID, Timestamp: at}
			h := http.Header{}
			SetHeaders(h, []byte(vectorSecret), sig, []byte(tc.body))
			want := map[string]string{
				HeaderHook:      tc.hook,
				HeaderID:        vectorID,
				HeaderTimestamp: "1750000000",
				HeaderSignature: tc.wantRequest,
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("call header %s = %q, want %q", k, got, v)
				}
			}
			if got := SignAnswer([]byte(vectorSecret), sig, tc.status, []byte(tc.answer)); got != tc.wantResponse {
				t.Errorf("answer signature = %q, want %q", got, tc.wantResponse)
			}

			// The other side accepts them: the call at its timestamp, the answer
			// as a Call writes it.
			v := &Verifier{Secret: []byte(vectorSecret), Now: func() time.Time { return at }}
			call, err := v.Verify(h, []byte(tc.body), tc.hook)
			if err != nil {
				t.Fatalf("Verify of the vector's call: %v", err)
			}
			w := httptest.NewRecorder()
			call.Answer(w, tc.status, []byte(tc.answer))
			if got := w.Header().Get(HeaderSignature); got != tc.wantResponse {
				t.Errorf("Call.Answer signs %q, want %q", got, tc.wantResponse)
			}
			if err := VerifyAnswer(w.Header(), []byte(vectorSecret), sig, w.Code, w.Body.Bytes()); err != nil {
				t.Errorf("VerifyAnswer of the vector's answer: %v", err)
			}
		})
	}
}
