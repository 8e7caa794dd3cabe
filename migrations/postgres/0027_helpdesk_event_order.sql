-- The helpdesk's own `updated_at` (unix ms) of the newest conversation or ticket state
-- applied to the session: an event carrying an older state (Chatwoot's jobs and Zammad's
-- retries may deliver out of order) no longer re-credits or re-closes it. NULL until the
-- first event that carries one.
ALTER TABLE helpdesk_conversations ADD COLUMN seen_until BIGINT NULL;
