-- A change to the report's counts is one row per key (day, line, operator, channel) with
-- every counter in a column of its own, as report_days holds them, rather than one row per
-- counted thing with a sign.
--
-- A request's send moved it out of one status and into another: two rows, -1 and +1. An
-- answer wrote those two and a third for its rating. Rows of report_changes were half of
-- all the rows a close wrote (4.96 of 17.6 inserted, then as many deleted by the fold,
-- measured with `loadgen`'s table of writes; 3.6 and 15.2 after). One row per key now carries the whole
-- difference, so an update writes one row, and the fold and the report sum columns instead
-- of pivoting statuses and values. An update of requests joins its old and new rows by id
-- and counts only those whose status, sent or delivered changed.
--
-- The columns follow report_days; a counter added there is added here too.

CREATE TABLE report_changes_wide (
    id               BIGSERIAL PRIMARY KEY,
    day              BIGINT NOT NULL,
    line_id          TEXT   NOT NULL,
    operator_id      TEXT   NOT NULL,
    channel          TEXT   NOT NULL,
    closed           BIGINT NOT NULL DEFAULT 0,
    in_scheduled     BIGINT NOT NULL DEFAULT 0,
    in_sending       BIGINT NOT NULL DEFAULT 0,
    in_sent          BIGINT NOT NULL DEFAULT 0,
    in_delivered     BIGINT NOT NULL DEFAULT 0,
    in_answered      BIGINT NOT NULL DEFAULT 0,
    in_cancelled     BIGINT NOT NULL DEFAULT 0,
    in_expired       BIGINT NOT NULL DEFAULT 0,
    in_window_closed BIGINT NOT NULL DEFAULT 0,
    in_undeliverable BIGINT NOT NULL DEFAULT 0,
    in_failed        BIGINT NOT NULL DEFAULT 0,
    in_skipped       BIGINT NOT NULL DEFAULT 0,
    sent             BIGINT NOT NULL DEFAULT 0,
    delivered        BIGINT NOT NULL DEFAULT 0,
    b0               BIGINT NOT NULL DEFAULT 0,
    b1               BIGINT NOT NULL DEFAULT 0,
    s1               BIGINT NOT NULL DEFAULT 0,
    s2               BIGINT NOT NULL DEFAULT 0,
    s3               BIGINT NOT NULL DEFAULT 0,
    s4               BIGINT NOT NULL DEFAULT 0,
    s5               BIGINT NOT NULL DEFAULT 0,
    positive         BIGINT NOT NULL DEFAULT 0,
    low              BIGINT NOT NULL DEFAULT 0
);

-- The changes not folded yet, one row per key.
INSERT INTO report_changes_wide (day, line_id, operator_id, channel,
    closed, in_scheduled, in_sending, in_sent, in_delivered, in_answered, in_cancelled,
    in_expired, in_window_closed, in_undeliverable, in_failed, in_skipped, sent, delivered,
    b0, b1, s1, s2, s3, s4, s5, positive, low)
SELECT day, line_id, operator_id, channel,
       SUM(sign * closed),
       SUM(CASE WHEN status = 'scheduled' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'sending' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'sent' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'delivered' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'answered' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'cancelled' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'expired' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'window_closed' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'undeliverable' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'failed' THEN sign ELSE 0 END),
       SUM(CASE WHEN status = 'skipped' THEN sign ELSE 0 END),
       SUM(sign * sent),
       SUM(sign * delivered),
       SUM(CASE WHEN scale = 'binary' AND value = 0 THEN sign ELSE 0 END),
       SUM(CASE WHEN scale = 'binary' AND value = 1 THEN sign ELSE 0 END),
       SUM(CASE WHEN scale = 'five_star' AND value = 1 THEN sign ELSE 0 END),
       SUM(CASE WHEN scale = 'five_star' AND value = 2 THEN sign ELSE 0 END),
       SUM(CASE WHEN scale = 'five_star' AND value = 3 THEN sign ELSE 0 END),
       SUM(CASE WHEN scale = 'five_star' AND value = 4 THEN sign ELSE 0 END),
       SUM(CASE WHEN scale = 'five_star' AND value = 5 THEN sign ELSE 0 END),
       SUM(sign * positive),
       SUM(sign * low)
FROM report_changes
GROUP BY day, line_id, operator_id, channel;

DROP TABLE report_changes;
ALTER TABLE report_changes_wide RENAME TO report_changes;
ALTER SEQUENCE report_changes_wide_id_seq RENAME TO report_changes_id_seq;
ALTER INDEX report_changes_wide_pkey RENAME TO report_changes_pkey;
ALTER TABLE report_changes SET (autovacuum_vacuum_scale_factor = 0,
                                autovacuum_vacuum_threshold = 10000);

-- A session is inserted open: the statement trigger on every insert ran a query that found
-- no closed row. A row trigger whose WHEN is false costs no PL/pgSQL call, so opens now
-- fire nothing; a session inserted closed (an import) is counted row by row.
DROP TRIGGER report_sessions_inserted ON sessions;

CREATE FUNCTION report_session_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, closed)
    VALUES (NEW.closed_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''),
            NEW.channel, 1);
    RETURN NULL;
END $$;

CREATE TRIGGER report_session_inserted AFTER INSERT ON sessions
FOR EACH ROW WHEN (NEW.closed_at IS NOT NULL)
EXECUTE FUNCTION report_session_inserted();

