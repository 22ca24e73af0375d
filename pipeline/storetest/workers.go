package storetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

func runWorkers(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "Workers", testWorkers)
	parallel(t, open, "ClaimDeadOwner", testClaimDeadOwner)
	parallel(t, open, "Stats", testStats)
	parallel(t, open, "StatsStatus", testStatsStatus)
	parallel(t, open, "LockOfDeadWorker", testLockOfDeadWorker)
	parallel(t, open, "Budget", testBudget)
	parallel(t, open, "BudgetRead", testBudgetRead)
}

// testWorkers: the registry keeps workers, heartbeats only move forward, a
// stop is kept, and Workers lists a job's workers newest first.
func testWorkers(t *testing.T, s pipeline.Store) {
	ctx := context.Background()
	w1 := pipeline.Worker{ID: "run-1", Job: "j", Name: "w0", Host: "h1", PID: 11, Command: "run", RunID: "r1", StartedAt: at(0)}
	w2 := pipeline.Worker{ID: "run-2", Job: "j", Name: "w1", Host: "h2", PID: 22, Command: "run", RunID: "r2", StartedAt: at(time.Second)}
	w3 := pipeline.Worker{ID: "run-3", Job: "other", Name: "w0", Host: "h3", PID: 33, Command: "run", RunID: "r3", StartedAt: at(2 * time.Second)}
	for _, w := range []pipeline.Worker{w1, w2, w3} {
		mustNoErr(t, s.RegisterWorker(ctx, w))
	}
	mustNoErr(t, s.Heartbeat(ctx, "run-1", at(5*time.Second)))
	mustNoErr(t, s.Heartbeat(ctx, "run-1", at(3*time.Second))) // late beat: ignored
	if err := s.Heartbeat(ctx, "nobody", at(5*time.Second)); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("heartbeat of an unknown worker: %v, want ErrNotFound", err)
	}
	mustNoErr(t, s.StopWorker(ctx, "run-2", at(6*time.Second)))
	mustNoErr(t, s.StopWorker(ctx, "run-2", at(9*time.Second))) // the first stop is kept
	mustNoErr(t, s.StopWorker(ctx, "nobody", at(9*time.Second)))

	ws, err := s.Workers(ctx, "j", 0)
	mustNoErr(t, err)
	if len(ws) != 2 || ws[0].ID != "run-2" || ws[1].ID != "run-1" {
		t.Fatalf("workers of j: %+v, want run-2 then run-1", ws)
	}
	got1, got2 := ws[1], ws[0]
	if !got1.HeartbeatAt.Equal(at(5*time.Second)) || !got1.StoppedAt.IsZero() || got1.Host != "h1" || got1.PID != 11 || got1.Name != "w0" || got1.RunID != "r1" || got1.Command != "run" {
		t.Errorf("worker run-1: %+v", got1)
	}
	if !got2.StoppedAt.Equal(at(6*time.Second)) || !got2.HeartbeatAt.Equal(at(time.Second)) {
		t.Errorf("worker run-2: stopped %v heartbeat %v, want %v and %v", got2.StoppedAt, got2.HeartbeatAt, at(6*time.Second), at(time.Second))
	}
	if !got1.Alive(at(10*time.Second), pipeline.WorkerTimeout) || got1.Alive(at(16*time.Second), pipeline.WorkerTimeout) || got2.Alive(at(6*time.Second), pipeline.WorkerTimeout) {
		t.Error("Alive: run-1 alive 5 s after its beat and dead 11 s after; a stopped worker is dead")
	}
	all, err := s.Workers(ctx, "", 2)
	mustNoErr(t, err)
	if len(all) != 2 || all[0].ID != "run-3" {
		t.Errorf("the 2 newest workers of every job: %+v", all)
	}
	// Registering the same ID again replaces the row (a restarted worker).
	w1.StartedAt, w1.RunID = at(20*time.Second), "r9"
	mustNoErr(t, s.RegisterWorker(ctx, w1))
	ws, err = s.Workers(ctx, "j", 1)
	mustNoErr(t, err)
	if len(ws) != 1 || ws[0].ID != "run-1" || ws[0].RunID != "r9" || !ws[0].HeartbeatAt.Equal(at(20*time.Second)) {
		t.Errorf("re-registered worker: %+v", ws)
	}
}

