package demoapp

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddy-password-reset/caddy-password-reset/hook"
)

// Messages of change_password refusals, shown to the user by the plugin.
const (
	msgSamePassword  = "The new password must differ from the current one."
	msgEmptyPassword = "The new password must not be empty."
)

// lookupUser answers the get_user hook.
func (a *App) lookupUser(w http.ResponseWriter, r *http.Request) {
	var req hook.GetUserRequest
	call, ok := a.readHook(w, r, hook.GetUser, &req)
	if !ok {
		return
	}
	// An admin ticket or the Management API names the user by id.
	acc, ok := a.userByEmail(req.Email)
	if req.UserID != "" {
		acc, ok = a.userByID(req.UserID)
	}
	if !ok {
		a.answer(call, w, http.StatusNotFound, hook.ErrorResponse{Message: "no such user"})
		return
	}
	a.answer(call, w, http.StatusOK, acc.user)
}

// changePassword answers the change_password hook.
func (a *App) changePassword(w http.ResponseWriter, r *http.Request) {
	var req hook.ChangePasswordRequest
	call, ok := a.readHook(w, r, hook.ChangePassword, &req)
	if !ok {
		return
	}
	acc, ok := a.userByID(req.UserID)
	if !ok {
		a.answer(call, w, http.StatusNotFound, hook.ErrorResponse{Message: "no such user"})
		return
	}
	if msg := a.refusePassword(acc, req.Password); msg != "" {
		a.answer(call, w, http.StatusUnprocessableEntity, hook.ErrorResponse{Message: msg})
		return
	}
	hash, err := hashPassword(req.Password)
	if err != nil {
		a.log.Error("change_password: hash", "user_id", req.UserID, "error", err)
		a.answer(call, w, http.StatusInternalServerError, hook.ErrorResponse{Message: "internal error"})
		return
	}
	if !a.setHash(req.UserID, hash) {
		a.answer(call, w, http.StatusNotFound, hook.ErrorResponse{Message: "no such user"})
		return
	}
	if req.MarkEmailVerified {
		a.markVerified(req.UserID)
	}
	if req.EndSessions {
		n := a.endUserSessions(req.UserID)
		a.log.Info("change_password: sessions ended", "user_id", req.UserID, "sessions", n)
	}
	a.changes.Add(1)
	call.Answer(w, http.StatusNoContent, nil)
}

// refusePassword applies the app's own rule to a new password and returns the
// message for the user, or "" when the password is acceptable. The plugin's
// policy has run before the hook is called.
func (a *App) refusePassword(acc account, password string) string {
	switch {
	case password == "":
		return msgEmptyPassword
	case verifyPassword(acc.hash, password):
		return msgSamePassword
	}
	return ""
}

// readHook verifies a hook call (signature, time window, replay) and decodes its
// JSON body into v. On failure it writes the answer and returns false. A call
// that does not verify gets 401 and no detail, unsigned (there is no call to
// sign for), so a caller probing the hook learns nothing; the log says why.
func (a *App) readHook(w http.ResponseWriter, r *http.Request, name string, v any) (*hook.Call, bool) {
	call, err := a.verifier.VerifyRequest(r, name)
	if errors.Is(err, hook.ErrBodyTooLarge) {
		a.log.Warn("hook call refused", "hook", name, "error", err)
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	if err != nil {
		a.log.Warn("hook call refused", "hook", name, "remote", r.RemoteAddr, "error", err)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return nil, false
	}
	a.hookCalls[name].Add(1)
	if err := json.Unmarshal(call.Body, v); err != nil {
		// No message: the plugin would show a change_password refusal's message
		// to the user, and this is no refusal of the password.
		call.Answer(w, http.StatusBadRequest, nil)
		return nil, false
	}
	return call, true
}

// answer writes v as the JSON body of call's signed answer with status code.
func (a *App) answer(call *hook.Call, w http.ResponseWriter, code int, v any) {
	if err := call.AnswerJSON(w, code, v); err != nil {
		a.log.Error("hook answer", "hook", call.Hook, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}
