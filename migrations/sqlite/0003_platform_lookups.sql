-- Meta webhooks name a client by its platform id, and WhatsApp statuses name the message
-- Rateline sent: both are looked up by these.
CREATE INDEX sessions_client ON sessions (channel, client_id);
CREATE INDEX rating_requests_platform_message ON rating_requests (channel, platform_message_id)
    WHERE platform_message_id IS NOT NULL;
