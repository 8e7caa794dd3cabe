-- One reminder per rating request (`rating.reminder_after_minutes`): made when the request
-- is sent, a durable job of its own, sent through the same channel when due unless the
-- request was answered or its windows closed. `due_at` is when it was due (its send deadline
-- counts from there). A rating given after its reminder was sent is credited to it
-- (`ratings.after_reminder`).
CREATE TABLE rating_reminders (
    request_id   TEXT   PRIMARY KEY REFERENCES rating_requests (id),
    status       TEXT   NOT NULL,          -- pending, sending, sent, skipped, failed, ...
    due_at       BIGINT NOT NULL,
    run_at       BIGINT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT   NULL,
    last_error   TEXT   NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    sent_at      BIGINT NULL
);
CREATE INDEX rating_reminders_due ON rating_reminders (run_at) WHERE status IN ('pending', 'sending');
ALTER TABLE ratings ADD COLUMN after_reminder BIGINT NOT NULL DEFAULT 0;
