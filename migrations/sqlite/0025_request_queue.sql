-- The scheduler's queue moves out of rating_requests into a narrow table of its own.
--
-- A claim changed a request's status, due time, lease and attempt count; with status and
-- run_at in its indexes' keys and predicates, every claim (and every retry) wrote a new
-- version of the wide row into all eleven of rating_requests' indexes, and fired the
-- rollup's trigger. A queue row holds only what a claim changes: when the scheduler must
-- look at the request next (its due or retry time, or its lease's end), who holds the
-- lease, and how many sends were tried. A claim writes only this table and its two
-- indexes; rating_requests is written when a send's outcome is known.
--
-- A request has a queue row from its close while it waits to be sent by the scheduler
-- (stored status `scheduled`, any channel but the web chat's); the outcome of its send, an
-- answer, a cancellation or an erasure deletes it in the same transaction. A request is
-- shown `sending` while its queue row holds a lease: the status is no longer stored.
-- A claim that finds a row whose request is no longer `scheduled` (its lease's holder died
-- after the client answered) deletes it.
--
-- No foreign key: its check on every insert (a lookup and a row lock on the request) cost
-- more than the rest of the insert. The store deletes a request's queue row in every
-- statement's transaction that ends its wait, and retention deletes a purged request's
-- queue row with it; a claim deletes any queue row whose request is not `scheduled`.
--
-- rating_requests.run_at keeps the answer window's end (sent, delivered, the web chat's
-- requests); for a request in the queue it keeps its first due time, which nothing reads.
CREATE TABLE request_queue (
    request_id   TEXT   PRIMARY KEY,
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT   NULL,
    attempts     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX request_queue_run_at ON request_queue (run_at);

INSERT INTO request_queue (request_id, run_at, lease_owner, attempts)
SELECT id, run_at, lease_owner, attempts FROM rating_requests
WHERE status IN ('scheduled', 'sending') AND channel <> 'webchat';

UPDATE rating_requests SET status = 'scheduled', lease_owner = NULL WHERE status = 'sending';

DROP INDEX rating_requests_due;
