//go:build linux || darwin

package badger

import "syscall"

// freeSpace returns the bytes available to this process on dir's filesystem.
var freeSpace = func(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
