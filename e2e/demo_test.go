package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/export/exporttest"
	"github.com/idbatch/idbatch/pipeline"
)

// The demo's summary counts match the rows DuckDB reads from its Parquet files.
func TestDemoSummaryMatchesParquet(t *testing.T) {
	dir := t.TempDir()
	// The built binary (not the race-instrumented test process): the demo is
	// what a user runs, and drawing its images under -race is slow.
	code, out := runBinary(t, "demo", "-dir", dir)
	if code != 0 {
		t.Fatalf("demo exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "read_parquet(") {
		t.Errorf("the demo does not show a DuckDB query:\n%s", out)
	}
	sums, _ := filepath.Glob(filepath.Join(dir, "exports", "_runs", "job=demo", "*.json"))
	if len(sums) != 1 {
		t.Fatalf("summary files: %v", sums)
	}
	b, err := os.ReadFile(sums[0])
	if err != nil {
		t.Fatal(err)
	}
	var sum pipeline.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	rows := exporttest.Query(t, fmt.Sprintf(`SELECT outcome, count(*) AS n FROM read_parquet('%s/exports/**/*.parquet', hive_partitioning = true) GROUP BY ALL`, dir))
	got := map[string]int{}
	total := 0
	for _, r := range rows {
		var n int
		fmt.Sscan(fmt.Sprint(r["n"]), &n)
		got[fmt.Sprint(r["outcome"])] = n
		total += n
	}
	if total != 60 || total != sum.Export.Rows {
		t.Errorf("DuckDB reads %d rows, summary says %d exported, the demo made 60", total, sum.Export.Rows)
	}
	for outcome, n := range sum.Export.ByOutcome {
		if got[outcome] != n {
			t.Errorf("outcome %s: summary %d, Parquet %d", outcome, n, got[outcome])
		}
	}
	if got["REJECTED"] == 0 || got["APPROVED"] == 0 {
		t.Errorf("the demo should show rejected and approved records: %v", got)
	}
	if sum.States[pipeline.StateFinal]+sum.States[pipeline.StateRejected] != 60 {
		t.Errorf("every demo record should end final or rejected: %v", sum.States)
	}
}
