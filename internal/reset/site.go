package reset

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/internal/users"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// Connection is a named place where users live, with its password policy.
type Connection struct {
	Name   string
	Kind   users.Kind
	Users  users.Directory // nil unless Kind is users.Database
	Policy policy.Policy
}

// Client is an application that asks for resets (Auth0's client_id).
type Client struct {
	ID   string
	Name string
	// ResultURL is where the user goes after a reset, unless the email template or
	// the ticket says otherwise. Empty: a success page.
	ResultURL string
	// AllowedURLs lists where a ticket may send this client's users after a
	// reset (an admin ticket's result_url must fall under one). Configuration
	// fills it with ResultURL's origin when it is not set.
	AllowedURLs []AllowedURL
	// AllowedOrigins are the web origins (scheme://host[:port]) whose pages may
	// call the public endpoints from a browser (Auth0's Allowed Web Origins and
	// Allowed Origins (CORS)). The public URL's own origin needs no entry.
	AllowedOrigins []string
}

// AllowsOrigin reports whether a page from origin may call the public endpoints
// for c: an exact match with one of c's allowed origins.
func (c *Client) AllowsOrigin(origin string) bool {
	return c != nil && slices.Contains(c.AllowedOrigins, origin)
}

// Site is the configuration the flow and the admin service share: the public URL
// that links are built on, the connections and clients, and the names emails
// use. Everything in it comes from the Caddyfile.
type Site struct {
	// PublicURL is the origin (and optional path prefix) links are built on. It is
	// never taken from a request's Host header.
	PublicURL *url.URL

	Connections map[string]*Connection
	Clients     map[string]*Client
	// DefaultClient serves requests without a client_id.
	DefaultClient string

	// DefaultFrom is the From of emails whose template has none.
	DefaultFrom string

	FriendlyName, SupportEmail, SupportURL string

	// Languages are the languages pages and emails speak (nil: every shipped
	// language, English the default).
	Languages *templates.Languages
}

// Langs returns the site's languages.
func (s *Site) Langs() *templates.Languages {
	if s.Languages == nil {
		return templates.AllLanguages()
	}
	return s.Languages
}

// Validate refuses a site the flow cannot serve.
func (s *Site) Validate() error {
	if s.PublicURL == nil || s.PublicURL.Scheme == "" || s.PublicURL.Host == "" {
		return errors.New("public_url is required: links are built on it, never on the Host header")
	}
	if s.DefaultClient != "" && s.Clients[s.DefaultClient] == nil {
		return fmt.Errorf("default client %q is not declared", s.DefaultClient)
	}
	for name, conn := range s.Connections {
		if conn.Kind == users.Database && conn.Users == nil {
			return fmt.Errorf("connection %s: a database connection needs a user store", name)
		}
		if err := conn.Policy.Validate(); err != nil {
			return fmt.Errorf("connection %s: %w", name, err)
		}
	}
	return nil
}

// Client returns the client with id, or the default client for "".
func (s *Site) Client(id string) (*Client, bool) {
	if id == "" {
		id = s.DefaultClient
	}
	c, ok := s.Clients[id]
	return c, ok
}

// Connection returns the named connection.
func (s *Site) Connection(name string) (*Connection, bool) {
	c, ok := s.Connections[name]
	return c, ok
}

// ConnectionByRef returns the connection named ref or whose ID is ref: Auth0's
// connection_id and its connection name both name one.
func (s *Site) ConnectionByRef(ref string) (*Connection, bool) {
	if c, ok := s.Connections[ref]; ok {
		return c, true
	}
	if !strings.HasPrefix(ref, connectionIDPrefix) {
		return nil, false
	}
	for _, c := range s.Connections {
		if c.ID() == ref {
			return c, true
		}
	}
	return nil, false
}

const connectionIDPrefix = "con_"

// ID is the connection's Auth0-style id ("con_" and 16 characters), the same on
// every node and across restarts: it is derived from the name, which is what the
// Caddyfile declares. It is no secret.
func (c *Connection) ID() string {
	sum := sha256.Sum256([]byte("caddy-password-reset connection\x00" + c.Name))
	return connectionIDPrefix + hex.EncodeToString(sum[:8])
}

// DatabaseConnections returns the names of the database connections, sorted.
func (s *Site) DatabaseConnections() []string {
	var names []string
	for name, c := range s.Connections {
		if c.Kind == users.Database {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// DefaultConnection returns the only database connection, or "" if there are
// several: pages that do not name a connection use it.
func (s *Site) DefaultConnection() string {
	if names := s.DatabaseConnections(); len(names) == 1 {
		return names[0]
	}
	return ""
}

// ClientIDs returns the declared clients' ids, sorted, and the default one.
func (s *Site) ClientIDs() (ids []string, def string) {
	for id := range s.Clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, s.DefaultClient
}

// PageURL returns the address of one of the plugin's pages on the public URL,
// never on a request's Host header.
func (s *Site) PageURL(route string, query url.Values) string {
	u := *s.PublicURL
	u.Path = strings.TrimSuffix(u.Path, "/") + route
	u.RawPath, u.RawQuery, u.Fragment = "", query.Encode(), ""
	return u.String()
}

// TicketURL is the reset link for token.
func (s *Site) TicketURL(token string) string {
	return s.PageURL("/lo/reset", url.Values{"ticket": {token}})
}

// ForgotURL is the forgot page for a client and connection.
func (s *Site) ForgotURL(clientID, conn string) string {
	q := url.Values{"connection": {conn}}
	if clientID != "" {
		q.Set("client_id", clientID)
	}
	return s.PageURL("/lo/forgot", q)
}

// AppName is what emails and pages call c: its name, else the site's.
func (s *Site) AppName(c *Client) string {
	if c != nil && c.Name != "" {
		return c.Name
	}
	return s.FriendlyName
}

// AllowedList is c's allow list as text, for an error message.
func (c *Client) AllowedList() string {
	var out []string
	for _, a := range c.AllowedURLs {
		out = append(out, a.String())
	}
	return strings.Join(out, ", ")
}

func clientID(c *Client) string {
	if c == nil {
		return ""
	}
	return c.ID
}

func clientResultURL(c *Client) string {
	if c == nil {
		return ""
	}
	return c.ResultURL
}

// FirstNonEmpty returns the first of vals that is not empty.
func FirstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
