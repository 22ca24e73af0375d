package pipeline

// CrashEnv names the environment variable that arms a crash point, for the
// crash tests: "point" or "point:N" (the Nth time the point is reached).
// Crash points exist only in binaries built with the build tag
// "crashpoints" (e2e/ builds one for its tests); in every other build
// CrashPoint is an empty function and the environment is never read.
const CrashEnv = "IDBATCH_CRASH_AT"

// Crash points in the order a record meets them.
const (
	CrashBeforeToken      = "before_token"       // intent stored, /token not sent
	CrashAfterToken       = "after_token"        // /token answered, token not stored
	CrashAfterTokenStored = "after_token_stored" // token stored, /process not sent
	CrashAfterProcess     = "after_process"      // /process answered 200, not recorded
	CrashBeforeExport     = "before_export"      // results in, export not started
	CrashExportCommitted  = "export_committed"   // Parquet file committed, records not marked exported
)
