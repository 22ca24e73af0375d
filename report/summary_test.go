package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSummaryKeysSnakeCase: the run summary JSON (run-<id>.json, and the
// runs table) has snake_case keys only, and never the client ids of kept
// manifest rows.
func TestSummaryKeysSnakeCase(t *testing.T) {
	_, sum := sample()
	sum.CapReached, sum.TimeUp, sum.Interrupted, sum.Error = true, true, true, "an error"
	fillZero(reflect.ValueOf(&sum).Elem()) // every field a future change adds shows up (omitempty or not)
	sum.Extra["webhooks_received"], sum.Extra["store"] = 3, "sqlite://x"
	sum.Extra["api"] = map[string]any{"waits": 1, "waited_ns": 2, "throttled": 0, "rate_cuts": 0, "rate_per_hour": 9000}
	sum.Load.KeptKeys = []string{"SECRET-CLIENT-1"}
	sum.Load.Kept = 1
	b, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "SECRET-CLIENT") {
		t.Error("the summary holds client ids")
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if dataKeyed(path) {
				return // by_outcome, *_by_reason, *_by_code, states, errors are keyed by data (APPROVED, too_small…)
			}
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("summary key %s.%s is not snake_case", path, k)
				}
				key := strings.TrimPrefix(path+"."+k, ".")
				if !strings.Contains(string(doc), "`"+key+"`") {
					t.Errorf("summary key %s is not documented in docs/summary.md", key)
				}
				walk(key, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", v)
}

func dataKeyed(path string) bool {
	for _, s := range []string{"by_outcome", "rejected_by_reason", "failed_by_code", "states", ".errors"} {
		if path == s || strings.HasSuffix(path, "."+strings.TrimPrefix(s, ".")) {
			return true
		}
	}
	return false
}

// fillZero gives every zero scalar or time field of the struct v a value.
func fillZero(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() || !f.IsZero() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Int, reflect.Int64:
			f.SetInt(1)
		case reflect.Float64:
			f.SetFloat(1)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Struct:
			if f.Type() == reflect.TypeOf(time.Time{}) {
				f.Set(reflect.ValueOf(t0))
			}
		}
	}
}
