// Package objstoretest is the test suite every objstore.Dest must pass, as
// restic's backend test suite is for its backends: run it with
// TestDestination from a backend's tests.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/objstore"
)

// BigSize is the size of the suite's large file: more than two parts of
// objstore.MinPartSize, so that an S3 destination with PartSize =
// MinPartSize sends it as a multipart upload.
const BigSize = 2*objstore.MinPartSize + 1234

// TestDestination runs the suite. newDest returns an empty destination,
// a new one at each call; they may share a bucket or directory as long as
// their roots differ.
func TestDestination(t *testing.T, newDest func(t *testing.T) objstore.Dest) {
	t.Run("CommitMakesVisible", func(t *testing.T) { testCommit(t, newDest(t)) })
	t.Run("Abort", func(t *testing.T) { testAbort(t, newDest(t)) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, newDest(t)) })
	t.Run("Empty", func(t *testing.T) { testEmpty(t, newDest(t)) })
	t.Run("Big", func(t *testing.T) { testBig(t, newDest(t)) })
	t.Run("InvalidPaths", func(t *testing.T) { testInvalidPaths(t, newDest(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newDest(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newDest(t)) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, newDest(t)) })
	t.Run("Probe", func(t *testing.T) { testProbe(t, newDest(t)) })
}

// put writes a committed file.
func put(t *testing.T, d objstore.Dest, rel string, data []byte) {
	t.Helper()
	f, err := d.Create(t.Context(), rel)
	if err != nil {
		t.Fatalf("Create(%s): %v", rel, err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatalf("Write(%s): %v", rel, err)
	}
	if err := f.Commit(); err != nil {
		t.Fatalf("Commit(%s): %v", rel, err)
	}
}

func wantMissing(t *testing.T, d objstore.Dest, rel string) {
	t.Helper()
	if fi, err := d.Stat(t.Context(), rel); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Stat(%s) = %v, %v; want ErrNotExist", rel, fi, err)
	}
	if b, err := d.ReadFile(t.Context(), rel); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("ReadFile(%s) = %d bytes, %v; want ErrNotExist", rel, len(b), err)
	}
}

func wantContent(t *testing.T, d objstore.Dest, rel string, want []byte) {
	t.Helper()
	fi, err := d.Stat(t.Context(), rel)
	if err != nil {
		t.Fatalf("Stat(%s): %v", rel, err)
	}
	if fi.Rel != rel || fi.Size != int64(len(want)) {
		t.Errorf("Stat(%s) = %+v, want size %d", rel, fi, len(want))
	}
	got, err := d.ReadFile(t.Context(), rel)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", rel, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ReadFile(%s): %d bytes, want %d (content differs)", rel, len(got), len(want))
	}
}

func list(t *testing.T, d objstore.Dest, prefix string) []objstore.FileInfo {
	t.Helper()
	fis, err := d.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%s): %v", prefix, err)
	}
	return fis
}

func testCommit(t *testing.T, d objstore.Dest) {
	const rel = "job=j/dt=2026-01-02/part-1.parquet"
	if !strings.HasSuffix(d.Location(rel), rel) || !strings.HasPrefix(d.Location(rel), strings.TrimSuffix(d.Root(), "/")) {
		t.Errorf("Location(%s) = %s, Root() = %s", rel, d.Location(rel), d.Root())
	}
	f, err := d.Create(t.Context(), rel)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	for _, s := range []string{"PAR1", " hello ", "PAR1"} {
		if _, err := io.WriteString(f, s); err != nil {
			t.Fatal(err)
		}
	}
	wantMissing(t, d, rel)
	if fis := list(t, d, "job=j"); len(fis) != 0 {
		t.Errorf("before Commit, List = %v", fis)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, d, rel, []byte("PAR1 hello PAR1"))
	if fis := list(t, d, "job=j"); !slices.Equal(fis, []objstore.FileInfo{{Rel: rel, Size: 15}}) {
		t.Errorf("List = %v", fis)
	}
	if err := f.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit: no error")
	}
	wantContent(t, d, rel, []byte("PAR1 hello PAR1"))
}

func testAbort(t *testing.T, d objstore.Dest) {
	f, err := d.Create(t.Context(), "a/aborted.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, objstore.ErrAborted) {
		t.Errorf("Write after Abort: %v, want ErrAborted", err)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort: no error")
	}
	if err := f.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	wantMissing(t, d, "a/aborted.csv")
	if fis := list(t, d, "a"); len(fis) != 0 {
		t.Errorf("after Abort, List = %v", fis)
	}
}

func testReplace(t *testing.T, d objstore.Dest) {
	put(t, d, "x/f.json", []byte("old content"))
	f, err := d.Create(t.Context(), "x/f.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	wantContent(t, d, "x/f.json", []byte("old content")) // until the commit
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, d, "x/f.json", []byte("new"))
}

