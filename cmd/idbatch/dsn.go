package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

// dsnSchemes is what a Store DSN may look like, for error messages.
const dsnSchemes = "sqlite://PATH (a file; relative to the config file's directory), postgres://USER@HOST/DB?… or postgresql://USER@HOST/DB?…"

// storeDSN is a parsed Store DSN: exactly one of SQLitePath or Postgres is set.
type storeDSN struct {
	SQLitePath string // everything after sqlite://, a file path
	Postgres   string // the whole DSN, handed to pgx as it is
}

// parseStoreDSN reads a Store DSN. Its errors never contain a password.
func parseStoreDSN(dsn string) (storeDSN, error) {
	switch {
	case strings.HasPrefix(dsn, sqlitestore.Scheme):
		p := strings.TrimPrefix(dsn, sqlitestore.Scheme)
		if p == "" {
			return storeDSN{}, fmt.Errorf("%q has no file path (use %s)", dsn, dsnSchemes)
		}
		return storeDSN{SQLitePath: p}, nil
	case pgstore.IsDSN(dsn):
		return storeDSN{Postgres: dsn}, nil
	}
	return storeDSN{}, fmt.Errorf("%q is not a Store DSN; use %s", redactDSN(dsn), dsnSchemes)
}

// resolveStoreDSN makes a relative sqlite:// path absolute against dir (the
// config file's directory), so that one config names one Store from any
// working directory. Other DSNs are returned as they are.
func resolveStoreDSN(dsn, dir string) string {
	p, ok := strings.CutPrefix(dsn, sqlitestore.Scheme)
	if !ok || p == "" || filepath.IsAbs(p) || dir == "" {
		return dsn
	}
	return sqlitestore.Scheme + filepath.Join(dir, p)
}

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
	d, err := parseStoreDSN(dsn)
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
		return nil, fmt.Errorf("store %s: %w", redactDSN(dsn), redactError(err, dsn))
	}
	return st, nil
}

// redacted is how a secret is shown.
const redacted = "xxxxx"

// secretParam reports whether a DSN query parameter (or keyword) holds a
// secret.
func secretParam(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "token") || k == "sslkey"
}

// keywordSecret matches password-like keyword/value pairs of libpq's
// "host=… password=…" form, the value quoted or not.
var keywordSecret = regexp.MustCompile(`(?i)\b([a-z_]*(?:password|secret|token)[a-z_]*|sslkey)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// redactDSN returns dsn with every secret replaced by xxxxx: the password
// of user:pass@ (the userinfo ends at the last @ before the host, so an
// unencoded @, / or ? in the password is still hidden) and password-like
// query parameters (password, sslpassword, sslkey, …). The rest is kept as
// written. It is the one function through which a DSN is shown or stored.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return keywordSecret.ReplaceAllString(dsn, "${1}="+redacted)
	}
	if scheme == "sqlite" {
		return dsn // a file path: nothing secret
	}
	// Userinfo: up to the last @ before the query. The query is searched
	// from the first @ on, so a ? inside the password does not end it.
	if first := strings.Index(rest, "@"); first >= 0 {
		end := len(rest)
		if q := strings.IndexAny(rest[first:], "?#"); q >= 0 {
			end = first + q
		}
		at := strings.LastIndex(rest[:end], "@")
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if hasPass {
			rest = user + ":" + redacted + rest[at:]
		}
	}
	base, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return scheme + "://" + base
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		k, _, hasVal := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if hasVal && secretParam(k) {
			params[i] = p[:strings.Index(p, "=")] + "=" + redacted
		}
	}
	return scheme + "://" + base + "?" + strings.Join(params, "&")
}

// dsnSecrets returns the secrets a DSN holds, as written and URL-decoded,
// to scrub them from error messages of drivers that echo their input.
func dsnSecrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if len(s) < 3 { // too short to scrub without mangling the message
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
	}
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		if first := strings.Index(rest, "@"); first >= 0 {
			end := len(rest)
			if q := strings.IndexAny(rest[first:], "?#"); q >= 0 {
				end = first + q
			}
			at := strings.LastIndex(rest[:end], "@")
			if _, pass, ok := strings.Cut(rest[:at], ":"); ok {
				add(pass)
			}
			rest = rest[at:]
		}
		if _, query, ok := strings.Cut(rest, "?"); ok {
			for _, p := range strings.Split(query, "&") {
				if k, v, ok := strings.Cut(p, "="); ok && secretParam(k) {
					add(v)
				}
			}
		}
		return out
	}
	for _, m := range keywordSecret.FindAllStringSubmatch(dsn, -1) {
		add(strings.Trim(m[2], "'"))
	}
	return out
}

// redactError returns err with dsn and its secrets scrubbed from the
// message (drivers such as pgx may echo the DSN); errors.Is and errors.As
// still see the original.
func redactError(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, dsn, redactDSN(dsn))
	for _, s := range dsnSecrets(dsn) {
		clean = strings.ReplaceAll(clean, s, redacted)
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
