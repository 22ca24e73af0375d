package setup

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/preflight"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// preflightConfig is testConfig against the sandbox, with a receiver on a
// free loopback port.
func preflightConfig(t *testing.T) (*idenfytest.Server, config.Config) {
	t.Helper()
	sb := idenfytest.New(idenfytest.Options{})
	ts := httptest.NewServer(sb)
	t.Cleanup(func() { ts.Close(); sb.Close() })
	cfg := testConfig(t)
	cfg.Idenfy.BaseURL, cfg.Idenfy.APIKey, cfg.Idenfy.APISecret = ts.URL, idenfytest.DefaultAPIKey, idenfytest.DefaultAPISecret
	cfg.Idenfy.WebhookSigningKey, cfg.Results.WebhookListen = "wh", "127.0.0.1:0"
	return sb, cfg
}

// The four checks, in the checklist's order; on SQLite nothing is created
// (no Store, no directory, no destination) and the credentials check goes
// through the local limiter.
func TestPreflightSQLite(t *testing.T) {
	ctx := context.Background()
	sb, cfg := preflightConfig(t)
	d, err := Open(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rs := d.Preflight(ctx)
	names := []string{preflight.NameCredentials, preflight.NameStore, preflight.NameDestination, preflight.NameWebhook}
	if len(rs) != len(names) {
		t.Fatalf("%d results", len(rs))
	}
	for i, r := range rs {
		if r.Name != names[i] || !r.OK {
			t.Errorf("result %d: %v", i, r)
		}
	}
	if d.Store != nil {
		t.Error("a SQLite Store was opened")
	}
	if _, ok := d.Limits(nil).API.(*submit.Limiter); !ok {
		t.Errorf("limiter %T, want the local one", d.Limits(nil).API)
	}
	if n := sb.Requests()["/api/v2/status"]; n != 1 || len(sb.Requests()) != 1 {
		t.Errorf("requests %v", sb.Requests())
	}
	dir := filepath.Dir(filepath.Dir(strings.TrimPrefix(cfg.Store, "sqlite://")))
	if fis, err := os.ReadDir(dir); err != nil || len(fis) != 0 {
		t.Errorf("the checks left %v in %s (%v)", fis, dir, err)
	}
}

// On PostgreSQL the credentials check draws from the account budget only
// when the Store already exists at the current schema; a database without
// idbatch's tables is only inspected, and still has none after.
func TestPreflightPostgres(t *testing.T) {
	ctx := context.Background()
	_, cfg := preflightConfig(t)
	cfg.Store = pgtest.DSN(t, 2)

	d, err := Open(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rs := d.Preflight(ctx)
	if !rs[0].OK || !rs[1].OK || !strings.Contains(rs[1].Detail, "no idbatch tables yet") || d.Store != nil {
		t.Errorf("no Store yet: %v\n%v; store opened: %v", rs[0], rs[1], d.Store != nil)
	}
	if _, ok := d.Limits(nil).API.(*submit.Limiter); !ok {
		t.Errorf("no Store yet: limiter %T, want the local one", d.Limits(nil).API)
	}
	d.Close()
	if info, err := pgstore.Inspect(ctx, cfg.Store, cfg.Job); err != nil || info.Exists {
		t.Fatalf("the checks created the Store: %+v %v", info, err)
	}

	st, err := pgstore.Open(ctx, cfg.Store) // as a run does
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	d, err = Open(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rs = d.Preflight(ctx)
	if !rs[0].OK || !rs[1].OK || !strings.Contains(rs[1].Detail, "reachable, schema version") || d.Store == nil {
		t.Errorf("an existing Store: %v\n%v; store opened: %v", rs[0], rs[1], d.Store != nil)
	}
	if _, ok := d.Limits(nil).API.(*submit.AccountLimiter); !ok {
		t.Errorf("an existing Store: limiter %T, want the account budget", d.Limits(nil).API)
	}
}
