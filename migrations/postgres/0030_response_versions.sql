-- A response's version: 1 when written, one more at each write that changes its text or
-- sends it. A form or an `If-Match` names the version it was written against, so a second
-- supervisor's reply written at the same time is refused, never sent as an edit.
ALTER TABLE rating_responses ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
