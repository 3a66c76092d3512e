-- 009_publish: what push delivery (mdm/publish.c) needs beyond 001.
-- Numbered after its issue so that parallel migrations never collide; forward-only.

CREATE TABLE publish_cursor (
    id         integer PRIMARY KEY CHECK (id = 1),
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO publish_cursor (id, last_seq) VALUES (1, 0);
COMMENT ON TABLE publish_cursor IS 'One row: the outbox seq up to which events have been fanned out into delivery rows (every seq at or below it is final).';

ALTER TABLE subscription
    ADD COLUMN origin     text NOT NULL DEFAULT 'api' CHECK (origin IN ('config', 'api')),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT subscription_event_types_known CHECK (
        event_types <@ ARRAY['created', 'updated', 'merged', 'split', 'consent_changed', 'deleted']::text[]
        AND cardinality(event_types) > 0),
    ADD CONSTRAINT subscription_mapping_object CHECK (jsonb_typeof(mapping) = 'object');
COMMENT ON COLUMN subscription.origin IS 'config: kept in step with the subscriptions section of mdm.json; api: managed through /v1/subscriptions.';
COMMENT ON COLUMN subscription.mapping IS 'Outbound field mapping {"TheirField": "canonical.path", ...}; empty = the canonical record as is.';

ALTER TABLE delivery
    ADD COLUMN created_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_attempt_at timestamptz,
    ADD COLUMN done_at         timestamptz;
COMMENT ON COLUMN delivery.last_response IS 'The receiver''s answer (first 1000 bytes) or the transport error of the last attempt.';
COMMENT ON COLUMN delivery.done_at IS 'When the delivery reached acknowledged, rejected, dead or skipped.';
CREATE INDEX delivery_state ON delivery (state, id);
