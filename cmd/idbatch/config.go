package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration, as in configs/example.yaml. Defaults →
// YAML file → flags; ${VAR} in the file expands from the environment.
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

	unsetEnv []string // ${VAR}s the environment does not set
}

type SourceConfig struct {
	Manifest string      `yaml:"manifest"`
	List     *ListConfig `yaml:"list"`
	S3       S3Config    `yaml:"s3"`
}

type ListConfig struct {
	Prefix       string `yaml:"prefix"`
	Template     string `yaml:"template"`
	Country      string `yaml:"country"`
	DocumentType string `yaml:"document_type"`
}

type S3Config struct {
	Endpoint        string `yaml:"endpoint"`
	Region          string `yaml:"region"`
	PathStyle       bool   `yaml:"path_style"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	MaxObjectBytes  int64  `yaml:"max_object_bytes"`
}

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

type NormalizeConfig struct {
	MaxSide         int `yaml:"max_side"`
	JPEGQuality     int `yaml:"jpeg_quality"`
	MaxImageBytes   int `yaml:"max_image_bytes"`
	MaxRequestBytes int `yaml:"max_request_bytes"`
	MinSide         int `yaml:"min_side"`
	MaxPixels       int `yaml:"max_pixels"`
	Workers         int `yaml:"workers"`
}

type ResultsConfig struct {
	WebhookListen      string        `yaml:"webhook_listen"`
	WebhookPath        string        `yaml:"webhook_path"`
	PollAfter          time.Duration `yaml:"poll_after"`
	PollMaxPerHour     float64       `yaml:"poll_max_per_hour"`
	ExpectManualReview *bool         `yaml:"expect_manual_review"`

	// metrics_listen, metrics_textfile, pushgateway_url: see metrics.go.
	MetricsConfig `yaml:",inline"`
}

type ExportConfig struct {
	Destination string `yaml:"destination"`
	Compression string `yaml:"compression"`
}

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

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} with the environment's value; it reports the
// names of variables that are not set.
func expandEnv(b []byte) ([]byte, []string) {
	var missing []string
	out := envRef.ReplaceAllFunc(b, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	return out, missing
}

// LoadConfig reads the YAML file at path over the defaults.
func LoadConfig(path string) (Config, error) {
	cfg := Defaults()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return parseConfig(cfg, b, path)
}

func parseConfig(cfg Config, b []byte, name string) (Config, error) {
	b, missing := expandEnv(b)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config %s: %w", name, err)
	}
	cfg.unsetEnv = missing
	return cfg, nil
}

// Validate checks the configuration once, with errors that name the field.
// needAPI: the command calls iDenfy (credentials required).
func (c *Config) Validate(needAPI bool) error {
	var errs []string
	bad := func(field, format string, a ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, a...))
	}
	if c.Job == "" {
		bad("job", "is required")
	} else if len(c.Job) > 100 || strings.ContainsAny(c.Job, "/\\=\x00") {
		bad("job", "must be at most 100 characters without / \\ or =")
	}
	if c.Source.Manifest == "" && (c.Source.List == nil || c.Source.List.Prefix == "") {
		bad("source", "set source.manifest or source.list.prefix")
	}
	if !strings.HasPrefix(c.Store, "sqlite://") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		bad("store", "must start with sqlite:// or postgres://")
	}
	if needAPI {
		if c.Idenfy.BaseURL == "" {
			bad("idenfy.base_url", "is required")
		}
		if c.Idenfy.APIKey == "" {
			bad("idenfy.api_key", "is empty (set it with ${IDENFY_API_KEY})")
		}
		if c.Idenfy.APISecret == "" {
			bad("idenfy.api_secret", "is empty (set it with ${IDENFY_API_SECRET})")
		}
		if c.Idenfy.WebhookSigningKey == "" && c.Results.WebhookListen != "" {
			bad("idenfy.webhook_signing_key", "is empty: webhooks could not be verified (set it, or set results.webhook_listen to \"\" to rely on polling)")
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
	if c.Limits.RequestsPerHour <= 0 {
		bad("limits.requests_per_hour", "must be > 0")
	}
	if c.Limits.Burst < 1 {
		bad("limits.burst", "must be >= 1")
	}
	if c.Limits.MaxSubmissions < 0 {
		bad("limits.max_submissions", "must be >= 0")
	}
	if c.Limits.MaxFailureRatio < 0 || c.Limits.MaxFailureRatio > 1 {
		bad("limits.max_failure_ratio", "must be between 0 and 1")
	}
	n := c.Normalize
	if n.MaxSide < 100 || n.JPEGQuality < 30 || n.JPEGQuality > 100 || n.MaxImageBytes < 10_000 || n.MaxRequestBytes < n.MaxImageBytes || n.MinSide < 1 || n.MinSide > n.MaxSide {
		bad("normalize", "out of range (max_side >= 100, 30 <= jpeg_quality <= 100, max_image_bytes >= 10000, max_request_bytes >= max_image_bytes, 1 <= min_side <= max_side)")
	}
	if c.Results.PollMaxPerHour < 0 {
		bad("results.poll_max_per_hour", "must be >= 0")
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

// tokenInt reads an integer token parameter.
func (c *Config) tokenInt(key string, def int) int {
	switch v := c.Idenfy.Token[key].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return def
}

func (c *Config) tokenString(key, def string) string {
	if v, ok := c.Idenfy.Token[key].(string); ok && v != "" {
		return v
	}
	return def
}

// tokenExtra returns the token parameters other than those idbatch sets itself.
func (c *Config) tokenExtra() map[string]any {
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
