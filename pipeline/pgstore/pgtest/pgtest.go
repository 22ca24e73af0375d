// Package pgtest gives tests a fresh PostgreSQL schema on the throwaway
// cluster that .ci/setup.sh starts.
//
// The cluster's DSN comes from the environment variable IDBATCH_TEST_PG_DSN
// (exported by `source .ci/setup.sh`, which `.ci/run` does). Without it a
// test is skipped with the command that provides it, except under CI (CI
// set), where a missing PostgreSQL is a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding the test cluster's DSN.
const EnvDSN = "IDBATCH_TEST_PG_DSN"

// BaseDSN returns the cluster's DSN, skipping (or, under CI, failing) t
// when it is not set.
func BaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: PostgreSQL is required under CI (.ci/setup.sh starts it)", EnvDSN)
		}
		t.Skipf("%s is not set; run `source .ci/setup.sh` first to start a throwaway PostgreSQL", EnvDSN)
	}
	return dsn
}

// DSN creates a new, empty schema on the cluster and returns a DSN whose
// connections use it (search_path), with at most maxConns connections per
// pool (0: pgx's default). The schema is dropped when the test ends.
func DSN(t testing.TB, maxConns int) string {
	t.Helper()
	base := BaseDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL", EnvDSN)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if maxConns > 0 {
		q.Set("pool_max_conns", itoa(maxConns))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
