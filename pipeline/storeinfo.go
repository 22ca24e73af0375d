package pipeline

// StoreInfo describes a Store's database as found, without creating or
// changing anything: what sqlitestore.Inspect and pgstore.Inspect return,
// for the pre-flight of `validate -check`.
type StoreInfo struct {
	// Where is the database: a SQLite file path, or host:port/database for
	// PostgreSQL. Never a password.
	Where string
	// Exists is false when there is no Store yet: no SQLite file, or a
	// PostgreSQL database (or search_path schema) without idbatch's tables.
	// The first run creates it; the other fields but CreateDir are zero.
	Exists bool
	// CreateDir is, for a SQLite file that does not exist, the outermost
	// missing directory that run would create with it ("" when its
	// directory exists).
	CreateDir string
	// SchemaVersion is the highest migration applied (0 for an empty
	// database); LatestVersion the highest this binary knows. A run applies
	// the ones in between; a database ahead of the binary is an error of
	// Inspect, as it is of Open.
	SchemaVersion, LatestVersion int
	// Records is the number of records of the job asked about, in any state.
	Records int
}
