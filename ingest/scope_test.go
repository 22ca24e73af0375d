package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// scopeTree lays out a manifest directory beside a directory it must not
// reach, with symlinks out of it and a FIFO in it:
//
//	root/outside/secret.jpg
//	root/m/c1/front.jpg
//	root/m/link.jpg    -> ../outside/secret.jpg
//	root/m/dirlink     -> ../outside
//	root/m/fifo.jpg    (a FIFO)
func scopeTree(t *testing.T) (root, m, secret string) {
	t.Helper()
	root = t.TempDir()
	m = filepath.Join(root, "m")
	secret = filepath.Join(root, "outside", "secret.jpg")
	for _, err := range []error{
		os.MkdirAll(filepath.Join(m, "c1"), 0o700),
		os.MkdirAll(filepath.Dir(secret), 0o700),
		os.WriteFile(secret, []byte("secret"), 0o600),
		os.WriteFile(filepath.Join(m, "c1", "front.jpg"), []byte("front"), 0o600),
		os.Symlink("../outside/secret.jpg", filepath.Join(m, "link.jpg")),
		os.Symlink("../outside", filepath.Join(m, "dirlink")),
		syscall.Mkfifo(filepath.Join(m, "fifo.jpg"), 0o600),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return root, m, secret
}

// getWithin calls o.Get and fails the test if it does not return within d
// (a FIFO opened for reading blocks until a writer comes).
func getWithin(t *testing.T, o *Objects, ref string, d time.Duration) ([]byte, error) {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() { b, err := o.Get(context.Background(), ref); ch <- res{b, err} }()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-time.After(d):
		t.Fatalf("Get(%q) still blocked after %s", ref, d)
		return nil, nil
	}
}

// unblockFIFO opens the FIFO for writing (non-blocking, it fails when no
// reader waits) so that a Get stuck on it returns when the test ends.
func unblockFIFO(t *testing.T, p string) {
	t.Cleanup(func() {
		if fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			syscall.Close(fd)
		}
	})
}

// Finding 1: a manifest row names only images inside its manifest's
// scope. Before the fix, every one of these was read and sent.
func TestObjectsScopeLocalManifest(t *testing.T) {
	t.Parallel()
	_, m, secret := scopeTree(t)
	unblockFIFO(t, filepath.Join(m, "fifo.jpg"))
	o := &Objects{BaseDir: m}
	for _, ref := range []string{"c1/front.jpg", "c1/../c1/front.jpg", "./c1//front.jpg"} {
		if got, err := o.Get(context.Background(), ref); err != nil || string(got) != "front" {
			t.Errorf("%s: %q %v", ref, got, err)
		}
	}
	for ref, code := range map[string]string{
		"../outside/secret.jpg":       pipeline.RejectOutOfScope,
		"c1/../../outside/secret.jpg": pipeline.RejectOutOfScope,
		secret:                        pipeline.RejectOutOfScope, // absolute
		"file://" + secret:            pipeline.RejectOutOfScope,
		"file://localhost" + secret:   pipeline.RejectOutOfScope,
		"link.jpg":                    pipeline.RejectOutOfScope, // symlink out of the directory
		"dirlink/secret.jpg":          pipeline.RejectOutOfScope,
		"/dev/stdin":                  pipeline.RejectOutOfScope,
		"/dev/zero":                   pipeline.RejectOutOfScope,
		"s3://bkt/c1/front.jpg":       pipeline.RejectOutOfScope, // no allowed bucket
		"fifo.jpg":                    pipeline.RejectNotRegularFile,
		"c1":                          pipeline.RejectNotRegularFile,
		"c1/front.jpg\x00":            pipeline.RejectMissingObject,
	} {
		got, err := getWithin(t, o, ref, 10*time.Second)
		if code != pipeline.RejectCode(err) {
			t.Errorf("%s: %q, %v; want %s", ref, got, err, code)
		}
		if err != nil && (strings.Contains(err.Error(), m) || strings.Contains(err.Error(), "secret")) {
			t.Errorf("%s: error %q names the path", ref, err)
		}
	}
}

