-- Moves a member's read (p_read) or delivery watermark up to p_up_to (default and cap: the
-- conversation's last seq), never down, and counts the messages from others it newly covers.
-- Reading implies delivery, so a read lifts both. A function, so the caller's statement is a
-- plain SELECT the driver prepares once and plpgsql caches the plans inside.
-- seq is NULL when nothing moved.
CREATE FUNCTION chatwire_advance_watermark(
    p_conversation uuid, p_user uuid, p_up_to bigint, p_read boolean,
    OUT seq bigint, OUT covered bigint, OUT at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    old_seq bigint;
    new_seq bigint;
BEGIN
    covered := 0;
    SELECT CASE WHEN p_read THEN m.last_read_seq ELSE m.last_delivered_seq END,
           LEAST(COALESCE(p_up_to, c.last_seq), c.last_seq)
      INTO old_seq, new_seq
      FROM members m JOIN conversations c ON c.id = m.conversation_id
     WHERE m.conversation_id = p_conversation AND m.user_id = p_user
       FOR UPDATE OF m;
    IF NOT FOUND OR new_seq <= old_seq THEN
        RETURN;
    END IF;
    at := now();
    IF p_read THEN
        UPDATE members
           SET last_read_seq = new_seq, read_at = at,
               delivered_at = CASE WHEN last_delivered_seq < new_seq THEN at ELSE delivered_at END,
               last_delivered_seq = GREATEST(last_delivered_seq, new_seq)
         WHERE conversation_id = p_conversation AND user_id = p_user;
    ELSE
        UPDATE members SET last_delivered_seq = new_seq, delivered_at = at
         WHERE conversation_id = p_conversation AND user_id = p_user;
    END IF;
    seq := new_seq;
    SELECT count(*) INTO covered FROM messages x
     WHERE x.conversation_id = p_conversation AND x.seq > old_seq AND x.seq <= new_seq
       AND x.deleted_at IS NULL AND x.kind <> 'system' AND x.sender_id IS DISTINCT FROM p_user;
END
$$;
