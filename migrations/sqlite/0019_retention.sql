-- `retention.days` purges the sessions closed before a cutoff, oldest first, every hour:
-- found through this index rather than by reading every session.
CREATE INDEX sessions_closed_at ON sessions (closed_at) WHERE closed_at IS NOT NULL;
