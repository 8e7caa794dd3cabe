-- Who gets asked (a line's `survey` rules). A request a rule skipped is stored with status
-- 'skipped' and never sent: the rollup counts it in a column of its own. A session counts
-- its client's messages, for `survey.min_client_messages`; sessions opened before this
-- migration count from here on.
ALTER TABLE report_days ADD COLUMN in_skipped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN client_messages BIGINT NOT NULL DEFAULT 0;
-- `survey.min_days_between` looks for a client's earlier request at every close of a line
-- that sets it. The other channels have `rating_requests_client` (migration 0004); the
-- webhook channel, left out of it then to spare its index writes, gets its own here.
-- Queries repeat the predicates word for word, as SQLite uses a partial index only then.
CREATE INDEX rating_requests_client_webhook ON rating_requests (client_id, created_at)
    WHERE channel = 'webhook';
