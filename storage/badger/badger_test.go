package badger_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
	badgerstore "github.com/caddy-password-reset/caddy-password-reset/storage/badger"
	"github.com/caddy-password-reset/caddy-password-reset/storage/storagetest"
)

// open opens a store with opts and closes it when the test ends.
func open(t *testing.T, opts badgerstore.Options) *badgerstore.Store {
	t.Helper()
	s, err := badgerstore.Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformanceOnDisk(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, badgerstore.Options{Dir: t.TempDir()})
	})
}

func TestConformanceInMemory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, badgerstore.Options{InMemory: true})
	})
}

func TestOpenLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	open(t, badgerstore.Options{Dir: dir})

	s, err := badgerstore.Open(badgerstore.Options{Dir: dir})
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if !errors.Is(err, badgerstore.ErrLocked) {
		t.Fatalf("error does not wrap ErrLocked: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"in use by another process", "caddy reload", dir} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := badgerstore.Open(badgerstore.Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("kept", []byte("value"), 0); err != nil {
			return err
		}
		return tx.Set("big", make([]byte, 1<<20-1), 0) // the largest value the store takes
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, badgerstore.Options{Dir: dir})
	err = s.View(t.Context(), func(tx storage.Tx) error {
		v, err := tx.Get("kept")
		if err != nil || string(v) != "value" {
			t.Errorf("Get(kept) after reopen = %q, %v", v, err)
		}
		v, err = tx.Get("big")
		if err != nil || len(v) != 1<<20-1 {
			t.Errorf("Get(big) after reopen = %d bytes, %v", len(v), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenInvalidOptions(t *testing.T) {
	for name, opts := range map[string]badgerstore.Options{
		"neither dir nor memory": {},
		"both dir and memory":    {Dir: t.TempDir(), InMemory: true},
	} {
		if s, err := badgerstore.Open(opts); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestTxUsedAfterFunctionReturns(t *testing.T) {
	s := open(t, badgerstore.Options{InMemory: true})
	var leaked storage.Tx
	err := s.Update(t.Context(), func(tx storage.Tx) error { leaked = tx; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.Get("k"); err == nil {
		t.Error("Get on a finished transaction succeeded")
	}
	if err := leaked.Set("k", nil, 0); err == nil {
		t.Error("Set on a finished transaction succeeded")
	}
	if err := leaked.Delete("k"); err == nil {
		t.Error("Delete on a finished transaction succeeded")
	}
	if err := leaked.Scan("", "", func(string, []byte) error { return nil }); err == nil {
		t.Error("Scan on a finished transaction succeeded")
	}
}

func TestCloseWaitsForTransaction(t *testing.T) {
	s := open(t, badgerstore.Options{InMemory: true})
	inside := make(chan struct{})
	release := make(chan struct{})
	updated := make(chan error, 1)
	go func() {
		updated <- s.Update(t.Context(), func(tx storage.Tx) error {
			close(inside)
			<-release
			return tx.Set("k", []byte("v"), 0)
		})
	}()
	<-inside
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()

	// Close has marked the store closed or is about to; a new transaction
	// either runs before that or fails with ErrUnavailable, and never deadlocks.
	err := s.View(t.Context(), func(storage.Tx) error { return nil })
	if err != nil && !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("View during Close = %v", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a transaction was running", err)
	default:
	}
	close(release)
	if err := <-updated; err != nil {
		t.Fatalf("Update that was running when Close began = %v, want nil", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestDiskFull fills a real filesystem. It needs a small, dedicated one, so it runs
// only when BADGERSTORE_SMALL_FS names a directory on it, e.g. as root:
//
//	mount -t tmpfs -o size=200m tmpfs /mnt/small
//	BADGERSTORE_SMALL_FS=/mnt/small go test -run TestDiskFull ./storage/badger/
func TestDiskFull(t *testing.T) {
	dir := os.Getenv("BADGERSTORE_SMALL_FS")
	if dir == "" {
		t.Skip("BADGERSTORE_SMALL_FS not set")
	}
	dir, err := os.MkdirTemp(dir, "badgerstore")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := badgerstore.Open(badgerstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 4<<10)
	for i := 0; ; i++ {
		err := s.Update(t.Context(), func(tx storage.Tx) error {
			for j := range 100 {
				if err := tx.Set(fmt.Sprintf("fill/%06d/%03d", i, j), value, 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("after %d MiB: %v, want ErrUnavailable", i*len(value)*100>>20, err)
			}
			t.Logf("refused after %d MiB: %v", i*len(value)*100>>20, err)
			break
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after the disk filled: %v", err)
	}
	s = open(t, badgerstore.Options{Dir: dir, MinFreeSpace: -1})
	err = s.View(t.Context(), func(tx storage.Tx) error {
		_, err := tx.Get("fill/000000/000")
		return err
	})
	if err != nil {
		t.Fatalf("reading after reopen: %v", err)
	}
}
