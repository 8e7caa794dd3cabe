-- The helpdesk connectors: a Chatwoot account or a Zammad instance whose conversations are
-- rated. `settings` is the connector's settings as JSON, its API token and webhook secret
-- included (write-only over HTTP). The config file's `[[chatwoot]]` and `[[zammad]]` are
-- written here at every start (`managed_by = 'config'`, read-only over HTTP); the API and
-- the Helpdesks page write the others. Every write raises `version` (the API's ETag).
CREATE TABLE connectors (
    helpdesk    TEXT   NOT NULL,
    id          TEXT   NOT NULL,
    settings    TEXT   NOT NULL,
    managed_by  TEXT   NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (helpdesk, id)
);
