package sqlitestore

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline/storetest"
)

func TestExpLoad(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	if v := os.Getenv("SYNC"); v != "" {
		synchronous = v
	}
	ctx := context.Background()
	s := openTemp(t)
	start := time.Now()
	last := start
	for i := 0; i < 300000; i += 1000 {
		if _, err := s.Load(ctx, "bench", storetest.Records("bench", i, 1000), storetest.T0); err != nil {
			t.Fatal(err)
		}
		if (i+1000)%50000 == 0 {
			t.Logf("%d rows: %.0f rows/s last 50k", i+1000, 50000/time.Since(last).Seconds())
			last = time.Now()
		}
	}
	t.Logf("total %.0f rows/s", 300000/time.Since(start).Seconds())
}
