DROP FUNCTION chatwire_advance_watermark(uuid, uuid, bigint, boolean);
