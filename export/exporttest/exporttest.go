// Package exporttest reads Parquet files with DuckDB in tests, so that every
// file the tests write is checked by a real analyst engine rather than by
// the library that wrote it.
//
// DuckDB is run through Node.js and the npm package @duckdb/node-api, pinned
// in .ci/duckdb (package.json, package-lock.json, query.mjs), which keeps it
// out of the Go module's dependencies. Install it once with
//
//	npm ci --prefix .ci/duckdb
//
// The script is found through $IDBATCH_DUCKDB (the absolute path of query.mjs;
// a relative one is taken from the test's package directory) or by
// walking up from the working directory to .ci/duckdb/query.mjs with its
// node_modules installed. When it cannot be found (or node is missing), the
// test fails if $CI is set and is skipped otherwise.
package exporttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvScript names the environment variable that gives the path of query.mjs.
const EnvScript = "IDBATCH_DUCKDB"

// InstallHint is the command that installs the harness.
const InstallHint = "npm ci --prefix .ci/duckdb"

// timeout bounds one DuckDB invocation.
const timeout = 2 * time.Minute

var (
	findOnce   sync.Once
	foundNode  string
	foundQuery string
	findErr    error
)

// Find returns the node binary and the query.mjs script, or an error saying
// what is missing.
func Find() (node, script string, err error) {
	findOnce.Do(func() { foundNode, foundQuery, findErr = find() })
	return foundNode, foundQuery, findErr
}

func find() (string, string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("node not found on PATH: %w", err)
	}
	if p := os.Getenv(EnvScript); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", "", fmt.Errorf("$%s: %w", EnvScript, err)
		}
		return node, abs, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		h := filepath.Join(dir, ".ci", "duckdb")
		if _, err := os.Stat(filepath.Join(h, "query.mjs")); err == nil {
			if _, err := os.Stat(filepath.Join(h, "node_modules", "@duckdb", "node-api")); err != nil {
				return "", "", fmt.Errorf("%s has no node_modules/@duckdb/node-api", h)
			}
			return node, filepath.Join(h, "query.mjs"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New(".ci/duckdb/query.mjs not found above the working directory")
		}
		dir = parent
	}
}

// Available returns the harness, or fails or skips t when it is missing:
// t.Fatal when $CI is set, t.Skip otherwise.
func Available(t testing.TB) (node, script string) {
	t.Helper()
	node, script, err := Find()
	if err != nil {
		msg := fmt.Sprintf("DuckDB harness not available (%v); run `%s` from the repository root, or set $%s to query.mjs", err, InstallHint, EnvScript)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, script
}

// QueryErr runs sql (one or more statements) and returns the rows of the
// last one, each as a map from column name to value, or DuckDB's error.
// Values are JSON-decoded: numbers are float64 (64-bit integers beyond 2^53
// are strings), DATE is "YYYY-MM-DD", TIMESTAMP WITH TIME ZONE is
// "YYYY-MM-DDTHH:MM:SS.ffffffZ", lists are []any, structs map[string]any.
// It fails or skips t as Available does when the harness is missing.
func QueryErr(t testing.TB, sql string) ([]map[string]any, error) {
	t.Helper()
	node, script := Available(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, errors.New(msg)
	}
	var rows []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		return nil, fmt.Errorf("decode DuckDB output: %w: %.200q", err, stdout.String())
	}
	return rows, nil
}

// Query is QueryErr that fails t on a DuckDB error.
func Query(t testing.TB, sql string) []map[string]any {
	t.Helper()
	rows, err := QueryErr(t, sql)
	if err != nil {
		t.Fatalf("duckdb: %v\nSQL: %s", err, sql)
	}
	return rows
}

// Exec runs sql for its effects (COPY ... TO, say) and fails t on an error.
func Exec(t testing.TB, sql string) {
	t.Helper()
	Query(t, sql)
}

// Quote returns s as a SQL string literal, for paths in read_parquet('...').
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
