-- 0006_budget_factor: the account's rate held below its limit after a 429
-- (pipeline.Budget): factor of the configured rate until factor_until, and
-- when it was last lowered (NULL: never).
ALTER TABLE budgets ADD COLUMN factor double precision NOT NULL DEFAULT 1;
ALTER TABLE budgets ADD COLUMN factor_until timestamptz;
ALTER TABLE budgets ADD COLUMN last_cut timestamptz;
