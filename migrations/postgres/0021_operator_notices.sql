-- The operator's notice of every rating (`rating.notify_operator`). A first answer on a line
-- that asks for it is noted in the rating's transaction (`operator_notice_ratings`, one row
-- per rating, so answers never wait on each other). The scheduler gathers what was noted
-- into one digest per operator and address (`operator_notices`), due at once or a minute
-- after that address's digest before it was due (`slot_at`): at most one message a minute
-- to each address. A digest is a durable job like an alert, and says its ratings as they
-- stand when it is sent.
CREATE TABLE operator_notice_ratings (
    rating_id   TEXT   PRIMARY KEY,
    operator_id TEXT   NOT NULL,
    noted_at    BIGINT NOT NULL,
    gathered    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX operator_notice_ratings_waiting ON operator_notice_ratings (noted_at) WHERE gathered = 0;

CREATE TABLE operator_notices (
    id          TEXT   PRIMARY KEY,
    operator_id TEXT   NOT NULL,
    sink        TEXT   NOT NULL,
    address     TEXT   NOT NULL,
    ratings     TEXT   NOT NULL,          -- a JSON array of rating ids, oldest first
    slot_at     BIGINT NOT NULL,
    status      TEXT   NOT NULL,          -- pending, sending, sent, failed, skipped
    run_at      BIGINT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT   NULL,
    last_error  TEXT   NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    sent_at     BIGINT NULL
);
CREATE INDEX operator_notices_due ON operator_notices (run_at) WHERE status IN ('pending', 'sending');
CREATE INDEX operator_notices_slot ON operator_notices (operator_id, sink, address, slot_at);
CREATE INDEX operator_notices_created_at ON operator_notices (created_at);
