package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-password-reset/caddy-password-reset/handlers"
	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves the `caddy password-reset` command on Caddy's admin
// endpoint, under /password-reset/: the running config's tickets, outbox and
// backup. The admin endpoint is the operator's (loopback or a socket by
// default), as for Caddy's own /config/; these routes act as the admin
// "cli".
type adminAPI struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.password_reset",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision finds the running config's password_reset app, if it has one.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	if mod, err := ctx.AppIfConfigured("password_reset"); err == nil {
		a.app, _ = mod.(*App)
	}
	return nil
}

// Routes returns the command's routes.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/password-reset/ticket", Handler: caddy.AdminHandlerFunc(a.post(a.ticket))},
		{Pattern: "/password-reset/outbox", Handler: caddy.AdminHandlerFunc(a.get(a.outbox))},
		{Pattern: "/password-reset/outbox/retry", Handler: caddy.AdminHandlerFunc(a.post(a.retry))},
		{Pattern: "/password-reset/backup", Handler: caddy.AdminHandlerFunc(a.get(a.backup))},
	}
}

// cliActor is who the audit log says acted through these routes.
var cliActor = admin.Actor{Name: "caddy password-reset"}

func (a *adminAPI) get(h caddy.AdminHandlerFunc) caddy.AdminHandlerFunc {
	return a.method(http.MethodGet, h)
}

func (a *adminAPI) post(h caddy.AdminHandlerFunc) caddy.AdminHandlerFunc {
	return a.method(http.MethodPost, h)
}

// method refuses other methods and a config without the plugin.
func (a *adminAPI) method(m string, h caddy.AdminHandlerFunc) caddy.AdminHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != m {
			return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %s (want %s)", r.Method, m)}
		}
		if a.app == nil {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("the running config has no password_reset block")}
		}
		if a.app.services() == nil {
			return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the password_reset app has not started")}
		}
		return h(w, r)
	}
}

// ticketRequest is the body of POST /password-reset/ticket.
type ticketRequest struct {
	Email      string `json:"email"`
	Connection string `json:"connection"`
	ClientID   string `json:"client_id,omitempty"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"`
}

// ticket issues a password-change ticket, as the Management API's
// tickets/password-change does: a link, no email.
func (a *adminAPI) ticket(w http.ResponseWriter, r *http.Request) error {
	var req ticketRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("want {\"email\", \"connection\", \"client_id\", \"ttl_seconds\"}: %w", err)}
	}
	if req.Connection == "" {
		req.Connection = a.app.services().Flow.Site().DefaultConnection()
	}
	issued, err := a.app.services().Admin.CreateTicket(r.Context(), cliActor, admin.TicketRequest{
		Email: req.Email, ConnectionID: req.Connection, ClientID: req.ClientID,
		TTL: time.Duration(req.TTLSeconds) * time.Second,
	})
	if err != nil {
		return apiError(err)
	}
	return writeAdminJSON(w, map[string]any{"ticket": issued.URL, "expires_at": issued.ExpiresAt, "user_id": issued.UserID})
}

// outbox lists the outbox, newest first: ?state= picks one state.
func (a *adminAPI) outbox(w http.ResponseWriter, r *http.Request) error {
	msgs, err := a.app.services().Admin.ListOutbox(r.Context(), r.URL.Query().Get("state"), admin.MaxOutboxList)
	if err != nil {
		return apiError(err)
	}
	if msgs == nil {
		msgs = []admin.OutboxMessage{}
	}
	return writeAdminJSON(w, msgs)
}

// retry sends a failed mail again: {"id": "..."}.
func (a *adminAPI) retry(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err != nil || req.ID == "" {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New(`want {"id": "<the message's id>"}`)}
	}
	if err := a.app.services().Admin.RetryMail(r.Context(), cliActor, req.ID); err != nil {
		return apiError(err)
	}
	return writeAdminJSON(w, map[string]string{"retried": req.ID})
}

// backup streams a consistent copy of the store while Caddy serves.
func (a *adminAPI) backup(w http.ResponseWriter, r *http.Request) error {
	b, ok := a.app.store.(storage.Backuper)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusNotImplemented,
			Err: fmt.Errorf("storage %T has no backup of its own: back the database up with its tools (PostgreSQL: pg_dump, see README 'Operations')", a.app.store)}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="password-reset.backup"`)
	if err := b.Backup(w); err != nil {
		// The status is sent: a broken stream is what the command detects.
		a.app.logger.Error("backup: " + err.Error())
	}
	return nil
}

// apiError is an error of the admin service as the admin API answers it.
func apiError(err error) error {
	return caddy.APIError{HTTPStatus: handlers.StatusOf(err), Err: err}
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}
