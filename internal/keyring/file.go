package keyring

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// maxKeyFile bounds what is read of a key file: a key is 64 hex characters, and
// a file of megabytes at that path is not one.
const maxKeyFile = 4096

// LoadOrCreate returns the keyring of the key file at path, creating the file if
// there is none: 32 random bytes written as 64 hex characters and a newline,
// mode 0600, in parent directories created with mode 0700. The file's content is
// a secret as FromSecret takes it.
//
// Creation is atomic and exclusive: the key is written to a temporary file in
// the same directory, synced, then hard-linked to path, which fails if path
// exists (as O_EXCL does). A process that loses the race to another starting at
// the same moment reads the winner's file, so both use one key; no process ever
// reads a half-written file.
//
// A key file that group or others can read or write is refused (on systems
// with Unix permissions): the key is what keeps a copy of the store from
// revealing what is sealed in it.
func LoadOrCreate(path string) (*Keyring, error) {
	k, err := load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create(path)
	}
	return k, err
}

// load reads the key file at path. A missing file is an error that matches
// fs.ErrNotExist.
func load(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: read key file: %w", err)
	}
	if err := checkPrivate(path, info); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: read key file: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("keyring: key file %s is larger than %d bytes: not a key file", path, maxKeyFile)
	}
	k, err := FromSecret(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// checkPrivate refuses a key file that is not a regular file or that others can
// read or change.
func checkPrivate(path string, info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("keyring: key file %s is not a regular file (%s)", path, info.Mode().Type())
	}
	// Windows reports made-up permission bits; its ACLs are not checked here.
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("keyring: key file %s can be read or written by group or others (mode %04o); "+
			"restrict it to its owner (chmod 600 %s) and consider the key exposed if others could read it",
			path, perm, path)
	}
	return nil
}

// create makes a new key file at path, or reads the one another process made
// meanwhile.
func create(path string) (*Keyring, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keyring: create key file: %w", err)
	}
	secret := newSecret()
	tmp, err := writeTemp(dir, filepath.Base(path), secret)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		return load(path) // another process created it first: use its key
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: create key file (the file system must support hard links): %w", err)
	}
	// The link is a change of the directory: sync it so that the key survives a
	// power cut together with the data sealed with it. Some systems cannot sync a
	// directory; the file itself is synced already.
	syncDir(dir)
	return FromSecret(secret)
}

// newSecret returns 32 random bytes in hex.
func newSecret() string {
	b := make([]byte, KeySize)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}

// writeTemp writes secret to a new file in dir (mode 0600, created exclusively)
// and syncs it, and returns its path.
func writeTemp(dir, base, secret string) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".new-*")
	if err != nil {
		return "", fmt.Errorf("keyring: create key file: %w", err)
	}
	name := f.Name()
	_, err = f.WriteString(secret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("keyring: write key file: %w", err)
	}
	return name, nil
}

func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync() //nolint:errcheck // best effort, see create
	d.Close()
}
