-- 0004_workers: the worker registry (pipeline.WorkerRegistry). A lease whose
-- owner is a worker that stopped or stopped heartbeating is free at once.
-- Times are microseconds since the epoch; stopped_at NULL while it runs.
CREATE TABLE workers (
    id           TEXT    PRIMARY KEY,
    job          TEXT    NOT NULL DEFAULT '',
    name         TEXT    NOT NULL DEFAULT '',
    host         TEXT    NOT NULL DEFAULT '',
    pid          INTEGER NOT NULL DEFAULT 0,
    command      TEXT    NOT NULL DEFAULT '',
    run_id       TEXT    NOT NULL DEFAULT '',
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stopped_at   INTEGER
) STRICT;

CREATE INDEX workers_job_started ON workers (job, started_at);
