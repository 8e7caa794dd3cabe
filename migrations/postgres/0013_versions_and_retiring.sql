-- A version per line and person, raised by every write: the `ETag` that `GET` shows and
-- `If-Match` names, so two admins editing one line cannot overwrite each other unknowingly.
ALTER TABLE lines ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE people ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- A person can be deactivated: they cannot sign in and hear of no low rating; their
-- history stays. 1 active, 0 not.
ALTER TABLE people ADD COLUMN active BIGINT NOT NULL DEFAULT 1;
