package caddymodule

import (
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
)

func init() {
	caddy.RegisterModule(BadgerStorage{})
}

// StoreProvider is implemented by the modules in the password_reset.storage
// namespace: each gives the app a storage.Store.
type StoreProvider interface {
	Store() storage.Store
}

// exclusiveStore is implemented by a storage module that can tell whether it has
// just opened a store no other process can use (see reset.Config.ExclusiveStore).
type exclusiveStore interface {
	JustOpened() bool
}

// badgerPool shares one open Badger database per directory between the configs
// that overlap during a reload: Badger locks its directory, and a reload provisions
// the new config before it stops the old one.
var badgerPool = caddy.NewUsagePool()

type pooledStore struct{ *badgerstore.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// BadgerStorage keeps the plugin's state in an embedded Badger database: the
// default, for a single Caddy instance.
type BadgerStorage struct {
	// Path is the database directory. Default: "password_reset" in Caddy's data
	// directory. Placeholders such as {env.X} are expanded.
	Path string `json:"path,omitempty"`

	// SyncWrites makes every commit wait for fsync, so that an accepted request
	// survives a power cut, not only a crash of the process. Default: true.
	SyncWrites *bool `json:"sync_writes,omitempty"`

	store  *badgerstore.Store
	key    string
	fresh  bool // this config opened the database (no running config shares it)
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (BadgerStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "password_reset.storage.badger",
		New: func() caddy.Module { return new(BadgerStorage) },
	}
}

// Provision opens the database, or shares the one a running config already opened.
func (b *BadgerStorage) Provision(ctx caddy.Context) error {
	b.logger = ctx.Logger()
	path := caddy.NewReplacer().ReplaceAll(b.Path, "")
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "password_reset")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("storage path %q: %w", path, err)
	}
	sync := b.SyncWrites == nil || *b.SyncWrites
	val, loaded, err := badgerPool.LoadOrNew(abs, func() (caddy.Destructor, error) {
		s, err := badgerstore.Open(badgerstore.Options{Dir: abs, SyncWrites: sync, Logger: b.logger})
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	b.key, b.store, b.fresh = abs, val.(pooledStore).Store, !loaded
	b.logger.Debug("storage ready", zap.String("path", abs), zap.Bool("reused", loaded))
	return nil
}

// Store returns the open store.
func (b *BadgerStorage) Store() storage.Store { return b.store }

// JustOpened reports whether this config opened the database rather than
// sharing a running config's: Badger locks its directory, so no live worker of
// this or another process holds a lease in it.
func (b *BadgerStorage) JustOpened() bool { return b.fresh }

// Cleanup releases this config's use of the database; the last user closes it.
func (b *BadgerStorage) Cleanup() error {
	if b.key == "" {
		return nil // Provision did not get as far as the pool
	}
	_, err := badgerPool.Delete(b.key)
	b.key = ""
	return err
}

// Interface guards.
var (
	_ caddy.Provisioner  = (*BadgerStorage)(nil)
	_ caddy.CleanerUpper = (*BadgerStorage)(nil)
	_ StoreProvider      = (*BadgerStorage)(nil)
)
