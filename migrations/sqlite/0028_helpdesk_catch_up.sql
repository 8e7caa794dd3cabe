-- How far the catch-up through each helpdesk account's (instance's) API has read: Chatwoot
-- posts each webhook once and Zammad gives up after five tries, so Rateline reads what it
-- missed, from here (less a margin for clocks and events in flight).
CREATE TABLE helpdesk_catch_ups (
    helpdesk TEXT NOT NULL,
    account TEXT NOT NULL,
    -- Unix ms, this server's clock: where the last catch-up started.
    caught_up_until BIGINT NOT NULL,
    PRIMARY KEY (helpdesk, account)
);
