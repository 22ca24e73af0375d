package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

// runLocks: named leases per job (Lock, Renew, Unlock).
func runLocks(t *testing.T, open func(t *testing.T) pipeline.Store) {
	parallel(t, open, "Locks", testLocks)
}

func testLocks(t *testing.T, s pipeline.Store) {
	ctx := t.Context()
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	locked := func(err error) bool { return errors.Is(err, pipeline.ErrLocked) }

	mustNoErr(t, s.Lock(ctx, "job-a", "export", "w1", now, at(time.Minute)))
	if err := s.Lock(ctx, "job-a", "export", "w2", at(30*time.Second), at(90*time.Second)); !locked(err) {
		t.Fatalf("second owner while held: %v, want ErrLocked", err)
	}
	// Other jobs and other names are other locks.
	mustNoErr(t, s.Lock(ctx, "job-b", "export", "w2", now, at(time.Minute)))
	mustNoErr(t, s.Lock(ctx, "job-a", "compact", "w2", now, at(time.Minute)))
	// The holder renews; the renewal moves the expiry.
	mustNoErr(t, s.Lock(ctx, "job-a", "export", "w1", at(50*time.Second), at(2*time.Minute)))
	if err := s.Lock(ctx, "job-a", "export", "w2", at(90*time.Second), at(3*time.Minute)); !locked(err) {
		t.Fatalf("second owner before the renewed expiry: %v, want ErrLocked", err)
	}
	// Unlock by another owner does nothing.
	mustNoErr(t, s.Unlock(ctx, "job-a", "export", "w2"))
	if err := s.Lock(ctx, "job-a", "export", "w2", at(90*time.Second), at(3*time.Minute)); !locked(err) {
		t.Fatalf("after another owner's unlock: %v, want ErrLocked", err)
	}
	// Renew: the holder extends it, even past its expiry while nobody
	// took it; nobody else can.
	mustNoErr(t, s.Renew(ctx, "job-a", "export", "w1", at(150*time.Second)))
	if err := s.Renew(ctx, "job-a", "export", "w2", at(10*time.Minute)); !locked(err) {
		t.Fatalf("renew by another owner: %v, want ErrLocked", err)
	}
	if err := s.Lock(ctx, "job-a", "export", "w2", at(2*time.Minute), at(3*time.Minute)); !locked(err) {
		t.Fatalf("second owner before the renewed expiry: %v, want ErrLocked", err)
	}
	mustNoErr(t, s.Renew(ctx, "job-a", "export", "w1", at(2*time.Minute))) // expires at 2m
	// Expired: taken over; the old holder can neither take nor renew it.
	mustNoErr(t, s.Lock(ctx, "job-a", "export", "w2", at(2*time.Minute), at(4*time.Minute)))
	if err := s.Lock(ctx, "job-a", "export", "w1", at(2*time.Minute+time.Second), at(5*time.Minute)); !locked(err) {
		t.Fatalf("old holder after a takeover: %v, want ErrLocked", err)
	}
	if err := s.Renew(ctx, "job-a", "export", "w1", at(5*time.Minute)); !locked(err) {
		t.Fatalf("renew by the old holder after a takeover: %v, want ErrLocked", err)
	}
	// Released: free at once for anyone, and the old holder still cannot
	// renew it (it was another owner's in between).
	mustNoErr(t, s.Unlock(ctx, "job-a", "export", "w2"))
	if err := s.Renew(ctx, "job-a", "export", "w1", at(5*time.Minute)); !locked(err) {
		t.Fatalf("renew of a released lock: %v, want ErrLocked", err)
	}
	mustNoErr(t, s.Lock(ctx, "job-a", "export", "w3", at(2*time.Minute+time.Second), at(3*time.Minute)))
	mustNoErr(t, s.Unlock(ctx, "job-a", "export", "w3"))
	mustNoErr(t, s.Unlock(ctx, "job-a", "export", "w3")) // twice: nothing
}

// concurrentLocks: of 8 owners racing for a free lock on the stores, one
// gets it; after it is released, again exactly one.
func concurrentLocks(t *testing.T, stores []pipeline.Store) {
	ctx := t.Context()
	now := time.Now()
	for round := range 2 {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			owners []string
		)
		for g := range 8 {
			s := stores[g%len(stores)]
			owner := string(rune('a'+round)) + string(rune('0'+g))
			wg.Go(func() {
				err := s.Lock(ctx, "race", "export", owner, now, now.Add(time.Hour))
				switch {
				case err == nil:
					mu.Lock()
					owners = append(owners, owner)
					mu.Unlock()
				case !errors.Is(err, pipeline.ErrLocked):
					t.Errorf("owner %s: %v", owner, err)
				}
			})
		}
		wg.Wait()
		if len(owners) != 1 {
			t.Fatalf("round %d: holders %v, want exactly one", round, owners)
		}
		mustNoErr(t, stores[0].Unlock(ctx, "race", "export", owners[0]))
	}
}
