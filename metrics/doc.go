// Package metrics binds idbatch's small hooks to Prometheus, on registries
// of its own (no global state, no promauto): the other packages never
// import Prometheus.
//
//	results.Handler.OnOutcome  → idbatch_webhooks_total{outcome}
//	results.Poller.OnPoll      → idbatch_polls_total{outcome}
//	the iDenfy client's HTTP   → idbatch_api_requests_total{endpoint,code},
//	                             idbatch_api_errors_total{endpoint,kind},
//	                             idbatch_api_request_duration_seconds{endpoint}
//	submit.Limiter.Stats       → idbatch_limiter_waits_total, _wait_seconds_total, _throttled_total, idbatch_limiter_rate_per_hour
//	Store.Counts (at scrape)   → idbatch_records{idbatch_job,state}
//	Store.Runs (at scrape)     → idbatch_last_run_timestamp_seconds{idbatch_job}, idbatch_last_run_exit_code{idbatch_job},
//	                             idbatch_last_success_timestamp_seconds{idbatch_job}
//	Store.Budget (at scrape)   → idbatch_account_rate_factor, idbatch_account_pause_seconds: the
//	                             account-wide API budget on a shared Store (Metrics.AccountBudget)
//	the binary                 → idbatch_build_info{version,revision,goversion}
//
// By Prometheus' conventions the job is the label idbatch_job: job and
// instance are the scraper's (a label of ours called job would be renamed
// exported_job). The Go and process collectors, and the account budget's
// gauges, are on a registry of their own, served by /metrics but never
// pushed: a Pushgateway keeps the last push of a finished run, where they
// mean nothing (or, for a pause, something no longer true).
//
// Where they go (Config): /metrics on the webhook receiver
// (Metrics.ReceiverRoutes) or on an address of its own (Metrics.Listen);
// at the end of a run, node_exporter's textfile collector and a
// Pushgateway (Metrics.Publish). Metrics.HTTPClient is the iDenfy client's
// HTTP client, counting every request, and Metrics.APIPerMinute the
// requests per minute the run report draws.
package metrics
