CREATE OR REPLACE FUNCTION chatwire_bump_last_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET last_seq = NEW.seq, updated_at = NEW.created_at WHERE id = NEW.conversation_id;
    RETURN NULL;
END
$$;
