package idenfy

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 2 ", 2 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	c := New(Config{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	for attempt := 0; attempt < 10; attempt++ {
		full := min(100*time.Millisecond<<attempt, time.Second)
		for i := 0; i < 50; i++ {
			d := c.backoff(attempt)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
}

func TestDecodeLenient(t *testing.T) {
	var v struct {
		S    string            `json:"s"`
		N    int               `json:"n"`
		B    bool              `json:"b"`
		L    []string          `json:"l"`
		M    map[string]string `json:"m"`
		Obj  string            `json:"obj"`
		Skip int               `json:"-"`
		Raw  []byte            `json:"-"`
	}
	err := decodeLenient([]byte(`{"S":"case-insensitive","n":"42","b":"true","l":["a",1,null],"m":{"x":"1","y":2,"z":null},"obj":{"a": 1}}`), &v)
	if err != nil {
		t.Fatal(err)
	}
	if v.S != "case-insensitive" || v.N != 42 || !v.B || len(v.L) != 2 || v.L[1] != "1" || v.M["y"] != "2" || len(v.M) != 2 || v.Obj != `{"a":1}` {
		t.Errorf("decoded %+v", v)
	}
	for _, bad := range []string{``, `null`, `[1]`, `{"s":`} {
		if err := decodeLenient([]byte(bad), &v); err == nil {
			t.Errorf("decodeLenient(%q) succeeded", bad)
		}
	}
}
