package admin

import (
	"context"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
)

// The Management API's user reads. The plugin keeps no users: every read asks
// the app's get_user hook, which finds a user by email or by id, so these are
// the only questions a read can ask. With several database connections each
// is asked, as Auth0 searches the whole tenant.

// GetUser returns the user with id (Auth0's GET /api/v2/users/{id}). An id two
// connections know is refused as ambiguous, as for the other calls by id.
func (s *Service) GetUser(ctx context.Context, id string) (*FoundUser, error) {
	if id == "" {
		return nil, fail(fault.Invalid, "invalid_uri", "user id is required")
	}
	conn, user, err := s.findUser(ctx, id, "", "")
	if err != nil {
		return nil, err
	}
	return &FoundUser{User: user, Connection: conn}, nil
}

// UsersByEmail returns every user with this address, one per connection that
// has one (Auth0's GET /api/v2/users-by-email); none is an empty list.
func (s *Service) UsersByEmail(ctx context.Context, email string) ([]FoundUser, error) {
	if email == "" {
		return nil, fail(fault.Invalid, "invalid_query_string", "Query validation error: 'Missing required property: email'")
	}
	return s.findAll(ctx, "", "", email)
}

// UserQuery is a search the get_user hook can answer: one field, one exact
// value.
type UserQuery struct {
	Field string // "email" or "user_id"
	Value string
}

// userQueryForms names the supported searches, for refusals.
const userQueryForms = `email:"<address>" or user_id:"<id>" (quoted or not): ` +
	`the app's get_user hook finds users by email and by id only`

// ParseUserQuery reads q, a Lucene query of Auth0's user search (v3), of the
// forms the hook can answer: email:"..." or user_id:"...", the value quoted or
// bare. Anything else (other fields, wildcards, ranges, AND / OR, several
// clauses) is refused with the supported forms named.
func ParseUserQuery(q string) (UserQuery, error) {
	refuse := func(why string) (UserQuery, error) {
		return UserQuery{}, fail(fault.Invalid, "invalid_query_string", "%s: the supported queries are %s", why, userQueryForms)
	}
	q = strings.TrimSpace(q)
	if q == "" {
		return refuse("q is required, since the plugin cannot list the app's users")
	}
	field, raw, ok := strings.Cut(q, ":")
	if !ok || (field != "email" && field != "user_id") {
		return refuse("Unsupported query " + quoteForMessage(q))
	}
	val, rest, err := readValue(raw)
	if err != nil {
		return refuse(sentence(err.Error()))
	}
	if strings.TrimSpace(rest) != "" {
		return refuse("Only one clause is supported; " + quoteForMessage(strings.TrimSpace(rest)) + " follows it")
	}
	if val == "" {
		return refuse("The " + field + " to search for is empty")
	}
	return UserQuery{Field: field, Value: val}, nil
}

// SearchUsers answers q (Auth0's GET /api/v2/users?q=...) in connName, or
// every database connection when it is empty. A user id that two connections
// know is in the answer twice, once for each: a list can say so, where a call
// that acts on one user must refuse.
func (s *Service) SearchUsers(ctx context.Context, q UserQuery, connName string) ([]FoundUser, error) {
	switch q.Field {
	case "email":
		return s.findAll(ctx, "", connName, q.Value)
	case "user_id":
		return s.findAll(ctx, q.Value, connName, "")
	}
	return nil, fail(fault.Invalid, "invalid_query_string", "Unsupported query field %s: the supported queries are %s", q.Field, userQueryForms)
}

// quoteForMessage quotes a piece of a query for an error message, shortened.
func quoteForMessage(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
