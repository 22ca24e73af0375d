package pipeline

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// CrashEnv names the environment variable that arms a crash point, for the
// crash tests: "point" or "point:N" (the Nth time the point is reached).
const CrashEnv = "IDBATCH_CRASH_AT"

var crash struct {
	once  sync.Once
	point string
	nth   int
	mu    sync.Mutex
	hits  int
}

// Crash points in the order a record meets them.
const (
	CrashBeforeToken      = "before_token"       // intent stored, /token not sent
	CrashAfterToken       = "after_token"        // /token answered, token not stored
	CrashAfterTokenStored = "after_token_stored" // token stored, /process not sent
	CrashAfterProcess     = "after_process"      // /process answered 200, not recorded
	CrashBeforeExport     = "before_export"      // results in, export not started
	CrashExportCommitted  = "export_committed"   // Parquet file committed, records not marked exported
)

// CrashPoint kills the process with SIGKILL, as a power cut or the OOM
// killer would, when CrashEnv arms this point. Inert otherwise (one string
// comparison).
func CrashPoint(name string) {
	crash.once.Do(func() {
		v := os.Getenv(CrashEnv)
		crash.point, crash.nth = v, 1
		if i := strings.LastIndexByte(v, ':'); i > 0 {
			if n, err := strconv.Atoi(v[i+1:]); err == nil && n > 0 {
				crash.point, crash.nth = v[:i], n
			}
		}
	})
	if crash.point == "" || crash.point != name {
		return
	}
	crash.mu.Lock()
	crash.hits++
	hit := crash.hits == crash.nth
	crash.mu.Unlock()
	if hit {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns
	}
}
