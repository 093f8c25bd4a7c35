DROP INDEX messages_sender_client_key;
CREATE UNIQUE INDEX messages_sender_client_key ON messages (sender_id, client_key) WHERE client_key IS NOT NULL;
