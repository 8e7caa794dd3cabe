-- Who gets asked (a line's `survey` rules). A request a rule skipped is stored with status
-- 'skipped' and never sent: the rollup counts it in a column of its own. A session counts
-- its client's messages, for `survey.min_client_messages`; sessions opened before this
-- migration count from here on.
ALTER TABLE report_days ADD COLUMN in_skipped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN client_messages BIGINT NOT NULL DEFAULT 0;
