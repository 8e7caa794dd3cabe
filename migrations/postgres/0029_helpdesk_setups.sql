-- What Rateline made in a helpdesk when it set up the helpdesk's side itself (a Chatwoot
-- account webhook; a Zammad webhook and its triggers), so that it can show it, check it
-- and remove it on Disconnect. Only the helpdesk's ids: the secrets live in the connector.
CREATE TABLE helpdesk_setups (
    helpdesk TEXT NOT NULL,
    account TEXT NOT NULL,
    -- `webhook` or `trigger`.
    kind TEXT NOT NULL,
    -- The helpdesk's id of it.
    remote_id TEXT NOT NULL,
    -- Unix ms.
    made_at BIGINT NOT NULL,
    PRIMARY KEY (helpdesk, account, kind, remote_id)
);
