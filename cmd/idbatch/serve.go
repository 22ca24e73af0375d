package main

import (
	"context"
	"errors"
	"io"
)

// runServe runs the webhook receiver long-lived (issue 6).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	return exitFatal, errors.New("serve is not built yet")
}
