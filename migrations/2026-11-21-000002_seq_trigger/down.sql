DROP TRIGGER messages_bump_last_seq ON messages;
DROP FUNCTION chatwire_bump_last_seq();
