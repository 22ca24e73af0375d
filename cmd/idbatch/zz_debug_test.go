package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore/pgtest"
	"github.com/idbatch/idbatch/submit/idenfy/idenfytest"
)

func TestZZDebugLimit(t *testing.T) {
	e := newCrashEnv(t, 300, 1001, pgtest.DSN(t, 8), crashOpts{rate: "54000", expiry: 3, margin: time.Second,
		sandbox: idenfytest.Options{RateLimit: 375, RateWindow: 25 * time.Second, RateSliding: true}})
	b, _ := os.ReadFile(e.cfgPath)
	os.WriteFile(e.cfgPath, []byte(strings.Replace(string(b), "level: warn", "level: info", 1)), 0o600)
	t0 := time.Now()
	cmd, out := e.start(context.Background())
	err := cmd.Wait()
	t.Logf("err %v in %v, requests %v, stats %+v", err, time.Since(t0), e.sb.Requests(), e.sb.Stats())
	os.WriteFile("/tmp/debug-run.log", out.Bytes(), 0o644)
	st := e.openStore()
	defer st.Close()
	recs, _ := st.List(t.Context(), pipeline.ListQuery{Job: "crash"})
	for _, r := range recs {
		if r.Attempts > 1 || r.State != pipeline.StateFinal {
			t.Logf("record %d: %s attempts %d code %s msg %s", r.ID, r.State, r.Attempts, r.ErrorCode, r.ErrorMessage)
		}
	}
}
