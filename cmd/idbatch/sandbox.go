package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/setup"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

// runSandbox runs the iDenfy sandbox standalone until interrupted.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sandbox", stderr, nil)
	addr := fs.String("addr", "127.0.0.1:8099", "address to listen on")
	key := fs.String("api-key", "sandbox-key", "API key the sandbox accepts")
	secret := fs.String("api-secret", "sandbox-secret", "API secret the sandbox accepts")
	signing := fs.String("signing-key", "sandbox-signing-key", "webhook signing key")
	webhook := fs.String("webhook-url", "", "where to deliver webhooks (empty: none; polling only)")
	manual := fs.Bool("manual-review", true, "send an automatic (final:false) then a manual (final:true) callback")
	autoDelay := fs.Duration("auto-delay", 2*time.Second, "delay of the automatic callback after /process")
	manualDelay := fs.Duration("manual-delay", 10*time.Second, "delay of the manual callback after /process")
	rateLimit := fs.Float64("rate-limit", 10000, "requests per hour before 429 TOO_MANY_REQUESTS (0 = no limit)")
	conflict := fs.Bool("conflict-on-active-client", false, "answer 409 to /token while the clientId has an active token")
	seed := fs.Int64("fault-seed", 1, "seed of the fault rates below")
	serverErr := fs.Float64("server-error-rate", 0, "share of requests answered 500 INTERNAL_ERROR (not applied)")
	lost := fs.Float64("process-answer-lost-rate", 0, "share of /process applied whose answer is lost (connection dropped)")
	photo := fs.Float64("photo-reject-rate", 0, "share of /process answered 200 with a message (document not detected)")
	dup := fs.Float64("webhook-duplicate-rate", 0, "share of callbacks delivered twice")
	reorder := fs.Float64("webhook-reorder-rate", 0, "share of verifications whose manual callback comes before the automatic one")
	drop := fs.Float64("webhook-drop-rate", 0, "share of callbacks never delivered")
	latency := fs.Duration("latency", 0, "added to every answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	srv := idenfytest.New(idenfytest.Options{APIKey: *key, APISecret: *secret, SigningKey: *signing, WebhookURL: *webhook,
		ManualReview: *manual, AutoDelay: *autoDelay, ManualDelay: *manualDelay,
		RateLimit: *rateLimit, ConflictOnActiveClient: *conflict, FaultSeed: *seed, ServerErrorRate: *serverErr,
		ProcessAnswerLostRate: *lost, PhotoRejectRate: *photo, WebhookDuplicateRate: *dup, WebhookReorderRate: *reorder,
		WebhookDropRate: *drop, Latency: *latency, Logger: setup.Logger(config.LogConfig{Level: "info", Format: "auto"}, stderr, false)})
	base, err := srv.Start(*addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "iDenfy sandbox listening on %s (api key %q); Ctrl-C to stop\n", base, *key)
	<-ctx.Done()
	_ = srv.Close()
	c := srv.Charges()
	fmt.Fprintf(stdout, "sandbox stopped: %d tokens created, %d processes accepted\n", c.TokensCreated, c.ProcessesAccepted)
	return nil
}
