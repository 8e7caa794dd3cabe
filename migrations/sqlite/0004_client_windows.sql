-- The last message each client sent on a Meta channel, as Meta's webhooks report it. Meta's
-- 24-hour window belongs to the client, and a client often writes before the contact center
-- has opened a session for them, so it is kept here rather than on a session. A request's
-- window starts at the later of this and its session's last client message (the contact
-- center's report).
CREATE TABLE client_windows (
    channel          TEXT   NOT NULL,
    client_id        TEXT   NOT NULL,
    last_message_at  BIGINT NOT NULL,
    PRIMARY KEY (channel, client_id)
);

-- Fewer index writes on every close and send: sessions need no per-client index now, text
-- replies never come on the webhook channel, and only WhatsApp reports statuses. Queries
-- repeat these predicates word for word (SQLite uses a partial index only then).
DROP INDEX sessions_client;
DROP INDEX rating_requests_client;
CREATE INDEX rating_requests_client ON rating_requests (channel, client_id, created_at)
    WHERE channel <> 'webhook';
DROP INDEX rating_requests_platform_message;
CREATE INDEX rating_requests_platform_message ON rating_requests (platform_message_id)
    WHERE channel = 'whatsapp';
