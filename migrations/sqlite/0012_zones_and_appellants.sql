-- A person's own time zone for the dashboard (an IANA name); NULL follows the server's
-- `server.time_zone`.
ALTER TABLE people ADD COLUMN time_zone TEXT NULL;

-- Who appealed a rating: the person, or the key when no person stands behind it. NULL on
-- appeals made before it was recorded.
ALTER TABLE appeals ADD COLUMN made_by TEXT NULL;
