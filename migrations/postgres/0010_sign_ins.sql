-- Dashboard sign-ins: server-side sessions. The browser's cookie holds a random 128-bit
-- id; this table keys it by the id's SHA-256, so what is stored here signs nobody in.
CREATE TABLE sign_ins (
    id_hash     TEXT   PRIMARY KEY,
    data        TEXT   NOT NULL,   -- the session's values as JSON: who signed in
    expires_at  BIGINT NOT NULL    -- ms; a sign-in unused this long is gone
);
CREATE INDEX sign_ins_expires_at ON sign_ins (expires_at);
