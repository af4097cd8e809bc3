package hook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors of Verify, VerifyAnswer and Verifier. None of them carries the secret or
// an expected MAC, so they are safe to log.
var (
	ErrMissingSignature = errors.New("hook: missing signature headers")
	ErrBadSignature     = errors.New("hook: signature does not match")
	ErrStale            = errors.New("hook: timestamp outside the tolerance window")
	ErrWrongHook        = errors.New("hook: call is for a different hook")
	ErrBodyTooLarge     = errors.New("hook: body too large")
	// ErrOldVersion: the call is signed with hook protocol v1 (a plugin or an app
	// that was not upgraded). v1 is not accepted: it signed no answers.
	ErrOldVersion = errors.New("hook: the call is signed with hook protocol v1, and this side speaks v2: " +
		"upgrade the other side (see README 'The hook protocol')")
	// ErrUnsignedAnswer: an answer without a signature header, which is what an
	// app on hook protocol v1 sends.
	ErrUnsignedAnswer = errors.New("hook: the answer is not signed")
	// ErrReplayed: a Verifier has already accepted a call with this hook and ID.
	ErrReplayed = errors.New("hook: call ID already seen (a replay)")
)

// The two kinds of signed message. The kind is signed, so that a call's signature
// can never pass for an answer's, or the reverse.
const (
	kindRequest = "request"
	kindAnswer  = "answer"
)

// Signature is the signed part of one hook call. An answer is bound to it.
type Signature struct {
	Hook      string    // GetUser, ChangePassword or RevokeTickets
	ID        string    // unique per call; a Verifier refuses an ID it has seen
	Timestamp time.Time // when the call was made; signed in Unix seconds
}

// Sign returns the value of a call's signature header for body: "v2=" followed by
// the hex HMAC-SHA256 under secret of
//
//	"v2\nrequest\n<unix timestamp>\n<id>\n<hook>\n<body>"
func Sign(secret []byte, sig Signature, body []byte) string {
	return Version + "=" + hex.EncodeToString(requestMAC(secret, sig, body))
}

// SignAnswer returns the value of an answer's signature header: "v2=" followed
// by the hex HMAC-SHA256 under secret of
//
//	"v2\nanswer\n<unix timestamp>\n<id>\n<hook>\n<status>\n<body>"
//
// where timestamp, id and hook are the call's and status is the answer's
// three-digit status code. body is the answer's body exactly as sent (empty for
// a 204).
func SignAnswer(secret []byte, call Signature, status int, body []byte) string {
	return Version + "=" + hex.EncodeToString(answerMAC(secret, call, status, body))
}

func requestMAC(secret []byte, sig Signature, body []byte) []byte {
	h := newMAC(secret, kindRequest, sig)
	h.Write(body)
	return h.Sum(nil)
}

func answerMAC(secret []byte, call Signature, status int, body []byte) []byte {
	h := newMAC(secret, kindAnswer, call)
	fmt.Fprintf(h, "%d\n", status)
	h.Write(body)
	return h.Sum(nil)
}

// newMAC starts a MAC with the fields both kinds share. No field can hold a
// newline (IDs are visible ASCII, hook names are constants), so the string
// parses one way only.
func newMAC(secret []byte, kind string, sig Signature) hash.Hash {
	h := hmac.New(sha256.New, secret)
	fmt.Fprintf(h, "%s\n%s\n%d\n%s\n%s\n", Version, kind, sig.Timestamp.Unix(), sig.ID, sig.Hook)
	return h
}

// SetHeaders signs body and writes the four signature headers of a call to h.
func SetHeaders(h http.Header, secret []byte, sig Signature, body []byte) {
	h.Set(HeaderHook, sig.Hook)
	h.Set(HeaderID, sig.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(sig.Timestamp.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, sig, body))
}

// Verify checks the signature headers of a call in h against body, and returns
// the call's signed part. It refuses a call for another hook than wantHook, a
// timestamp further than tolerance from now, and a signature that does not
// match, comparing in constant time.
//
// Verify remembers nothing, so it does not refuse a replay within the tolerance
// window: apps should verify calls with a Verifier, which does.
func Verify(h http.Header, body, secret []byte, wantHook string, now time.Time, tolerance time.Duration) (Signature, error) {
	sig, given, err := parseHeaders(h)
	if err != nil {
		return Signature{}, err
	}
	if sig.Hook != wantHook {
		return Signature{}, fmt.Errorf("%w: got %q, want %q", ErrWrongHook, sig.Hook, wantHook)
	}
	if d := now.Sub(sig.Timestamp); d > tolerance || d < -tolerance {
		return Signature{}, ErrStale
	}
	if !hmac.Equal(given, requestMAC(secret, sig, body)) {
		return Signature{}, ErrBadSignature
	}
	return sig, nil
}

// VerifyAnswer checks the signature header of an answer (status and body) to the
// call whose signed part is call. An answer signed for another call, another
// status or another body is refused with ErrBadSignature; an answer with no
// signature with ErrUnsignedAnswer.
func VerifyAnswer(h http.Header, secret []byte, call Signature, status int, body []byte) error {
	value := h.Get(HeaderSignature)
	if value == "" {
		return ErrUnsignedAnswer
	}
	given, err := parseSignature(value)
	if err != nil {
		return err
	}
	if !hmac.Equal(given, answerMAC(secret, call, status, body)) {
		return ErrBadSignature
	}
	return nil
}

func parseHeaders(h http.Header) (Signature, []byte, error) {
	hookName, id := h.Get(HeaderHook), h.Get(HeaderID)
	ts, sigValue := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if hookName == "" || id == "" || ts == "" || sigValue == "" {
		return Signature{}, nil, ErrMissingSignature
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Signature{}, nil, fmt.Errorf("%w: bad timestamp", ErrMissingSignature)
	}
	if !validID(id) {
		return Signature{}, nil, fmt.Errorf("%w: the call ID must be 1 to %d visible ASCII characters", ErrMissingSignature, MaxIDLen)
	}
	given, err := parseSignature(sigValue)
	if err != nil {
		return Signature{}, nil, err
	}
	return Signature{Hook: hookName, ID: id, Timestamp: time.Unix(unix, 0)}, given, nil
}

// parseSignature decodes "v2=<hex>". A v1 signature gets its own error, so that
// a side that was not upgraded is told so rather than that the secrets differ.
func parseSignature(value string) ([]byte, error) {
	hexMAC, ok := strings.CutPrefix(value, Version+"=")
	if !ok {
		if strings.HasPrefix(value, "v1=") {
			return nil, ErrOldVersion
		}
		return nil, fmt.Errorf("%w: unknown signature version (want %s=)", ErrBadSignature, Version)
	}
	given, err := hex.DecodeString(hexMAC)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not hex", ErrBadSignature)
	}
	return given, nil
}

// validID reports whether id is 1 to MaxIDLen visible ASCII characters: no
// space or newline can blur the signed string's fields.
func validID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}
