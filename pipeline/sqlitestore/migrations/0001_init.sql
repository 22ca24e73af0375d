-- 0001_init: records and runs.
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means "never"
-- (the zero time.Time). Strings that can be absent are '' except scan_ref and
-- lease_owner, which are NULL when absent (scan_ref so that its unique index
-- ignores records without one).

CREATE TABLE records (
    id               INTEGER PRIMARY KEY,   -- rowid; never reused (rows are never deleted)
    job              TEXT    NOT NULL,
    key              TEXT    NOT NULL,      -- unique within the job
    ref              TEXT    NOT NULL,      -- externalRef sent to iDenfy, unique across jobs
    line             INTEGER NOT NULL DEFAULT 0,
    input            TEXT    NOT NULL,      -- JSON of pipeline.Input
    input_hash       TEXT    NOT NULL,      -- pipeline.Input.Hash()
    state            TEXT    NOT NULL,      -- pipeline.State; validated by the Go code
    version          INTEGER NOT NULL DEFAULT 1,
    attempts         INTEGER NOT NULL DEFAULT 0,
    not_before       INTEGER,
    lease_owner      TEXT,
    lease_until      INTEGER,
    scan_ref         TEXT,
    auth_token       TEXT    NOT NULL DEFAULT '',
    token_expires_at INTEGER,
    intent_at        INTEGER,
    submitted_at     INTEGER,
    result_at        INTEGER,
    exported_at      INTEGER,
    deleted_at       INTEGER,
    outcome          TEXT    NOT NULL DEFAULT '',
    reject_reason    TEXT    NOT NULL DEFAULT '',
    error_code       TEXT    NOT NULL DEFAULT '',
    error_message    TEXT    NOT NULL DEFAULT '',
    hashes           TEXT,                  -- JSON object side -> sha256; NULL = none
    result           TEXT,                  -- JSON of pipeline.Result without Raw; NULL = none
    result_raw       BLOB,                  -- pipeline.Result.Raw, byte for byte
    run_id           TEXT    NOT NULL DEFAULT '',
    updated_at       INTEGER,
    UNIQUE (job, key),
    UNIQUE (ref)
) STRICT;

-- A scanRef belongs to exactly one record: ByScanRef, and no verification
-- attributed to two records.
CREATE UNIQUE INDEX records_scan_ref ON records (scan_ref) WHERE scan_ref IS NOT NULL;

-- Claim and List: equality on (job, state), then id order, so that
-- "ORDER BY id LIMIT n" stops after n rows instead of sorting the whole state.
-- not_before and lease_until make the claim's filter index-only.
CREATE INDEX records_claim ON records (job, state, id, not_before, lease_until);

-- Export: end-state records not yet exported, in id order. Partial, so it
-- holds only the (few) records waiting for export.
CREATE INDEX records_exportable ON records (job, id)
    WHERE exported_at IS NULL AND state IN ('final', 'rejected', 'failed');

CREATE TABLE runs (
    id          TEXT    PRIMARY KEY,
    job         TEXT    NOT NULL,
    command     TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER,
    finished_at INTEGER,
    exit_code   INTEGER NOT NULL DEFAULT 0,
    summary     BLOB
) STRICT;

CREATE INDEX runs_job_started ON runs (job, started_at);
