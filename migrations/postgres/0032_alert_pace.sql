-- Alerts a supervisor can live with (docs/alerts.md, "The pace").
--
-- A person's own pace and quiet hours: a JSON `AlertPace`, NULL for every alert at once.
ALTER TABLE people ADD COLUMN alert_pace TEXT NULL;

-- `operator_notices` holds every digest now, one message to one address naming several
-- ratings: `ratings`, an operator's notice of every rating of their chats; `alerts`, a
-- person's low-rating alerts gathered by their pace or their quiet hours; `burst`, the low
-- ratings of line `line_id` past its `rating.alert_burst_over` in ten minutes. `operator_id`
-- is the person it goes to, whatever their role.
ALTER TABLE operator_notices ADD COLUMN kind TEXT NOT NULL DEFAULT 'ratings';
ALTER TABLE operator_notices ADD COLUMN line_id TEXT NULL;

-- An alert gathered into a digest is `digested`, and names it.
ALTER TABLE alerts ADD COLUMN digest_id TEXT NULL;
-- The pace counts what went to an address in the last hour, and the burst a line's low
-- ratings in the last ten minutes.
CREATE INDEX alerts_by_recipient ON alerts (recipient, sink, created_at);
CREATE INDEX alerts_by_line ON alerts (line_id, created_at);
