package badger

import (
	"fmt"
	"io"
)

// Backup writes a consistent copy of the store to w, in Badger's backup
// format, while the store serves: it reads one snapshot, so a copy taken
// during writes is the store as of one moment.
func (s *Store) Backup(w io.Writer) error {
	if _, err := s.db.Backup(w, 0); err != nil {
		return fmt.Errorf("badgerstore: backup: %w", err)
	}
	return nil
}

// Restore reads a backup made by Backup into the store. Keys of the backup
// replace the store's; the store's other keys stay, so restore into an empty
// store to get the backup's state.
func (s *Store) Restore(r io.Reader) error {
	if err := s.db.Load(r, 256); err != nil {
		return fmt.Errorf("badgerstore: restore: %w", err)
	}
	return nil
}
