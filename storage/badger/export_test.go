package badger_test

import (
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
	"github.com/caddy-password-reset/caddy-password-reset/storage/storagetest"
)

func TestExporterOnDisk(t *testing.T) {
	storagetest.RunExporter(t, func(t *testing.T) storage.Store {
		return open(t, badgerstore.Options{Dir: t.TempDir()})
	})
}

func TestExporterInMemory(t *testing.T) {
	storagetest.RunExporter(t, func(t *testing.T) storage.Store {
		return open(t, badgerstore.Options{InMemory: true})
	})
}
