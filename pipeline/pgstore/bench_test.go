package pgstore

import (
	"testing"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/pipeline/storetest"
)

// BenchmarkClaimTransition: the submit path's share of the Store (claim,
// then pending→tokening→tokened→submitted, a commit each), with 4
// concurrent workers; compared with the API's 10,000 requests/hour.
func BenchmarkClaimTransition(b *testing.B) {
	storetest.BenchClaimTransition(b, openTemp(b), 4)
}

// BenchmarkLoadManifest streams a generated manifest of 1,000,000 rows
// (IDBATCH_BENCH_ROWS) through ingest.ReadManifest into Load in batches of
// 10,000, as idbatch run does; reports rows/s and peak RSS. Run it alone:
//
//	go test -run '^$' -bench LoadManifest -benchtime 1x ./pipeline/pgstore
func BenchmarkLoadManifest(b *testing.B) {
	storetest.BenchLoadManifest(b, func(b *testing.B) pipeline.Store {
		s, err := Open(b.Context(), pgtest.DSN(b, 4))
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