// testClaimDeadOwner: with DeadBefore, the lease of a worker that stopped
// or stopped heartbeating is free at once; a live worker's lease and the
// lease of an owner that never registered are kept until they expire.
func testClaimDeadOwner(t *testing.T, s pipeline.Store) {
	ctx := context.Background()
	mustLoad(t, s, "j", Records("j", 0, 4), at(0))
	for _, w := range []string{"alive", "silent", "stopped"} {
		mustNoErr(t, s.RegisterWorker(ctx, pipeline.Worker{ID: w, Job: "j", StartedAt: at(0)}))
	}
	for _, owner := range []string{"alive", "silent", "stopped", "unregistered"} {
		mustClaim(t, s, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: owner, Limit: 1, Lease: 10 * time.Minute, Now: at(time.Second)})
	}
	now := at(30 * time.Second)
	mustNoErr(t, s.Heartbeat(ctx, "alive", now.Add(-time.Second)))
	mustNoErr(t, s.Heartbeat(ctx, "silent", now.Add(-pipeline.WorkerTimeout-time.Second)))
	mustNoErr(t, s.StopWorker(ctx, "stopped", at(20*time.Second)))

	// A worker whose heartbeat lagged never takes its own records for a
	// dead worker's.
	if got := mustClaim(t, s, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "silent", Limit: 10,
		Lease: 10 * time.Minute, Now: now, DeadBefore: now.Add(-pipeline.WorkerTimeout)}); len(got) != 1 || got[0].Key == "client-1" {
		t.Fatalf("the silent worker's own claim: %v, want only the stopped worker's record", ids(got))
	}
	mustNoErr(t, s.StopWorker(ctx, "stopped", at(20*time.Second)))
	req := pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: "next", Limit: 10, Lease: 10 * time.Minute, Now: now}
	if got := mustClaim(t, s, req); len(got) != 0 {
		t.Fatalf("without DeadBefore, leases run to their end: claimed %v", ids(got))
	}
	req.DeadBefore = now.Add(-pipeline.WorkerTimeout)
	got := mustClaim(t, s, req)
	owners := map[string]bool{}
	all := mustList(t, s, pipeline.ListQuery{Job: "j"})
	for _, r := range all {
		if r.LeaseOwner == "next" {
			owners[r.Key] = true
		}
	}
	if len(got) != 2 || len(owners) != 2 {
		t.Fatalf("claimed %v, want the records of the silent and the stopped worker", ids(got))
	}
	for _, r := range all {
		if r.Key == "client-0" && r.LeaseOwner != "alive" || r.Key == "client-3" && r.LeaseOwner != "unregistered" {
			t.Errorf("record %s leased by %q: a live worker's lease and an unregistered owner's are kept", r.Key, r.LeaseOwner)
		}
	}
}

// testStats: held leases of other live workers, orphans waiting for their
// retry instant and parked records are counted.
func testStats(t *testing.T, s pipeline.Store) {
	ctx := context.Background()
	mustLoad(t, s, "j", Records("j", 0, 6), at(0))
	mustNoErr(t, s.RegisterWorker(ctx, pipeline.Worker{ID: "me", Job: "j", StartedAt: at(0)}))
	mustNoErr(t, s.RegisterWorker(ctx, pipeline.Worker{ID: "other", Job: "j", StartedAt: at(0)}))
	mustNoErr(t, s.RegisterWorker(ctx, pipeline.Worker{ID: "dead", Job: "j", StartedAt: at(0)}))
	mustNoErr(t, s.StopWorker(ctx, "dead", at(time.Second)))
	claim := func(owner string, lease time.Duration) pipeline.Record {
		t.Helper()
		got := mustClaim(t, s, pipeline.ClaimRequest{Job: "j", States: []pipeline.State{pipeline.StatePending}, Owner: owner, Limit: 1, Lease: lease, Now: at(0)})
		if len(got) != 1 {
			t.Fatalf("claim for %s: %d records", owner, len(got))
		}
		return got[0]
	}
	claim("other", 5*time.Minute)
	claim("other", 7*time.Minute)
	claim("me", 5*time.Minute)
	claim("dead", 5*time.Minute)
	orph := claim("me", time.Minute)
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: orph.ID, From: pipeline.StatePending, Version: orph.Version, To: pipeline.StateOrphan, Now: at(time.Second),
		Patch: pipeline.Patch{NotBefore: ptr(at(17 * time.Minute))}}))
	park := claim("me", time.Minute)
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: park.ID, From: pipeline.StatePending, Version: park.Version, To: pipeline.StatePending, Now: at(time.Second),
		Patch: pipeline.Patch{NotBefore: ptr(at(3 * time.Minute))}}))

	st, err := s.Stats(ctx, pipeline.StatsQuery{Job: "j", Owner: "me", Now: at(2 * time.Second), DeadBefore: at(2*time.Second - pipeline.WorkerTimeout)})
	mustNoErr(t, err)
	if st.States[pipeline.StatePending] != 5 || st.States[pipeline.StateOrphan] != 1 {
		t.Errorf("states %v", st.States)
	}
	if st.Held != 2 || !st.HeldUntil.Equal(at(7*time.Minute)) {
		t.Errorf("held %d until %v, want 2 (the other live worker's) until %v", st.Held, st.HeldUntil, at(7*time.Minute))
	}
	if st.OrphansWaiting != 1 || !st.OrphansRetryAt.Equal(at(17*time.Minute)) || !st.OrphansRetryFrom.Equal(at(17*time.Minute)) {
		t.Errorf("orphans waiting %d from %v until %v", st.OrphansWaiting, st.OrphansRetryFrom, st.OrphansRetryAt)
	}
	if st.Parked != 1 || !st.ParkedUntil.Equal(at(3*time.Minute)) {
		t.Errorf("parked %d until %v", st.Parked, st.ParkedUntil)
	}
}

