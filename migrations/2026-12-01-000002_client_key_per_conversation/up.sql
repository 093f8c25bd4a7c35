-- An idempotency key (native client_key / Idempotency-Key, rooms temp_id) is unique per sender
-- within one conversation, not across all of them: rooms clients number temp_ids per room.
-- Existing rows satisfy the new index: the old one was stricter.
DROP INDEX messages_sender_client_key;
CREATE UNIQUE INDEX messages_sender_client_key ON messages (conversation_id, sender_id, client_key)
    WHERE client_key IS NOT NULL;
