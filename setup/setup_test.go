package setup

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
)

func testConfig(t *testing.T) config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.Job = "setup"
	cfg.Store = "sqlite://" + filepath.Join(dir, "state", "idbatch.db")
	cfg.Export.Destination = filepath.Join(dir, "exports") + "/"
	return cfg
}

// Only run and demo create a Store; the other commands open an existing one
// and create nothing, not even its directory.
func TestStoreModes(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	_, err := Open(ctx, cfg, Options{Store: ExistingStore})
	if err == nil || !strings.Contains(err.Error(), "does not exist (no run has created it)") {
		t.Fatalf("existing Store that is not there: %v", err)
	}
	dir := filepath.Dir(strings.TrimPrefix(cfg.Store, "sqlite://"))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ExistingStore created the Store's directory: %v", err)
	}
	d, err := Open(ctx, cfg, Options{Store: CreateStore})
	if err != nil {
		t.Fatal(err)
	}
	if d.Store == nil || d.Dest != nil || d.S3 != nil {
		t.Errorf("CreateStore built %+v", d)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, cfg, Options{Store: ExistingStore})
	if err != nil {
		t.Fatalf("the Store run created: %v", err)
	}
	d.Close()
	if _, err := OpenStore(ctx, "mysql://u:hunter2@db/x", CreateStore); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad DSN: %v", err)
	}
}

// A destination's errors name the key; nothing stays open.
func TestDestination(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	d, err := Open(ctx, cfg, Options{Destination: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Dest == nil || d.S3 != nil || d.Dest.Root() != strings.TrimSuffix(cfg.Export.Destination, "/") {
		t.Errorf("destination %v, S3 %v", d.Dest, d.S3)
	}
	cfg.Export.Destination = "ftp://host/x"
	if _, err := Open(ctx, cfg, Options{Store: CreateStore, Destination: true}); err == nil || !strings.HasPrefix(err.Error(), "export.destination: ") {
		t.Errorf("bad destination: %v", err)
	}
	// An s3:// destination brings the S3 client (no request is made).
	cfg.Export.Destination = "s3://bucket/exports/"
	cfg.Source.S3.Endpoint = "http://127.0.0.1:1"
	d, err = Open(ctx, cfg, Options{Destination: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.S3 == nil || d.Dest.Root() != "s3://bucket/exports/" {
		t.Errorf("s3 destination: client %v, root %s", d.S3, d.Dest.Root())
	}
}

// Every API client carries the config's account and the caller's HTTP
// client, and waits on the command's one limiter.
func TestAPIClient(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k, s, ok := r.BasicAuth(); !ok || k != "key-1" || s != "secret-1" {
			t.Errorf("credentials %q %q", k, s)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"APPROVED","final":true}`))
	}))
	defer srv.Close()
	cfg := testConfig(t)
	cfg.Idenfy.BaseURL, cfg.Idenfy.APIKey, cfg.Idenfy.APISecret = srv.URL, "key-1", "secret-1"
	d, err := Open(ctx, cfg, Options{Store: CreateStore})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	counting := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	api := d.API(APIOptions{HTTPClient: counting, MaxRetries: -1})
	if _, err := api.Status(ctx, "scan-1"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("the HTTP client given made %d calls, want 1", calls.Load())
	}
	l := d.Limits(nil)
	if l.Local == nil || l.API != idenfy.Limiter(l.Local) || l.Poll != nil || l.Budget != (pipeline.AccountBudget{}) {
		t.Errorf("SQLite limits: %+v", l)
	}
	if d.Limits(nil).Local != l.Local {
		t.Error("a second Limits built a second limiter")
	}
}

// On a PostgreSQL Store (N workers, one account) every call also draws
// from the account's budget in the Store.
func TestAccountBudgetOnPostgres(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store = pgtest.DSN(t, 2)
	cfg.Idenfy.APIKey = "setup-test-api-key"
	d, err := Open(context.Background(), cfg, Options{Store: ExistingStore})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l := d.Limits(nil)
	if _, ok := l.API.(*submit.AccountLimiter); !ok || l.Poll == nil {
		t.Errorf("PostgreSQL limits: API %T, poll %v", l.API, l.Poll)
	}
	if a := l.API.(*submit.AccountLimiter); l.Budget != APIBudget(cfg) || a.Budget.Name != l.Budget.Name || l.Budget.PerHour != cfg.Limits.RequestsPerHour ||
		strings.Contains(l.Budget.Name, cfg.Idenfy.APIKey) {
		t.Errorf("PostgreSQL limits: budget %+v, the API draws from %q", l.Budget, a.Budget.Name)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
