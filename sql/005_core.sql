-- 005_core: additions of the service core (ingest, resolution, golden records).

-- union survivorship keeps, per list item, the source records it came from
ALTER TABLE golden_value ADD COLUMN sources jsonb;
COMMENT ON COLUMN golden_value.sources IS 'For union rules: per list item, the ids of the source records that hold it (lineage).';

-- the same invalid payload twice is one reject row (a rerun of a killed bulk load
-- must not duplicate rejects); received_at tells when it was last seen
ALTER TABLE record_reject ADD COLUMN payload_hash text;
CREATE UNIQUE INDEX record_reject_payload ON record_reject (source, payload_hash);
COMMENT ON COLUMN record_reject.payload_hash IS 'SHA-256 of the payload: one row per distinct invalid payload of a source (NULL for rows written by other paths).';

-- search by name on golden records
CREATE INDEX entity_last_name ON entity (lower(golden->>'last_name')) WHERE status = 'active';

CREATE INDEX steward_assertion_b ON steward_assertion (record_b);
