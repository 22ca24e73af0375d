-- 0006_budget_factor: the account's rate held below its limit after a 429
-- (pipeline.Budget): factor of the configured rate until factor_until, and
-- when it was last lowered (microseconds since the epoch; 0 = never).
ALTER TABLE budgets ADD COLUMN factor REAL NOT NULL DEFAULT 1;
ALTER TABLE budgets ADD COLUMN factor_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE budgets ADD COLUMN last_cut INTEGER NOT NULL DEFAULT 0;
