package pgstore

import (
	"testing"

	"github.com/idbatch/idbatch/pipeline/storetest"
)

// BenchmarkClaimTransition: the submit path's share of the Store (claim,
// then pending→tokening→tokened→submitted, a commit each), with 4
// concurrent workers; compared with the API's 10,000 requests/hour.
func BenchmarkClaimTransition(b *testing.B) {
	storetest.BenchClaimTransition(b, openTemp(b), 4)
}
