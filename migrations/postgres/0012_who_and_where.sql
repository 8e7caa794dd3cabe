-- A person's own time zone for the dashboard (an IANA name); NULL follows the server's
-- `server.time_zone`.
ALTER TABLE people ADD COLUMN time_zone TEXT NULL;

-- Who appealed a rating: the person, or the key when no person stands behind it. NULL on
-- appeals made before it was recorded.
ALTER TABLE appeals ADD COLUMN made_by TEXT NULL;

-- Who flagged a rating's comment as abusive (while it is flagged): a person's id, or
-- `key <id>`.
ALTER TABLE ratings ADD COLUMN comment_flagged_by TEXT NULL;
