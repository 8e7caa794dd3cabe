-- API keys. The secret is never stored: only its SHA-256 (the secret is 256 random bits, so
-- a slow password hash would add nothing). A key is revoked, never deleted, so the audit of
-- who held which key stays; once any key exists, every /v1 call needs one.
CREATE TABLE api_keys (
    id           TEXT   PRIMARY KEY,
    name         TEXT   NOT NULL,
    role         TEXT   NOT NULL,
    person_id    TEXT   NULL,
    lines        TEXT   NULL,
    secret_hash  TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT NULL
);
