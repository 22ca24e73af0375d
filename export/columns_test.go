package export

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// TestColumnsDocumented keeps docs/columns.md, the analysts' data dictionary,
// in step with the Parquet schema: every column written is documented once,
// in file order, and the dictionary names no column that is not written.
func TestColumnsDocumented(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "docs", "columns.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z0-9_]+)` \\| `([^`]+)`")
	var documented []string
	types := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			if _, dup := types[m[1]]; dup {
				t.Errorf("docs/columns.md documents %s twice", m[1])
			}
			documented = append(documented, m[1])
			types[m[1]] = m[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	var written []string
	for _, fld := range parquet.SchemaOf(Row{}).Fields() {
		written = append(written, fld.Name())
		doc, ok := types[fld.Name()]
		if !ok {
			t.Errorf("column %s is written to Parquet but missing from docs/columns.md", fld.Name())
			continue
		}
		if want := duckDBType(fld); doc != want {
			t.Errorf("docs/columns.md says %s is %s; DuckDB reads it as %s", fld.Name(), doc, want)
		}
	}
	inSchema := map[string]bool{}
	for _, n := range written {
		inSchema[n] = true
	}
	for _, n := range documented {
		if !inSchema[n] {
			t.Errorf("docs/columns.md documents %s, which the Parquet schema does not have", n)
		}
	}
	if !t.Failed() && strings.Join(documented, ",") != strings.Join(written, ",") {
		t.Errorf("docs/columns.md lists the columns in another order than the file:\n doc:  %v\n file: %v", documented, written)
	}
}

// duckDBType is the type DuckDB reports for a column of Row.
func duckDBType(f parquet.Field) string {
	if !f.Leaf() {
		return "VARCHAR[]" // the only groups are 3-level LISTs of strings
	}
	var lt format.LogicalTypeValue
	if l := f.Type().LogicalType(); l != nil {
		lt = l.Value
	}
	if _, ok := lt.(*format.DateType); ok {
		return "DATE"
	}
	if ts, ok := lt.(*format.TimestampType); ok && ts.IsAdjustedToUTC {
		return "TIMESTAMP WITH TIME ZONE"
	}
	switch {
	case f.Type().Kind() == parquet.Boolean:
		return "BOOLEAN"
	case f.Type().Kind() == parquet.Int32:
		return "INTEGER"
	}
	return "VARCHAR"
}
