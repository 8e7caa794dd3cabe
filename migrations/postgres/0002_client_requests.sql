-- A text reply in a chat is about the newest request sent to that client on that channel.
CREATE INDEX rating_requests_client ON rating_requests (channel, client_id, created_at);
