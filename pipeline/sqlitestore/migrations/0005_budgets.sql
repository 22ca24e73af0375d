-- 0005_budgets: account-wide token buckets (pipeline.BudgetStore). tokens is
-- the bucket's level at `at` (microseconds since the epoch).
CREATE TABLE budgets (
    name   TEXT    PRIMARY KEY,
    tokens REAL    NOT NULL,
    at     INTEGER NOT NULL
) STRICT;
