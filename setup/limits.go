package setup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/submit"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// Limits are the limiter every API call of a command goes through and,
// on a shared (PostgreSQL) Store, the account-wide poll budget.
type Limits struct {
	API   idenfy.Limiter  // for idenfy.Config.Limiter
	Local *submit.Limiter // this process's adaptive limiter (stats, metrics)
	Poll  interface {     // nil: the poller's own poll_max_per_hour bucket
		Wait(ctx context.Context) error
	}
	// Budget names the account-wide API bucket that API draws from (zero
	// on SQLite: none), for the metrics.
	Budget pipeline.AccountBudget
}

// Limits returns the command's limits, built on the first call with log
// (nil: the Deps' logger); every API client of the command shares them.
func (d *Deps) Limits(log *slog.Logger) Limits {
	d.limitsOnce.Do(func() {
		if log == nil {
			log = d.log
		}
		d.limits = newLimits(d.cfg, d.Store, log)
	})
	return d.limits
}

// newLimits builds the limiter of a command. On a PostgreSQL Store, where
// N workers share one iDenfy account, every call also draws from one
// account-wide budget kept in the Store (limits.requests_per_hour in total,
// however many workers run; shares follow the live workers at once), and
// the poller from an account-wide poll budget (results.poll_max_per_hour in
// total). On SQLite (one process) the local limiter is the budget.
func newLimits(cfg config.Config, st pipeline.Store, log *slog.Logger) Limits {
	local := submit.NewLimiter(cfg.Limits.RequestsPerHour, cfg.Limits.Burst)
	if _, pg := st.(*pgstore.Store); !pg {
		return Limits{API: local, Local: local}
	}
	api := APIBudget(cfg)
	l := Limits{Local: local, Budget: api, API: &submit.AccountLimiter{Limiter: local, Budget: &submit.SharedBudget{
		// Burst 2: however the workers' calls bunch up, the account never
		// sees more than its rate plus two calls in any window, and a
		// worker that comes for its token a little late does not lose it.
		Store: st, Name: api.Name, PerSecond: api.PerHour / 3600, Burst: 2, Log: log,
	}}}
	if cfg.Results.PollMaxPerHour > 0 {
		l.Poll = &submit.SharedBudget{Store: st, Name: "poll:" + accountKey(cfg), PerSecond: cfg.Results.PollMaxPerHour / 3600, Burst: 1, Chunk: 1, Log: log}
	}
	return l
}

// APIBudget names the account-wide bucket that every API call of cfg's
// iDenfy account draws from on a shared (PostgreSQL) Store, without
// revealing the account's key, with its configured rate: what `idbatch
// status` shows (pipeline.StatusQuery.Budget).
func APIBudget(cfg config.Config) pipeline.AccountBudget {
	return pipeline.AccountBudget{Name: "api:" + accountKey(cfg), PerHour: cfg.Limits.RequestsPerHour}
}

// accountKey names an iDenfy account without revealing its key: a digest
// of the API's address and key.
func accountKey(cfg config.Config) string {
	sum := sha256.Sum256([]byte(cfg.Idenfy.BaseURL + "\x00" + cfg.Idenfy.APIKey))
	return hex.EncodeToString(sum[:8])
}
