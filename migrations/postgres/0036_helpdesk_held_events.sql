-- Webhook calls that arrived before the call they follow: Rocket.Chat posts its events
-- without waiting for one another, so a client's message written after the chat was handed
-- to the Ratings user may come before the hand-over itself. It is answered 200 (it is
-- stored) and held here until the hand-over is applied, then applied and deleted; one held
-- longer than a catch-up reads back is forgotten with the applied items.
CREATE TABLE helpdesk_held_events (
    helpdesk TEXT NOT NULL,
    account TEXT NOT NULL,
    -- The conversation (room) whose hand-over it waits for.
    conversation TEXT NOT NULL,
    -- The helpdesk's id of the event's message: a repeat is held once.
    item TEXT NOT NULL,
    body TEXT NOT NULL,
    held_at BIGINT NOT NULL,
    PRIMARY KEY (helpdesk, account, item)
);
CREATE INDEX helpdesk_held_events_room ON helpdesk_held_events (helpdesk, account, conversation);
