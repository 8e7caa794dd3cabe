-- The reasons a client gave for a low rating: the ids of the line's `rating.low_reasons`
-- they picked, in the line's order and comma-separated ('' when they picked none, NULL
-- while not answered), on the rating and on each of its versions. `rating_reasons` holds
-- the rating's current reasons one row each, so the report groups and filters by reason
-- with an index instead of reading every rating.
ALTER TABLE ratings ADD COLUMN reasons TEXT NULL;
ALTER TABLE rating_history ADD COLUMN reasons TEXT NULL;
CREATE TABLE rating_reasons (
    rating_id TEXT NOT NULL REFERENCES ratings (id),
    reason    TEXT NOT NULL,
    PRIMARY KEY (rating_id, reason)
);
CREATE INDEX rating_reasons_by_reason ON rating_reasons (reason, rating_id);
