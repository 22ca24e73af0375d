// Package preflight runs the checks of `idbatch validate -check` and
// formats them as a checklist:
//
//	✓ credentials  iDenfy accepted the API key and secret (POST https://ivs.idenfy.com/api/v2/status, 0.2 s)
//	✓ store        sqlite /srv/idbatch/idbatch.db: reachable, schema version 5, job legacy-2019 has 1200 records
//	✗ destination  cannot write s3://bucket/exports/_probe/5fa2…: AccessDenied: Access Denied
//	✓ webhook      receiver on :8080/webhooks/idenfy (bindable), signing key set; iDenfy calls …
//	  ! results.webhook_listen 127.0.0.1:8080 accepts local connections only: …
//
// Each check is a function returning a Result; the work is done by the
// packages that own each concern: idenfy.Client.CheckCredentials (one
// /status of a made-up scanRef, through the client's limiter),
// objstore.Probe (write, read back and delete _probe/<random>),
// sqlitestore.Inspect / pgstore.Inspect (nothing created or migrated) and
// results.CheckWebhook (URL, listen address, signing key). No check spends
// a verification or leaves anything behind, and no Result carries a secret:
// base URLs lose their userinfo, DSNs are shown as a path or host:port/db.
//
// Print writes the checklist and Err names the checks that failed.
// setup.Deps.Preflight runs the four on the dependencies a run of a config
// would use. A check without a deadline on its context gets DefaultTimeout.
package preflight
