package demoapp

import (
	"net/http"
)

// PathChangePassword is the app's own "change password" page for a signed-in
// user.
const PathChangePassword = "/account/password"

// Messages of the change-password page.
const (
	msgWrongCurrent    = "Your current password is wrong."
	msgPasswordChanged = "Your password has been changed. Password reset links sent before no longer work."
	msgRevokeFailed    = "Your password has been changed, but the password reset links sent before could not " +
		"be revoked, so they work until they expire: "
)

// passwordData fills the "password" template.
type passwordData struct {
	Email  string
	Error  string // the form was refused; nothing changed
	Done   string // the password changed
	DoneOK bool   // and the open reset links were revoked
}

// passwordForm shows the change-password form to a signed-in user.
func (a *App) passwordForm(w http.ResponseWriter, r *http.Request) {
	acc, ok := a.currentUser(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	a.render(w, http.StatusOK, "password", passwordData{Email: acc.user.Email})
}

// changeOwnPassword checks the current password, sets the new one, and then
// asks the plugin to revoke the user's open reset links: a link sent before the
// change must not set the password back (issue 8 item 15). If the plugin cannot
// be reached the password has still changed, and the page says that the links
// live on.
func (a *App) changeOwnPassword(w http.ResponseWriter, r *http.Request) {
	acc, ok := a.currentUser(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	d := passwordData{Email: acc.user.Email}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	if !verifyPassword(acc.hash, current) {
		d.Error = msgWrongCurrent
		a.render(w, http.StatusOK, "password", d)
		return
	}
	if msg := a.refusePassword(acc, next); msg != "" {
		d.Error = msg
		a.render(w, http.StatusOK, "password", d)
		return
	}
	hash, err := hashPassword(next)
	if err != nil || !a.setHash(acc.user.UserID, hash) {
		a.log.Error("change own password", "user_id", acc.user.UserID, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	a.changes.Add(1)
	d.Done, d.DoneOK = msgPasswordChanged, true
	if err := a.revoke.revokeTickets(r.Context(), acc.user.UserID); err != nil {
		a.log.Warn("revoke reset links", "user_id", acc.user.UserID, "error", err)
		d.Done, d.DoneOK = msgRevokeFailed+err.Error(), false
	}
	a.render(w, http.StatusOK, "password", d)
}
