//go:build !linux

package export

import "errors"

// exchange needs renameat2, which only Linux has.
func exchange(a, b string) error {
	return errors.New("atomic compaction of a local destination needs Linux (renameat2 RENAME_EXCHANGE)")
}
