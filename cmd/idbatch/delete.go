package main

import (
	"context"
	"errors"
	"io"
)

// runDelete deletes exported, final verifications at iDenfy (issue 7).
func runDelete(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	return exitFatal, errors.New("delete is not built yet")
}
