-- 026_rejects: refused records can be listed, filtered and retried (issue 18, deliverable 4).
--
-- A reject is 'open' until `mdm rejects retry` ingests it ('retried', with the source
-- record it became); a retry refused again stays open with the new reasons. first_received_at
-- is when the payload was first refused (received_at moves when the same payload comes
-- again): a retry of a record without a source time of its own uses it as that time, so a
-- version sent after the reject is never overwritten by the older retried one.
ALTER TABLE record_reject
    ADD COLUMN status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'retried')),
    ADD COLUMN first_received_at timestamptz,
    ADD COLUMN retried_at timestamptz,
    ADD COLUMN retries integer NOT NULL DEFAULT 0,
    ADD COLUMN record_id bigint;
UPDATE record_reject SET first_received_at = received_at;
ALTER TABLE record_reject ALTER COLUMN first_received_at SET DEFAULT now();
ALTER TABLE record_reject ALTER COLUMN first_received_at SET NOT NULL;
CREATE INDEX record_reject_list ON record_reject (status, source, id);
COMMENT ON COLUMN record_reject.status IS 'open: still refused; retried: ingested by mdm rejects retry (record_id names the source record).';
COMMENT ON COLUMN record_reject.first_received_at IS 'When the payload was first refused; the source time of a retried record that has none of its own.';
COMMENT ON COLUMN record_reject.retried_at IS 'Time of the last retry (successful or refused again).';
COMMENT ON COLUMN record_reject.retries IS 'How many times mdm rejects retry tried the payload.';
COMMENT ON COLUMN record_reject.record_id IS 'The source record a successful retry wrote (no foreign key: erasure removes rejects of the subject).';
