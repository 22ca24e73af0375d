package setup

import (
	"context"
	"fmt"

	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/preflight"
	"github.com/idbatch/idbatch/results"
)

// Preflight runs the checks of `idbatch validate -check` (package
// preflight) on what a run of the config would use, and returns them in
// the checklist's order: credentials, Store, destination, webhook.
//
// It creates and migrates nothing. The Store is inspected; it is opened
// (and kept in Deps.Store until Close) only when it is a PostgreSQL Store
// that already exists at the schema this binary knows, so that the
// credentials check draws from the account-wide budget the running workers
// share. Elsewhere the check goes through the command's local limiter. A
// destination that cannot be opened is a failed check, not an error. Call
// it before anything else builds Limits.
func (d *Deps) Preflight(ctx context.Context) []preflight.Result {
	cfg := d.cfg
	store := preflight.Store(ctx, cfg.Store, cfg.Job)
	if store.OK {
		if err := d.openBudgetStore(ctx); err != nil {
			store = preflight.Result{Name: preflight.NameStore, Detail: err.Error(), Err: err}
		}
	}
	creds := preflight.Credentials(ctx, d.API(APIOptions{}))
	dest := preflight.Result{Name: preflight.NameDestination}
	if dst, err := d.OpenDestination(ctx); err != nil {
		dest.Detail, dest.Err = err.Error(), err
	} else {
		dest = preflight.Destination(ctx, dst)
	}
	hook := preflight.Webhook(ctx, results.WebhookSettings{Listen: cfg.Results.WebhookListen, Path: cfg.Results.WebhookPath,
		SigningKey: cfg.Idenfy.WebhookSigningKey, CallbackURL: cfg.TokenString("callbackUrl", "")})
	return []preflight.Result{creds, store, dest, hook}
}

// openBudgetStore opens the Store for the account budget when it is a
// PostgreSQL Store at the current schema (opening any other would create or
// migrate it; a SQLite Store has no account budget).
func (d *Deps) openBudgetStore(ctx context.Context) error {
	if d.Store != nil || !pgstore.IsDSN(d.cfg.Store) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, preflight.DefaultTimeout)
	defer cancel()
	info, err := pgstore.Inspect(ctx, d.cfg.Store, d.cfg.Job)
	if err != nil || !info.Exists || info.SchemaVersion < info.LatestVersion {
		return nil // the Store check has said what run will do
	}
	st, err := OpenStore(ctx, d.cfg.Store, ExistingStore)
	if err != nil {
		return fmt.Errorf("cannot open it for the account's request budget: %w", err)
	}
	d.Store = st
	return nil
}
