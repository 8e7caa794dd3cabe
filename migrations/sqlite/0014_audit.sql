-- Every change to lines, people, groups and API keys: who made it, when, and each changed
-- field before and after (secrets only as "changed", never their values).
CREATE TABLE audit (
    id       TEXT   PRIMARY KEY,  -- UUIDv7, so ids sort in time order
    at       BIGINT NOT NULL,     -- ms
    actor    TEXT   NOT NULL,     -- a person's id, `key <id>`, `config file`, or `no key`
    kind     TEXT   NOT NULL,     -- line, person, group, key
    subject  TEXT   NOT NULL,     -- the line's, person's, group's or key's id
    action   TEXT   NOT NULL,     -- created, changed, revoked
    changes  TEXT   NOT NULL      -- JSON: [{field, before, after}]
);
CREATE INDEX audit_subject ON audit (kind, subject);
