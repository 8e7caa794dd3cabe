-- People sign in to the dashboard as themselves. An admin makes an invitation link; the
-- person sets a password with it. Kept apart from `people`, so no read of a person can
-- carry a password's hash by mistake.
CREATE TABLE person_passwords (
    person_id  TEXT   PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    hash       TEXT   NOT NULL,   -- Argon2id, PHC string form (parameters and salt inside)
    set_at     BIGINT NOT NULL    -- ms, for the record (a new hash ends older sign-ins)
);

-- Invitation links: the link's random token is known only to whoever got the link; this
-- table keeps its SHA-256, so what is stored here lets nobody set a password.
CREATE TABLE invitations (
    token_hash  TEXT   PRIMARY KEY,
    person_id   TEXT   NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    created_by  TEXT   NULL,      -- the person or key that made it; NULL from the command line
    created_at  BIGINT NOT NULL,  -- ms
    expires_at  BIGINT NOT NULL,  -- ms
    used_at     BIGINT NULL       -- ms; an invitation sets a password once
);
CREATE INDEX invitations_person_id ON invitations (person_id);
