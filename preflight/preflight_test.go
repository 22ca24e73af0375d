package preflight_test

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/ingest/s3test"
	"github.com/idbatch/idbatch/objstore"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/pipeline/storetest"
	"github.com/idbatch/idbatch/preflight"
	"github.com/idbatch/idbatch/results"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

func wantResult(t *testing.T, r preflight.Result, name string, ok bool, detail string) {
	t.Helper()
	if r.Name != name || r.OK != ok || (r.Err == nil) != ok || !strings.Contains(r.Detail, detail) {
		t.Errorf("result = %+v; want %s ok=%v with detail containing %q", r, name, ok, detail)
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	srv := idenfytest.New(idenfytest.Options{})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	// The limiter a run builds: the check is one of its waits.
	lim := submit.NewLimiter(3600, 1)
	c := idenfy.New(idenfy.Config{BaseURL: ts.URL, APIKey: idenfytest.DefaultAPIKey, APISecret: idenfytest.DefaultAPISecret, Limiter: lim})
	r := preflight.Credentials(t.Context(), c)
	wantResult(t, r, preflight.NameCredentials, true, "iDenfy accepted the API key and secret (POST "+ts.URL+"/api/v2/status, ")
	if st := lim.Stats(); st.Waits != 1 {
		t.Errorf("limiter waits = %d, want 1", st.Waits)
	}
	if ch := srv.Charges(); ch.TokensCreated != 0 {
		t.Errorf("the check created %d tokens", ch.TokensCreated)
	}

	bad := idenfy.New(idenfy.Config{BaseURL: ts.URL, APIKey: idenfytest.DefaultAPIKey, APISecret: "nope-secret"})
	r = preflight.Credentials(t.Context(), bad)
	wantResult(t, r, preflight.NameCredentials, false, "iDenfy rejected the API key/secret (HTTP 401")
	if !errors.Is(r.Err, idenfy.ErrCredentialsRejected) || strings.Contains(r.String(), "nope-secret") {
		t.Errorf("bad credentials: %v", r)
	}
	if !strings.HasPrefix(r.String(), "✗ credentials  iDenfy rejected") {
		t.Errorf("line = %q", r.String())
	}
}

func TestDestination(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "exports")
	d, err := objstore.Open(t.Context(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := preflight.Destination(t.Context(), d)
	wantResult(t, r, preflight.NameDestination, true, "wrote, read back and deleted "+filepath.Join(root, objstore.ProbePrefix))
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check left %s: %v", root, err)
	}

	srv := s3test.Start(t)
	c, err := objstore.NewClient(t.Context(), objstore.Config{
		Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err = objstore.Open(t.Context(), "s3://missing-bucket/exports/", c)
	if err != nil {
		t.Fatal(err)
	}
	r = preflight.Destination(t.Context(), d)
	wantResult(t, r, preflight.NameDestination, false, "cannot write s3://missing-bucket/exports/_probe/")
	if !strings.Contains(r.String(), ": NoSuchBucket") || strings.Contains(r.String(), srv.SecretKey) {
		t.Errorf("line = %q", r.String())
	}
}

func TestStoreSQLite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "idbatch.db")
	r := preflight.Store(ctx, sqlitestore.Scheme+path, "job")
	wantResult(t, r, preflight.NameStore, true, "sqlite "+path+": does not exist yet, will be created by run (with directory "+filepath.Join(dir, "state")+")")

	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the check created %s: %v", filepath.Dir(path), err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { // as run does
		t.Fatal(err)
	}
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "job", storetest.Records("job", 0, 4), storetest.T0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	r = preflight.Store(ctx, sqlitestore.Scheme+path, "job")
	wantResult(t, r, preflight.NameStore, true, "sqlite "+path+": reachable, schema version ")
	if !strings.HasSuffix(r.Detail, ", job job has 4 records") {
		t.Errorf("detail = %q", r.Detail)
	}

	r = preflight.Store(ctx, sqlitestore.Scheme+dir, "job")
	wantResult(t, r, preflight.NameStore, false, "is a directory")
	r = preflight.Store(ctx, "sqlite3://"+path, "job")
	wantResult(t, r, preflight.NameStore, false, "unknown DSN scheme sqlite3://; use sqlite://PATH")
	r = preflight.Store(ctx, "postgress://u:secret-pw-1@h/db", "job")
	if r.OK || strings.Contains(r.String(), "secret-pw-1") {
		t.Errorf("misspelt postgres DSN: %v", r)
	}
}

func TestStorePostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t, 2)
	r := preflight.Store(t.Context(), dsn, "job")
	wantResult(t, r, preflight.NameStore, true, ": reachable, no idbatch tables yet: run will create them")
	if !strings.HasPrefix(r.Detail, "postgres 127.0.0.1:") {
		t.Errorf("detail = %q", r.Detail)
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	r := preflight.Webhook(t.Context(), results.WebhookSettings{Listen: "127.0.0.1:0", Path: "/webhooks/idenfy", SigningKey: "k",
		CallbackURL: "http://127.0.0.1:8080/webhooks/idenfy"})
	wantResult(t, r, preflight.NameWebhook, true, "receiver on 127.0.0.1:0/webhooks/idenfy (bindable), signing key set; iDenfy calls http://127.0.0.1:8080/webhooks/idenfy")
	if len(r.Warnings) != 2 {
		t.Errorf("warnings = %q", r.Warnings)
	}
	r = preflight.Webhook(t.Context(), results.WebhookSettings{Listen: ":0", Path: "x"})
	wantResult(t, r, preflight.NameWebhook, false, "results.webhook_path")
	lines := strings.Split(r.String(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], strings.Repeat(" ", 15)+"idenfy.webhook_signing_key") {
		t.Errorf("two problems on aligned lines: %q", r.String())
	}
}

func TestPrint(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	failed := preflight.Print(&b,
		preflight.Result{Name: "credentials", OK: true, Detail: "iDenfy accepted the API key and secret (POST https://ivs.idenfy.com/api/v2/status, 0.2 s)", Took: 200 * time.Millisecond},
		preflight.Result{Name: "destination", Detail: "cannot write s3://bucket/prefix/_probe/ab12: AccessDenied", Err: errors.New("x")},
		preflight.Result{Name: "webhook", OK: true, Detail: "receiver on :8080/webhooks/idenfy", Warnings: []string{"careful"}},
	)
	want := "✓ credentials  iDenfy accepted the API key and secret (POST https://ivs.idenfy.com/api/v2/status, 0.2 s)\n" +
		"✗ destination  cannot write s3://bucket/prefix/_probe/ab12: AccessDenied\n" +
		"✓ webhook      receiver on :8080/webhooks/idenfy\n" +
		"  ! careful\n"
	if failed != 1 || b.String() != want {
		t.Errorf("Print = %d,\n%s\nwant 1,\n%s", failed, b.String(), want)
	}
}

func TestErr(t *testing.T) {
	t.Parallel()
	ok := preflight.Result{Name: preflight.NameStore, OK: true}
	if err := preflight.Err(ok, ok); err != nil {
		t.Errorf("all passed: %v", err)
	}
	err := preflight.Err(preflight.Result{Name: preflight.NameCredentials, Err: errors.New("x")}, ok,
		preflight.Result{Name: preflight.NameDestination, Err: errors.New("y")})
	if err == nil || err.Error() != "pre-flight checks failed (see above): credentials, destination" {
		t.Errorf("Err = %v", err)
	}
}
