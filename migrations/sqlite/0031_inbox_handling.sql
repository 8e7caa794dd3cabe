-- The inbox a team can empty. A low rating is unanswered until someone takes it (assigned),
-- answers it (a response) or closes it with "no follow-up needed" (handled). One row per
-- rating that was ever assigned or closed; a rating without a row is neither.
CREATE TABLE rating_handling (
    rating_id    TEXT   PRIMARY KEY REFERENCES ratings (id),
    -- The person who has it; NULL when nobody.
    assignee_id  TEXT   NULL,
    -- Who last gave it (or took it back), and when.
    assigned_by  TEXT   NULL,
    assigned_at  BIGINT NULL,
    -- Closed with no follow-up needed: when, by whom, with an optional note.
    closed_at    BIGINT NULL,
    closed_by    TEXT   NULL,
    close_note   TEXT   NULL
);
CREATE INDEX rating_handling_assignee ON rating_handling (assignee_id)
    WHERE assignee_id IS NOT NULL;

-- The inbox reads the low ratings only, a tenth of the store or less, in time order.
CREATE INDEX ratings_low_by_time ON ratings (updated_at) WHERE low = 1;
