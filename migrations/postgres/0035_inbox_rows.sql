-- The inbox reads one table. A rating carries a copy of its request's line, operator and
-- channel (which never change: see 0008's report_keep_request_keys) and its state in the
-- inbox, kept by every write that moves it (src/store/inbox.rs, `STATE`): 0 unanswered,
-- 1 assigned, 2 handled (a response, or closed with no follow-up needed), 3 voided. A page
-- of the inbox is then a range of one index in its own order, and a count a range of
-- index entries, instead of a sort of every low rating with three look-ups each.
ALTER TABLE ratings ADD COLUMN line_id TEXT NULL;
ALTER TABLE ratings ADD COLUMN operator_id TEXT NULL;
ALTER TABLE ratings ADD COLUMN channel TEXT NULL;
ALTER TABLE ratings ADD COLUMN state_rank BIGINT NOT NULL DEFAULT 0;

UPDATE ratings
SET line_id = r.line_id, operator_id = r.operator_id, channel = r.channel
FROM rating_requests r
WHERE r.id = ratings.request_id;

UPDATE ratings
SET state_rank = CASE
    WHEN voided_at IS NOT NULL THEN 3
    WHEN EXISTS (SELECT 1 FROM rating_responses p WHERE p.rating_id = ratings.id)
      OR EXISTS (SELECT 1 FROM rating_handling h
                 WHERE h.rating_id = ratings.id AND h.closed_at IS NOT NULL) THEN 2
    WHEN EXISTS (SELECT 1 FROM rating_handling h
                 WHERE h.rating_id = ratings.id AND h.assignee_id IS NOT NULL) THEN 1
    ELSE 0 END;

-- The whole store, one line (or a supervisor's lines, one range each) and one operator, each
-- in the inbox's order: open work first, then by time.
DROP INDEX ratings_low_by_time;
CREATE INDEX ratings_inbox ON ratings (state_rank, updated_at, id) WHERE low = 1;
CREATE INDEX ratings_inbox_by_line ON ratings (line_id, state_rank, updated_at, id) WHERE low = 1;
CREATE INDEX ratings_inbox_by_operator ON ratings (operator_id, state_rank, updated_at, id)
    WHERE low = 1;
