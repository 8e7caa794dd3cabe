-- The rollup's changes for sessions and requests are written once per statement, not once
-- per row (0008_report_rollup.sql wrote them per row).
--
-- The writer writes opens, closes, claims and sends' outcomes as one statement over many
-- rows. A row trigger ran a PL/pgSQL call and an INSERT for each of those rows; a
-- statement trigger reads the statement's rows from its transition tables and appends one
-- change row per key and counted thing, its sign the net count: the closes of one line,
-- operator, channel and day in one statement become one row of report_changes. The fold
-- and the report already read `sign` as a count.
--
-- An UPDATE's old rows count -1 and its new rows +1; keys whose counts net to zero (a
-- status that did not change, a claim's lease) write nothing. A statement trigger with
-- transition tables takes no column list and no WHEN, so it runs for every UPDATE of the
-- table, and does its filtering in its query.
--
-- Ratings keep their row triggers: a rating is inserted and changed one at a time, where
-- a row trigger costs less than a statement trigger's query over its transition tables.

DROP TRIGGER report_session_insert ON sessions;
DROP TRIGGER report_session_update ON sessions;
DROP TRIGGER report_request_insert ON rating_requests;
DROP TRIGGER report_request_update ON rating_requests;
DROP FUNCTION report_session_change();
DROP FUNCTION report_request_change();

CREATE FUNCTION report_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, closed)
        SELECT closed_at / 86400000, line_id, COALESCE(operator_id, ''), channel, '',
               COUNT(*), 1
        FROM new_rows WHERE closed_at IS NOT NULL
        GROUP BY 1, 2, 3, 4;
    ELSE
        INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, closed)
        SELECT day, line_id, operator_id, channel, '', SUM(sign), 1
        FROM (SELECT closed_at / 86400000 AS day, line_id,
                     COALESCE(operator_id, '') AS operator_id, channel, -1 AS sign
              FROM old_rows WHERE closed_at IS NOT NULL
              UNION ALL
              SELECT closed_at / 86400000, line_id, COALESCE(operator_id, ''), channel, 1
              FROM new_rows WHERE closed_at IS NOT NULL) c
        GROUP BY 1, 2, 3, 4
        HAVING SUM(sign) <> 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER report_sessions_inserted AFTER INSERT ON sessions
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION report_sessions_changed();

CREATE TRIGGER report_sessions_updated AFTER UPDATE ON sessions
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION report_sessions_changed();

CREATE FUNCTION report_requests_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, status,
                                    sent, delivered)
        SELECT created_at / 86400000, line_id, COALESCE(operator_id, ''), channel, scale,
               COUNT(*), status, (sent_at IS NOT NULL)::int, (delivered_at IS NOT NULL)::int
        FROM new_rows
        GROUP BY 1, 2, 3, 4, 5, 7, 8, 9;
    ELSE
        INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, status,
                                    sent, delivered)
        SELECT day, line_id, operator_id, channel, scale, SUM(sign), status, sent, delivered
        FROM (SELECT created_at / 86400000 AS day, line_id,
                     COALESCE(operator_id, '') AS operator_id, channel, scale, -1 AS sign,
                     status, (sent_at IS NOT NULL)::int AS sent,
                     (delivered_at IS NOT NULL)::int AS delivered
              FROM old_rows
              UNION ALL
              SELECT created_at / 86400000, line_id, COALESCE(operator_id, ''), channel,
                     scale, 1, status, (sent_at IS NOT NULL)::int,
                     (delivered_at IS NOT NULL)::int
              FROM new_rows) c
        GROUP BY 1, 2, 3, 4, 5, 7, 8, 9
        HAVING SUM(sign) <> 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER report_requests_inserted AFTER INSERT ON rating_requests
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION report_requests_changed();

CREATE TRIGGER report_requests_updated AFTER UPDATE ON rating_requests
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION report_requests_changed();
