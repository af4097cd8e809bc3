package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/caddy-password-reset/caddy-password-reset/internal/admin"
)

// The audit log over the Management API (GET /api/v2/logs), and the sapi /
// fapi entries every Management API write leaves in it.

var logParams = []string{"q", "search", "page", "per_page", "include_totals", "sort", "from", "take"}

// apiLogs is GET /api/v2/logs: the audit log, newest first, with Auth0's page
// (from 0), per_page (at most 100), include_totals, sort (date:-1 or date:1)
// and q, the Lucene subset of admin.LogQueryForms; search is q's older name,
// which the auth0 npm SDK still sends. from / take read from a checkpoint.
func (a *Admin) apiLogs(w http.ResponseWriter, r *http.Request) {
	q, err := readQuery(r, logParams)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if q.Has("from") || q.Has("take") {
		a.logsFrom(w, r, q)
		return
	}
	page, perPage, err := pageOf(q)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	totals, err := queryBool(q, "include_totals")
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	ascending, err := logSort(q.Get("sort"))
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	filter, err := logFilter(q)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	entries, total, err := a.svc.SearchAuditLog(r.Context(), filter, page, perPage, ascending)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	if !totals {
		writeJSON(w, http.StatusOK, entries)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"start": page * perPage, "limit": perPage, "length": len(entries), "total": total, "logs": entries,
	})
}

// logFilter reads q, or its older name search; both at once must agree.
func logFilter(q url.Values) (admin.LogFilter, error) {
	query := q.Get("q")
	if q.Has("search") {
		if q.Has("q") && q.Get("search") != query {
			return admin.LogFilter{}, badQuery("q and search are the same parameter (search is its older name): send one")
		}
		query = q.Get("search")
	}
	return admin.ParseLogQuery(query)
}

// logSort reads Auth0's sort: date:-1 (newest first, the default) or date:1.
func logSort(s string) (ascending bool, err error) {
	switch s {
	case "", "date:-1":
		return false, nil
	case "date:1":
		return true, nil
	}
	return false, badQuery("sort must be date:-1 (newest first) or date:1: the log is kept in date order")
}

// logsFrom answers Auth0's checkpoint reading: take entries written after the
// entry from, oldest first. Auth0 ignores the other parameters there; they
// are refused instead, so that a filter is never silently dropped.
func (a *Admin) logsFrom(w http.ResponseWriter, r *http.Request, q url.Values) {
	for _, p := range []string{"q", "search", "page", "per_page", "sort", "include_totals"} {
		if q.Has(p) {
			a.writeAdminError(w, badQuery("from and take read from a checkpoint and cannot be combined with %s", p))
			return
		}
	}
	if !q.Has("from") {
		a.writeAdminError(w, badQuery("take needs from, the log_id to read after"))
		return
	}
	take, err := queryInt(q, "take", 50, maxPerPage)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	entries, err := a.svc.AuditLogAfter(r.Context(), q.Get("from"), take)
	if err != nil {
		a.writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, entries)
}

// isWrite reports whether method changes something: Auth0 records sapi / fapi
// for POST, PUT, PATCH and DELETE only.
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// apiRecorder keeps the status of an answer and the start of an error's body,
// for the audit entry of the call.
type apiRecorder struct {
	statusRecorder
	body []byte
}

const maxRecordedBody = 1 << 10

func (w *apiRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 400 && len(w.body) < maxRecordedBody {
		w.body = append(w.body, p[:min(len(p), maxRecordedBody-len(w.body))]...)
	}
	return w.statusRecorder.Write(p)
}

// call is the recorded call: method, path, status and error code.
func (w *apiRecorder) call(r *http.Request) admin.APICall {
	c := admin.APICall{Method: r.Method, Path: r.URL.Path, Status: w.status}
	if c.Status == 0 {
		c.Status = http.StatusOK
	}
	var e MgmtError
	if c.Status >= 400 && json.Unmarshal(w.body, &e) == nil {
		c.ErrorCode = e.ErrorCode
	}
	return c
}

// serveRecorded serves a routed Management API call, recording a write in the
// audit log (sapi, fapi) once it is answered. Only authenticated calls get
// here: anonymous ones cannot fill the log.
func (a *Admin) serveRecorded(w http.ResponseWriter, r *http.Request, actor admin.Actor) {
	if !isWrite(r.Method) {
		a.api.ServeHTTP(w, r)
		return
	}
	rec := &apiRecorder{statusRecorder: statusRecorder{ResponseWriter: w}}
	a.api.ServeHTTP(rec, r)
	a.svc.RecordAPICall(r.Context(), actor, rec.call(r))
}
