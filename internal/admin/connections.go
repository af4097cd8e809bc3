package admin

import (
	"slices"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/fault"
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/reset"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
)

// ConnectionInfo is a connection in the shape of Auth0's Management API
// object: read-only, from the Caddyfile.
type ConnectionInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Strategy is Auth0's "auth0" for a database connection. Social and
	// enterprise connections are declared here without their provider, so
	// theirs is the kind: "social" or "enterprise".
	Strategy string `json:"strategy"`
	// Options is set for database connections: their password policy.
	Options *ConnectionOptions `json:"options,omitempty"`
	// EnabledClients: every declared client may use every connection.
	EnabledClients     []string `json:"enabled_clients"`
	Realms             []string `json:"realms"`
	IsDomainConnection bool     `json:"is_domain_connection"`
}

// ConnectionOptions is a database connection's password policy in Auth0's
// option names.
type ConnectionOptions struct {
	PasswordPolicy            string            `json:"passwordPolicy"`
	PasswordComplexityOptions complexityOptions `json:"password_complexity_options"`
	PasswordHistory           historyOption     `json:"password_history"`
	PasswordDictionary        dictionaryOption  `json:"password_dictionary"`
	PasswordNoPersonalInfo    enableOption      `json:"password_no_personal_info"`
}

type complexityOptions struct {
	MinLength int `json:"min_length"`
}

type historyOption struct {
	Enable bool `json:"enable"`
	Size   int  `json:"size"`
}

type dictionaryOption struct {
	Enable     bool     `json:"enable"`
	Dictionary []string `json:"dictionary"`
}

type enableOption struct {
	Enable bool `json:"enable"`
}

// connectionOptions maps p to Auth0's options. Auth0's levels are ours but for
// nist, which is Auth0's "low" (a length, no composition rule) with a 15
// character minimum and the dictionary on: the same rules, in Auth0's terms.
// Our other rules (the maximum length, the zxcvbn score) have no Auth0 option.
func connectionOptions(p policy.Policy) *ConnectionOptions {
	e := p.Effective()
	level := string(e.Level)
	if e.Level == policy.LevelNIST {
		level = string(policy.LevelLow)
	}
	words := slices.Clone(e.CustomWords)
	if words == nil {
		words = []string{}
	}
	return &ConnectionOptions{
		PasswordPolicy:            level,
		PasswordComplexityOptions: complexityOptions{MinLength: e.MinLength},
		PasswordHistory:           historyOption{Enable: e.History > 0, Size: e.History},
		PasswordDictionary:        dictionaryOption{Enable: e.Dictionary, Dictionary: words},
		PasswordNoPersonalInfo:    enableOption{Enable: e.NoPersonalInfo},
	}
}

// connectionInfo describes conn.
func (s *Service) connectionInfo(conn *reset.Connection) ConnectionInfo {
	clients, _ := s.site.ClientIDs()
	if clients == nil {
		clients = []string{}
	}
	info := ConnectionInfo{ID: conn.ID(), Name: conn.Name, Strategy: string(conn.Kind),
		EnabledClients: clients, Realms: []string{conn.Name}}
	if conn.Kind == users.Database {
		info.Strategy = "auth0"
		info.Options = connectionOptions(conn.Policy)
	}
	return info
}

// ConnectionFilter is GET /api/v2/connections's name and strategy filters:
// empty fields match all.
type ConnectionFilter struct {
	Name       string
	Strategies []string
}

// Connections returns the configured connections that f selects, by id (a
// stable order, for Auth0's checkpoint paging from an id).
func (s *Service) Connections(f ConnectionFilter) []ConnectionInfo {
	out := []ConnectionInfo{}
	for _, conn := range s.site.Connections {
		info := s.connectionInfo(conn)
		if f.Name != "" && info.Name != f.Name || len(f.Strategies) > 0 && !slices.Contains(f.Strategies, info.Strategy) {
			continue
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ConnectionInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Connection returns the connection whose id is id (Auth0's GET
// /api/v2/connections/{id}); its name is accepted too, as connection_id is.
func (s *Service) Connection(id string) (*ConnectionInfo, error) {
	conn, ok := s.site.ConnectionByRef(id)
	if !ok {
		return nil, fail(fault.NotFound, "inexistent_connection", "The connection does not exist: %s", id)
	}
	info := s.connectionInfo(conn)
	return &info, nil
}
