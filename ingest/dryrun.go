package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/idbatch/idbatch/pipeline"
)

// ReadFunc streams records to fn, as Source.Read does for one job.
type ReadFunc func(fn func(pipeline.Record) error) error

// ValidateReport is what ValidateRecords found.
type ValidateReport struct {
	Records  int               // records read
	Ready    int               // prepared without a reject: a run would submit them
	Infra    int               // could not be fetched (an infrastructure error): a run would retry them
	ByReason map[string]int    // rejected records by reason code
	Rejected []pipeline.Record // the rejected records, each with its reason and detail, in the order found
}

// ValidateProgress is a snapshot of ValidateRecords' progress.
type ValidateProgress struct {
	Done     int // records validated
	Total    int // records to validate (ValidateOptions.Total), 0 when unknown
	Ready    int
	Rejected int
	Infra    int
	Elapsed  time.Duration
}

// RateETA is the records validated per hour and the time the rest would
// take at that rate (see pipeline.RateETA); ok is false without a known
// total.
func (p ValidateProgress) RateETA() (perHour float64, eta time.Duration, ok bool) {
	return pipeline.RateETA(p.Done, max(p.Total, p.Done), p.Elapsed)
}

// String is the progress as one line, e.g. "validated 1200/10000 records
// (1100 ready, 90 rejected, 10 fetch errors) · 3600 rec/h · ETA 2h26m40s".
func (p ValidateProgress) String() string {
	of := ""
	if p.Total > 0 {
		of = fmt.Sprintf("/%d", p.Total)
	}
	s := fmt.Sprintf("validated %d%s records (%d ready, %d rejected, %d fetch errors)", p.Done, of, p.Ready, p.Rejected, p.Infra)
	rate, eta, ok := p.RateETA()
	if rate > 0 {
		s += fmt.Sprintf(" · %.0f rec/h", rate)
	}
	if ok {
		s += " · ETA " + eta.String()
	}
	return s
}

// ValidateOptions tune ValidateRecords.
type ValidateOptions struct {
	Workers int // records prepared at once (at least 1)
	// Total is how many records read yields, when known (see CountRecords):
	// the progress then has an ETA.
	Total int
	// Progress, when set, is called after every record, one call at a
	// time: keep it short.
	Progress func(ValidateProgress)
	// FetchError, when set, is called for every record that could not be
	// fetched, one call at a time. where names the record without personal
	// data: "line N" (its manifest line) or "record <12 hex>" (the start of
	// its externalRef), never its client id or an object key.
	FetchError func(where string, err error)
}

// ValidateRecords is the dry run of a job's records: it prepares (fetches
// and normalizes) every record that read yields, as a run would, with
// o.Workers goroutines, and counts the outcome. Records the source already
// rejected are counted, not fetched. A record the Preparer rejects is
// returned in the report with its reason and detail (State rejected,
// RejectReason, ErrorMessage); an infrastructure error is counted and
// passed to o.FetchError. It makes no API call and writes nothing. An error
// is the source's, or ctx's.
func ValidateRecords(ctx context.Context, read ReadFunc, prep *Preparer, o ValidateOptions) (ValidateReport, error) {
	workers := max(1, o.Workers)
	rep := ValidateReport{ByReason: map[string]int{}}
	var mu sync.Mutex
	start := time.Now()
	count := func(code string, infraErr error, rec pipeline.Record) {
		mu.Lock()
		defer mu.Unlock()
		rep.Records++
		switch {
		case infraErr != nil:
			rep.Infra++
			if o.FetchError != nil {
				where := fmt.Sprintf("line %d", rec.Line)
				if rec.Line == 0 {
					where = "record " + pipeline.RefFor(rec.Job, rec.Key)[:12]
				}
				o.FetchError(where, infraErr)
			}
		case code != "":
			rep.ByReason[code]++
			rep.Rejected = append(rep.Rejected, rec)
		default:
			rep.Ready++
		}
		if o.Progress != nil {
			o.Progress(ValidateProgress{Done: rep.Records, Total: o.Total, Ready: rep.Ready, Rejected: len(rep.Rejected), Infra: rep.Infra, Elapsed: time.Since(start)})
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	recs := make(chan pipeline.Record, workers)
	g.Go(func() error {
		defer close(recs)
		return read(func(rec pipeline.Record) error {
			if rec.State == pipeline.StateRejected {
				count(rec.RejectReason, nil, rec)
				return nil
			}
			select {
			case recs <- rec:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	for range workers {
		g.Go(func() error {
			for rec := range recs {
				_, err := prep.Prepare(gctx, rec)
				if err != nil && gctx.Err() != nil {
					return gctx.Err()
				}
				code := pipeline.RejectCode(err)
				if code != "" {
					rec.State, rec.RejectReason, rec.ErrorMessage = pipeline.StateRejected, code, err.Error()
					err = nil
				}
				count(code, err, rec)
			}
			return nil
		})
	}
	err := g.Wait()
	return rep, err
}

// Sample returns a ReadFunc that yields a random sample of n records of
// read (reservoir sampling, seeded: the same seed picks the same records of
// the same source), in source order. It reads the whole of read before it
// yields the first record, and holds the n records meanwhile.
func Sample(read ReadFunc, n int, seed uint64) ReadFunc {
	return func(fn func(pipeline.Record) error) error {
		rng := rand.New(rand.NewPCG(seed, uint64(n)))
		type item struct {
			i   int
			rec pipeline.Record
		}
		var keep []item
		i := 0
		err := read(func(rec pipeline.Record) error {
			if len(keep) < n {
				keep = append(keep, item{i, rec})
			} else if j := rng.IntN(i + 1); j < n {
				keep[j] = item{i, rec}
			}
			i++
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortFunc(keep, func(a, b item) int { return a.i - b.i })
		for _, it := range keep {
			if err := fn(it.rec); err != nil {
				return err
			}
		}
		return nil
	}
}

// CountRecords counts the records of read without fetching anything (a
// manifest is read, a listing listed), for ValidateOptions.Total.
func CountRecords(read ReadFunc) (int, error) {
	n := 0
	err := read(func(pipeline.Record) error { n++; return nil })
	return n, err
}
