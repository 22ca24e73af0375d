package exporttest

import (
	"reflect"
	"strings"
	"testing"
)

func TestQueryConversions(t *testing.T) {
	rows := Query(t, `CREATE TABLE t AS SELECT 1 AS x;
		SELECT 42::INTEGER AS i, 9007199254740993::BIGINT AS big, 7::BIGINT AS small,
		DATE '1990-05-17' AS d, TIMESTAMPTZ '2025-03-04 23:00:00.123456+00' AS tz,
		['a', 'b'] AS l, []::VARCHAR[] AS empty, NULL::VARCHAR AS n, true AS b,
		{'k': 1} AS s, 'it''s' AS q, (SELECT x FROM t) AS x`)
	want := []map[string]any{{
		"i": 42.0, "big": "9007199254740993", "small": 7.0,
		"d": "1990-05-17", "tz": "2025-03-04T23:00:00.123456Z",
		"l": []any{"a", "b"}, "empty": []any{}, "n": nil, "b": true,
		"s": map[string]any{"k": 1.0}, "q": "it's", "x": 1.0,
	}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got  %#v\nwant %#v", rows, want)
	}
}

func TestQueryErr(t *testing.T) {
	_, err := QueryErr(t, "SELECT * FROM read_parquet('/nonexistent/*.parquet')")
	if err == nil || !strings.Contains(err.Error(), "No files found") {
		t.Errorf("err = %v, want DuckDB's no files error", err)
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("/tmp/it's/*.parquet"); got != "'/tmp/it''s/*.parquet'" {
		t.Errorf("Quote = %s", got)
	}
}
