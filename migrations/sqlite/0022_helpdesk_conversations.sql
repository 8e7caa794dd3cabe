-- A session opened from a helpdesk's conversation (a Chatwoot conversation, a Zammad
-- ticket): where its rating request and follow-ups are posted. `medium` is the helpdesk's
-- own channel of the conversation (Chatwoot's inbox channel_type, e.g. Channel::Whatsapp),
-- which decides whether buttons show and whether Meta's 24-hour window applies.
-- `address` is where a message to the client must be addressed when the helpdesk needs
-- it (a Zammad e-mail article's `to`): personal data, which erasure clears. Retention
-- deletes the row with its session.
CREATE TABLE helpdesk_conversations (
    session_id   TEXT   PRIMARY KEY,
    helpdesk     TEXT   NOT NULL,
    account      TEXT   NOT NULL,
    conversation TEXT   NOT NULL,
    medium       TEXT   NOT NULL,
    address      TEXT   NULL,
    created_at   BIGINT NOT NULL
);

-- A ticket a helpdesk opened for a client's answer to another conversation's request
-- (Zammad files a Telegram or SMS message after the close in a new ticket): it belongs to
-- that session and is never rated itself. Retention deletes it with the session.
CREATE TABLE helpdesk_answer_tickets (
    helpdesk     TEXT   NOT NULL,
    account      TEXT   NOT NULL,
    conversation TEXT   NOT NULL,
    session_id   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (helpdesk, account, conversation)
);

-- A helpdesk's conversation is credited to its assignee at the resolve, and the assignee
-- may change while it is open. An open session counts nowhere in the report (a session
-- counts from its close), so its operator may change until then; a closed one's never does.
DROP TRIGGER report_keep_session_keys;
CREATE TRIGGER report_keep_session_keys
BEFORE UPDATE OF line_id, operator_id, channel ON sessions
WHEN OLD.line_id IS NOT NEW.line_id OR OLD.channel IS NOT NEW.channel
  OR (OLD.operator_id IS NOT NEW.operator_id AND OLD.closed_at IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'a session''s line and channel never change, nor its operator once it closed');
END;
