-- The catch-up through each helpdesk account's (instance's) API: Chatwoot posts each
-- webhook once and Zammad gives up after five tries, so Rateline reads what it missed.
-- How far each account's catch-up has read (less a margin for clocks and events in
-- flight, it starts there next time):
CREATE TABLE helpdesk_catch_ups (
    helpdesk TEXT NOT NULL,
    account TEXT NOT NULL,
    -- Unix ms, this server's clock: where the last catch-up started.
    caught_up_until BIGINT NOT NULL,
    PRIMARY KEY (helpdesk, account)
);

-- The messages (articles) applied, by their webhook or by a catch-up, so that neither
-- applies one the other did: a client's answer read again would count as the client
-- writing. Only the helpdesk's ids; forgotten once no catch-up reads that far back.
CREATE TABLE helpdesk_applied_items (
    helpdesk TEXT NOT NULL,
    account TEXT NOT NULL,
    -- `m{id}` a Chatwoot message, `u{id}` the choice tapped on it, `a{id}` a Zammad article.
    item TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (helpdesk, account, item)
);
CREATE INDEX helpdesk_applied_items_age ON helpdesk_applied_items (applied_at);
