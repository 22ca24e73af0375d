package sqlitestore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline/storetest"
)

// dirEntries lists dir's names.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func latestVersion(t *testing.T) int {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].Version
}

func TestInspectExisting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t)
	if _, err := s.Load(ctx, "job", storetest.Records("job", 0, 7), storetest.T0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "other", storetest.Records("other", 0, 3), storetest.T0); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(ctx, s.Path(), "job")
	if err != nil {
		t.Fatal(err)
	}
	want := latestVersion(t)
	if !info.Exists || info.SchemaVersion != want || info.LatestVersion != want || info.Records != 7 || info.Where != s.Path() || info.CreateDir != "" {
		t.Errorf("Inspect = %+v, want an existing Store at version %d with 7 records", info, want)
	}
	if info, err := Inspect(ctx, s.Path(), "never-run"); err != nil || info.Records != 0 {
		t.Errorf("Inspect of a job without records = %+v, %v", info, err)
	}
}

// A Store of an older schema is reported as it is: Inspect migrates nothing.
func TestInspectOlderSchema(t *testing.T) {
	t.Parallel()
	s := openTempWith(t, options{upTo: 2, synchronous: "FULL", loadSynchronous: "NORMAL"})
	info, err := Inspect(t.Context(), s.Path(), "job")
	if err != nil || !info.Exists || info.SchemaVersion != 2 || info.LatestVersion != latestVersion(t) {
		t.Fatalf("Inspect = %+v, %v; want schema version 2", info, err)
	}
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != 2 {
		t.Errorf("after Inspect the schema version is %d, %v: Inspect migrated", v, err)
	}
}

// A file that does not exist is not created, nor is its directory.
func TestInspectMissing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	info, err := Inspect(ctx, filepath.Join(dir, "idbatch.db"), "job")
	if err != nil || info.Exists || info.CreateDir != "" {
		t.Errorf("missing file in an existing directory: %+v, %v", info, err)
	}
	info, err = Inspect(ctx, filepath.Join(dir, "a", "b", "idbatch.db"), "job")
	if err != nil || info.Exists || info.CreateDir != filepath.Join(dir, "a") {
		t.Errorf("missing file in a missing directory: %+v, %v; want CreateDir %s", info, err, filepath.Join(dir, "a"))
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("Inspect created %v", names)
	}
}

func TestInspectErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notes := write("notes.txt", strings.Repeat("not a database\n", 100))
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", "file:"+foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE customers (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	newer := openTemp(t)
	if _, err := newer.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path, want string
	}{
		{"directory", dir, "is a directory"},
		{"text file", notes, "cannot be read as a SQLite database"},
		{"foreign database", foreign, "not an idbatch Store"},
		{"newer schema", newer.Path(), "schema version 9999, unknown to this binary"},
		{"parent is a file", filepath.Join(notes, "idbatch.db"), "run cannot create it: " + notes + " is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(ctx, tc.path, "job")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("Inspect(%s) = %v, want an error naming the path and %q", tc.path, err, tc.want)
			}
		})
	}

	// An empty file is a SQLite database without tables: run creates the schema.
	empty := write("empty.db", "")
	if info, err := Inspect(ctx, empty, "job"); err != nil || !info.Exists || info.SchemaVersion != 0 {
		t.Errorf("empty file: %+v, %v", info, err)
	}
}

func TestInspectReadOnly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions do not apply")
	}
	ctx := context.Background()
	s := openTemp(t)
	if err := os.Chmod(s.Path(), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(ctx, s.Path(), "job"); err == nil || !strings.Contains(err.Error(), "is not writable") {
		t.Errorf("read-only file: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(ctx, filepath.Join(dir, "x.db"), "job"); err == nil || !strings.Contains(err.Error(), "is not writable") {
		t.Errorf("read-only directory: %v", err)
	}
}
