-- A change to the report's counts is one row per key (day, line, operator, channel) with
-- every counter in a column of its own, as report_days holds them, rather than one row per
-- counted thing with a sign.
--
-- A request's send moved it out of one status and into another: two rows, -1 and +1. An
-- answer wrote those two and a third for its rating. Rows of report_changes were half of
-- all the rows a close wrote (4.96 of 17.6 inserted, then as many deleted by the fold,
-- measured on PostgreSQL with `loadgen`'s table of writes; 3.6 and 15.2 after). One row per key now carries the whole
-- difference, so an update writes one row, and the fold and the report sum columns instead
-- of pivoting statuses and values.
--
-- The columns follow report_days; a counter added there is added here too.
--
-- SQLite's triggers run once per row: each writes one row.

DROP TRIGGER report_session_insert;
DROP TRIGGER report_session_update;
DROP TRIGGER report_request_insert;
DROP TRIGGER report_request_update;
DROP TRIGGER report_rating_insert;
DROP TRIGGER report_rating_update;

CREATE TABLE report_changes_wide (
    id               INTEGER PRIMARY KEY,
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

CREATE TRIGGER report_session_insert AFTER INSERT ON sessions
WHEN NEW.closed_at IS NOT NULL
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, closed)
    VALUES (NEW.closed_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel, 1);
END;

CREATE TRIGGER report_session_update AFTER UPDATE OF closed_at ON sessions
WHEN OLD.closed_at IS NOT NEW.closed_at
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, closed)
    SELECT OLD.closed_at / 86400000, OLD.line_id, COALESCE(OLD.operator_id, ''), OLD.channel, -1
    WHERE OLD.closed_at IS NOT NULL;
    INSERT INTO report_changes (day, line_id, operator_id, channel, closed)
    SELECT NEW.closed_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel, 1
    WHERE NEW.closed_at IS NOT NULL;
END;

CREATE TRIGGER report_request_insert AFTER INSERT ON rating_requests
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel,
        in_scheduled, in_sending, in_sent, in_delivered, in_answered, in_cancelled,
        in_expired, in_window_closed, in_undeliverable, in_failed, in_skipped, sent,
        delivered)
    VALUES (NEW.created_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel,
            (NEW.status = 'scheduled'),
            (NEW.status = 'sending'),
            (NEW.status = 'sent'),
            (NEW.status = 'delivered'),
            (NEW.status = 'answered'),
            (NEW.status = 'cancelled'),
            (NEW.status = 'expired'),
            (NEW.status = 'window_closed'),
            (NEW.status = 'undeliverable'),
            (NEW.status = 'failed'),
            (NEW.status = 'skipped'),
            (NEW.sent_at IS NOT NULL),
            (NEW.delivered_at IS NOT NULL));
END;

CREATE TRIGGER report_request_update AFTER UPDATE OF status, sent_at, delivered_at ON rating_requests
WHEN OLD.status IS NOT NEW.status
  OR (OLD.sent_at IS NULL) <> (NEW.sent_at IS NULL)
  OR (OLD.delivered_at IS NULL) <> (NEW.delivered_at IS NULL)
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel,
        in_scheduled, in_sending, in_sent, in_delivered, in_answered, in_cancelled,
        in_expired, in_window_closed, in_undeliverable, in_failed, in_skipped, sent,
        delivered)
    VALUES (NEW.created_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel,
            (NEW.status = 'scheduled') - (OLD.status = 'scheduled'),
            (NEW.status = 'sending') - (OLD.status = 'sending'),
            (NEW.status = 'sent') - (OLD.status = 'sent'),
            (NEW.status = 'delivered') - (OLD.status = 'delivered'),
            (NEW.status = 'answered') - (OLD.status = 'answered'),
            (NEW.status = 'cancelled') - (OLD.status = 'cancelled'),
            (NEW.status = 'expired') - (OLD.status = 'expired'),
            (NEW.status = 'window_closed') - (OLD.status = 'window_closed'),
            (NEW.status = 'undeliverable') - (OLD.status = 'undeliverable'),
            (NEW.status = 'failed') - (OLD.status = 'failed'),
            (NEW.status = 'skipped') - (OLD.status = 'skipped'),
            (NEW.sent_at IS NOT NULL) - (OLD.sent_at IS NOT NULL),
            (NEW.delivered_at IS NOT NULL) - (OLD.delivered_at IS NOT NULL));
END;

CREATE TRIGGER report_rating_insert AFTER INSERT ON ratings
WHEN NEW.voided_at IS NULL
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel,
        b0, b1, s1, s2, s3, s4, s5, positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel,
           (r.scale = 'binary' AND NEW.value = 0),
           (r.scale = 'binary' AND NEW.value = 1),
           (r.scale = 'five_star' AND NEW.value = 1),
           (r.scale = 'five_star' AND NEW.value = 2),
           (r.scale = 'five_star' AND NEW.value = 3),
           (r.scale = 'five_star' AND NEW.value = 4),
           (r.scale = 'five_star' AND NEW.value = 5),
           NEW.positive,
           NEW.low
    FROM rating_requests r WHERE r.id = NEW.request_id;
END;

CREATE TRIGGER report_rating_update AFTER UPDATE OF value, positive, low, voided_at ON ratings
WHEN OLD.value IS NOT NEW.value OR OLD.positive IS NOT NEW.positive OR OLD.low IS NOT NEW.low
  OR (OLD.voided_at IS NULL) <> (NEW.voided_at IS NULL)
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel,
        b0, b1, s1, s2, s3, s4, s5, positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'binary' AND NEW.value = 0) ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'binary' AND OLD.value = 0) ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'binary' AND NEW.value = 1) ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'binary' AND OLD.value = 1) ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 1) ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 1) ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 2) ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 2) ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 3) ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 3) ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 4) ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 4) ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN (r.scale = 'five_star' AND NEW.value = 5) ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN (r.scale = 'five_star' AND OLD.value = 5) ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN NEW.positive ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN OLD.positive ELSE 0 END,
           CASE WHEN NEW.voided_at IS NULL THEN NEW.low ELSE 0 END
           - CASE WHEN OLD.voided_at IS NULL THEN OLD.low ELSE 0 END
    FROM rating_requests r WHERE r.id = NEW.request_id;
END;
