-- 0002_submitted_index: records awaiting a result, by submission time, for
-- the poller's and `idbatch status`'s "overdue results" (submitted before T).
-- Partial: it holds only the records in state submitted.
CREATE INDEX records_submitted ON records (job, submitted_at) WHERE state = 'submitted';
