-- Event subscriptions (`PUT /v1/subscriptions/{id}`): where a CRM hears about ratings,
-- responses and failed sends. `events` and `lines` are JSON arrays (`lines` NULL: every
-- line). A subscription with an event that has failed for the documented number of days
-- (`event_deliveries.first_failed_at`) is switched off (`active` 0, `switched_off_at`); a
-- PUT switches it back on.
CREATE TABLE subscriptions (
    id                TEXT   PRIMARY KEY,
    url               TEXT   NOT NULL,
    secret            TEXT   NOT NULL,
    events            TEXT   NOT NULL,
    lines             TEXT   NULL,
    active            BIGINT NOT NULL DEFAULT 1,
    last_delivered_at BIGINT NULL,
    switched_off_at   BIGINT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- One event on its way to one subscription: a durable job, written in the transaction of
-- the change it tells about, deleted once the subscriber took it. `seq` orders the events;
-- one is sent only when no earlier one of its subscription and request (`order_key`) is
-- still queued, so a rating's events arrive in order. `payload` is the event's JSON, the
-- same for every subscription. `first_failed_at` is when its first try failed: how long
-- the subscription has been failing.
CREATE TABLE event_deliveries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT   NOT NULL UNIQUE,
    event_id        TEXT   NOT NULL,
    subscription_id TEXT   NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    type            TEXT   NOT NULL,
    order_key       TEXT   NOT NULL,
    session_id      TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    status          TEXT   NOT NULL,          -- pending, sending
    run_at          BIGINT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT   NULL,
    last_error      TEXT   NULL,
    first_failed_at BIGINT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX event_deliveries_due ON event_deliveries (run_at) WHERE status IN ('pending', 'sending');
CREATE INDEX event_deliveries_order ON event_deliveries (subscription_id, order_key, seq);
CREATE INDEX event_deliveries_session ON event_deliveries (session_id);
