package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
)

// DSNSchemes is what a Store DSN may look like, for error messages.
const DSNSchemes = "sqlite://PATH (a file; relative to the config file's directory), postgres://USER@HOST/DB?… or postgresql://USER@HOST/DB?…"

// StoreDSN is a parsed Store DSN: exactly one of SQLitePath or Postgres is set.
type StoreDSN struct {
	SQLitePath string // everything after sqlite://, a file path
	Postgres   string // the whole DSN, handed to pgx as it is
}

// ParseStoreDSN reads a Store DSN. Its errors never contain a password.
func ParseStoreDSN(dsn string) (StoreDSN, error) {
	switch {
	case strings.HasPrefix(dsn, sqlitestore.Scheme):
		p := strings.TrimPrefix(dsn, sqlitestore.Scheme)
		if p == "" {
			return StoreDSN{}, fmt.Errorf("%q has no file path (use %s)", dsn, DSNSchemes)
		}
		return StoreDSN{SQLitePath: p}, nil
	case pgstore.IsDSN(dsn):
		return StoreDSN{Postgres: dsn}, nil
	}
	return StoreDSN{}, fmt.Errorf("%q is not a Store DSN; use %s", RedactDSN(dsn), DSNSchemes)
}

// ResolveStoreDSN makes a relative sqlite:// path absolute against dir (the
// config file's directory), so that one config names one Store from any
// working directory. Other DSNs are returned as they are.
func ResolveStoreDSN(dsn, dir string) string {
	p, ok := strings.CutPrefix(dsn, sqlitestore.Scheme)
	if !ok || p == "" || filepath.IsAbs(p) || dir == "" {
		return dsn
	}
	return sqlitestore.Scheme + filepath.Join(dir, p)
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

// RedactDSN returns dsn with every secret replaced by xxxxx: the password
// of user:pass@ and password-like query parameters (password, sslpassword,
// sslkey, …). The rest is kept as written. It is the one function through
// which a DSN is shown or stored.
//
// A well-formed URL is redacted by url.URL.Redacted. A password with an
// unencoded /, ? or @ makes a URL that url.Parse refuses or reads
// otherwise, yet drivers echo it in their errors: the userinfo is then
// taken up to the last @ before the host, so such a password is hidden too.
func RedactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	switch {
	case !ok:
		return keywordSecret.ReplaceAllString(dsn, "${1}="+redacted)
	case scheme == "sqlite":
		return dsn // a file path: nothing secret
	}
	if u, err := url.Parse(dsn); err == nil && u.String() == dsn {
		u.RawQuery = redactQuery(u.RawQuery)
		return u.Redacted()
	}
	if user, _, after, ok := splitUserinfo(rest); ok {
		rest = user + ":" + redacted + after
	}
	base, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return scheme + "://" + base
	}
	return scheme + "://" + base + "?" + redactQuery(query)
}

// splitUserinfo splits the part of a URL after scheme:// at its password:
// the userinfo ends at the last @ before the query (searched from the first
// @ on, so a ? inside the password does not end it). ok is false when there
// is no password.
func splitUserinfo(rest string) (user, pass, after string, ok bool) {
	first := strings.Index(rest, "@")
	if first < 0 {
		return "", "", rest, false
	}
	end := len(rest)
	if q := strings.IndexAny(rest[first:], "?#"); q >= 0 {
		end = first + q
	}
	at := strings.LastIndex(rest[:end], "@")
	user, pass, ok = strings.Cut(rest[:at], ":")
	return user, pass, rest[at:], ok
}

// redactQuery replaces the values of password-like parameters of a raw
// query, keeping the rest as written.
func redactQuery(query string) string {
	if query == "" {
		return ""
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
	return strings.Join(params, "&")
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
		_, pass, after, hasPass := splitUserinfo(rest)
		if hasPass {
			add(pass)
		}
		if _, query, ok := strings.Cut(after, "?"); ok {
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

// RedactError returns err with dsn and its secrets scrubbed from the
// message (drivers such as pgx may echo the DSN); errors.Is and errors.As
// still see the original.
func RedactError(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, dsn, RedactDSN(dsn))
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
