-- The weekly report (docs/alerts.md, "The weekly report"): a digest of kind `weekly` to a
-- supervisor's or admin's e-mail, one per person and week. `week_of` is the Monday (local
-- midnight in the person's zone) of the week it is sent in; the week it covers is the one
-- before. Two processes planning the same week make one row. Its `slot_at` is when it was
-- planned, from which its send deadline counts.
ALTER TABLE operator_notices ADD COLUMN week_of BIGINT NULL;
CREATE UNIQUE INDEX operator_notices_weekly ON operator_notices (operator_id, week_of)
    WHERE kind = 'weekly';
