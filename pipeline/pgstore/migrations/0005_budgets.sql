-- 0005_budgets: account-wide token buckets (pipeline.BudgetStore). tokens is
-- the bucket's level at `at` (the server's clock).
CREATE TABLE budgets (
    name   text             PRIMARY KEY,
    tokens double precision NOT NULL,
    at     timestamptz      NOT NULL
);
