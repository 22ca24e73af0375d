package objstore_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/idbatch/idbatch/ingest/s3test"
	"github.com/idbatch/idbatch/objstore"
)

// wantProbeError checks that err is a *ProbeError of step under root with
// a message starting "cannot <step> <root>_probe/…: " and containing want.
func wantProbeError(t *testing.T, err error, step, root, want string) {
	t.Helper()
	var pe *objstore.ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("Probe: %v, want a *ProbeError", err)
	}
	if pe.Step != step {
		t.Errorf("step = %q, want %q (%v)", pe.Step, step, err)
	}
	prefix := "cannot " + step + " " + root
	if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, objstore.ProbePrefix+"/") || !strings.Contains(msg, want) {
		t.Errorf("message = %q, want %q…%s/…%q", msg, prefix, objstore.ProbePrefix, want)
	}
}

// A local destination that does not exist yet is probed and left as it
// was: not created.
func TestProbeLocalLeavesNothing(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	root := filepath.Join(parent, "a", "exports")
	d, err := objstore.Open(t.Context(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := objstore.Probe(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, filepath.Join(root, objstore.ProbePrefix)+string(filepath.Separator)) {
		t.Errorf("location = %s", loc)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("the probe left %v in %s", entries, parent)
	}

	// An existing root stays, with what it holds; _probe does not.
	if err := os.MkdirAll(filepath.Join(root, "job=j"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.Probe(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "job=j" {
		t.Errorf("root holds %v after the probe", entries)
	}
}

// A destination below a regular file cannot be written, even by root.
func TestProbeLocalNotADirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "exports.csv")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := objstore.NewLocal(filepath.Join(file, "out"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = objstore.Probe(t.Context(), d)
	wantProbeError(t, err, objstore.ProbeWrite, filepath.Join(file, "out"), "not a directory")
}

// A read-only directory (permissions do not bind root, hence the skip).
func TestProbeLocalReadOnly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions do not apply (TestProbeLocalNotADirectory covers an unwritable path)")
	}
	root := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(root, 0o755) })
	d, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = objstore.Probe(t.Context(), d)
	wantProbeError(t, err, objstore.ProbeWrite, root, "permission denied")
}

func TestProbeS3Errors(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.MkBucket(t, "suite")
	px := srv.Proxy(t)
	var fault atomic.Pointer[func(r *http.Request) (int, string)]
	px.Fault = func(r *http.Request) (int, string) {
		if f := fault.Load(); f != nil {
			return (*f)(r)
		}
		return 0, ""
	}
	setFault := func(f func(r *http.Request) (int, string)) { fault.Store(&f) }
	client := func(secret string) *s3.Client {
		c, err := objstore.NewClient(t.Context(), objstore.Config{
			Endpoint: px.Endpoint, Region: "us-east-1", PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: secret,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := client(srv.SecretKey)

	t.Run("MissingBucket", func(t *testing.T) {
		d := objstore.NewS3(good, "nobucket", "exports")
		_, err := objstore.Probe(t.Context(), d)
		wantProbeError(t, err, objstore.ProbeWrite, "s3://nobucket/exports/", "NoSuchBucket")
	})
	t.Run("BadSecret", func(t *testing.T) {
		d := objstore.NewS3(client("not-the-secret"), "suite", "exports")
		_, err := objstore.Probe(t.Context(), d)
		wantProbeError(t, err, objstore.ProbeWrite, "s3://suite/exports/", "SignatureDoesNotMatch")
		if strings.Contains(err.Error(), "not-the-secret") || strings.Contains(err.Error(), srv.SecretKey) {
			t.Errorf("message leaks a secret: %v", err)
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Errorf("errors.As(smithy.APIError) fails on %v", err)
		}
	})
	t.Run("WriteDenied", func(t *testing.T) {
		setFault(func(r *http.Request) (int, string) {
			if r.Method == http.MethodPut {
				return http.StatusForbidden, "AccessDenied"
			}
			return 0, ""
		})
		defer fault.Store(nil)
		_, err := objstore.Probe(t.Context(), objstore.NewS3(good, "suite", "w"))
		wantProbeError(t, err, objstore.ProbeWrite, "s3://suite/w/", "AccessDenied: injected by s3test.Proxy")
	})
	t.Run("ReadDenied", func(t *testing.T) {
		setFault(func(r *http.Request) (int, string) {
			if r.Method == http.MethodGet {
				return http.StatusForbidden, "AccessDenied"
			}
			return 0, ""
		})
		defer fault.Store(nil)
		d := objstore.NewS3(good, "suite", "r")
		_, err := objstore.Probe(t.Context(), d)
		wantProbeError(t, err, objstore.ProbeReadBack, "s3://suite/r/", "AccessDenied")
		fault.Store(nil)
		if fis, err := d.List(t.Context(), objstore.ProbePrefix); err != nil || len(fis) != 0 {
			t.Errorf("after a failed read back the probe is still there: %v %v", fis, err)
		}
	})
	t.Run("DeleteDenied", func(t *testing.T) {
		setFault(func(r *http.Request) (int, string) {
			if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
				return http.StatusForbidden, "AccessDenied"
			}
			return 0, ""
		})
		defer fault.Store(nil)
		_, err := objstore.Probe(t.Context(), objstore.NewS3(good, "suite", "d"))
		wantProbeError(t, err, objstore.ProbeDelete, "s3://suite/d/", "AccessDenied")
	})
}
