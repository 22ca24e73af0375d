package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/storetest"
)

// openTemp opens a Store with the production settings on a new file.
func openTemp(t testing.TB) *Store {
	t.Helper()
	return openTempWith(t, defaults)
}

func openTempWith(t testing.TB, opts options) *Store {
	t.Helper()
	s, err := open(context.Background(), filepath.Join(t.TempDir(), "idbatch.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the suite with synchronous=NORMAL: what it checks
// does not depend on when commits reach the disk, and an fsync per
// transition would make it several times slower under -race.
// TestConcurrentTwoHandles runs with the production settings.
func TestConformance(t *testing.T) {
	relaxed := options{synchronous: "NORMAL", loadSynchronous: "NORMAL"}
	storetest.Run(t, func(t *testing.T) pipeline.Store { return openTempWith(t, relaxed) })
}

// Two Stores on one file use separate connections and separate writer
// tokens: only SQLite's own locking keeps them apart. Production settings.
func TestConcurrentTwoHandles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores []pipeline.Store
	for range 2 {
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	storetest.Concurrent(t, stores...)
}

func TestReopenKeepsDataAndMigrationsAreIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "reopen.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "job", storetest.Records("job", 0, 10), storetest.T0); err != nil {
		t.Fatal(err)
	}
	scan := "SCAN-REOPEN"
	recs, err := s.List(ctx, pipeline.ListQuery{Job: "job"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Transition(ctx, pipeline.Transition{ID: recs[0].ID, From: pipeline.StatePending, To: pipeline.StateTokened, Now: storetest.T0, Patch: pipeline.Patch{ScanRef: &scan}}); err != nil {
		t.Fatal(err)
	}
	if err := s.StartRun(ctx, pipeline.Run{ID: "r1", Job: "job", StartedAt: storetest.T0}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.List(ctx, pipeline.ListQuery{Job: "job"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 3 {
		s, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		after, err := s.List(ctx, pipeline.ListQuery{Job: "job"})
		if err != nil || !reflect.DeepEqual(after, before) {
			t.Fatalf("reopen %d: records changed (%v)", i, err)
		}
		if r, err := s.ByScanRef(ctx, scan); err != nil || r.ID != recs[0].ID {
			t.Errorf("reopen %d: ByScanRef: %v", i, err)
		}
		if runs, err := s.Runs(ctx, "job", 0); err != nil || len(runs) != 1 {
			t.Errorf("reopen %d: runs %v, %v", i, runs, err)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, _ := migrations()
		if n != len(ms) {
			t.Errorf("reopen %d: %d rows in schema_migrations, want %d", i, n, len(ms))
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].Version {
			t.Errorf("SchemaVersion: %d, %v", v, err)
		}
		var mode string
		if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode %q, %v", mode, err)
		}
		var sync, fk int
		if err := s.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
			t.Errorf("synchronous %d, %v; want 2 (FULL)", sync, err)
		}
		if err := s.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys %d, %v", fk, err)
		}
		s.Close()
	}
}

// Load commits with synchronous=NORMAL and must hand its connection back
// to the pool with FULL again: the next transition on it is money.
func TestLoadRestoresSynchronous(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	s.db.SetMaxOpenConns(1) // the connection Load used is the only one
	sync := func() int {
		var v int
		if err := s.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := s.Load(ctx, "job", storetest.Records("job", 0, 10), storetest.T0); err != nil {
		t.Fatal(err)
	}
	if v := sync(); v != 2 {
		t.Errorf("after Load: synchronous %d, want 2 (FULL)", v)
	}
	bad := storetest.Records("job", 10, 2)
	bad[1].Key = ""
	if _, err := s.Load(ctx, "job", bad, storetest.T0); err == nil {
		t.Fatal("bad load: no error")
	}
	bad = storetest.Records("job", 20, 2)
	bad[1].Ref = bad[0].Ref // fails inside the transaction
	if _, err := s.Load(ctx, "job", bad, storetest.T0); err == nil {
		t.Fatal("bad load: no error")
	}
	if v := sync(); v != 2 {
		t.Errorf("after a failed Load: synchronous %d, want 2 (FULL)", v)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Load(canceled, "job", storetest.Records("job", 30, 2), storetest.T0); err == nil {
		t.Error("Load with a canceled context: no error")
	}
	if v := sync(); v != 2 {
		t.Errorf("after a canceled Load: synchronous %d, want 2 (FULL)", v)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "newer.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "9999") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("open of a database with an unknown migration: %v, want an error", err)
	}
}

func TestOpenDSN(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct{ dsn, file string }{
		{"sqlite://./rel.db", filepath.Join(dir, "rel.db")},
		{"sqlite://plain.db", filepath.Join(dir, "plain.db")},
		{"sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db")},
		{"sqlite://./odd?name#with%chars.db", filepath.Join(dir, "odd?name#with%chars.db")},
	} {
		s, err := OpenDSN(ctx, tc.dsn)
		if err != nil {
			t.Errorf("OpenDSN(%q): %v", tc.dsn, err)
			continue
		}
		s.Close()
		if _, err := os.Stat(tc.file); err != nil {
			t.Errorf("OpenDSN(%q) did not create %s: %v", tc.dsn, tc.file, err)
		}
	}
	if !strings.HasPrefix(filepath.Join(dir, "abs.db"), "/") {
		t.Fatal("TempDir is not absolute")
	}
	for _, dsn := range []string{"postgres://x/y", "./x.db", "sqlite://"} {
		if s, err := OpenDSN(ctx, dsn); err == nil {
			s.Close()
			t.Errorf("OpenDSN(%q): no error", dsn)
		}
	}
}

// The plans the indexes exist for: claims and export listings read about
// limit index entries, whatever the size of the job.
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	plan := func(q string, args ...any) string {
		rows, err := s.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		return b.String()
	}
	for _, states := range [][]pipeline.State{{pipeline.StatePending}, {pipeline.StatePending, pipeline.StateTokened}} {
		sub, args := idsByState("j", states, " AND (not_before IS NULL OR not_before <= ?) AND (lease_until IS NULL OR lease_until <= ?)", []any{1, 1}, 10)
		p := plan(`SELECT id FROM records WHERE id IN (`+sub+`)`, args...)
		if !strings.Contains(p, "COVERING INDEX records_claim (job=? AND state=?)") || strings.Contains(p, "SCAN records") {
			t.Errorf("claim of %v:\n%s", states, p)
		}
	}
	p := plan(`SELECT id FROM records INDEXED BY records_exportable WHERE job = ? AND exported_at IS NULL AND state IN `+endStatesSQL+` AND state IN (?) AND id > ? ORDER BY id LIMIT ?`, "j", "final", 0, 10)
	if !strings.Contains(p, "records_exportable (job=? AND id>?)") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("exportable list:\n%s", p)
	}
	p = plan(`SELECT key FROM records WHERE job = ? AND key IN (SELECT value FROM json_each(?))`, "j", `["a"]`)
	if !strings.Contains(p, "(job=? AND key=?)") {
		t.Errorf("load lookup:\n%s", p)
	}
}

// A database at the previous schema version, holding records in flight, is
// migrated on open without losing or changing anything, and then works.
func TestMigrateFromPreviousVersion(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatal("fewer than two migrations: nothing to migrate from")
	}
	prevOpts := defaults
	prevOpts.upTo = ms[len(ms)-2].Version
	old, err := open(ctx, path, prevOpts)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := old.SchemaVersion(ctx); v != prevOpts.upTo {
		t.Fatalf("schema version %d, want %d", v, prevOpts.upTo)
	}
	before := storetest.PopulateForMigration(t, old, "job")
	old.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].Version {
		t.Fatalf("after migration: schema version %d, %v", v, err)
	}
	storetest.CheckAfterMigration(t, s, "job", before)
}
