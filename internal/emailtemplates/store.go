package emailtemplates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// Version is one stored version of a template.
type Version struct {
	Version   int       `json:"version"`
	Template  Template  `json:"template"`
	Source    string    `json:"source"` // "caddyfile", "default", "api", "dashboard" or "restore"
	Author    string    `json:"author,omitempty"`
	CreatedAt time.Time `json:"created_at"`

	// RestoredFrom is the version this one copies, for a restore.
	RestoredFrom int `json:"restored_from,omitempty"`
}

// Compiled is a template's current version, ready to render.
type Compiled struct {
	Version  int
	Template Template
	Email    *templates.Email
	// Language is the language Email is written in, when it is not the
	// default's ("" for the default language; see ForLanguage).
	Language string
	// VariantVersion is the version of the language's own variant that Email
	// is, 0 when it is not one (see ForLanguage).
	VariantVersion int
}

func headKey(name string) string           { return "tpl/" + name + "/head" }
func seedKey(name string) string           { return "tpl/" + name + "/seed" }
func versionKey(name string, v int) string { return fmt.Sprintf("tpl/%s/v/%08d", name, v) }
func versionsPrefix(name string) string    { return "tpl/" + name + "/v/" }

// aliases maps Auth0's legacy template names to ours.
var aliases = map[string]string{"change_password": templates.ResetEmail}

// ErrNoVersion: the template has no such version.
var ErrNoVersion = errors.New("no such template version")

// Store keeps templates in a storage.Store and caches their compiled form by
// version, so that a job costs one small read and no parsing.
type Store struct {
	store storage.Store
	seeds map[string]Template
	langs *templates.Languages
	now   func() time.Time

	mu       sync.Mutex
	compiled map[string]Compiled
	variants map[string]compiledVariant // by name/language
	builtIns map[string]compiledBuiltIn // by name/language
}

// NewStore returns the templates kept in store, seeded from seeds (the
// Caddyfile's, by name; the others are the built-in defaults in the default
// language of langs, nil: every shipped language). now is the clock (nil:
// time.Now).
func NewStore(store storage.Store, seeds map[string]Template, langs *templates.Languages, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	if langs == nil {
		langs = templates.AllLanguages()
	}
	return &Store{store: store, seeds: seeds, langs: langs, now: now,
		compiled: map[string]Compiled{}, variants: map[string]compiledVariant{}, builtIns: map[string]compiledBuiltIn{}}
}

// Seed makes each seed the current version when it differs from the one seeded
// last time. A template edited at runtime therefore survives reloads of an
// unchanged Caddyfile, and an operator who changes the Caddyfile's template gets
// it: the most recent change wins, whichever side made it.
func (s *Store) Seed(ctx context.Context) error {
	for _, name := range templates.EmailNames() {
		t, err := s.seed(name)
		if err != nil {
			return err
		}
		if err := s.seedOne(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) seedOne(ctx context.Context, t Template) error {
	if _, err := templates.CompileEmail(t.source()); err != nil {
		return fmt.Errorf("email template %s: %w", t.Template, err)
	}
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	return storage.UpdateRetry(ctx, s.store, func(tx storage.Tx) error {
		last, err := tx.Get(seedKey(t.Template))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if string(last) == hash {
			return nil
		}
		if _, err := s.putVersion(tx, t, "caddyfile", "", 0); err != nil {
			return err
		}
		return tx.Set(seedKey(t.Template), []byte(hash), 0)
	})
}

// seed is what the configuration says for name: the Caddyfile's, else the
// built-in default.
func (s *Store) seed(name string) (Template, error) {
	if t, ok := s.seeds[name]; ok {
		return t, nil
	}
	return Default(name, s.langs.Default())
}

// Canonical returns the stored name of the template called name (Auth0's legacy
// change_password is reset_email), and whether such a template exists: one with
// a built-in default or seeded by the configuration.
func (s *Store) Canonical(name string) (string, bool) {
	if alias, ok := aliases[name]; ok {
		name = alias
	}
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "", false
	}
	if _, ok := s.seeds[name]; ok {
		return name, true
	}
	_, err := templates.DefaultEmail(name, s.langs.Default())
	return name, err == nil
}

// Names returns the names of the editable templates, reset_email first.
func (s *Store) Names() []string {
	names := []string{templates.ResetEmail}
	for name := range s.seeds {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, n := range templates.EmailNames() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// putVersion stores t as the next version of its template and makes it current.
func (s *Store) putVersion(tx storage.Tx, t Template, source, author string, restoredFrom int) (*Version, error) {
	head, err := headVersion(tx, t.Template)
	if err != nil {
		return nil, err
	}
	v := &Version{Version: head + 1, Template: t, Source: source, Author: author, CreatedAt: s.now(), RestoredFrom: restoredFrom}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := tx.Set(versionKey(t.Template, v.Version), data, 0); err != nil {
		return nil, err
	}
	return v, tx.Set(headKey(t.Template), []byte(strconv.Itoa(v.Version)), 0)
}

func headVersion(tx storage.Tx, name string) (int, error) {
	data, err := tx.Get(headKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(data))
}

func readVersion(tx storage.Tx, name string, v int) (*Version, error) {
	data, err := tx.Get(versionKey(name, v))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoVersion
	}
	if err != nil {
		return nil, fmt.Errorf("template %s version %d: %w", name, v, err)
	}
	var tv Version
	if err := json.Unmarshal(data, &tv); err != nil {
		return nil, fmt.Errorf("decode template %s version %d: %w", name, v, err)
	}
	return &tv, nil
}

// Current returns the current version of the named template, compiled.
func (s *Store) Current(ctx context.Context, name string) (Compiled, error) {
	var (
		c  Compiled
		tv *Version
	)
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		c, tv, err = s.currentIn(tx, name)
		return err
	})
	if err != nil {
		return Compiled{}, err
	}
	if tv == nil {
		return c, nil
	}
	return s.compile(name, tv)
}

