package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idbatch/idbatch/pipeline"
)

// Inspect reports on the database the DSN names without creating or
// changing anything (unlike Open, it applies no migration), for a
// pre-flight check. It connects once (one connection, not a pool) and
// reads:
//
//   - whether idbatch's schema_migrations table is on the search_path: if
//     not, Exists is false, and the connecting role must be allowed to
//     create tables in the current schema, as run will;
//   - otherwise the schema version (one this binary knows), the number of
//     job's records, and whether the role may read and write the records
//     table.
//
// Where is host:port/database. Errors never contain the DSN or its
// password (pgx's connection errors name the host, user and database).
func Inspect(ctx context.Context, dsn, job string) (pipeline.StoreInfo, error) {
	ms, err := migrations()
	if err != nil {
		return pipeline.StoreInfo{}, err
	}
	info := pipeline.StoreInfo{LatestVersion: ms[len(ms)-1].Version}
	if !IsDSN(dsn) {
		return info, errors.New("pgstore: DSN must start with postgres:// or postgresql://")
	}
	// pgxpool's parser, as Open's: it accepts (and drops) the pool_*
	// parameters a DSN for Open may carry.
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return info, errors.New("pgstore: cannot parse the DSN") // pgx's message may quote it
	}
	cfg := pcfg.ConnConfig
	cfg.RuntimeParams["application_name"] = "idbatch"
	info.Where = cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return info, fmt.Errorf("pgstore: connect to %s: %w", info.Where, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var schema *string
	var hasMigrations, hasRecords bool
	err = conn.QueryRow(ctx, `SELECT current_schema(), to_regclass('schema_migrations') IS NOT NULL, to_regclass('records') IS NOT NULL`).
		Scan(&schema, &hasMigrations, &hasRecords)
	if err != nil {
		return info, fmt.Errorf("pgstore: %s: %w", info.Where, err)
	}
	if !hasMigrations {
		if schema == nil {
			return info, fmt.Errorf("pgstore: %s: no schema on the search_path to create idbatch's tables in", info.Where)
		}
		var canCreate bool
		if err := conn.QueryRow(ctx, `SELECT has_schema_privilege(current_schema(), 'CREATE')`).Scan(&canCreate); err != nil {
			return info, fmt.Errorf("pgstore: %s: %w", info.Where, err)
		}
		if !canCreate {
			return info, fmt.Errorf("pgstore: %s: no idbatch tables yet, and this role may not create tables in schema %s (run would fail)", info.Where, *schema)
		}
		return info, nil
	}
	info.Exists = true
	var version *int32
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil {
		return info, fmt.Errorf("pgstore: %s: read schema version: %w", info.Where, err)
	}
	if version != nil {
		info.SchemaVersion = int(*version)
	}
	if info.SchemaVersion > info.LatestVersion {
		return info, fmt.Errorf("pgstore: %s has schema version %d, unknown to this binary (it knows up to %d): newer idbatch?",
			info.Where, info.SchemaVersion, info.LatestVersion)
	}
	if !hasRecords {
		return info, nil
	}
	// One privilege per call: has_table_privilege with a list is true when
	// any one of them is held.
	var sel, ins, upd bool
	err = conn.QueryRow(ctx, `SELECT has_table_privilege('records', 'SELECT'), has_table_privilege('records', 'INSERT'), has_table_privilege('records', 'UPDATE')`).
		Scan(&sel, &ins, &upd)
	if err != nil {
		return info, fmt.Errorf("pgstore: %s: %w", info.Where, err)
	}
	if !sel || !ins || !upd {
		return info, fmt.Errorf("pgstore: %s: this role may not read and write table records (SELECT %v, INSERT %v, UPDATE %v)", info.Where, sel, ins, upd)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM records WHERE job = $1`, job).Scan(&info.Records); err != nil {
		return info, fmt.Errorf("pgstore: %s: count records: %w", info.Where, err)
	}
	return info, nil
}
