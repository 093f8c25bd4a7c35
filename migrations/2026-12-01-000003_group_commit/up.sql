-- Messages are now inserted in batches by one statement that bumps each conversation's
-- last_seq itself, once per batch. The trigger stays for nodes of the previous release while a
-- rolling upgrade runs (their single-row insert relies on it), but it only ever raises last_seq:
-- for a batch, which has already raised it, it changes nothing.
CREATE OR REPLACE FUNCTION chatwire_bump_last_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET last_seq = NEW.seq, updated_at = NEW.created_at
    WHERE id = NEW.conversation_id AND last_seq < NEW.seq;
    RETURN NULL;
END
$$;
