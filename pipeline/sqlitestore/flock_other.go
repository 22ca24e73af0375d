//go:build !unix

package sqlitestore

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// flock is a no-op where flock(2) does not exist: one run per store is then
// the operator's duty.
func flock(*os.File) error { return nil }
