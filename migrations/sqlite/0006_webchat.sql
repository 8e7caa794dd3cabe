-- Keys the server makes for itself once and every process shares: the web chat token key
-- (unless `[webchat] token_secret` is configured), so tokens outlive a restart and any
-- process can check a token another one minted.
CREATE TABLE server_keys (
    name        TEXT   PRIMARY KEY,
    value       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);


-- A web chat request is not sent by the scheduler: it waits, `scheduled`, for the client's
-- widget to show it, until its answer window ends. Its run_at is that end, and the
-- scheduler's queue leaves it out. Queries repeat these predicates word for word (SQLite
-- uses a partial index only then).
DROP INDEX rating_requests_due;
CREATE INDEX rating_requests_due ON rating_requests (run_at)
    WHERE status IN ('scheduled', 'sending') AND channel <> 'webchat';
CREATE INDEX rating_requests_widget ON rating_requests (run_at)
    WHERE status = 'scheduled' AND channel = 'webchat';
