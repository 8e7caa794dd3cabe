-- When each API key was last used, to the minute: noted in memory on each call and written
-- every minute by the scheduler, so a call itself never writes (docs/security.md).
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT NULL;
