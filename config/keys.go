package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// envRef is a ${VAR} found in the value of key.
type envRef struct{ key, name string }

var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Before the YAML is parsed, every ${VAR} becomes a placeholder that is a
// plain scalar in any YAML context (${X} is not, inside {flow: maps}); the
// placeholders are expanded in the parsed values.
const envPlaceholder = "IDBATCHENV\u00b7${1}\u00b7"

var placeholderRE = regexp.MustCompile("IDBATCHENV\u00b7([A-Za-z_][A-Za-z0-9_]*)\u00b7")

// onlyEnvRef matches a value that is exactly one ${VAR} (as a placeholder).
var onlyEnvRef = regexp.MustCompile("^\\s*IDBATCHENV\u00b7[A-Za-z_][A-Za-z0-9_]*\u00b7\\s*$")

// markEnvRefs replaces every ${VAR} with its placeholder.
func markEnvRefs(b []byte) []byte { return envRefRE.ReplaceAll(b, []byte(envPlaceholder)) }

// walkScalars calls fn with every scalar value node of n and its YAML path.
func walkScalars(n *yaml.Node, path string, fn func(path string, v *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkScalars(n.Content[i+1], joinKey(path, n.Content[i].Value), fn)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkScalars(c, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case yaml.ScalarNode:
		fn(path, n)
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// expandEnvNodes replaces ${VAR} inside scalar values with the
// environment's value (a value never changes the YAML structure), and
// returns the variables that are not set, with their keys. A plain scalar
// is typed again after expansion (port: ${PORT} is a number).
func expandEnvNodes(root *yaml.Node, path string) []envRef {
	var unset []envRef
	walkScalars(root, path, func(key string, v *yaml.Node) {
		if !strings.Contains(v.Value, "IDBATCHENV\u00b7") {
			return
		}
		v.Value = placeholderRE.ReplaceAllStringFunc(v.Value, func(m string) string {
			name := placeholderRE.FindStringSubmatch(m)[1]
			val, ok := os.LookupEnv(name)
			if !ok {
				unset = append(unset, envRef{key: key, name: name})
			}
			return val
		})
		switch {
		case v.Value == "":
			v.Style, v.Tag = yaml.DoubleQuotedStyle, "!!str" // an empty string, not null (the default)
		case v.Style == 0 || v.Style == yaml.FlowStyle:
			v.Tag = ""
		}
	})
	return unset
}

// literalSecretWarnings names the secret keys written in the file rather
// than as ${VAR} (never their values).
func literalSecretWarnings(root *yaml.Node) []string {
	var out []string
	walkScalars(root, "", func(key string, v *yaml.Node) {
		for _, s := range secretKeys {
			if key == s && v.Value != "" && !onlyEnvRef.MatchString(v.Value) {
				out = append(out, fmt.Sprintf("config: %s is written in the file (line %d): a secret belongs in the environment; write %s: ${VAR}", key, v.Line, key))
			}
		}
	})
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

// checkKeys reports, with their YAML paths, unknown keys (suggesting the
// nearest known one) and values that cannot be read as their key's type.
func checkKeys(n *yaml.Node, t reflect.Type, path string, errs *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // key: (empty) keeps the default
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Sprintf("%s: expected a mapping of keys (%s), got %s", orRoot(path), strings.Join(fieldNames(t), ", "), describe(n)))
			return
		}
		_, fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ft, ok := fields[k]
			if !ok {
				msg := fmt.Sprintf("%s: unknown key (line %d)", joinKey(path, k), n.Content[i].Line)
				if s := suggestKey(joinKey(path, k)); s != "" {
					msg += fmt.Sprintf("; did you mean %s?", s)
				}
				*errs = append(*errs, msg)
				continue
			}
			checkKeys(n.Content[i+1], ft, joinKey(path, k), errs)
		}
	case t.Kind() == reflect.Map || t.Kind() == reflect.Interface:
		// free-form (idenfy.token): passed through
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case t.Kind() == reflect.Slice:
		*errs = append(*errs, fmt.Sprintf("%s: expected a list (example: [a, b]), got %s", path, describe(n)))
	case n.Kind != yaml.ScalarNode:
		*errs = append(*errs, fmt.Sprintf("%s: expected %s, got %s", path, expectedForm(t), describe(n)))
	case t == durationType:
		if n.Value == "0" {
			n.Value, n.Tag = "0s", "" // yaml.v3 reads no number as a duration; 0 has a meaning
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: %q is not a duration (examples: 90s, 10m, 1h30m)", path, n.Value))
		}
	default:
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: %q is not %s", path, n.Value, expectedForm(t)))
		}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func expectedForm(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number (example: 5)"
	case reflect.Float64, reflect.Float32:
		return "a number (example: 0.2)"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// yamlFields lists the YAML keys of struct t with their types, the keys of
// ",inline" embedded structs included, in field order.
func yamlFields(t reflect.Type) (names []string, types map[string]reflect.Type) {
	types = map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if _, opts, _ := strings.Cut(f.Tag.Get("yaml"), ","); opts == "inline" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name := yamlName(f); name != "" {
				names = append(names, name)
				types[name] = f.Type
			}
		}
	}
	walk(t)
	return names, types
}

func fieldNames(t reflect.Type) []string {
	names, _ := yamlFields(t)
	return names
}

// knownKeys lists every key of the config file by its YAML path.
func knownKeys() []string {
	var out []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		names, types := yamlFields(t)
		for _, name := range names {
			p := joinKey(path, name)
			out = append(out, p)
			ft := types[name]
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != durationType {
				walk(ft, p)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(out)
	return out
}

// suggestKey returns the known key nearest to key (Levenshtein distance
// over the whole path, or over the last part for a key put at the wrong
// level), or "" when none is near.
func suggestKey(key string) string {
	leaf := key[strings.LastIndex(key, ".")+1:]
	best, bestD := "", 1<<30
	for _, k := range knownKeys() {
		d := Levenshtein(key, k)
		if kl := k[strings.LastIndex(k, ".")+1:]; kl == leaf || Levenshtein(leaf, kl) <= 1 {
			d = min(d, Levenshtein(leaf, kl)+1)
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	if bestD > max(2, len(leaf)/3) {
		return ""
	}
	return best
}

// Levenshtein is the edit distance between a and b.
func Levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
