-- The report's numbers kept as they change, so a report sums a few rows per day instead of
-- reading every request and its rating (the same schema as migrations/postgres).
--
-- Every write to sessions, rating_requests and ratings that changes what a report counts
-- appends its difference to report_changes from a trigger, in the writer's own
-- transaction: a change is counted exactly when it commits, whichever code path made it.
-- Appending never waits on another writer, where adding into a shared counter row would
-- make every close of a line wait for the one before it. The scheduler folds the changes
-- into report_days every few seconds; reports read both.
--
-- A day is the UTC day (days since 1970-01-01) of the close: sessions.closed_at and
-- rating_requests.created_at, as the report counts periods. Ratings are counted by value
-- apart for each scale (b0, b1: 👎 and 👍; s1..s5: stars), so a day's sessions, requests
-- and ratings of one line, operator and channel share one row. A rating counts at its current value here; the report corrects the few ratings held
-- back by a grace period when it reads.

CREATE TABLE report_days (
    day               BIGINT NOT NULL,
    line_id           TEXT   NOT NULL,
    operator_id       TEXT   NOT NULL,   -- '' when the session had none
    channel           TEXT   NOT NULL,
    closed            BIGINT NOT NULL DEFAULT 0,   -- sessions closed
    in_scheduled      BIGINT NOT NULL DEFAULT 0,   -- requests by their status now
    in_sending        BIGINT NOT NULL DEFAULT 0,
    in_sent           BIGINT NOT NULL DEFAULT 0,
    in_delivered      BIGINT NOT NULL DEFAULT 0,
    in_answered       BIGINT NOT NULL DEFAULT 0,
    in_cancelled      BIGINT NOT NULL DEFAULT 0,
    in_expired        BIGINT NOT NULL DEFAULT 0,
    in_window_closed  BIGINT NOT NULL DEFAULT 0,
    in_undeliverable  BIGINT NOT NULL DEFAULT 0,
    in_failed         BIGINT NOT NULL DEFAULT 0,
    sent              BIGINT NOT NULL DEFAULT 0,   -- requests a platform accepted
    delivered         BIGINT NOT NULL DEFAULT 0,
    b0                BIGINT NOT NULL DEFAULT 0,   -- binary ratings (not voided) by value
    b1                BIGINT NOT NULL DEFAULT 0,
    s1                BIGINT NOT NULL DEFAULT 0,   -- five-star ratings (not voided) by value
    s2                BIGINT NOT NULL DEFAULT 0,
    s3                BIGINT NOT NULL DEFAULT 0,
    s4                BIGINT NOT NULL DEFAULT 0,
    s5                BIGINT NOT NULL DEFAULT 0,
    positive          BIGINT NOT NULL DEFAULT 0,
    low               BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, line_id, operator_id, channel)
);
CREATE INDEX report_days_operator ON report_days (operator_id, day);

-- One row per counted thing that appeared (sign 1) or went (sign -1): a closed session, a
-- request in a status, a rating with a value on a scale ('' for a session).
CREATE TABLE report_changes (
    id           INTEGER PRIMARY KEY,
    day          BIGINT NOT NULL,
    line_id      TEXT   NOT NULL,
    operator_id  TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    scale        TEXT   NOT NULL,
    sign         BIGINT NOT NULL,
    closed       BIGINT NOT NULL DEFAULT 0,
    status       TEXT   NULL,
    sent         BIGINT NOT NULL DEFAULT 0,
    delivered    BIGINT NOT NULL DEFAULT 0,
    value        BIGINT NULL,
    positive     BIGINT NOT NULL DEFAULT 0,
    low          BIGINT NOT NULL DEFAULT 0
);

-- The report corrects ratings in their grace period: find them without a scan.
CREATE INDEX ratings_counts_from ON ratings (counts_from);
-- An operator's profile lists their newest low ratings, often over a period: their
-- requests by close, then each one's rating.
CREATE INDEX rating_requests_operator ON rating_requests (operator_id, created_at);

-- Rateline never deletes sessions, requests or ratings, so there are no DELETE triggers:
-- a purge would have to take its rows' counts out of the rollup too.
--
-- What a row counts under is fixed at insert. Were it to change, its counts would have to
-- move with it; refusing the change keeps the rollup honest.
CREATE TRIGGER report_keep_request_keys
BEFORE UPDATE OF line_id, operator_id, channel, scale, created_at ON rating_requests
WHEN OLD.line_id IS NOT NEW.line_id OR OLD.operator_id IS NOT NEW.operator_id
  OR OLD.channel IS NOT NEW.channel OR OLD.scale IS NOT NEW.scale
  OR OLD.created_at IS NOT NEW.created_at
