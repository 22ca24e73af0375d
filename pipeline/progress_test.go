package pipeline_test

import (
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

func TestRateETA(t *testing.T) {
	for _, c := range []struct {
		done, total int
		elapsed     time.Duration
		rate        float64
		eta         time.Duration
		ok          bool
	}{
		{250, 1000, 30 * time.Minute, 500, 90 * time.Minute, true},
		{1, 4, time.Second, 3600, 3 * time.Second, true},
		{3, 10, 2 * time.Second, 5400, 5 * time.Second, true}, // 4.67 s, to the second
		{0, 10, time.Minute, 0, 0, false},                     // no rate yet
		{5, 10, 0, 0, 0, false},                               // no time elapsed
		{10, 10, time.Hour, 10, 0, false},                     // nothing left
		{12, 10, time.Hour, 12, 0, false},                     // more than the total
	} {
		rate, eta, ok := pipeline.RateETA(c.done, c.total, c.elapsed)
		if rate != c.rate || eta != c.eta || ok != c.ok {
			t.Errorf("RateETA(%d, %d, %v) = %v, %v, %v; want %v, %v, %v", c.done, c.total, c.elapsed, rate, eta, ok, c.rate, c.eta, c.ok)
		}
	}
	p := pipeline.Progress{Done: 250, Total: 1000, Elapsed: 30 * time.Minute}
	if rate, eta, ok := p.RateETA(); rate != 500 || eta != 90*time.Minute || !ok {
		t.Errorf("Progress.RateETA: %v %v %v", rate, eta, ok)
	}
}
