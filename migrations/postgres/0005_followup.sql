-- Low-rating alerts and the follow-up loop: responses, appeals, flags, evaluations, grace.

-- One alert: one rating, one recipient, one way of reaching them. The scheduler's second
-- durable job, with the same run_at/lease scheme as rating_requests: run_at is the due (or
-- retry) time while 'pending', the lease's end while 'sending', NULL once it ended.
-- status: pending | sending | sent | failed | skipped (the person switched notifications off).
-- recipient is a person id, or the notify_low entry that named nobody ('responsible_manager').
-- sink: telegram | email | webhook, or 'none' when the recipient has no way to be reached.
CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    rating_id    TEXT   NOT NULL REFERENCES ratings (id),
    session_id   TEXT   NOT NULL,
    line_id      TEXT   NOT NULL,
    operator_id  TEXT   NULL,
    recipient    TEXT   NOT NULL,
    sink         TEXT   NOT NULL,
    address      TEXT   NULL,            -- the chat id, e-mail address or URL, as it was then
    status       TEXT   NOT NULL,
    run_at       BIGINT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT   NULL,
    last_error   TEXT   NULL,
    created_at   BIGINT NOT NULL,
    sent_at      BIGINT NULL,
    updated_at   BIGINT NOT NULL
);
-- Never twice to one recipient for one rating, however often it is changed back and forth.
CREATE UNIQUE INDEX alerts_once ON alerts (rating_id, recipient, sink);
CREATE INDEX alerts_due ON alerts (run_at) WHERE status IN ('pending', 'sending');
CREATE INDEX alerts_created_at ON alerts (created_at);

-- The one response of a supervisor to a rating, editable; with its delivery to the client
-- when asked for (the same job scheme as alerts, delivery_status in place of status:
-- pending | sending | sent | window_closed | undeliverable | failed).
CREATE TABLE rating_responses (
    rating_id        TEXT PRIMARY KEY REFERENCES ratings (id),
    text             TEXT   NOT NULL,
    author_id        TEXT   NULL,
    edits            BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivery_status  TEXT   NULL,
    run_at           BIGINT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    lease_owner      TEXT   NULL,
    last_error       TEXT   NULL,
    sent_at          BIGINT NULL
);
CREATE INDEX rating_responses_due ON rating_responses (run_at)
    WHERE delivery_status IN ('pending', 'sending');

-- An operator's appeal of a rating; one per rating. status: open | approved | rejected.
CREATE TABLE appeals (
    id           TEXT PRIMARY KEY,
    rating_id    TEXT   NOT NULL UNIQUE REFERENCES ratings (id),
    operator_id  TEXT   NULL,
    reason       TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    decided_by   TEXT   NULL,
    note         TEXT   NULL,
    created_at   BIGINT NOT NULL,
    decided_at   BIGINT NULL
);

-- A supervisor's own evaluation of a session, kept apart from the client's rating. The
-- session's line, operator, channel and close are copied so the report groups it the way
-- it groups requests.
CREATE TABLE evaluations (
    session_id   TEXT PRIMARY KEY REFERENCES sessions (id),
    line_id      TEXT   NOT NULL,
    operator_id  TEXT   NULL,
    channel      TEXT   NOT NULL,
    closed_at    BIGINT NOT NULL,
    stars        BIGINT NOT NULL,
    comment      TEXT   NULL,
    author_id    TEXT   NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX evaluations_closed_at ON evaluations (closed_at);

-- voided_at: an approved appeal took the rating out of the stats (it stays in the history).
-- comment_flagged_at: the comment was flagged as abusive and is hidden from reports.
-- counts_from: a lowered rating counts in the stats from then on (the line's grace period);
-- until then the stats count prior_* (the value before the change; none for a first answer).
ALTER TABLE ratings ADD COLUMN voided_at BIGINT NULL;
ALTER TABLE ratings ADD COLUMN comment_flagged_at BIGINT NULL;
ALTER TABLE ratings ADD COLUMN counts_from BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN prior_value BIGINT NULL;
ALTER TABLE ratings ADD COLUMN prior_positive BIGINT NULL;
ALTER TABLE ratings ADD COLUMN prior_low BIGINT NULL;