// testStatsStatus: the counts `status` shows are counted by the Store, of
// the asked job only: ended records not yet exported, and submitted records
// overdue (submitted before OverdueBefore) with the oldest submission.
func testStatsStatus(t *testing.T, s pipeline.Store) {
	ctx := context.Background()
	mustLoad(t, s, "j", Records("j", 0, 9), at(0))
	mustLoad(t, s, "other", Records("other", 0, 2), at(0))
	all := mustList(t, s, pipeline.ListQuery{Job: "j"})
	move := func(i int, to pipeline.State, p pipeline.Patch) {
		t.Helper()
		mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: all[i].ID, From: pipeline.StatePending, To: to, Now: at(time.Second), Patch: p}))
	}
	submitted := func(i int, d time.Duration) {
		move(i, pipeline.StateSubmitted, pipeline.Patch{SubmittedAt: ptr(at(d)), ScanRef: ptr("S" + strconv.Itoa(i))})
	}
	submitted(0, time.Minute)
	submitted(1, 2*time.Minute)
	submitted(2, 10*time.Minute) // not overdue
	move(3, pipeline.StateFinal, pipeline.Patch{Outcome: ptr(pipeline.OutcomeApproved)})
	move(4, pipeline.StateFinal, pipeline.Patch{Outcome: ptr(pipeline.OutcomeDenied)})
	move(5, pipeline.StateRejected, pipeline.Patch{Outcome: ptr(pipeline.OutcomeRejected)})
	move(6, pipeline.StateFailed, pipeline.Patch{Outcome: ptr(pipeline.OutcomeFailed)})
	mustNoErr(t, s.MarkExported(ctx, []int64{all[3].ID}, at(2*time.Second)))
	other := mustList(t, s, pipeline.ListQuery{Job: "other"})
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: other[0].ID, From: pipeline.StatePending, To: pipeline.StateSubmitted, Now: at(time.Second),
		Patch: pipeline.Patch{SubmittedAt: ptr(at(0)), ScanRef: ptr("S-other")}}))
	mustNoErr(t, s.Transition(ctx, pipeline.Transition{ID: other[1].ID, From: pipeline.StatePending, To: pipeline.StateFinal, Now: at(time.Second),
		Patch: pipeline.Patch{Outcome: ptr(pipeline.OutcomeApproved)}}))

	st, err := s.Stats(ctx, pipeline.StatsQuery{Job: "j", Now: at(time.Hour), OverdueBefore: at(5 * time.Minute)})
	mustNoErr(t, err)
	if st.AwaitingExport != 3 {
		t.Errorf("awaiting export %d, want 3 (final, rejected and failed, not exported)", st.AwaitingExport)
	}
	if st.Overdue != 2 || !st.OldestOverdue.Equal(at(time.Minute)) {
		t.Errorf("overdue %d, oldest %v; want 2, %v", st.Overdue, st.OldestOverdue, at(time.Minute))
	}
	st, err = s.Stats(ctx, pipeline.StatsQuery{Job: "j", Now: at(time.Hour)})
	mustNoErr(t, err)
	if st.Overdue != 0 || !st.OldestOverdue.IsZero() || st.AwaitingExport != 3 {
		t.Errorf("without OverdueBefore: overdue %d (oldest %v), awaiting export %d; want 0 and 3", st.Overdue, st.OldestOverdue, st.AwaitingExport)
	}
	st, err = s.Stats(ctx, pipeline.StatsQuery{Job: "empty", Now: at(time.Hour), OverdueBefore: at(time.Hour)})
	mustNoErr(t, err)
	if st.Overdue != 0 || st.AwaitingExport != 0 || !st.OldestOverdue.IsZero() {
		t.Errorf("empty job: %+v", st)
	}
}

