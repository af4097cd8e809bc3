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
	if !a.readHook(w, r, hook.GetUser, &req) {
		return
	}
	// An admin ticket or the Management API names the user by id.
	acc, ok := a.userByEmail(req.Email)
	if req.UserID != "" {
		acc, ok = a.userByID(req.UserID)
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, hook.ErrorResponse{Message: "no such user"})
		return
	}
	writeJSON(w, http.StatusOK, acc.user)
}

// changePassword answers the change_password hook.
func (a *App) changePassword(w http.ResponseWriter, r *http.Request) {
	var req hook.ChangePasswordRequest
	if !a.readHook(w, r, hook.ChangePassword, &req) {
		return
	}
	acc, ok := a.userByID(req.UserID)
	if !ok {
		writeJSON(w, http.StatusNotFound, hook.ErrorResponse{Message: "no such user"})
		return
	}
	if msg := a.refusePassword(acc, req.Password); msg != "" {
		writeJSON(w, http.StatusUnprocessableEntity, hook.ErrorResponse{Message: msg})
		return
	}
	hash, err := hashPassword(req.Password)
	if err != nil {
		a.log.Error("change_password: hash", "user_id", req.UserID, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !a.setHash(req.UserID, hash) {
		writeJSON(w, http.StatusNotFound, hook.ErrorResponse{Message: "no such user"})
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
	w.WriteHeader(http.StatusNoContent)
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

// readHook verifies the signature of a hook call and decodes its JSON body into v.
// On failure it writes the answer and returns false. A bad signature gets 401 and
// no detail, so a caller probing the hook learns nothing; the log says why.
func (a *App) readHook(w http.ResponseWriter, r *http.Request, name string, v any) bool {
	body, err := hook.VerifyRequest(r, a.secret, name)
	if errors.Is(err, hook.ErrBodyTooLarge) {
		a.log.Warn("hook call refused", "hook", name, "error", err)
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return false
	}
	if err != nil {
		a.log.Warn("hook call refused", "hook", name, "remote", r.RemoteAddr, "error", err)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return false
	}
	a.hookCalls[name].Add(1)
	if err := json.Unmarshal(body, v); err != nil {
		http.Error(w, "malformed JSON body", http.StatusBadRequest)
		return false
	}
	return true
}

// writeJSON writes v as the JSON body of an answer with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // the status is sent; a write error has nowhere to go
}
