-- A comment that comes after a low rating's alert left goes to the same recipients as a
-- follow-up of that alert: `kind` tells an alert ('alert') from its follow-up ('comment'),
-- `thread_of` names the alert it follows, and `platform_message_id` keeps the id a sink
-- gave the alert (Telegram's message id), which the follow-up replies to;
-- `carried_comment` is 1 when the alert as sent already said the comment, so no follow-up
-- repeats it. Each recipient and sink still hears of a rating once, and of its comment once.
ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';
ALTER TABLE alerts ADD COLUMN thread_of TEXT NULL;
ALTER TABLE alerts ADD COLUMN platform_message_id TEXT NULL;
ALTER TABLE alerts ADD COLUMN carried_comment BIGINT NOT NULL DEFAULT 0;
DROP INDEX alerts_once;
CREATE UNIQUE INDEX alerts_once ON alerts (rating_id, recipient, sink, kind);