// An S3 manifest never reads a local file, and names only its own bucket
// or the allowed ones.
func TestObjectsScopeS3Manifest(t *testing.T) {
	t.Parallel()
	_, m, secret := scopeTree(t)
	f := newFakeS3(t, "bkt", "shared", "private")
	for _, b := range []string{"bkt", "shared", "private"} {
		f.put(t, b, "c1/front.jpg", []byte("from "+b))
	}
	// BaseDir and LocalRoot set too: they must not matter for an s3:// manifest.
	o := &Objects{S3: f.client, BaseBucket: "bkt", AllowedBuckets: []string{"shared"}, BaseDir: m, LocalRoot: filepath.Dir(m)}
	for ref, want := range map[string]string{
		"c1/front.jpg":             "from bkt",
		"s3://bkt/c1/front.jpg":    "from bkt",
		"s3://shared/c1/front.jpg": "from shared",
	} {
		if got, err := o.Get(context.Background(), ref); err != nil || string(got) != want {
			t.Errorf("%s: %q %v", ref, got, err)
		}
	}
	for _, ref := range []string{
		"file://" + secret, "file:" + secret, secret, "/dev/stdin",
		"../outside/secret.jpg", "c1/../c1/front.jpg", "./c1/front.jpg",
		"s3://private/c1/front.jpg", "s3://bkt/../private/c1/front.jpg",
	} {
		got, err := getWithin(t, o, ref, 10*time.Second)
		if pipeline.RejectCode(err) != pipeline.RejectOutOfScope {
			t.Errorf("%s: %q, %v; want out_of_scope", ref, got, err)
		}
	}
}

// A named local root widens the scope to that root, and no further.
func TestObjectsScopeLocalRoot(t *testing.T) {
	t.Parallel()
	root, m, secret := scopeTree(t)
	unblockFIFO(t, filepath.Join(m, "fifo.jpg"))
	o := &Objects{BaseDir: m, LocalRoot: root}
	for _, ref := range []string{"../outside/secret.jpg", secret, "file://" + secret, "link.jpg", "dirlink/secret.jpg"} {
		if got, err := o.Get(context.Background(), ref); err != nil || string(got) != "secret" {
			t.Errorf("%s: %q %v", ref, got, err)
		}
	}
	for ref, code := range map[string]string{
		"../../x.jpg": pipeline.RejectOutOfScope,
		"/dev/zero":   pipeline.RejectOutOfScope,
		"fifo.jpg":    pipeline.RejectNotRegularFile,
	} {
		if _, err := getWithin(t, o, ref, 10*time.Second); pipeline.RejectCode(err) != code {
			t.Errorf("%s: %v, want %s", ref, err, code)
		}
	}
}

// Finding 2: files that never end. With the whole filesystem as the root,
// /dev/stdin, /dev/zero and a FIFO are refused at once instead of blocking
// a worker forever or reading until the memory runs out.
func TestObjectsNeverEndingFiles(t *testing.T) {
	t.Parallel()
	_, m, _ := scopeTree(t)
	fifo := filepath.Join(m, "fifo.jpg")
	unblockFIFO(t, fifo)
	o := &Objects{LocalRoot: "/", MaxBytes: -1}
	for _, ref := range []string{"/dev/zero", "/dev/null", fifo, "file://" + fifo} {
		if _, err := getWithin(t, o, ref, 10*time.Second); pipeline.RejectCode(err) != pipeline.RejectNotRegularFile {
			t.Errorf("%s: %v, want not_a_regular_file", ref, err)
		}
	}
	// /dev/stdin is a chain of symlinks ending in an absolute one, which
	// an os.Root never follows.
	if _, err := getWithin(t, o, "/dev/stdin", 10*time.Second); pipeline.RejectCode(err) == "" {
		t.Errorf("/dev/stdin: %v, want a reject", err)
	}
	// A non-positive MaxBytes is the default bound, not "no limit": a
	// (sparse) file one byte over it is refused before it is read.
	big := filepath.Join(m, "big.jpg")
	if err := os.Truncate(big, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, DefaultMaxObjectBytes+1); err != nil {
		t.Fatal(err)
	}
	for _, max := range []int64{0, -1} {
		_, err := (&Objects{BaseDir: m, MaxBytes: max}).Get(context.Background(), "big.jpg")
		if pipeline.RejectCode(err) != pipeline.RejectCannotFitSizeLimit {
			t.Errorf("MaxBytes %d: %v, want cannot_fit_size_limit", max, err)
		}
	}
}

// endless is a reader that never ends.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) { e.n++; clear(p); return len(p), nil }

