-- 0003_locks: job locks (Store.Lock), leases that keep work such as an
-- export to one worker at a time.
CREATE TABLE locks (
    job   text        NOT NULL,
    name  text        NOT NULL,
    owner text        NOT NULL,
    until timestamptz NOT NULL,
    PRIMARY KEY (job, name)
);
