package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
)

func TestValidateServe(t *testing.T) {
	ok := config.Defaults()
	ok.Job, ok.Idenfy.WebhookSigningKey, ok.Idenfy.APIKey, ok.Idenfy.APISecret = "j", "sign", "k", "s"
	if err := validateServe(ok, true); err != nil {
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
		cfg     config.Config
		polling bool
		field   string
	}{
		{"no signing key", noKey, false, "idenfy.webhook_signing_key"},
		{"no API secret, polling", noCreds, true, "idenfy.api_secret"},
		{"no listen address", noListen, false, "results.webhook_listen"},
	} {
		err := validateServe(c.cfg, c.polling)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.field)
		}
	}
	// Without polling, no API credentials are needed.
	if err := validateServe(noCreds, false); err != nil {
		t.Errorf("serve -poll=false without API credentials: %v", err)
	}
}

func TestStoreHealth(t *testing.T) {
	up := countsFunc(func(context.Context, string) (map[pipeline.State]int, error) { return nil, nil })
	down := countsFunc(func(context.Context, string) (map[pipeline.State]int, error) { return nil, errors.New("down") })
	for _, c := range []struct {
		st   recordCounter
		want int
	}{{up, http.StatusOK}, {down, http.StatusServiceUnavailable}} {
		rr := httptest.NewRecorder()
		storeHealth(c.st, "j").ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rr.Code != c.want {
			t.Errorf("/healthz: %d, want %d", rr.Code, c.want)
		}
	}
}
