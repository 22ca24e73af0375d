package pipeline

import (
	"context"
	"encoding/json"
	"time"
)

// Status is a job's state as `idbatch status` reports it (also as JSON with
// -json). It names records by Store id and externalRef only: no personal
// data.
type Status struct {
	Job            string         `json:"job"`
	Store          string         `json:"store"` // the Store's DSN, password redacted: set by the caller
	At             time.Time      `json:"at"`
	States         map[string]int `json:"states"`
	Total          int            `json:"total"`
	AwaitingExport int            `json:"awaiting_export"` // ended, not yet in a Parquet file
	Overdue        int            `json:"overdue_results"` // submitted more than PollAfter ago, no final result
	OverdueAfter   string         `json:"overdue_after"`   // results.poll_after
	OldestOverdue  *time.Time     `json:"oldest_overdue_submitted_at,omitempty"`
	Orphans        []StatusRecord `json:"orphans"`                  // possible orphan tokens (the first StatusOrphans)
	Budget         *StatusBudget  `json:"account_budget,omitempty"` // the account's API budget, when the Store keeps one (PostgreSQL)
	Workers        []StatusWorker `json:"workers"`                  // the job's workers, newest first (at most StatusWorkers)
	Runs           []StatusRun    `json:"last_runs"`                // the job's last runs, newest first
}

// StatusWorker is one registered worker and whether it is alive.
type StatusWorker struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Host        string     `json:"host"`
	PID         int        `json:"pid"`
	Command     string     `json:"command"`
	StartedAt   time.Time  `json:"started_at"`
	HeartbeatAt time.Time  `json:"heartbeat_at"`
	StoppedAt   *time.Time `json:"stopped_at,omitempty"`
	State       string     `json:"state"` // alive, stopped, dead (heartbeat stale)
}

// StatusBudget is the account-wide API budget that every worker on a
// shared (PostgreSQL) Store draws from: the rate in force, and whether the
// account is paused after a 429. It names no account. Its times are on the
// Store's clock, as is At.
type StatusBudget struct {
	At           time.Time  `json:"at"`                      // when it was read
	RatePerHour  float64    `json:"rate_per_hour"`           // the configured rate: limits.requests_per_hour
	Factor       float64    `json:"factor"`                  // the fraction of it in force (1: not lowered)
	InForce      float64    `json:"rate_in_force_per_hour"`  // RatePerHour × Factor
	LoweredUntil *time.Time `json:"lowered_until,omitempty"` // while lowered: when the configured rate is probed again
	LastCut      *time.Time `json:"last_lowered_at,omitempty"`
	Paused       bool       `json:"paused"`                 // in debt after a 429: no worker calls
	PausedUntil  *time.Time `json:"paused_until,omitempty"` // about then: the debt ÷ the rate in force
}

// NewStatusBudget describes b, read at clock, for a configured perHour.
func NewStatusBudget(b Budget, clock time.Time, perHour float64) StatusBudget {
	st := b.State(perHour/3600, clock)
	s := StatusBudget{At: clock, RatePerHour: perHour, Factor: st.Factor, InForce: perHour * st.Factor, Paused: !st.PausedUntil.IsZero()}
	if !st.Until.IsZero() {
		t := st.Until
		s.LoweredUntil = &t
	}
	if !st.LastCut.IsZero() {
		t := st.LastCut
		s.LastCut = &t
	}
	if s.Paused {
		t := st.PausedUntil
		s.PausedUntil = &t
	}
	return s
}

// StatusRecord names a record without personal data.
type StatusRecord struct {
	ID        int64     `json:"id"`
	Ref       string    `json:"external_ref"`
	IntentAt  time.Time `json:"intent_at"`
	RetryAt   time.Time `json:"retry_at"` // when it gets a new token, unless its expiry callback comes first
	ErrorCode string    `json:"error_code,omitempty"`
}

// StatusRun is one recorded run.
type StatusRun struct {
	ID         string         `json:"id"`
	Command    string         `json:"command"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"` // nil: running, or killed
	State      string         `json:"state"`                 // finished, running, killed
	ExitCode   *int           `json:"exit_code,omitempty"`
	Summary    map[string]any `json:"summary,omitempty"` // submitted, exported rows, … from the run's summary
}

// How many orphans and workers a Status lists.
const (
	StatusOrphans = 50
	StatusWorkers = 20
)

