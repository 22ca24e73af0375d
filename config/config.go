package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idbatch/idbatch/ingest"
)

// Config is the whole configuration, as in configs/example.yaml. Defaults →
// YAML file → flags; ${VAR} in the file expands from the environment.
// Load fills it from a file; the commands then apply their flags and call
// Check (every command) or Validate (commands that read the source or call
// the API).
type Config struct {
	Job       string          `yaml:"job"`
	Source    SourceConfig    `yaml:"source"`
	Store     string          `yaml:"store"`
	Idenfy    IdenfyConfig    `yaml:"idenfy"`
	Limits    LimitsConfig    `yaml:"limits"`
	Normalize NormalizeConfig `yaml:"normalize"`
	Results   ResultsConfig   `yaml:"results"`
	Export    ExportConfig    `yaml:"export"`
	Log       LogConfig       `yaml:"log"`

	unsetEnv []envRef // ${VAR}s the environment does not set, with the key that holds them
	warnings []string // printed on stderr by the command (literal secrets, …)
}

// Warnings are what the file does that works but should not be done: a
// secret written in the file, a very short lease. They name keys, never
// values; the command prints them on stderr.
func (c *Config) Warnings() []string { return c.warnings }

// SourceConfig is source: the manifest (or S3 listing) and where its
// images may be fetched from.
type SourceConfig struct {
	Manifest string      `yaml:"manifest"`
	List     *ListConfig `yaml:"list"`
	S3       S3Config    `yaml:"s3"`
	// AllowedBuckets are buckets besides an s3:// manifest's own that its
	// image references may name.
	AllowedBuckets []string `yaml:"allowed_buckets"`
	// LocalRoot, if set, lets a manifest name images by absolute path or
	// file:// URI inside this directory (never from an S3 manifest).
	LocalRoot string `yaml:"local_root"`
}

// ObjectOptions is the fetch scope of the source's images.
func (c Config) ObjectOptions() ingest.ObjectOptions {
	return ingest.ObjectOptions{MaxBytes: c.Source.S3.MaxObjectBytes, AllowedBuckets: c.Source.AllowedBuckets, LocalRoot: c.Source.LocalRoot}
}

// SourceOptions is the record source of the config, for ingest.OpenSource.
func (c Config) SourceOptions() ingest.SourceOptions {
	o := ingest.SourceOptions{Manifest: c.Source.Manifest, Objects: c.ObjectOptions()}
	if l := c.Source.List; l != nil && c.Source.Manifest == "" {
		o.List = &ingest.ListOptions{Prefix: l.Prefix, Template: l.Template, Country: l.Country, DocumentType: l.DocumentType}
	}
	return o
}

// NormalizeOptions are the normalize: keys for ingest.Preparer.
func (c Config) NormalizeOptions() ingest.NormalizeOptions {
	n := c.Normalize
	return ingest.NormalizeOptions{MaxSide: n.MaxSide, JPEGQuality: n.JPEGQuality, MaxImageBytes: n.MaxImageBytes, MinSide: n.MinSide, MaxPixels: n.MaxPixels}
}

// ListConfig is source.list: records built from the objects under an S3
// prefix instead of a manifest.
type ListConfig struct {
	Prefix       string `yaml:"prefix"`
	Template     string `yaml:"template"`
	Country      string `yaml:"country"`
	DocumentType string `yaml:"document_type"`
}