func ptr[T any](v T) *T { return &v }

// testLockOfDeadWorker: a lock owned by "<worker>/…" is free at once when
// that worker stopped or stopped heartbeating, kept while it lives.
func testLockOfDeadWorker(t *testing.T, s pipeline.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	mustNoErr(t, s.RegisterWorker(ctx, pipeline.Worker{ID: "w-a", Job: "j", StartedAt: now}))
	mustNoErr(t, s.Lock(ctx, "j", "export", "w-a/w0/1", now, now.Add(time.Hour)))
	if err := s.Lock(ctx, "j", "export", "w-b/w0/2", now.Add(time.Second), now.Add(time.Hour)); !errors.Is(err, pipeline.ErrLocked) {
		t.Fatalf("lock of a live worker taken: %v", err)
	}
	mustNoErr(t, s.StopWorker(ctx, "w-a", now.Add(2*time.Second)))
	mustNoErr(t, s.Lock(ctx, "j", "export", "w-b/w0/2", now.Add(3*time.Second), now.Add(time.Hour)))
	// A silent worker is dead after WorkerTimeout.
	mustNoErr(t, s.RegisterWorker(ctx, pipeline.Worker{ID: "w-b", Job: "j", StartedAt: now}))
	if err := s.Lock(ctx, "j", "export", "w-c/w0/3", now.Add(pipeline.WorkerTimeout-time.Second), now.Add(time.Hour)); !errors.Is(err, pipeline.ErrLocked) {
		t.Fatalf("lock of a worker that beat %v ago taken: %v", pipeline.WorkerTimeout-time.Second, err)
	}
	mustNoErr(t, s.Lock(ctx, "j", "export", "w-c/w0/3", now.Add(pipeline.WorkerTimeout+time.Second), now.Add(time.Hour)))
}

