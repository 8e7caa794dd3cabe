-- A session opened from a helpdesk's conversation (a Chatwoot conversation, a Zammad
-- ticket): where its rating request and follow-ups are posted. `medium` is the helpdesk's
-- own channel of the conversation (Chatwoot's inbox channel_type, e.g. Channel::Whatsapp),
-- which decides whether buttons show and whether Meta's 24-hour window applies. It names
-- no person: erasure leaves it, retention deletes it with its session.
CREATE TABLE helpdesk_conversations (
    session_id   TEXT   PRIMARY KEY,
    helpdesk     TEXT   NOT NULL,
    account      TEXT   NOT NULL,
    conversation TEXT   NOT NULL,
    medium       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);

-- A helpdesk's conversation is credited to its assignee at the resolve, and the assignee
-- may change while it is open. An open session counts nowhere in the report (a session
-- counts from its close), so its operator may change until then; a closed one's never does.
DROP TRIGGER report_keep_session_keys ON sessions;
CREATE TRIGGER report_keep_session_keys
BEFORE UPDATE OF line_id, operator_id, channel ON sessions
FOR EACH ROW
WHEN (OLD.line_id IS DISTINCT FROM NEW.line_id OR OLD.channel IS DISTINCT FROM NEW.channel
      OR (OLD.operator_id IS DISTINCT FROM NEW.operator_id AND OLD.closed_at IS NOT NULL))
EXECUTE FUNCTION report_keep_keys();
