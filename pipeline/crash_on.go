//go:build crashpoints

package pipeline

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

var crash struct {
	once  sync.Once
	point string
	nth   int
	mu    sync.Mutex
	hits  int
}

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
