package pgstore

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/pipeline/storetest"
)

// openTemp opens a Store on a new, empty schema (dropped when the test ends).
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.DSN(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pipeline.Store { return openTemp(t) })
}

// Several Stores (pools of separate connections, as several workers on
// several machines would have) on one database.
func TestConcurrentSeparateStores(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t, 3)
	var stores []pipeline.Store
	for range 4 {
		s, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	storetest.Concurrent(t, stores...)
}

// N workers starting at once migrate and load the same manifest: every open
// succeeds, the schema is migrated once, and every record is inserted once.
func TestConcurrentOpenAndLoad(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t, 2)
	const workers = 4
	recs := storetest.Records("job", 0, 300)
	var wg sync.WaitGroup
	var mu sync.Mutex
	inserted := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("open: %v", err)
				return
			}
			defer s.Close()
			st, err := s.Load(t.Context(), "job", recs, storetest.T0)
			if err != nil {
				t.Errorf("load: %v", err)
				return
			}
			if st.Inserted+st.Unchanged != len(recs) {
				t.Errorf("load: %+v", st)
			}
			mu.Lock()
			inserted += st.Inserted
			mu.Unlock()
		}()
	}
	wg.Wait()
	if inserted != len(recs) {
		t.Errorf("%d records inserted by %d concurrent loads, want %d", inserted, workers, len(recs))
	}
	s := openTemp2(t, dsn)
	if c, err := s.Counts(t.Context(), "job"); err != nil || c[pipeline.StatePending] != len(recs) {
		t.Errorf("counts %v, %v", c, err)
	}
	var n int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ms, _ := migrations()
	if n != len(ms) {
		t.Errorf("%d rows in schema_migrations, want %d", n, len(ms))
	}
}

func openTemp2(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A database at the previous schema version, holding records in flight, is
// migrated on open without losing or changing anything, and then works.
func TestMigrateFromPreviousVersion(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t, 2)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatal("fewer than two migrations: nothing to migrate from")
	}
	prev := ms[len(ms)-2].Version
	old, err := open(ctx, dsn, prev)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := old.SchemaVersion(ctx); v != prev {
		t.Fatalf("schema version %d, want %d", v, prev)
	}
	before := storetest.PopulateForMigration(t, old, "job")
	old.Close()

	s := openTemp2(t, dsn)
	if v, err := s.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].Version {
		t.Fatalf("after migration: schema version %d, %v", v, err)
	}
	storetest.CheckAfterMigration(t, s, "job", before)
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t, 2)
	s := openTemp2(t, dsn)
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, now())`); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "9999") {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("open of a database with an unknown migration: %v, want an error", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	for _, dsn := range []string{"sqlite://x.db", "mysql://a@b/c", ""} {
		if s, err := Open(ctx, dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", dsn)
		}
	}
	// A password in an unparsable DSN is never echoed.
	if _, err := Open(ctx, "postgres://u:s3cret@host:notaport/db"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad DSN: %v", err)
	}
	// Nothing listens there: a connection error, quickly.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := Open(cctx, "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=2"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable server: %v", err)
	}
}

// The plans the indexes exist for: a claim reads about limit index
// entries, whatever the size of the job.
func TestQueryPlans(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	for i := 0; i < 20000; i += 5000 {
		if _, err := s.Load(ctx, "j", storetest.Records("j", i, 5000), storetest.T0); err != nil {
			t.Fatal(err)
		}
	}
	// Most of the job is done: a claim must not walk the finished records.
	if _, err := s.pool.Exec(ctx, `UPDATE records SET state = 'final' WHERE id <= 19000`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE records`); err != nil {
		t.Fatal(err)
	}
	var lines []string
	rows, err := s.pool.Query(ctx, `EXPLAIN SELECT id FROM records WHERE job = 'j' AND state = 'pending'
		AND (not_before IS NULL OR not_before <= now()) AND (lease_until IS NULL OR lease_until <= now())
		ORDER BY id LIMIT 16 FOR UPDATE SKIP LOCKED`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "records_claim") || strings.Contains(plan, "Sort") || strings.Contains(plan, "Seq Scan") {
		t.Errorf("claim plan:\n%s", plan)
	}
}
