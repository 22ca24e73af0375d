package config

import (
	"strings"
	"testing"
	"time"
)

func TestExampleConfigParsesAndValidates(t *testing.T) {
	t.Setenv("IDENFY_API_KEY", "key")
	t.Setenv("IDENFY_API_SECRET", "secret")
	t.Setenv("IDENFY_WEBHOOK_KEY", "whk")
	cfg, err := Load("../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(true); err != nil {
		t.Fatal(err)
	}
	if cfg.Idenfy.APISecret != "secret" || cfg.Limits.RequestsPerHour != 9000 || cfg.Limits.MaxDuration != 8*time.Hour || cfg.TokenInt("expiryTime", 0) != 900 {
		t.Errorf("example config read wrong: %+v", cfg.Limits)
	}
	// Every default documented in the example equals the built-in default.
	def := Defaults()
	if cfg.Normalize != def.Normalize || cfg.Results.PollAfter != def.Results.PollAfter || cfg.Limits.MaxFailureRatio != def.Limits.MaxFailureRatio {
		t.Errorf("example and defaults disagree: %+v vs %+v", cfg.Normalize, def.Normalize)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		"job: x\nsource: {manifest: m.csv}\nlimits: {requests_per_hour: 0}\n":        "limits.requests_per_hour",
		"job: x\nsource: {manifest: m.csv}\nstore: mysql://x\n":                      "store",
		"job: x\nsource: {manifest: m.csv}\nidenfy: {process_token_field: tok}\n":    "idenfy.process_token_field",
		"source: {manifest: m.csv}\n":                                                "job",
		"job: x\n":                                                                   "source",
		"job: x\nsource: {manifest: m.csv}\nidenfy: {api_key: ${IDBATCH_UNSET_X}}\n": "idenfy.api_key",
	}
	for yml, field := range cases {
		cfg, err := parse(Defaults(), []byte(yml), "t.yaml")
		if err == nil {
			err = cfg.Validate(true)
		}
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: error %v does not name %s", yml, err, field)
		}
	}
	if _, err := parse(Defaults(), []byte("job: x\nunknown_key: 1\n"), "t.yaml"); err == nil || !strings.Contains(err.Error(), "unknown_key") {
		t.Errorf("unknown key accepted: %v", err)
	}
}

func TestRedactDSN(t *testing.T) {
	if got := RedactDSN("postgres://user:hunter2@db:5432/x"); strings.Contains(got, "hunter2") {
		t.Errorf("password shown: %s", got)
	}
}

func TestValidateServe(t *testing.T) {
	ok := Defaults()
	ok.Job, ok.Idenfy.WebhookSigningKey, ok.Idenfy.APIKey, ok.Idenfy.APISecret = "j", "sign", "k", "s"
	if err := ok.ValidateServe(true); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
	noKey := ok
	noKey.Idenfy.WebhookSigningKey = ""
	noCreds := ok
	noCreds.Idenfy.APISecret = ""
	noListen := ok
	noListen.Results.WebhookListen = ""
	for _, c := range []struct {
		name    string
		cfg     Config
		polling bool
		field   string
	}{
		{"no signing key", noKey, false, "idenfy.webhook_signing_key"},
		{"no API secret, polling", noCreds, true, "idenfy.api_secret"},
		{"no listen address", noListen, false, "results.webhook_listen"},
	} {
		err := c.cfg.ValidateServe(c.polling)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.field)
		}
	}
	// Without polling, no API credentials are needed.
	if err := noCreds.ValidateServe(false); err != nil {
		t.Errorf("serve -poll=false without API credentials: %v", err)
	}
}
