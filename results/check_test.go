package results_test

import (
	"net"
	"strings"
	"testing"

	"github.com/idbatch/idbatch/results"
)

func TestCheckWebhook(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	const path, key = "/webhooks/idenfy", "k3y"
	for _, tc := range []struct {
		name     string
		s        results.WebhookSettings
		errs     []string // substrings of the error, in any order; none = no error
		warnings []string // substrings, one per warning, in order
		detail   string   // substring of Detail when there is no error
	}{
		{name: "receiver, Dashboard URL",
			s:      results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key},
			detail: "receiver on :0/webhooks/idenfy (bindable), signing key set; iDenfy calls the callback URL set in iDenfy's Dashboard"},
		{name: "receiver, https callback",
			s:      results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://batch.example.com/webhooks/idenfy"},
			detail: "iDenfy calls https://batch.example.com/webhooks/idenfy"},
		{name: "no receiver, polling",
			s:      results.WebhookSettings{Path: path},
			detail: "no receiver in this process"},
		{name: "no receiver, callback set",
			s:        results.WebhookSettings{Path: path, CallbackURL: "https://serve.example.com/webhooks/idenfy"},
			warnings: []string{"this process has no receiver: it must lead to a running idbatch serve"}},
		{name: "no signing key",
			s:    results.WebhookSettings{Listen: ":0", Path: path},
			errs: []string{"idenfy.webhook_signing_key: is empty: every webhook would be refused (401)"}},
		{name: "address in use",
			s:        results.WebhookSettings{Listen: busy.Addr().String(), Path: path, SigningKey: key},
			errs:     []string{"results.webhook_listen: cannot listen on " + busy.Addr().String() + ": bind: address already in use"},
			warnings: []string{"accepts local connections only"}},
		{name: "not host:port",
			s:    results.WebhookSettings{Listen: "8080", Path: path, SigningKey: key},
			errs: []string{`results.webhook_listen: "8080" is not host:port`}},
		{name: "unknown listen host",
			s:    results.WebhookSettings{Listen: "no-such-host.invalid:0", Path: path, SigningKey: key},
			errs: []string{"results.webhook_listen: cannot listen on no-such-host.invalid:0"}},
		{name: "bad path",
			s:    results.WebhookSettings{Listen: ":0", Path: "webhooks", SigningKey: key},
			errs: []string{`results.webhook_path: "webhooks" must start with /`}},
		{name: "loopback listen",
			s:        results.WebhookSettings{Listen: "127.0.0.1:0", Path: path, SigningKey: key},
			warnings: []string{"results.webhook_listen 127.0.0.1:0 accepts local connections only"}},
		{name: "http on loopback (sandbox)",
			s:        results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "http://127.0.0.1:8080/webhooks/idenfy"},
			warnings: []string{"is http on a loopback host: accepted for a local sandbox only"}},
		{name: "http on localhost",
			s:        results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "http://localhost:8080/webhooks/idenfy"},
			warnings: []string{"is http on a loopback host"}},
		{name: "https on loopback",
			s:        results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://[::1]/webhooks/idenfy"},
			warnings: []string{"is a loopback address: only a local sandbox can call it"}},
		{name: "http public",
			s:    results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "http://batch.example.com/webhooks/idenfy"},
			errs: []string{`idenfy.token.callbackUrl: "http://batch.example.com/webhooks/idenfy" must be https`}},
		{name: "private address",
			s:    results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://10.1.2.3/webhooks/idenfy"},
			errs: []string{"is a private or non-routable address: iDenfy cannot reach it"}},
		{name: "relative URL",
			s:    results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "/webhooks/idenfy"},
			errs: []string{"must be an absolute https:// URL with a host"}},
		{name: "other scheme",
			s:    results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "ftp://batch.example.com/webhooks/idenfy"},
			errs: []string{"has scheme ftp; want https"}},
		{name: "unparsable URL",
			s:    results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://user:pa ss@exa mple.com/%zz"},
			errs: []string{"idenfy.token.callbackUrl: is not a URL"}},
		{name: "userinfo",
			s:    results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://bob:hunter2@batch.example.com/webhooks/idenfy"},
			errs: []string{"must not contain user:password"}},
		{name: "secret in the query",
			s:      results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://batch.example.com/webhooks/idenfy?token=hunter2"},
			detail: "iDenfy calls https://batch.example.com/webhooks/idenfy?REDACTED"},
		{name: "secret in the query of a bad URL",
			s:    results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "http://batch.example.com/webhooks/idenfy?hunter2"},
			errs: []string{`"http://batch.example.com/webhooks/idenfy?REDACTED" must be https`}},
		{name: "secret in the fragment",
			s:        results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://batch.example.com/webhooks/idenfy#hunter2"},
			warnings: []string{"idenfy#REDACTED has a #fragment"}},
		{name: "path rewritten by a proxy",
			s:        results.WebhookSettings{Listen: ":0", Path: path, SigningKey: key, CallbackURL: "https://batch.example.com/hooks/kyc"},
			warnings: []string{`path "/hooks/kyc" differs from results.webhook_path "/webhooks/idenfy"`}},
		{name: "everything wrong at once",
			s: results.WebhookSettings{Listen: busy.Addr().String(), Path: "x", CallbackURL: "http://192.168.1.5/x"},
			errs: []string{"results.webhook_path", "idenfy.webhook_signing_key", "results.webhook_listen", "must be https",
				"private or non-routable"},
			warnings: []string{`path "/x" differs`, "accepts local connections only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := results.CheckWebhook(t.Context(), tc.s)
			if len(tc.errs) == 0 && err != nil {
				t.Fatalf("error: %v", err)
			}
			if len(tc.errs) > 0 && err == nil {
				t.Fatalf("no error; want %q", tc.errs)
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if err != nil {
				for _, secret := range []string{"hunter2", "pa ss", key} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows a secret: %q", err)
					}
				}
			}
			if len(c.Warnings) != len(tc.warnings) {
				t.Errorf("warnings = %q, want %d", c.Warnings, len(tc.warnings))
			} else {
				for i, want := range tc.warnings {
					if !strings.Contains(c.Warnings[i], want) {
						t.Errorf("warning %d = %q, want %q", i, c.Warnings[i], want)
					}
				}
			}
			if err == nil && !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("detail = %q, want %q", c.Detail, tc.detail)
			}
			if shown := c.Detail + strings.Join(c.Warnings, "\n"); strings.Contains(shown, "hunter2") {
				t.Errorf("the check shows a secret: %q", shown)
			}
		})
	}
}
