package storagetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

func testGetMissing(t *testing.T, s storage.Store) {
	err := s.View(t.Context(), func(tx storage.Tx) error {
		_, err := tx.Get("missing")
		return err
	})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
}

func testSetGet(t *testing.T, s storage.Store) {
	values := map[string]string{
		"a":               "1",
		"ticket/abc":      "some value",
		"binary/\x00\xff": "\x00\x01\x02\xff",
		"long":            string(make([]byte, 64<<10)),
	}
	for k, v := range values {
		set(t, s, k, v)
	}
	for k, v := range values {
		wantValue(t, s, k, v)
	}
}

func testSetOverwrites(t *testing.T, s storage.Store) {
	set(t, s, "k", "first")
	set(t, s, "k", "second")
	wantValue(t, s, "k", "second")
}

func testEmptyValue(t *testing.T, s storage.Store) {
	set(t, s, "empty", "")
	wantValue(t, s, "empty", "")
}

func testGetReturnsCopy(t *testing.T, s storage.Store) {
	set(t, s, "k", "value")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		v, err := tx.Get("k")
		if err != nil {
			return err
		}
		clear(v)
		v2, err := tx.Get("k")
		if err != nil {
			return err
		}
		if string(v2) != "value" {
			return fmt.Errorf("second Get in the same transaction = %q after mutating the first result", v2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "k", "value")
}

func testSetCopiesValue(t *testing.T, s storage.Store) {
	buf := []byte("original")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("k", buf, 0); err != nil {
			return err
		}
		copy(buf, "MUTATED!")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "k", "original")
}

func testReadYourWrites(t *testing.T, s storage.Store) {
	set(t, s, "gone", "x")
	err := s.Update(t.Context(), func(tx storage.Tx) error {
		if err := tx.Set("new", []byte("v"), 0); err != nil {
			return err
		}
		if v, err := tx.Get("new"); err != nil || string(v) != "v" {
			return fmt.Errorf("Get(new) after Set in the same Update = %q, %v", v, err)
		}
		if err := tx.Delete("gone"); err != nil {
			return err
		}
		if _, err := tx.Get("gone"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("Get(gone) after Delete in the same Update: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testDelete(t *testing.T, s storage.Store) {
	set(t, s, "k", "v")
	set(t, s, "other", "v")
	err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Delete("k") })
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, "k")
	wantValue(t, s, "other", "v")
}

func testDeleteMissing(t *testing.T, s storage.Store) {
	err := s.Update(t.Context(), func(tx storage.Tx) error { return tx.Delete("never-set") })
	if err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}
