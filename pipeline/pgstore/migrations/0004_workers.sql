-- 0004_workers: the worker registry (pipeline.WorkerRegistry). A lease whose
-- owner is a worker that stopped or stopped heartbeating is free at once.
CREATE TABLE workers (
    id           text        PRIMARY KEY,
    job          text        NOT NULL DEFAULT '',
    name         text        NOT NULL DEFAULT '',
    host         text        NOT NULL DEFAULT '',
    pid          integer     NOT NULL DEFAULT 0,
    command      text        NOT NULL DEFAULT '',
    run_id       text        NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    stopped_at   timestamptz
);

CREATE INDEX workers_job_started ON workers (job, started_at);
