-- 0003_locks: job locks (Store.Lock), leases that keep work such as an
-- export to one worker at a time. until is microseconds since the epoch.
CREATE TABLE locks (
    job   TEXT    NOT NULL,
    name  TEXT    NOT NULL,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (job, name)
) STRICT;
