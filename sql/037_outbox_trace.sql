-- 037_outbox_trace: the W3C trace context of the request that caused each event (issue 23
-- item 5). The HTTP server writes its request span's traceparent with every outbox event
-- (mdm/trace.h); each delivery attempt of the event continues that trace with a span
-- of its own and sends it as the webhook's traceparent header. NULL for events written
-- outside a request (mdm load, mdm resolve): their deliveries start a trace.
ALTER TABLE outbox ADD COLUMN traceparent text
    CHECK (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');
COMMENT ON COLUMN outbox.traceparent IS 'W3C traceparent of the request span that caused the event (NULL outside a request); written only by mdm/outbox.c.';
