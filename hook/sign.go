package hook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// signatureVersion prefixes the signature so the scheme can change later without
// ambiguity.
const signatureVersion = "v1"

// Errors returned by Verify.
var (
	ErrMissingSignature = errors.New("hook: missing signature headers")
	ErrBadSignature     = errors.New("hook: signature does not match")
	ErrStale            = errors.New("hook: timestamp outside the tolerance window")
	ErrWrongHook        = errors.New("hook: call is for a different hook")
	ErrBodyTooLarge     = errors.New("hook: body too large")
)

// Signature is the signed part of one hook call.
type Signature struct {
	Hook      string    // GetUser or ChangePassword
	ID        string    // unique per call; apps may use it to drop exact replays
	Timestamp time.Time // when the call was made
}

// Sign returns the value of the signature header for body: "v1=" followed by the
// hex HMAC-SHA256 of "v1\n<unix timestamp>\n<id>\n<hook>\n<body>" under secret.
func Sign(secret []byte, sig Signature, body []byte) string {
	return signatureVersion + "=" + hex.EncodeToString(mac(secret, sig, body))
}

func mac(secret []byte, sig Signature, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	fmt.Fprintf(h, "%s\n%d\n%s\n%s\n", signatureVersion, sig.Timestamp.Unix(), sig.ID, sig.Hook)
	h.Write(body)
	return h.Sum(nil)
}

// SetHeaders signs body and writes the four signature headers to h.
func SetHeaders(h http.Header, secret []byte, sig Signature, body []byte) {
	h.Set(HeaderHook, sig.Hook)
	h.Set(HeaderID, sig.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(sig.Timestamp.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, sig, body))
}

// Verify checks the signature headers in h against body. It refuses a call for
// another hook than wantHook, a timestamp further than tolerance from now, and a
// signature that does not match, comparing in constant time.
func Verify(h http.Header, body, secret []byte, wantHook string, now time.Time, tolerance time.Duration) error {
	sig, given, err := parseHeaders(h)
	if err != nil {
		return err
	}
	if sig.Hook != wantHook {
		return fmt.Errorf("%w: got %q, want %q", ErrWrongHook, sig.Hook, wantHook)
	}
	if d := now.Sub(sig.Timestamp); d > tolerance || d < -tolerance {
		return ErrStale
	}
	if !hmac.Equal(given, mac(secret, sig, body)) {
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
	hexMAC, ok := strings.CutPrefix(sigValue, signatureVersion+"=")
	if !ok {
		return Signature{}, nil, fmt.Errorf("%w: unknown signature version", ErrBadSignature)
	}
	given, err := hex.DecodeString(hexMAC)
	if err != nil {
		return Signature{}, nil, fmt.Errorf("%w: signature is not hex", ErrBadSignature)
	}
	return Signature{Hook: hookName, ID: id, Timestamp: time.Unix(unix, 0)}, given, nil
}

// VerifyRequest reads r's body (at most MaxBodyBytes) and verifies its signature for
// wantHook with DefaultTolerance. It returns the body for the caller to decode.
func VerifyRequest(r *http.Request, secret []byte, wantHook string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hook: read body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	if err := Verify(r.Header, body, secret, wantHook, time.Now(), DefaultTolerance); err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
