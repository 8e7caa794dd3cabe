-- A version per line and person, raised by every write: the `ETag` that `GET` shows and
-- `If-Match` names, so two admins editing one line cannot overwrite each other unknowingly.
ALTER TABLE lines ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE people ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
