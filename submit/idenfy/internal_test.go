package idenfy

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
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
		S   string
		N   int
		F   float64
		B   bool
		L   []string
		One []string
		M   map[string]string
		Obj string
	}
	fs := fields{"s": text(&v.S), "n": number(&v.N), "f": number(&v.F), "b": boolean(&v.B), "l": texts(&v.L),
		"one": texts(&v.One), "m": textMap(&v.M), "obj": text(&v.Obj)}
	err := decodeLenient([]byte(`{"S":"case-insensitive","n":"42","f":1.5,"b":"true","l":["a",1,null],"one":"x",`+
		`"m":{"x":"1","y":2,"z":null},"obj":{"a": 1},"unknown":[1]}`), fs)
	if err != nil {
		t.Fatal(err)
	}
	if v.S != "case-insensitive" || v.N != 42 || v.F != 1.5 || !v.B || len(v.L) != 2 || v.L[1] != "1" ||
		len(v.One) != 1 || v.One[0] != "x" || v.M["y"] != "2" || len(v.M) != 2 || v.Obj != `{"a":1}` {
		t.Errorf("decoded %+v", v)
	}
	// An exact key wins over a case-insensitive one, whatever the order.
	var s string
	for _, body := range []string{`{"S":"fold","s":"exact"}`, `{"s":"exact","S":"fold"}`} {
		if err := decodeLenient([]byte(body), fields{"s": text(&s)}); err != nil || s != "exact" {
			t.Errorf("%s: %q, %v", body, s, err)
		}
	}
	// Values of the wrong type, or that do not fit, leave the zero value.
	var n int64
	var b bool
	var f float64
	err = decodeLenient([]byte(`{"n":1e300,"b":"maybe","f":"NaN"}`), fields{"n": number(&n), "b": boolean(&b), "f": number(&f)})
	if err != nil || n != 0 || b || f != 0 {
		t.Errorf("n=%d b=%v f=%v, %v", n, b, f, err)
	}
	// Invalid UTF-8 never survives decoding, also inside an object read as text.
	var name, obj string
	err = decodeLenient([]byte("{\"name\":\"Bad\xff\xfe\",\"obj\":{\"k\":\"\xc3\"}}"), fields{"name": text(&name), "obj": text(&obj)})
	if err != nil || name != "Bad\uFFFD\uFFFD" || obj != "{\"k\":\"\uFFFD\"}" {
		t.Errorf("name %q obj %q, %v", name, obj, err)
	}
	// An object read as text carries no pre-signed URL into a column.
	err = decodeLenient([]byte(`{"obj":{"fileUrls":{"FRONT":"https://s3/f?X-Amz-Signature=1"},"u":["https://s3/b?Signature=2"],"k":1}}`),
		fields{"obj": text(&obj)})
	if err != nil || obj != `{"u":[null],"k":1}` {
		t.Errorf("object as text: %s, %v", obj, err)
	}
	for _, bad := range []string{``, `null`, `[1]`, `{"s":`} {
		if err := decodeLenient([]byte(bad), fs); err == nil {
			t.Errorf("decodeLenient(%q) succeeded", bad)
		}
	}
}

// TestFieldTablesMatchTags checks that every wire type decodes exactly the
// keys its struct tags encode (the sandbox encodes with the tags; the client
// decodes with the tables).
func TestFieldTablesMatchTags(t *testing.T) {
	for _, v := range []interface{ fields() fields }{
		&TokenResponse{}, &StatusResponse{}, &DataResponse{}, &Webhook{}, &WebhookStatus{},
		&AMLCheck{}, &AMLCheckStatus{}, &AMLHit{}, &ErrorBody{},
	} {
		typ := reflect.TypeOf(v).Elem()
		var tags []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name != "-" && name != "" {
				tags = append(tags, name)
			}
		}
		var keys []string
		for k := range v.fields() {
			keys = append(keys, k)
		}
		slices.Sort(tags)
		slices.Sort(keys)
		if !slices.Equal(tags, keys) {
			t.Errorf("%s: tags %v, decoded keys %v", typ.Name(), tags, keys)
		}
	}
}
