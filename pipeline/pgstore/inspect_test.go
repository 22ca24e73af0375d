package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/pipeline/storetest"
)

func latestVersion(t *testing.T) int {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].Version
}

// tableCount is the number of tables in the DSN's search_path schema.
func tableCount(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), withoutPoolParams(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func withoutPoolParams(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func TestInspect(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.DSN(t, 2)
	info, err := Inspect(ctx, dsn, "job")
	if err != nil || info.Exists || info.SchemaVersion != 0 || info.LatestVersion != latestVersion(t) {
		t.Fatalf("Inspect of an empty schema = %+v, %v", info, err)
	}
	if !strings.HasPrefix(info.Where, "127.0.0.1:") || !strings.HasSuffix(info.Where, "/postgres") {
		t.Errorf("Where = %q, want host:port/database", info.Where)
	}
	if n := tableCount(t, dsn); n != 0 {
		t.Fatalf("Inspect created %d tables", n)
	}

	s, err := open(ctx, dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if info, err := Inspect(ctx, dsn, "job"); err != nil || !info.Exists || info.SchemaVersion != 2 {
		t.Errorf("Inspect at version 2 = %+v, %v", info, err)
	}
	s.Close()
	s, err = Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load(ctx, "job", storetest.Records("job", 0, 5), storetest.T0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "other", storetest.Records("other", 0, 2), storetest.T0); err != nil {
		t.Fatal(err)
	}
	info, err = Inspect(ctx, dsn, "job")
	if err != nil || !info.Exists || info.SchemaVersion != latestVersion(t) || info.Records != 5 {
		t.Errorf("Inspect = %+v, %v; want the latest version and 5 records", info, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(ctx, dsn, "job"); err == nil || !strings.Contains(err.Error(), "schema version 9999, unknown to this binary") {
		t.Errorf("newer schema: %v", err)
	}
}

func TestInspectConnectErrors(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.BaseDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "secret-pw-4711")
	u.Path = "/no_such_db_4711"
	_, err = Inspect(t.Context(), u.String(), "job")
	if err == nil || !strings.Contains(err.Error(), "connect to "+u.Host+"/no_such_db_4711") {
		t.Errorf("missing database: %v", err)
	} else if strings.Contains(err.Error(), "secret-pw-4711") {
		t.Errorf("error leaks the password: %v", err)
	}
	if _, err := Inspect(t.Context(), "postgres://u:secret-pw-4711@127.0.0.1:1/db?connect_timeout=2", "job"); err == nil ||
		!strings.Contains(err.Error(), "connect to 127.0.0.1:1/db") || strings.Contains(err.Error(), "secret-pw-4711") {
		t.Errorf("unreachable: %v", err)
	}
	if _, err := Inspect(t.Context(), "postgres://u:secret-pw-4711@host:notaport/db", "job"); err == nil ||
		strings.Contains(err.Error(), "secret-pw-4711") {
		t.Errorf("unparsable: %v", err)
	}
}

// A role that may connect but not create or write tables.
func TestInspectPrivileges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.DSN(t, 2)
	admin, err := pgx.Connect(ctx, withoutPoolParams(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	role := "idbatch_ro_" + hex.EncodeToString(b[:])
	var schema string
	if err := admin.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `CREATE ROLE `+role+` LOGIN`); err != nil {
		admin.Close(ctx)
		t.Skipf("cannot create a role here: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		defer admin.Close(ctx)
		for _, q := range []string{`DROP OWNED BY ` + role, `DROP ROLE ` + role} {
			if _, err := admin.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	if _, err := admin.Exec(ctx, `GRANT USAGE ON SCHEMA `+schema+` TO `+role); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	roleDSN := u.String()
	if _, err := Inspect(ctx, roleDSN, "job"); err == nil || !strings.Contains(err.Error(), "may not create tables in schema "+schema) {
		t.Errorf("no CREATE: %v", err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := admin.Exec(ctx, `GRANT SELECT ON ALL TABLES IN SCHEMA `+schema+` TO `+role); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(ctx, roleDSN, "job"); err == nil || !strings.Contains(err.Error(), "may not read and write table records (SELECT true, INSERT false, UPDATE false)") {
		t.Errorf("SELECT only: %v", err)
	}
}