func testEmpty(t *testing.T, d objstore.Dest) {
	put(t, d, "e/empty", nil)
	wantContent(t, d, "e/empty", []byte{})
}

func testBig(t *testing.T, d objstore.Dest) {
	big := make([]byte, BigSize)
	for i := range big {
		big[i] = byte(i*7 + i/4099)
	}
	f, err := d.Create(t.Context(), "big/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	// Writes of odd sizes, across part boundaries.
	for rest := big; len(rest) > 0; {
		n := min(len(rest), 1<<20+17)
		if _, err := f.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	wantMissing(t, d, "big/file.bin")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, d, "big/file.bin", big)

	// The same size aborted: nothing.
	f, err = d.Create(t.Context(), "big/aborted.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, d, "big/aborted.bin")
	if fis := list(t, d, "big"); len(fis) != 1 {
		t.Errorf("List = %v, want only big/file.bin", fis)
	}
}

func testInvalidPaths(t *testing.T, d objstore.Dest) {
	ctx := t.Context()
	for _, bad := range []string{"", "/abs", "../up", "a/../../up"} {
		if _, err := d.Create(ctx, bad); err == nil {
			t.Errorf("Create(%q): no error", bad)
		}
		if _, err := d.Stat(ctx, bad); err == nil || errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Stat(%q): %v, want an invalid path error", bad, err)
		}
		if _, err := d.ReadFile(ctx, bad); err == nil || errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("ReadFile(%q): %v, want an invalid path error", bad, err)
		}
		if err := d.Delete(ctx, bad); err == nil {
			t.Errorf("Delete(%q): no error", bad)
		}
		if _, err := d.List(ctx, bad); err == nil {
			t.Errorf("List(%q): no error", bad)
		}
	}
}

func testDelete(t *testing.T, d objstore.Dest) {
	for i := range 3 {
		put(t, d, fmt.Sprintf("d/%d.txt", i), []byte("x"))
	}
	if err := d.Delete(t.Context()); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
	if err := d.Delete(t.Context(), "d/0.txt", "d/1.txt", "d/missing.txt"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, d, "d/0.txt")
	wantMissing(t, d, "d/1.txt")
	wantContent(t, d, "d/2.txt", []byte("x"))
	if err := d.Delete(t.Context(), "d/0.txt"); err != nil {
		t.Errorf("second Delete: %v (want idempotent)", err)
	}
}

func testList(t *testing.T, d objstore.Dest) {
	if fis := list(t, d, "missing"); len(fis) != 0 {
		t.Errorf("List of a missing prefix = %v", fis)
	}
	for _, rel := range []string{"l/b/2.txt", "l/a.txt", "l/b/1.txt", "l/c/d/e.txt", "lx/no.txt", "l.txt"} {
		put(t, d, rel, []byte(rel))
	}
	want := []objstore.FileInfo{{Rel: "l/a.txt", Size: 7}, {Rel: "l/b/1.txt", Size: 9}, {Rel: "l/b/2.txt", Size: 9}, {Rel: "l/c/d/e.txt", Size: 11}}
	if got := list(t, d, "l"); !slices.Equal(got, want) {
		t.Errorf("List(l) = %v, want %v", got, want)
	}
	if got := list(t, d, "l/b"); !slices.Equal(got, want[1:3]) {
		t.Errorf("List(l/b) = %v, want %v", got, want[1:3])
	}
}

func testCancelled(t *testing.T, d objstore.Dest) {
	ctx, cancel := context.WithCancel(t.Context())
	f, err := d.Create(ctx, "c/cancelled.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := f.Write(make([]byte, BigSize)); err == nil {
		t.Error("Write after cancel: no error")
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after cancel: no error")
	}
	_ = f.Abort()
	wantMissing(t, d, "c/cancelled.bin")
	if fis := list(t, d, "c"); len(fis) != 0 {
		t.Errorf("after cancel, List = %v", fis)
	}
}

// testProbe: objstore.Probe writes, reads back and deletes one object under
// _probe/ and leaves the destination as it found it.
func testProbe(t *testing.T, d objstore.Dest) {
	put(t, d, "job=j/keep.parquet", []byte("PAR1"))
	for range 2 {
		loc, err := objstore.Probe(t.Context(), d)
		if err != nil {
			t.Fatalf("Probe: %v", err)
		}
		if !strings.HasPrefix(loc, d.Location(objstore.ProbePrefix+"/")) {
			t.Errorf("Probe location = %s, want under %s", loc, d.Location(objstore.ProbePrefix))
		}
	}
	if fis := list(t, d, objstore.ProbePrefix); len(fis) != 0 {
		t.Errorf("after Probe, List(%s) = %v", objstore.ProbePrefix, fis)
	}
	wantContent(t, d, "job=j/keep.parquet", []byte("PAR1"))
}
