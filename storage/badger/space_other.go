//go:build !(linux || darwin)

package badger

// freeSpace is nil where statfs is not available; the free-space guard is off.
var freeSpace func(dir string) (uint64, error)