-- Now only for updates (report_sessions_updated).
CREATE OR REPLACE FUNCTION report_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, closed)
    SELECT day, line_id, operator_id, channel, SUM(sign)
    FROM (SELECT closed_at / 86400000 AS day, line_id,
                 COALESCE(operator_id, '') AS operator_id, channel, -1 AS sign
          FROM old_rows WHERE closed_at IS NOT NULL
          UNION ALL
          SELECT closed_at / 86400000, line_id, COALESCE(operator_id, ''), channel, 1
          FROM new_rows WHERE closed_at IS NOT NULL) c
    GROUP BY 1, 2, 3, 4
    HAVING SUM(sign) <> 0;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_requests_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO report_changes (day, line_id, operator_id, channel,
            in_scheduled, in_sending, in_sent, in_delivered, in_answered, in_cancelled,
            in_expired, in_window_closed, in_undeliverable, in_failed, in_skipped, sent,
            delivered)
        SELECT created_at / 86400000, line_id, COALESCE(operator_id, ''), channel,
               SUM((status = 'scheduled')::int),
               SUM((status = 'sending')::int),
               SUM((status = 'sent')::int),
               SUM((status = 'delivered')::int),
               SUM((status = 'answered')::int),
               SUM((status = 'cancelled')::int),
               SUM((status = 'expired')::int),
               SUM((status = 'window_closed')::int),
               SUM((status = 'undeliverable')::int),
               SUM((status = 'failed')::int),
               SUM((status = 'skipped')::int),
               SUM((sent_at IS NOT NULL)::int),
               SUM((delivered_at IS NOT NULL)::int)
        FROM new_rows
        GROUP BY 1, 2, 3, 4;
    ELSE
        INSERT INTO report_changes (day, line_id, operator_id, channel,
            in_scheduled, in_sending, in_sent, in_delivered, in_answered, in_cancelled,
            in_expired, in_window_closed, in_undeliverable, in_failed, in_skipped, sent,
            delivered)
        SELECT * FROM (
            SELECT n.created_at / 86400000 AS day, n.line_id,
                   COALESCE(n.operator_id, '') AS operator_id, n.channel,
                   SUM((n.status = 'scheduled')::int - (o.status = 'scheduled')::int) AS in_scheduled,
                   SUM((n.status = 'sending')::int - (o.status = 'sending')::int) AS in_sending,
                   SUM((n.status = 'sent')::int - (o.status = 'sent')::int) AS in_sent,
                   SUM((n.status = 'delivered')::int - (o.status = 'delivered')::int) AS in_delivered,
                   SUM((n.status = 'answered')::int - (o.status = 'answered')::int) AS in_answered,
                   SUM((n.status = 'cancelled')::int - (o.status = 'cancelled')::int) AS in_cancelled,
                   SUM((n.status = 'expired')::int - (o.status = 'expired')::int) AS in_expired,
                   SUM((n.status = 'window_closed')::int - (o.status = 'window_closed')::int) AS in_window_closed,
                   SUM((n.status = 'undeliverable')::int - (o.status = 'undeliverable')::int) AS in_undeliverable,
                   SUM((n.status = 'failed')::int - (o.status = 'failed')::int) AS in_failed,
                   SUM((n.status = 'skipped')::int - (o.status = 'skipped')::int) AS in_skipped,
                   SUM((n.sent_at IS NOT NULL)::int - (o.sent_at IS NOT NULL)::int) AS sent,
                   SUM((n.delivered_at IS NOT NULL)::int - (o.delivered_at IS NOT NULL)::int) AS delivered
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.status <> n.status OR (o.sent_at IS NULL) <> (n.sent_at IS NULL)
               OR (o.delivered_at IS NULL) <> (n.delivered_at IS NULL)
            GROUP BY 1, 2, 3, 4) c
        WHERE (in_scheduled, in_sending, in_sent, in_delivered, in_answered, in_cancelled,
               in_expired, in_window_closed, in_undeliverable, in_failed, in_skipped, sent,
               delivered)
              <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_ratings_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel,
        b0, b1, s1, s2, s3, s4, s5, positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel,
           SUM((r.scale = 'binary' AND n.value = 0)::int),
           SUM((r.scale = 'binary' AND n.value = 1)::int),
           SUM((r.scale = 'five_star' AND n.value = 1)::int),
           SUM((r.scale = 'five_star' AND n.value = 2)::int),
           SUM((r.scale = 'five_star' AND n.value = 3)::int),
           SUM((r.scale = 'five_star' AND n.value = 4)::int),
           SUM((r.scale = 'five_star' AND n.value = 5)::int),
           SUM(n.positive),
           SUM(n.low)
    FROM new_rows n JOIN rating_requests r ON r.id = n.request_id
    WHERE n.voided_at IS NULL
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;

-- The row trigger on a rating's update (report_rating_update); a new rating is counted by
-- report_ratings_inserted.
CREATE OR REPLACE FUNCTION report_rating_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel,
        b0, b1, s1, s2, s3, s4, s5, positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'binary' AND NEW.value = 0)::int ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'binary' AND OLD.value = 0)::int ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'binary' AND NEW.value = 1)::int ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'binary' AND OLD.value = 1)::int ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 1)::int ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 1)::int ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 2)::int ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 2)::int ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 3)::int ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 3)::int ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 4)::int ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 4)::int ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 5)::int ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 5)::int ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN NEW.positive ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN OLD.positive ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN NEW.low ELSE 0 END
             - CASE WHEN OLD.voided_at IS NULL THEN OLD.low ELSE 0 END
    FROM rating_requests r WHERE r.id = NEW.request_id;
    RETURN NULL;
END $$;

