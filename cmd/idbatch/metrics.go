package main

import (
	"context"

	"github.com/idbatch/idbatch/metrics"
	"github.com/idbatch/idbatch/pipeline"
)

// MetricsConfig are the results.* keys of the metrics (see metrics.Config).
type MetricsConfig = metrics.Config

// recordCounter is what serve's store health check needs of a Store.
type recordCounter interface {
	Counts(ctx context.Context, job string) (map[pipeline.State]int, error)
}
