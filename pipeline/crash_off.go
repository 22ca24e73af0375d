//go:build !crashpoints

package pipeline

// CrashPoint does nothing: this binary was built without the build tag
// "crashpoints", which the crash tests use to kill the process at a point.
func CrashPoint(string) {}
