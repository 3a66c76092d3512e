-- 008_consent: derived consent state and the audit columns of consent events (issue 8).
-- Runs inside the transaction of `mdm migrate`; never edited once applied.

-- Events belong to a source record by its (source, source_key), so an event received
-- before its record (POST /v1/consent-events at sign-up) joins the record when it comes.
CREATE INDEX consent_event_key ON consent_event (source, source_key, captured_at);

ALTER TABLE consent_event
    ADD COLUMN state_before text,
    ADD COLUMN state_after  text;
COMMENT ON COLUMN consent_event.state_before IS 'Derived state of the event''s (purpose, channel, contact point) for the golden record it reached, just before the event was recorded (granted, denied, withdrawn, expired, or none).';
COMMENT ON COLUMN consent_event.state_after IS 'The same derived state just after the event was recorded; equal to state_before when a late-arriving older event changed nothing.';
COMMENT ON COLUMN consent_event.contact_point IS 'The email or phone the consent covers (lower-cased), NULL for the whole channel; replaced by [erased] on erasure.';

CREATE TABLE consent_state (
    entity_id  bigint PRIMARY KEY REFERENCES entity (id),
    state      jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE consent_state IS 'Last derived consent state emitted (consent_changed) per golden record, {"purpose/channel[/contact point]": status}; consent_changed is emitted only when a recompute differs from it.';
