package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-password-reset/caddy-password-reset/storage"
)

// exportBatch is how many keys Export reads in one read transaction: a read
// transaction pins the versions it can see, so one over a whole large store
// would keep the GC from reclaiming anything for as long as the copy takes.
const exportBatch = 1000

var _ storage.Exporter = (*Store)(nil)

// Export calls fn for every live key in ascending order, with its expiry
// (Badger keeps it in whole seconds). It reads exportBatch keys per read
// transaction and calls fn between them, outside any transaction, so fn may be
// slow (writing to another store): copy a store that nothing writes.
func (s *Store) Export(ctx context.Context, fn func(storage.Record) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("badgerstore: export: %w", err)
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.inflight.Done()

	var from []byte
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("badgerstore: export: %w", err)
		}
		batch, err := s.exportFrom(from)
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				if errors.Is(err, storage.ErrStop) {
					return nil
				}
				return err
			}
		}
		if len(batch) < exportBatch {
			return nil
		}
		// The smallest key after the batch's last.
		from = append([]byte(batch[len(batch)-1].Key), 0)
	}
}

// exportFrom reads up to exportBatch live keys from from on, in one read
// transaction. Badger's iterator skips deleted and expired keys.
func (s *Store) exportFrom(from []byte) ([]storage.Record, error) {
	var out []storage.Record
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Seek(from); it.Valid() && len(out) < exportBatch; it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return wrapError("export", err, string(item.Key()))
			}
			if v == nil {
				v = []byte{}
			}
			r := storage.Record{Key: string(item.KeyCopy(nil)), Value: v}
			if e := item.ExpiresAt(); e > 0 {
				r.ExpiresAt = time.Unix(int64(e), 0)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, wrapError("export", err, "")
	}
	return out, nil
}
