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
// namespace: each gives the app a storage.Store. Provision checks the
// module's configuration and touches no store; Open opens it (or shares the
// one a running config opened), when the app starts: so `caddy validate`
// takes no lock, connects to no database and creates nothing on disk.
type StoreProvider interface {
	Open() (storage.Store, error)
	// Shared reports whether several processes use the store (the nodes of a
	// cluster), which needs encryption_key.
	Shared() bool
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
	abs    string // the directory, resolved by Provision
	key    string // the pool's key once Open shared or opened the database
	fresh  bool   // this config opened the database (no running config shares it)
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (BadgerStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "password_reset.storage.badger",
		New: func() caddy.Module { return new(BadgerStorage) },
	}
}

// Provision resolves the database's directory; it opens nothing (see
// StoreProvider).
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
	b.abs = abs
	return nil
}

// Open opens the database, or shares the one a running config already
// opened: Badger locks its directory, and a reload starts the new config
// before it stops the old one.
func (b *BadgerStorage) Open() (storage.Store, error) {
	if b.key != "" {
		return b.store, nil
	}
	sync := b.SyncWrites == nil || *b.SyncWrites
	val, loaded, err := badgerPool.LoadOrNew(b.abs, func() (caddy.Destructor, error) {
		s, err := badgerstore.Open(badgerstore.Options{Dir: b.abs, SyncWrites: sync, Logger: b.logger})
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	b.key, b.store, b.fresh = b.abs, val.(pooledStore).Store, !loaded
	b.logger.Debug("storage ready", zap.String("path", b.abs), zap.Bool("reused", loaded))
	return b.store, nil
}

// Shared is false: one process opens a Badger directory.
func (b *BadgerStorage) Shared() bool { return false }

// JustOpened reports whether this config opened the database rather than
// sharing a running config's: Badger locks its directory, so no live worker of
// this or another process holds a lease in it.
func (b *BadgerStorage) JustOpened() bool { return b.fresh }

// Cleanup releases this config's use of the database; the last user closes it.
func (b *BadgerStorage) Cleanup() error {
	if b.key == "" {
		return nil // never opened (caddy validate), or Open failed
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