// A read honours its context, and never reads more than the limit + 1.
func TestReadLimitedStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	r := &endless{}
	cr := ctxReader{ctx, readerFunc(func(p []byte) (int, error) {
		if r.n == 3 {
			cancel()
		}
		return r.Read(p)
	})}
	if _, err := readLimited(cr, -1, 1<<40); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
	_, err := readLimited(&endless{}, -1, -1) // no limit given: the default
	if pipeline.RejectCode(err) != pipeline.RejectCannotFitSizeLimit {
		t.Errorf("endless read: %v", err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

var _ io.Reader = readerFunc(nil)

func TestObjectOptionsValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ok := ObjectOptions{MaxBytes: 50 << 20, AllowedBuckets: []string{"shared-images"}, LocalRoot: dir}
	if err := ok.Validate(); err != nil {
		t.Errorf("good options: %v", err)
	}
	for want, o := range map[string]ObjectOptions{
		"max_object_bytes: 0":  {MaxBytes: 0},
		"max_object_bytes: -1": {MaxBytes: -1},
		"max_object_bytes: 2":  {MaxBytes: 2 << 30},
		"allowed_buckets":      {MaxBytes: 1, AllowedBuckets: []string{"s3://b"}},
		"local_root":           {MaxBytes: 1, LocalRoot: filepath.Join(dir, "nope")},
		"local_root: ":         {MaxBytes: 1, LocalRoot: file},
	} {
		if err := o.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%+v: %v, want an error starting %q", o, err, want)
		}
	}
}

// A listing's Objects fetch what the listing found, and nothing outside it.
func TestListOptionsObjects(t *testing.T) {
	t.Parallel()
	root, m, _ := scopeTree(t)
	o, err := ListOptions{Prefix: "file://" + m}.Objects(nil, ObjectOptions{LocalRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := o.Get(context.Background(), filepath.Join(m, "c1", "front.jpg")); err != nil || string(got) != "front" {
		t.Errorf("listed file: %q %v", got, err)
	}
	if _, err := o.Get(context.Background(), "link.jpg"); pipeline.RejectCode(err) != pipeline.RejectOutOfScope {
		t.Errorf("symlink out of the listing: %v", err)
	}
	o, err = ListOptions{Prefix: "s3://bkt/customers/"}.Objects(nil, ObjectOptions{AllowedBuckets: []string{"x"}, LocalRoot: root})
	if err != nil || o.BaseBucket != "bkt" || o.AllowedBuckets[0] != "x" {
		t.Fatalf("%+v %v", o, err)
	}
	if _, err := o.Get(context.Background(), "file://"+filepath.Join(m, "c1", "front.jpg")); pipeline.RejectCode(err) != pipeline.RejectOutOfScope {
		t.Errorf("local file from an S3 listing: %v", err)
	}

	// A listed key with a .. segment is refused with the record.
	tpl, err := compileTemplate("{client_id}/{side}.jpg")
	if err != nil {
		t.Fatal(err)
	}
	var recs []pipeline.Record
	g := &grouper{tpl: tpl, job: "j", country: "LT", docType: "PASSPORT", byID: map[string]*group{},
		fn: func(r pipeline.Record) error { recs = append(recs, r); return nil }}
	for _, k := range []string{"c1/face.jpg", "c1/front.jpg", "c2/face.jpg", "c2/front.jpg"} {
		key := k
		if k == "c2/front.jpg" {
			key = "x/../c2/front.jpg"
		}
		if err := g.add(k, "s3://bkt/"+key); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.finish(); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].State != pipeline.StatePending || recs[1].RejectReason != pipeline.RejectOutOfScope {
		t.Errorf("records %+v", recs)
	}
}

// A JPEG of thousands of tiny scans would cost minutes of CPU to decode:
// refused from its markers, before any decoding. Real ones pass.
func TestNormalizeRefusesScanBomb(t *testing.T) {
	t.Parallel()
	base := encJPEG(t, gradient(400, 320), 80)
	if n := jpegScans(base, maxJPEGScans); n != 1 {
		t.Fatalf("baseline JPEG: %d scans", n)
	}
	prog, err := os.ReadFile("testdata/corpus/ok/jpeg-progressive.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if n := jpegScans(prog, maxJPEGScans); n < 2 || n > 20 {
		t.Errorf("progressive JPEG: %d scans", n)
	}
	// Repeat the scan (SOS segment and its entropy-coded data) 500 times.
	sos := bytes.Index(base, []byte{0xff, 0xda})
	eoi := len(base) - 2
	bomb := append([]byte(nil), base[:sos]...)
	for range 500 {
		bomb = append(bomb, base[sos:eoi]...)
	}
	bomb = append(bomb, 0xff, 0xd9)
	_, err = Normalize(bomb, NormalizeOptions{})
	if pipeline.RejectCode(err) != pipeline.RejectCorruptImage || !strings.Contains(err.Error(), "scans") {
		t.Errorf("scan bomb: %v", err)
	}
}
