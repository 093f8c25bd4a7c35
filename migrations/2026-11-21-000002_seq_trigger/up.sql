-- The insert of a message reads `last_seq + 1` under a row lock on its conversation; this
-- trigger writes the new seq back in the same statement. The insert is then a plain
-- INSERT ... SELECT ... FOR UPDATE that the driver can prepare once and reuse.
-- Compatible with the previous code, which bumped last_seq itself: the trigger writes the same value.
CREATE FUNCTION chatwire_bump_last_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET last_seq = NEW.seq, updated_at = NEW.created_at WHERE id = NEW.conversation_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_bump_last_seq AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION chatwire_bump_last_seq();
