-- The rollup's changes for new ratings are written once per statement, not once per row.
--
-- 0024_rollup_per_statement.sql moved the triggers of sessions and requests to statements
-- and kept the ratings' row triggers, since ratings then came one at a time. The writer now
-- inserts a batch's first answers as one statement: this trigger reads that statement's
-- ratings from its transition table, finds their requests once, and appends one change row
-- per key and counted value, its sign the count. A rating's change (a second answer, a
-- void) still comes one at a time, so report_rating_update stays a row trigger.

DROP TRIGGER report_rating_insert ON ratings;

CREATE FUNCTION report_ratings_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, value,
                                positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel,
           r.scale, COUNT(*), n.value, n.positive, n.low
    FROM new_rows n JOIN rating_requests r ON r.id = n.request_id
    WHERE n.voided_at IS NULL
    GROUP BY 1, 2, 3, 4, 5, 7, 8, 9;
    RETURN NULL;
END $$;

CREATE TRIGGER report_ratings_inserted AFTER INSERT ON ratings
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION report_ratings_inserted();
