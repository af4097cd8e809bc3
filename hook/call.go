package hook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Call is a verified hook call: its signed part and its body. Answer it through
// Answer or AnswerJSON, which sign the answer; the other side refuses an answer
// that is not signed.
type Call struct {
	Signature
	// Body is the call's JSON body, as signed.
	Body []byte

	// sign signs an answer to this call. It is a function rather than the
	// secret itself, so that printing a Call does not print the secret.
	sign func(status int, body []byte) string
}

// SignAnswer returns the signature header value of an answer to c with status
// and body (see the package function SignAnswer).
func (c *Call) SignAnswer(status int, body []byte) string { return c.sign(status, body) }

// Answer writes a signed answer to c: the signature header, status and body.
// body must be exactly what is sent: empty for 204 and 304, whose bodies are
// never sent. Set Content-Type on w before calling Answer when body is not
// empty.
func (c *Call) Answer(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set(HeaderSignature, c.sign(status, body))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the status is sent; a write error has nowhere to go
}

// AnswerJSON writes v as the JSON body of a signed answer to c with status.
func (c *Call) AnswerJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("hook: encode the %s answer: %w", c.Hook, err)
	}
	w.Header().Set("Content-Type", "application/json")
	c.Answer(w, status, body)
	return nil
}

// newCall returns the verified call sig with body, answered with secret.
func newCall(secret []byte, sig Signature, body []byte) *Call {
	return &Call{Signature: sig, Body: body, sign: func(status int, answer []byte) string {
		return SignAnswer(secret, sig, status, answer)
	}}
}
