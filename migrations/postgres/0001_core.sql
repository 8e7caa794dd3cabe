-- Rateline's core tables on PostgreSQL.
--
-- Times are BIGINT milliseconds since the Unix epoch, UTC, in both backends: one SQL text
-- serves SQLite and PostgreSQL through sqlx's Any driver, and the two stores behave alike.
-- Settings documents are JSON text validated by the domain before they are written.

-- An open line (a support queue) and its rating settings.
CREATE TABLE lines (
    id          TEXT PRIMARY KEY,
    settings    TEXT   NOT NULL,            -- LineSettings as JSON, secrets included
    managed_by  TEXT   NOT NULL,            -- 'api' or 'config': config lines are read-only over HTTP
    updated_at  BIGINT NOT NULL
);

CREATE TABLE people (
    id                    TEXT PRIMARY KEY,
    name                  TEXT   NOT NULL,
    role                  TEXT   NOT NULL,
    manager_id            TEXT   NULL,
    notify                TEXT   NOT NULL,  -- {email?, telegram_chat_id?, webhook_url?} as JSON
    notifications_enabled BIGINT NOT NULL,  -- 0 or 1
    updated_at            BIGINT NOT NULL
);

CREATE TABLE groups (
    id          TEXT PRIMARY KEY,
    name        TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id   TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    person_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, person_id)
);

-- One conversation. auto_close_at is the inactivity deadline while the session is open
-- (NULL once closed or when the line never auto-closes); the scheduler sleeps until the
-- earliest one.
CREATE TABLE sessions (
    id                      TEXT PRIMARY KEY,
    line_id                 TEXT   NOT NULL REFERENCES lines (id),
    channel                 TEXT   NOT NULL,
    client_id               TEXT   NOT NULL,
    client_name             TEXT   NULL,
    operator_id             TEXT   NULL,
    opened_at               BIGINT NOT NULL,
    last_message_at         BIGINT NOT NULL,
    last_client_message_at  BIGINT NULL,    -- opens Meta's 24-hour window
    auto_close_minutes      BIGINT NULL,    -- the line's setting when the session opened
    auto_close_at           BIGINT NULL,
    closed_at               BIGINT NULL,
    closed_by               TEXT   NULL
);
CREATE INDEX sessions_auto_close_at ON sessions (auto_close_at) WHERE auto_close_at IS NOT NULL;

-- A rating request is the durable job of the scheduler.
--
-- run_at is the next moment the scheduler must look at the row: the due (or retry) time
-- while 'scheduled', the lease expiry while 'sending' (a dead holder's claim falls back by
-- itself), the end of the answer window while 'sent'/'delivered'; NULL once nothing more
-- will happen to it. The scheduler sleeps until MIN(run_at).
CREATE TABLE rating_requests (
    id                   TEXT PRIMARY KEY,
    session_id           TEXT   NOT NULL REFERENCES sessions (id),
    line_id              TEXT   NOT NULL,
    channel              TEXT   NOT NULL,
    operator_id          TEXT   NULL,       -- the session's operator at the close: who is credited
    client_id            TEXT   NOT NULL,
    scale                TEXT   NOT NULL,
    status               TEXT   NOT NULL,
    due_at               BIGINT NOT NULL,
    run_at               BIGINT NULL,
    send_deadline_at     BIGINT NOT NULL,   -- past this, 'failed' rather than sent late
    expires_at           BIGINT NULL,       -- end of the answer window, set when sent
    attempts             BIGINT NOT NULL DEFAULT 0,
    lease_owner          TEXT   NULL,
    last_error           TEXT   NULL,
    platform_message_id  TEXT   NULL,
    created_at           BIGINT NOT NULL,   -- the close; reports count periods from here
    sent_at              BIGINT NULL,
    delivered_at         BIGINT NULL,
    answered_at          BIGINT NULL,
    finished_at          BIGINT NULL,
    updated_at           BIGINT NOT NULL
);
-- Two timers in one column, indexed apart so neither scan wades through the other's rows
-- (a million requests waiting to be sent must not slow finding the next expiry). Queries
-- repeat these predicates word for word: SQLite uses a partial index only then.
CREATE INDEX rating_requests_due ON rating_requests (run_at) WHERE status IN ('scheduled', 'sending');
CREATE INDEX rating_requests_expiry ON rating_requests (run_at) WHERE status IN ('sent', 'delivered');
CREATE INDEX rating_requests_session ON rating_requests (session_id);
CREATE INDEX rating_requests_created_at ON rating_requests (created_at);
-- No duplicate surveys: a session has at most one request that is live or answered.
CREATE UNIQUE INDEX rating_requests_one_live_per_session ON rating_requests (session_id)
    WHERE status IN ('scheduled', 'sending', 'sent', 'delivered', 'answered');

-- The client's answer; positive and low are judged by the line's settings when it was given.
CREATE TABLE ratings (
    id           TEXT PRIMARY KEY,
    request_id   TEXT   NOT NULL UNIQUE REFERENCES rating_requests (id),
    session_id   TEXT   NOT NULL,
    value        BIGINT NOT NULL,
    positive     BIGINT NOT NULL,          -- 0 or 1: 👍 or 4–5 stars
    low          BIGINT NOT NULL,          -- 0 or 1: 👎 or at/below the threshold
    comment      TEXT   NULL,
    resolved     BIGINT NULL,              -- 0, 1 or NULL when not asked
    changes      BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Every version of a rating, the first included: a change never erases what was said.
CREATE TABLE rating_history (
    rating_id    TEXT   NOT NULL REFERENCES ratings (id),
    revision     BIGINT NOT NULL,          -- 0 for the first answer
    value        BIGINT NOT NULL,
    comment      TEXT   NULL,
    resolved     BIGINT NULL,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (rating_id, revision)
);
