package hook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// This example is an app's change_password hook: verify the call with a Verifier
// (signature, time window, replay), decode it, store the password with the app's
// own hashing, end sessions, answer 204. A refused password gets a 4xx with
// hook.ErrorResponse, whose message the user sees. Every answer goes through the
// verified call, which signs it: the plugin refuses unsigned answers.
func Example_changePasswordHandler() {
	secret := []byte("the RESET_HOOK_SECRET shared with the Caddyfile")
	verifier := &hook.Verifier{Secret: secret} // one for the app's lifetime: it remembers call IDs

	handler := func(w http.ResponseWriter, r *http.Request) {
		call, err := verifier.VerifyRequest(r, hook.ChangePassword)
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized) // no detail for callers
			return
		}
		var req hook.ChangePasswordRequest
		if err := json.Unmarshal(call.Body, &req); err != nil {
			call.Answer(w, http.StatusBadRequest, nil) // no message: the user sees "try again"
			return
		}
		if err := users.SetPassword(req.UserID, req.Password); err != nil {
			call.AnswerJSON(w, http.StatusUnprocessableEntity, hook.ErrorResponse{Message: err.Error()})
			return
		}
		if req.EndSessions {
			users.EndSessions(req.UserID)
		}
		call.Answer(w, http.StatusNoContent, nil)
	}

	// What the plugin sends after a user chose a new password on the reset page,
	// and how it checks the answer.
	for i, password := range []string{"correct horse battery staple", "hunter2"} {
		body, _ := json.Marshal(hook.ChangePasswordRequest{
			Connection: "Username-Password-Authentication", UserID: "user-42",
			Email: "alice@example.com", Password: password,
			Reason: hook.ReasonReset, EndSessions: true,
		})
		r := httptest.NewRequest(http.MethodPost, "/internal/users/password", bytes.NewReader(body))
		sig := hook.Signature{Hook: hook.ChangePassword, ID: fmt.Sprintf("call-%d", i), Timestamp: time.Now()}
		hook.SetHeaders(r.Header, secret, sig, body)
		w := httptest.NewRecorder()
		handler(w, r)
		if err := hook.VerifyAnswer(w.Header(), secret, sig, w.Code, w.Body.Bytes()); err != nil {
			fmt.Println("answer refused:", err)
			continue
		}
		msg := http.StatusText(w.Code)
		var refused hook.ErrorResponse
		if json.Unmarshal(w.Body.Bytes(), &refused) == nil {
			msg = refused.Message
		}
		fmt.Println(w.Code, msg)
	}
	// Output:
	// 204 No Content
	// 422 Choose a longer password.
}

// userStore stands in for the app's own user database.
type userStore struct{ hashes map[string]string }

var users = &userStore{hashes: map[string]string{}}

// SetPassword applies the app's own rules, then would hash the password with the
// app's usual scheme (argon2id, bcrypt) before storing it.
func (s *userStore) SetPassword(userID, password string) error {
	if len(password) < 8 {
		return refusal("Choose a longer password.")
	}
	s.hashes[userID] = "hash of " + password
	return nil
}

func (s *userStore) EndSessions(userID string) {}

// refusal is an error whose text is meant for the user.
type refusal string

func (r refusal) Error() string { return string(r) }