// currentIn reads the current version of the named template in tx: compiled
// from the cache, or else the version to compile (outside the transaction,
// with compile).
func (s *Store) currentIn(tx storage.Tx, name string) (Compiled, *Version, error) {
	head, err := headVersion(tx, name)
	if err != nil {
		return Compiled{}, nil, err
	}
	if head == 0 {
		return Compiled{}, nil, errNotStored(name)
	}
	if c, ok := s.cached(name, head); ok {
		return c, nil, nil
	}
	v, err := readVersion(tx, name, head)
	if err != nil {
		return Compiled{}, nil, err
	}
	return Compiled{}, v, nil
}

// compile compiles tv, a version of the named template, and caches it.
func (s *Store) compile(name string, tv *Version) (Compiled, error) {
	if c, ok := s.cached(name, tv.Version); ok {
		return c, nil
	}
	email, err := templates.CompileEmail(tv.Template.source())
	if err != nil {
		return Compiled{}, fmt.Errorf("email template %s version %d: %w", name, tv.Version, err)
	}
	c := Compiled{Version: tv.Version, Template: tv.Template, Email: email}
	s.mu.Lock()
	s.compiled[name] = c
	s.mu.Unlock()
	return c, nil
}

func (s *Store) cached(name string, version int) (Compiled, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.compiled[name]
	return c, ok && c.Version == version
}

// Get returns the current version of the template called name (a canonical
// name). A template not yet in the store is its seed, as version 0.
func (s *Store) Get(ctx context.Context, name string) (*Version, error) {
	var tv *Version
	err := s.store.View(ctx, func(tx storage.Tx) error {
		head, err := headVersion(tx, name)
		if err != nil || head == 0 {
			return err
		}
		tv, err = readVersion(tx, name, head)
		return err
	})
	if err != nil {
		return nil, err
	}
	if tv == nil {
		t, err := s.seed(name)
		if err != nil {
			return nil, err
		}
		tv = &Version{Template: t, Source: "default"}
	}
	return tv, nil
}

// Version returns version v of the named template, or ErrNoVersion.
func (s *Store) Version(ctx context.Context, name string, v int) (*Version, error) {
	if v <= 0 {
		return nil, ErrNoVersion
	}
	var tv *Version
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		tv, err = readVersion(tx, name, v)
		return err
	})
	return tv, err
}

// Versions returns the named template's stored versions, newest first.
func (s *Store) Versions(ctx context.Context, name string) ([]Version, error) {
	return newestFirst[Version](ctx, s.store, versionsPrefix(name))
}

// newestFirst reads the versions stored under prefix (numbered keys, so in
// order), newest first.
func newestFirst[V any](ctx context.Context, store storage.Store, prefix string) ([]V, error) {
	var out []V
	err := store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(prefix, "", func(_ string, value []byte) error {
			var v V
			if err := json.Unmarshal(value, &v); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// Save stores t as a new version of its template, by author, from source; for a
// restore, restoredFrom is the version t copies. Before the first edit of a
// template the store has never seeded, its seed is stored as version 1, so that
// the history starts from it.
func (s *Store) Save(ctx context.Context, t Template, source, author string, restoredFrom int) (*Version, error) {
	var tv *Version
	err := storage.UpdateRetry(ctx, s.store, func(tx storage.Tx) error {
		if err := s.ensureSeeded(tx, t.Template); err != nil {
			return err
		}
		var err error
		tv, err = s.putVersion(tx, t, source, author, restoredFrom)
		return err
	})
	return tv, err
}

// ErrExists is Create's refusal: the template in use is no longer the
// built-in one.
var ErrExists = errors.New("email template exists")

// Create stores t as a new version of its template, as Save does, unless the
// template in use is already the operator's own: then it returns ErrExists and
// stores nothing. Every supported template always has a version in use (a
// tenant without templates of its own still sends mail), so "exists" cannot
// mean "stored"; it means what Auth0's 409 protects, a template someone wrote:
// one that differs from the built-in default, whether set in the Caddyfile, by
// the API or on the dashboard. The check and the write are one transaction, so
// of two concurrent creates one wins.
func (s *Store) Create(ctx context.Context, t Template, source, author string) (*Version, error) {
	builtin, err := Default(t.Template, s.langs.Default())
	if err != nil {
		return nil, ErrExists // a template with no built-in default is the operator's
	}
	var tv *Version
	err = storage.UpdateRetry(ctx, s.store, func(tx storage.Tx) error {
		cur, err := s.inUse(tx, t.Template)
		if err != nil {
			return err
		}
		if cur != builtin {
			return ErrExists
		}
		if err := s.ensureSeeded(tx, t.Template); err != nil {
			return err
		}
		tv, err = s.putVersion(tx, t, source, author, 0)
		return err
	})
	return tv, err
}

// inUse returns the template called name as mail uses it now: its current
// version, or its seed before the store has one.
func (s *Store) inUse(tx storage.Tx, name string) (Template, error) {
	head, err := headVersion(tx, name)
	if err != nil {
		return Template{}, err
	}
	if head == 0 {
		return s.seed(name)
	}
	v, err := readVersion(tx, name, head)
	if err != nil {
		return Template{}, err
	}
	return v.Template, nil
}

func (s *Store) ensureSeeded(tx storage.Tx, name string) error {
	head, err := headVersion(tx, name)
	if err != nil || head > 0 {
		return err
	}
	t, err := s.seed(name)
	if err != nil {
		return err
	}
	_, err = s.putVersion(tx, t, "default", "", 0)
	return err
}