BEGIN
    SELECT RAISE(ABORT, 'a rating request''s line, operator, channel, scale and close time never change');
END;

CREATE TRIGGER report_keep_session_keys
BEFORE UPDATE OF line_id, operator_id, channel ON sessions
WHEN OLD.line_id IS NOT NEW.line_id OR OLD.operator_id IS NOT NEW.operator_id
  OR OLD.channel IS NOT NEW.channel
BEGIN
    SELECT RAISE(ABORT, 'a session''s line, operator and channel never change');
END;

CREATE TRIGGER report_keep_rating_request
BEFORE UPDATE OF request_id ON ratings
WHEN OLD.request_id IS NOT NEW.request_id
BEGIN
    SELECT RAISE(ABORT, 'a rating''s request never changes');
END;

CREATE TRIGGER report_session_insert AFTER INSERT ON sessions
WHEN NEW.closed_at IS NOT NULL
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, closed)
    VALUES (NEW.closed_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel,
            '', 1, 1);
END;

CREATE TRIGGER report_session_update AFTER UPDATE OF closed_at ON sessions
WHEN OLD.closed_at IS NOT NEW.closed_at
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, closed)
    SELECT OLD.closed_at / 86400000, OLD.line_id, COALESCE(OLD.operator_id, ''), OLD.channel,
           '', -1, 1
    WHERE OLD.closed_at IS NOT NULL;
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, closed)
    SELECT NEW.closed_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel,
           '', 1, 1
    WHERE NEW.closed_at IS NOT NULL;
END;

CREATE TRIGGER report_request_insert AFTER INSERT ON rating_requests
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, status, sent,
                                delivered)
    VALUES (NEW.created_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel,
            NEW.scale, 1, NEW.status, NEW.sent_at IS NOT NULL, NEW.delivered_at IS NOT NULL);
END;

CREATE TRIGGER report_request_update AFTER UPDATE OF status, sent_at, delivered_at ON rating_requests
WHEN OLD.status IS NOT NEW.status
  OR (OLD.sent_at IS NULL) <> (NEW.sent_at IS NULL)
  OR (OLD.delivered_at IS NULL) <> (NEW.delivered_at IS NULL)
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, status, sent,
                                delivered)
    VALUES (OLD.created_at / 86400000, OLD.line_id, COALESCE(OLD.operator_id, ''), OLD.channel,
            OLD.scale, -1, OLD.status, OLD.sent_at IS NOT NULL, OLD.delivered_at IS NOT NULL),
           (NEW.created_at / 86400000, NEW.line_id, COALESCE(NEW.operator_id, ''), NEW.channel,
            NEW.scale, 1, NEW.status, NEW.sent_at IS NOT NULL, NEW.delivered_at IS NOT NULL);
END;

CREATE TRIGGER report_rating_insert AFTER INSERT ON ratings
WHEN NEW.voided_at IS NULL
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, value,
                                positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel, r.scale,
           1, NEW.value, NEW.positive, NEW.low
    FROM rating_requests r WHERE r.id = NEW.request_id;
END;

CREATE TRIGGER report_rating_update AFTER UPDATE OF value, positive, low, voided_at ON ratings
WHEN OLD.value IS NOT NEW.value OR OLD.positive IS NOT NEW.positive OR OLD.low IS NOT NEW.low
  OR (OLD.voided_at IS NULL) <> (NEW.voided_at IS NULL)
BEGIN
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, value,
                                positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel, r.scale,
           -1, OLD.value, OLD.positive, OLD.low
    FROM rating_requests r WHERE r.id = OLD.request_id AND OLD.voided_at IS NULL;
    INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, value,
                                positive, low)
    SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel, r.scale,
           1, NEW.value, NEW.positive, NEW.low
    FROM rating_requests r WHERE r.id = NEW.request_id AND NEW.voided_at IS NULL;
END;

-- What is already in the store, as the triggers would have written it.
INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, closed)
SELECT closed_at / 86400000, line_id, COALESCE(operator_id, ''), channel, '', 1, 1
FROM sessions WHERE closed_at IS NOT NULL;
INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, status, sent,
                            delivered)
SELECT created_at / 86400000, line_id, COALESCE(operator_id, ''), channel, scale, 1, status,
       sent_at IS NOT NULL, delivered_at IS NOT NULL
FROM rating_requests;
INSERT INTO report_changes (day, line_id, operator_id, channel, scale, sign, value, positive,
                            low)
SELECT r.created_at / 86400000, r.line_id, COALESCE(r.operator_id, ''), r.channel, r.scale, 1,
       g.value, g.positive, g.low
FROM ratings g JOIN rating_requests r ON r.id = g.request_id
WHERE g.voided_at IS NULL;
