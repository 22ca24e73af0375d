package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

// openStore opens the Store named by the DSN, creating a SQLite file (and
// its directory) if needed: for run and demo only.
func openStore(ctx context.Context, dsn string) (pipeline.Store, error) {
	return openStoreMode(ctx, dsn, true)
}

// openExistingStore opens a Store that a run has created; a missing SQLite
// file is an error (nothing is created): for status, export, delete, serve.
func openExistingStore(ctx context.Context, dsn string) (pipeline.Store, error) {
	return openStoreMode(ctx, dsn, false)
}

func openStoreMode(ctx context.Context, dsn string, create bool) (pipeline.Store, error) {
	d, err := config.ParseStoreDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if d.SQLitePath != "" {
		if create {
			if dir := filepath.Dir(d.SQLitePath); dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("store: %w", err)
				}
			}
		} else if fi, err := os.Stat(d.SQLitePath); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("store %s does not exist (no run has created it): check store in the config or -store; 'idbatch run' creates it", dsn)
		}
		st, err := sqlitestore.Open(ctx, d.SQLitePath)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", dsn, err)
		}
		return st, nil
	}
	st, err := pgstore.Open(ctx, d.Postgres)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", config.RedactDSN(dsn), config.RedactError(err, dsn))
	}
	return st, nil
}