// StatusQuery asks CollectStatus about Job at Now: results submitted more
// than PollAfter ago are overdue; Runs is how many of the last runs to list.
type StatusQuery struct {
	Job       string
	Now       time.Time
	PollAfter time.Duration
	Runs      int
	// Budget names the account's API bucket (zero: none); Status.Budget
	// shows it when the Store keeps it.
	Budget AccountBudget
}

// CollectStatus reads a job's status from st: its records counted by state,
// awaiting export and overdue (all counted by the Store, see Store.Stats),
// its possible orphans, the account's API budget (when q.Budget names a
// bucket the Store keeps), its workers with their liveness, and its last
// runs (finished, running while their worker is alive, killed otherwise).
// It only reads.
func CollectStatus(ctx context.Context, st Store, q StatusQuery) (Status, error) {
	s := Status{Job: q.Job, At: q.Now, States: map[string]int{}, OverdueAfter: q.PollAfter.String(),
		Orphans: []StatusRecord{}, Workers: []StatusWorker{}, Runs: []StatusRun{}}
	js, err := st.Stats(ctx, StatsQuery{Job: q.Job, Now: q.Now, OverdueBefore: q.Now.Add(-q.PollAfter)})
	if err != nil {
		return s, err
	}
	for _, state := range AllStates {
		s.States[string(state)] = js.States[state]
		s.Total += js.States[state]
	}
	s.AwaitingExport, s.Overdue = js.AwaitingExport, js.Overdue
	if js.Overdue > 0 && !js.OldestOverdue.IsZero() {
		t := js.OldestOverdue
		s.OldestOverdue = &t
	}
	if js.States[StateOrphan] > 0 {
		orphans, err := st.List(ctx, ListQuery{Job: q.Job, States: []State{StateOrphan}, Limit: StatusOrphans})
		if err != nil {
			return s, err
		}
		for _, o := range orphans {
			s.Orphans = append(s.Orphans, StatusRecord{ID: o.ID, Ref: o.Ref, IntentAt: o.IntentAt, RetryAt: o.NotBefore, ErrorCode: o.ErrorCode})
		}
	}
	if q.Budget.Name != "" {
		b, clock, found, err := st.Budget(ctx, q.Budget.Name, q.Now)
		if err != nil {
			return s, err
		}
		if found {
			sb := NewStatusBudget(b, clock, q.Budget.PerHour)
			s.Budget = &sb
		}
	}
	workers, err := st.Workers(ctx, q.Job, StatusWorkers)
	if err != nil {
		return s, err
	}
	alive := map[string]bool{} // run ID → its worker is alive
	for _, w := range workers {
		sw := StatusWorker{ID: w.ID, Name: w.Name, Host: w.Host, PID: w.PID, Command: w.Command, StartedAt: w.StartedAt, HeartbeatAt: w.HeartbeatAt, State: "alive"}
		switch {
		case !w.StoppedAt.IsZero():
			t := w.StoppedAt
			sw.StoppedAt, sw.State = &t, "stopped"
		case !w.Alive(q.Now, WorkerTimeout):
			sw.State = "dead"
		default:
			alive[w.RunID] = true
		}
		s.Workers = append(s.Workers, sw)
	}
	runs, err := st.Runs(ctx, q.Job, q.Runs)
	if err != nil {
		return s, err
	}
	for _, r := range runs {
		sr := StatusRun{ID: r.ID, Command: r.Command, StartedAt: r.StartedAt, State: "finished"}
		if !r.FinishedAt.IsZero() {
			f, c := r.FinishedAt, r.ExitCode
			sr.FinishedAt, sr.ExitCode = &f, &c
		} else if alive[r.ID] {
			sr.State = "running"
		} else {
			sr.State = "killed"
		}
		var sum Summary
		if len(r.Summary) > 0 && json.Unmarshal(r.Summary, &sum) == nil {
			sr.Summary = map[string]any{"tokens_created": sum.TokensCreated, "submitted": sum.Submitted, "rejected": sum.Rejected,
				"failed": sum.Failed, "exported_rows": sum.Export.Rows, "orphans_found": sum.Orphans}
			if sum.Error != "" {
				sr.Summary["error"] = sum.Error
			}
		}
		s.Runs = append(s.Runs, sr)
	}
	return s, nil
}
