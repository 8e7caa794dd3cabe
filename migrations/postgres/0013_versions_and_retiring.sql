-- A version per line and person, raised by every write: the `ETag` that `GET` shows and
-- `If-Match` names, so two admins editing one line cannot overwrite each other unknowingly.
ALTER TABLE lines ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE people ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- A person can be deactivated: they cannot sign in and hear of no low rating; their
-- history stays. 1 active, 0 not.
ALTER TABLE people ADD COLUMN active BIGINT NOT NULL DEFAULT 1;

-- People and groups may be defined in the config file, as lines may: `config` ones are
-- read-only over HTTP, and the file wins at every start.
ALTER TABLE people ADD COLUMN managed_by TEXT NOT NULL DEFAULT 'api';
ALTER TABLE groups ADD COLUMN managed_by TEXT NOT NULL DEFAULT 'api';