// S3Config is source.s3: the S3 endpoint and credentials (also used by an
// s3:// export destination) and the largest object fetched.
type S3Config struct {
	Endpoint        string `yaml:"endpoint"`
	Region          string `yaml:"region"`
	PathStyle       bool   `yaml:"path_style"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	MaxObjectBytes  int64  `yaml:"max_object_bytes"`
}

// IdenfyConfig is idenfy: the API, its credentials and the token parameters.
type IdenfyConfig struct {
	BaseURL           string         `yaml:"base_url"`
	APIKey            string         `yaml:"api_key"`
	APISecret         string         `yaml:"api_secret"`
	WebhookSigningKey string         `yaml:"webhook_signing_key"`
	ProcessTokenField string         `yaml:"process_token_field"`
	Token             map[string]any `yaml:"token"`
	DummyStatus       string         `yaml:"dummy_status"`
	SendPersonalData  *bool          `yaml:"send_personal_data"`
	// ResendSkipAnalysis resends a record whose photos /process rejected
	// ("document not detected") once, on a new token, with skipAnalysis.
	ResendSkipAnalysis bool `yaml:"resend_skip_analysis"`
}

// LimitsConfig is limits: rate, caps, durations and retry bounds of a run.
type LimitsConfig struct {
	RequestsPerHour float64       `yaml:"requests_per_hour"`
	Burst           int           `yaml:"burst"`
	MaxSubmissions  int           `yaml:"max_submissions"`
	MaxDuration     time.Duration `yaml:"max_duration"`
	WaitForResults  time.Duration `yaml:"wait_for_results"`
	MaxFailureRatio float64       `yaml:"max_failure_ratio"`
	MaxAttempts     int           `yaml:"max_attempts"`
	// Lease bounds how long a live but stuck worker keeps a claimed
	// record. A dead worker's records are taken over at once: workers
	// heartbeat in the Store, and a restart on SQLite knows by its file
	// lock that the previous run is gone.
	Lease time.Duration `yaml:"lease"`
	// OrphanMargin is added to a possible orphan token's expiry before its
	// record is retried with a new token.
	OrphanMargin time.Duration `yaml:"orphan_margin"`
}

// NormalizeConfig is normalize: how images are checked and resized.
type NormalizeConfig struct {
	MaxSide         int `yaml:"max_side"`
	JPEGQuality     int `yaml:"jpeg_quality"`
	MaxImageBytes   int `yaml:"max_image_bytes"`
	MaxRequestBytes int `yaml:"max_request_bytes"`
	MinSide         int `yaml:"min_side"`
	MaxPixels       int `yaml:"max_pixels"`
	Workers         int `yaml:"workers"`
}

// ResultsConfig is results: the webhook receiver, polling and metrics.
type ResultsConfig struct {
	WebhookListen      string        `yaml:"webhook_listen"`
	WebhookPath        string        `yaml:"webhook_path"`
	PollAfter          time.Duration `yaml:"poll_after"`
	PollMaxPerHour     float64       `yaml:"poll_max_per_hour"`
	ExpectManualReview *bool         `yaml:"expect_manual_review"`

	// metrics_listen, metrics_textfile, pushgateway_url.
	MetricsConfig `yaml:",inline"`
}

// MetricsConfig are the results.* keys of the metrics (inlined into
// results: in the file).
type MetricsConfig struct {
	// MetricsListen puts /metrics on its own address (e.g. 127.0.0.1:9464,
	// a private one) instead of the webhook receiver's public one.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsTextfile: run writes its final metrics there for
	// node_exporter's textfile collector (a *.prom file in its directory).
	MetricsTextfile string `yaml:"metrics_textfile"`
	// PushgatewayURL: run pushes its final metrics there (job "idbatch",
	// grouping label idbatch_job), replacing its previous push.
	PushgatewayURL string `yaml:"pushgateway_url"`
}

// ExportConfig is export: where the Parquet files go and how compressed.
type ExportConfig struct {
	Destination string `yaml:"destination"`
	Compression string `yaml:"compression"`
}

// LogConfig is log: level and format of the log lines.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto (text on a terminal, JSON otherwise), json, text
}

// Defaults returns the configuration before the file is read.
func Defaults() Config {
	t := true
	return Config{
		Store:  "sqlite://./idbatch.db",
		Source: SourceConfig{S3: S3Config{Region: "eu-west-1", MaxObjectBytes: 50 << 20}},
		Idenfy: IdenfyConfig{
			BaseURL:           "https://ivs.idenfy.com",
			ProcessTokenField: "authToken",
			Token:             map[string]any{"tokenType": "IDENTIFICATION", "expiryTime": 900},
			SendPersonalData:  &t,
		},
		Limits:    LimitsConfig{RequestsPerHour: 9000, Burst: 3, MaxDuration: 8 * time.Hour, WaitForResults: 30 * time.Minute, MaxFailureRatio: 0.2, MaxAttempts: 5, Lease: 10 * time.Minute, OrphanMargin: 2 * time.Minute},
		Normalize: NormalizeConfig{MaxSide: 2560, JPEGQuality: 90, MaxImageBytes: 4_500_000, MaxRequestBytes: 19_000_000, MinSide: 300, MaxPixels: 50_000_000, Workers: 2},
		Results:   ResultsConfig{WebhookListen: ":8080", WebhookPath: "/webhooks/idenfy", PollAfter: 30 * time.Minute, PollMaxPerHour: 200, ExpectManualReview: &t},
		Export:    ExportConfig{Destination: "./exports/", Compression: "zstd"},
		Log:       LogConfig{Level: "info", Format: "auto"},
	}
}

// Load reads the YAML file at path over the defaults. The paths that name
// the job's state are resolved against the file's directory, so that one
// config names one Store, one manifest and one export whatever the working
// directory (cron starts in $HOME): a relative sqlite:// Store path, a
// relative local source.manifest, source.local_root and a relative local
// export.destination.
// s3://, file:// and absolute paths are kept as written; flags that override
// them (-store) are relative to the working directory, as users expect.
func Load(path string) (Config, error) {
	cfg := Defaults()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	cfg, err = parse(cfg, b, path)
	if err != nil {
		return cfg, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		dir := filepath.Dir(abs)
		cfg.Store = ResolveStoreDSN(cfg.Store, dir)
		cfg.Source.Manifest = resolveLocalPath(cfg.Source.Manifest, dir)
		cfg.Source.LocalRoot = resolveLocalPath(cfg.Source.LocalRoot, dir)
		cfg.Export.Destination = resolveLocalPath(cfg.Export.Destination, dir)
	}
	if l := cfg.Limits.Lease; l >= MinLease && l < SaneLease {
		cfg.warnings = append(cfg.warnings, fmt.Sprintf("limits.lease %s is shorter than %s: a killed worker's records resume sooner, but a slow record may be taken over while in flight", FormatDuration(l), FormatDuration(SaneLease)))
	}
	return cfg, nil
}

// resolveLocalPath makes a relative local path absolute against dir; a URI
// (s3://, file://, …), an absolute path and "" are returned as they are. A
// trailing / (a directory, as export.destination is written) is kept.
func resolveLocalPath(p, dir string) string {
	if p == "" || strings.Contains(p, "://") || filepath.IsAbs(p) || dir == "" {
		return p
	}
	abs := filepath.Join(dir, p)
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(abs, "/") {
		abs += "/"
	}
	return abs
}

// parse reads YAML over cfg. Unknown keys (with the nearest known key
// as a suggestion) and values of the wrong type are errors that name the
// key's YAML path; ${VAR} is expanded inside values (never into the YAML
// structure), and an unset VAR is recorded with its key.
func parse(cfg Config, b []byte, name string) (Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(markEnvRefs(b), &doc); err != nil {
		return cfg, fmt.Errorf("config %s: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return cfg, nil // empty file
	}
	root := doc.Content[0]
	var errs []string
	cfg.warnings = literalSecretWarnings(root)
	cfg.unsetEnv = expandEnvNodes(root, "")
	checkKeys(root, reflect.TypeOf(cfg), "", &errs)
	if len(errs) > 0 {
		return cfg, fmt.Errorf("config %s:\n  %s", name, strings.Join(errs, "\n  "))
	}
	if err := root.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", name, err)
	}
	if cfg.Source.S3.MaxObjectBytes == 0 {
		cfg.Source.S3.MaxObjectBytes = Defaults().Source.S3.MaxObjectBytes
	}
	return cfg, nil
}

// jobNameRE is what a job name may be: it is used in paths (job=<job>/) and
// in the Store, by every command.
var jobNameRE = regexp.MustCompile(`^[A-Za-z0-9-][A-Za-z0-9._-]{0,63}$`)

// CheckJobName is the one check of a job name, for every command that takes
// -job or reads job: from the config.
func CheckJobName(job string) error {
	switch {
	case job == "":
		return errors.New("is required")
	case !jobNameRE.MatchString(job):
		return fmt.Errorf("%q is not a job name: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or _", job)
	}
	return nil
}

// credentialKeys are the keys holding secrets: their ${VAR} may be unset when
// the command makes no API call (validate, status, export).
var credentialKeys = map[string]bool{
	"idenfy.api_key": true, "idenfy.api_secret": true, "idenfy.webhook_signing_key": true,
}

// secretKeys are the keys whose value must come from the environment.
var secretKeys = []string{"idenfy.api_key", "idenfy.api_secret", "idenfy.webhook_signing_key", "source.s3.secret_access_key"}

// unsetVar returns the ${VAR} of key that the environment does not set.
func (c *Config) unsetVar(key string) string {
	for _, u := range c.unsetEnv {
		if u.key == key {
			return u.name
		}
	}
	return ""
}

// Check is the validation every command runs after the flags are applied:
// job name, Store DSN, ranges of every numeric and duration key, and
// ${VAR}s left unset in keys that are not credentials.
func (c *Config) Check() error {
	var errs []string
	bad := func(field, format string, a ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, a...))
	}
	if err := CheckJobName(c.Job); err != nil {
		bad("job", "%v", err)
	}
	for _, u := range c.unsetEnv {
		if !credentialKeys[u.key] {
			bad(u.key, "${%s} is not set in the environment", u.name)
		}
	}
	if _, err := ParseStoreDSN(c.Store); err != nil {
		bad("store", "%v", err)
	}
	d := func(key string, v, lo, hi time.Duration, zeroOK string) {
		switch {
		case v == 0 && zeroOK != "":
		case v < lo || v > hi:
			if zeroOK != "" {
				bad(key, "must be 0 (%s) or between %s and %s, got %s", zeroOK, FormatDuration(lo), FormatDuration(hi), FormatDuration(v))
			} else {
				bad(key, "must be between %s and %s, got %s", FormatDuration(lo), FormatDuration(hi), FormatDuration(v))
			}
		}
	}
	i := func(key string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad(key, "must be between %d and %d, got %d", lo, hi, v)
		}
	}
	f := func(key string, v, lo, hi float64, loOpen bool) {
		if v < lo || v > hi || (loOpen && v == lo) || math.IsNaN(v) {
			op := "between"
			if loOpen {
				op = "above"
				bad(key, "must be %s %g and at most %g, got %g", op, lo, hi, v)
				return
			}
			bad(key, "must be %s %g and %g, got %g", op, lo, hi, v)
		}
	}
	const day = 24 * time.Hour
	i("source.s3.max_object_bytes", c.Source.S3.MaxObjectBytes, 1, ingest.MaxObjectBytesLimit)
	if c.Source.S3.MaxObjectBytes > 0 && c.Source.S3.MaxObjectBytes <= ingest.MaxObjectBytesLimit {
		if err := c.ObjectOptions().Validate(); err != nil {
			bad("source."+strings.SplitN(err.Error(), ":", 2)[0], "%s", strings.TrimSpace(strings.SplitN(err.Error(), ":", 2)[1]))
		}
	}
	l := c.Limits
	f("limits.requests_per_hour", l.RequestsPerHour, 0, 1_000_000, true)
	i("limits.burst", int64(l.Burst), 1, 1000)
	i("limits.max_submissions", int64(l.MaxSubmissions), 0, 1_000_000_000)
	d("limits.max_duration", l.MaxDuration, time.Second, 30*day, "no limit")
	d("limits.wait_for_results", l.WaitForResults, time.Second, 30*day, "do not wait")
	f("limits.max_failure_ratio", l.MaxFailureRatio, 0, 1, false)
	i("limits.max_attempts", int64(l.MaxAttempts), 1, 100)
	d("limits.lease", l.Lease, MinLease, day, "")
	d("limits.orphan_margin", l.OrphanMargin, 0, day, "")
	n := c.Normalize
	i("normalize.max_side", int64(n.MaxSide), 100, 20_000)
	i("normalize.jpeg_quality", int64(n.JPEGQuality), 30, 100)
	i("normalize.max_image_bytes", int64(n.MaxImageBytes), 10_000, 100_000_000)
	i("normalize.max_request_bytes", int64(n.MaxRequestBytes), int64(max(n.MaxImageBytes, 10_000)), 1_000_000_000)
	i("normalize.min_side", int64(n.MinSide), 1, int64(max(n.MaxSide, 1)))
	i("normalize.max_pixels", int64(n.MaxPixels), 10_000, 1_000_000_000)
	i("normalize.workers", int64(n.Workers), 1, 256)
	d("results.poll_after", c.Results.PollAfter, time.Second, 30*day, "")
	f("results.poll_max_per_hour", c.Results.PollMaxPerHour, 0, 1_000_000, false)
	if v, ok := c.Idenfy.Token["expiryTime"]; ok {
		if n, isInt := v.(int); !isInt || n < 1 || n > 30*24*3600 {
			bad("idenfy.token.expiryTime", "must be a number of seconds between 1 and 2592000, got %v", v)
		}
	}
	if len(errs) > 0 {
		return errors.New("invalid config:\n  " + strings.Join(errs, "\n  "))
	}
	return nil
}

// MinLease is the shortest limits.lease: the export lock is renewed every
// third of it, and a record must be prepared and submitted within it.
// Below 30 s a warning is printed (tests use seconds to resume killed runs fast).
const (
	MinLease  = time.Second
	SaneLease = 30 * time.Second
)

// Validate checks the configuration once, with errors that name the field.
// needAPI: the command calls iDenfy (credentials required).
func (c *Config) Validate(needAPI bool) error {
	var errs []string
	if err := c.Check(); err != nil {
		errs = append(errs, strings.Split(strings.TrimPrefix(err.Error(), "invalid config:\n  "), "\n  ")...)
	}
	bad := func(field, format string, a ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, a...))
	}
	if c.Source.Manifest == "" && (c.Source.List == nil || c.Source.List.Prefix == "") {
		bad("source", "set source.manifest or source.list.prefix")
	}
	if needAPI {
		if c.Idenfy.BaseURL == "" {
			bad("idenfy.base_url", "is required")
		}
		c.checkCredential(bad, "idenfy.api_key", c.Idenfy.APIKey, "IDENFY_API_KEY")
		c.checkCredential(bad, "idenfy.api_secret", c.Idenfy.APISecret, "IDENFY_API_SECRET")
		if c.Results.WebhookListen != "" {
			if v := c.unsetVar("idenfy.webhook_signing_key"); v != "" {
				bad("idenfy.webhook_signing_key", "${%s} is not set in the environment: webhooks could not be verified (set it, or set results.webhook_listen to \"\" to rely on polling)", v)
			} else if c.Idenfy.WebhookSigningKey == "" {
				bad("idenfy.webhook_signing_key", "is empty: webhooks could not be verified (set it, or set results.webhook_listen to \"\" to rely on polling)")
			}
		}
	}
	if f := c.Idenfy.ProcessTokenField; f != "authToken" && f != "token" {
		bad("idenfy.process_token_field", "must be authToken or token, not %q", f)
	}
	switch c.Idenfy.DummyStatus {
	case "", "APPROVED", "DENIED", "SUSPECTED", "EXPIRED":
	default:
		bad("idenfy.dummy_status", "must be APPROVED, DENIED, SUSPECTED or EXPIRED")
	}
	if c.Results.WebhookPath == "" || c.Results.WebhookPath[0] != '/' {
		bad("results.webhook_path", "must start with /")
	}
	if c.Export.Destination == "" {
		bad("export.destination", "is required")
	}
	switch c.Export.Compression {
	case "zstd", "snappy", "none", "":
	default:
		bad("export.compression", "must be zstd, snappy or none")
	}
	if len(errs) > 0 {
		return errors.New("invalid config:\n  " + strings.Join(errs, "\n  "))
	}
	return nil
}

// checkCredential reports an unset ${VAR} by its name, or an empty value.
func (c *Config) checkCredential(bad func(field, format string, a ...any), key, val, envHint string) {
	if v := c.unsetVar(key); v != "" {
		bad(key, "${%s} is not set in the environment", v)
	} else if val == "" {
		bad(key, "is empty (set it with ${%s})", envHint)
	}
}

// FormatDuration writes a duration as a user would: 10m, 1h30m, 90s, 1.5s.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// TokenInt reads an integer token parameter (idenfy.token.<key>); def
// when it is unset.
func (c *Config) TokenInt(key string, def int) int {
	switch v := c.Idenfy.Token[key].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return def
}

// TokenString reads a string token parameter; def when it is unset or empty.
func (c *Config) TokenString(key, def string) string {
	if v, ok := c.Idenfy.Token[key].(string); ok && v != "" {
		return v
	}
	return def
}

// TokenExtra returns the token parameters other than those idbatch sets itself.
func (c *Config) TokenExtra() map[string]any {
	out := map[string]any{}
	for k, v := range c.Idenfy.Token {
		switch k {
		case "tokenType", "expiryTime", "callbackUrl", "clientId", "externalRef", "dummyStatus":
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// NeedCredentials names, for each credential key whose ${VAR} the
// environment does not set, that variable (for commands that check their
// credentials themselves: delete, serve).
func (c *Config) NeedCredentials(keys ...string) error {
	var errs []string
	for _, k := range keys {
		if v := c.unsetVar(k); v != "" {
			errs = append(errs, fmt.Sprintf("%s: ${%s} is not set in the environment", k, v))
		}
	}
	if len(errs) > 0 {
		return errors.New("invalid config:\n  " + strings.Join(errs, "\n  "))
	}
	return nil
}

// ValidateServe checks what serve needs, polling or not; unlike run it needs
// no source and no export destination. An unset ${VAR} of a credential it
// needs is named first.
func (c *Config) ValidateServe(polling bool) error {
	if err := c.NeedCredentials(ServeCredentials(polling)...); err != nil {
		return err
	}
	var errs []string
	bad := func(field, msg string) { errs = append(errs, field+": "+msg) }
	if c.Job == "" {
		bad("job", "is required")
	}
	if !strings.HasPrefix(c.Store, "sqlite://") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		bad("store", "must start with sqlite:// or postgres://")
	}
	if c.Results.WebhookListen == "" {
		bad("results.webhook_listen", "is empty (or pass -listen ADDR)")
	}
	if c.Results.WebhookPath == "" || c.Results.WebhookPath[0] != '/' {
		bad("results.webhook_path", "must start with /")
	}
	if c.Idenfy.WebhookSigningKey == "" {
		bad("idenfy.webhook_signing_key", "is empty: webhooks could not be verified")
	}
	if polling {
		if c.Idenfy.BaseURL == "" {
			bad("idenfy.base_url", "is required for polling (or pass -poll=false)")
		}
		if c.Idenfy.APIKey == "" || c.Idenfy.APISecret == "" {
			bad("idenfy.api_key, idenfy.api_secret", "are required for polling (or pass -poll=false)")
		}
		if c.Limits.RequestsPerHour <= 0 || c.Limits.Burst < 1 {
			bad("limits", "requests_per_hour must be > 0 and burst >= 1")
		}
	}
	if len(errs) > 0 {
		return errors.New("invalid config:\n  " + strings.Join(errs, "\n  "))
	}
	return nil
}

// ServeCredentials are the credentials serve needs.
func ServeCredentials(polling bool) []string {
	if polling {
		return []string{"idenfy.webhook_signing_key", "idenfy.api_key", "idenfy.api_secret"}
	}
	return []string{"idenfy.webhook_signing_key"}
}
