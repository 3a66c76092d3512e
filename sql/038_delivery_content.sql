-- 038_delivery_content: no deliveries that change nothing (issue 22 item 4). Each delivery
-- keeps the SHA-256 of what its subscriber learns (the record as its mapping sends it and
-- the system's own keys: not the envelope's seq, ids or times). An
-- "updated" event whose content equals what the subscription's previous delivery of the
-- same golden record left with the receiver (acknowledged, or skipped as unchanged) is
-- skipped instead of sent. A replayed delivery is always sent: replayed marks it.
ALTER TABLE delivery ADD COLUMN content_hash text;
ALTER TABLE delivery ADD COLUMN replayed boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN delivery.content_hash IS 'SHA-256 (hex) of the mapped record and source_keys sent (or found unchanged); NULL when nothing was built. Written only by mdm/publish.c.';
COMMENT ON COLUMN delivery.replayed IS 'Requeued by a replay: sent even when its content is unchanged.';