// testBudget: a new bucket starts empty; it refills at its rate up to its
// burst; concurrent takers never get more than the refill allows in total.
func testBudget(t *testing.T, s pipeline.Store) {
	ctx := context.Background()
	const rate, burst = 50.0, 5.0
	got, wait, err := pipeline.TakeBudget(ctx, s, "acct", 10, rate, burst, time.Now())
	mustNoErr(t, err)
	if got != 0 || wait <= 0 || wait > time.Second {
		t.Errorf("new bucket: took %d, wait %v; want 0 and about %v", got, wait, time.Duration(float64(time.Second)/rate))
	}
	time.Sleep(300 * time.Millisecond)
	got, _, err = pipeline.TakeBudget(ctx, s, "acct", 10, rate, burst, time.Now())
	mustNoErr(t, err)
	if got != int(burst) {
		t.Errorf("after 300 ms at %v/s: took %d, want the burst %v", rate, got, burst)
	}
	// Four takers for one second take at most burst + rate × elapsed.
	start := time.Now()
	var total atomicInt
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for time.Since(start) < time.Second {
				n, w, err := pipeline.TakeBudget(ctx, s, "acct", 3, rate, burst, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				total.add(n)
				if n == 0 {
					time.Sleep(w)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	el := time.Since(start).Seconds()
	if max := burst + rate*el + 1; float64(total.get()) > max {
		t.Errorf("took %d tokens in %.2fs, more than %.0f", total.get(), el, max)
	}
	if min := rate * el * 0.6; float64(total.get()) < min {
		t.Errorf("took %d tokens in %.2fs, fewer than %.0f: the takers starved", total.get(), el, min)
	}
	// Buckets are separate.
	if got, _, _ := pipeline.TakeBudget(ctx, s, "other", 1, rate, burst, time.Now()); got != 0 {
		t.Errorf("a new bucket gave %d", got)
	}

	// The whole state round-trips: a debt (the account paused), a factor
	// in force until a time, the last cut.
	wrote := time.Now()
	mustNoErr(t, s.UpdateBudget(ctx, "state", time.Now(), func(b *pipeline.Budget, now time.Time) {
		if b.Level != 0 || b.Factor != 1 || !b.Until.IsZero() || !b.LastCut.IsZero() {
			t.Errorf("new bucket: %+v, want level 0, factor 1, no cut", *b)
		}
		b.Level, b.At, b.Factor, b.Until, b.LastCut = -25, now, 0.5, now.Add(time.Minute), now
	}))
	var seen pipeline.Budget
	mustNoErr(t, s.UpdateBudget(ctx, "state", time.Now(), func(b *pipeline.Budget, _ time.Time) { seen = *b }))
	if seen.Level != -25 || seen.Factor != 0.5 || seen.Until.Sub(seen.LastCut) != time.Minute || !seen.LastCut.Equal(seen.At) {
		t.Errorf("read back %+v, want level -25, factor 0.5 until a minute after the cut at At", seen)
	}
	// A taker waits for the debt to be paid at the lowered rate: 26 tokens
	// at 25/s, 1.04 s after the write.
	got, wait, err = pipeline.TakeBudget(ctx, s, "state", 1, rate, burst, time.Now())
	mustNoErr(t, err)
	if lo := 1040*time.Millisecond - time.Since(wrote) - 50*time.Millisecond; got != 0 || wait < lo || wait > 1040*time.Millisecond {
		t.Errorf("in debt: took %d, wait %v; want 0 and %v … 1.04 s", got, wait, lo)
	}
}

// testBudgetRead: Budget reads a bucket without writing: a missing one is
// not found and not created (a take after it still starts from an empty
// bucket), a written one reads back as written, with the Store's clock,
// and reading it changes nothing.
func testBudgetRead(t *testing.T, s pipeline.Store) {
	ctx := context.Background()
	const rate, burst = 50.0, 5.0
	for range 2 {
		if b, _, found, err := s.Budget(ctx, "missing", time.Now()); err != nil || found {
			t.Fatalf("missing bucket: found %v (%+v), err %v; want not found", found, b, err)
		}
	}
	// Created by the read, the bucket would have refilled by now.
	time.Sleep(200 * time.Millisecond)
	if got, _, err := pipeline.TakeBudget(ctx, s, "missing", 1, rate, burst, time.Now()); err != nil || got != 0 {
		t.Errorf("a take after reading a missing bucket: took %d (%v), want 0 from a new, empty bucket", got, err)
	}

	var wrote pipeline.Budget
	mustNoErr(t, s.UpdateBudget(ctx, "read", time.Now(), func(b *pipeline.Budget, now time.Time) {
		b.Level, b.At, b.Factor, b.Until, b.LastCut = -250, now, 0.5, now.Add(time.Minute), now
		wrote = *b
	}))
	near := func(a, b time.Time) bool { return a.Sub(b).Abs() < time.Microsecond } // Stores keep microseconds
	for range 2 {
		b, clock, found, err := s.Budget(ctx, "read", time.Now())
		mustNoErr(t, err)
		if !found || b.Level != -250 || b.Factor != 0.5 || !near(b.At, wrote.At) || !near(b.Until, wrote.Until) || !near(b.LastCut, wrote.LastCut) {
			t.Errorf("read back %+v (found %v), want %+v", b, found, wrote)
		}
		if el := clock.Sub(b.At); el < 0 || el > 5*time.Second {
			t.Errorf("clock %v is %v after the write at %v", clock, el, b.At)
		}
		// The account is paused: 250 tokens of debt at half of 50/s, until
		// 10 s after the write.
		st := b.State(rate, clock)
		if p := st.PausedUntil.Sub(wrote.At); st.Factor != 0.5 || !near(st.Until, wrote.Until) || p < 10*time.Second-time.Millisecond || p > 10*time.Second+time.Millisecond {
			t.Errorf("state %+v, want factor 0.5 until %v, paused until 10 s after %v", st, wrote.Until, wrote.At)
		}
	}
	var seen pipeline.Budget
	mustNoErr(t, s.UpdateBudget(ctx, "read", time.Now(), func(b *pipeline.Budget, _ time.Time) { seen = *b }))
	if seen.Level != -250 || !near(seen.At, wrote.At) {
		t.Errorf("after the reads the bucket is %+v, want it as written: %+v", seen, wrote)
	}
}

type atomicInt struct {
	mu sync.Mutex
	n  int
}

func (a *atomicInt) add(n int) { a.mu.Lock(); a.n += n; a.mu.Unlock() }
func (a *atomicInt) get() int  { a.mu.Lock(); defer a.mu.Unlock(); return a.n }
