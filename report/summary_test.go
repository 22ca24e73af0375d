package report

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestSummaryKeysSnakeCase: the run summary JSON (run-<id>.json, and the
// runs table) has snake_case keys only, and never the client ids of kept
// manifest rows.
func TestSummaryKeysSnakeCase(t *testing.T) {
	_, sum := sample()
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
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				// by_outcome, *_by_reason, *_by_code and states are keyed by data (APPROVED, too_small…).
				if !snake.MatchString(k) && !dataKeyed(path) {
					t.Errorf("summary key %s.%s is not snake_case", path, k)
				}
				walk(path+"."+k, x)
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
	for _, s := range []string{"by_outcome", "rejected_by_reason", "failed_by_code", ".states", ".errors"} {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}
