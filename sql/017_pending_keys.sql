-- 017_pending_keys: lighter bookkeeping for resolution, measured at a million records.
--
-- 1. Records waiting for resolution are listed in a narrow table instead of
--    source_record.resolved_at. The partial index on resolved_at made every "resolved"
--    mark a non-HOT update: a new copy of the wide row and an entry in each of its
--    indexes (the GIN one included), once per record. Single ingests resolve in the
--    transaction that writes the record and never appear here.
CREATE TABLE record_pending (
    record_id bigint PRIMARY KEY
);
COMMENT ON TABLE record_pending IS 'Source records written by a bulk load (or a load delete) and not resolved yet; mdm resolve empties it.';
INSERT INTO record_pending (record_id) SELECT id FROM source_record WHERE resolved_at IS NULL;
DROP INDEX source_record_unresolved;
ALTER TABLE source_record DROP COLUMN resolved_at;

-- 2. Blocking keys are stored as 64-bit ids: the first 8 bytes of the key's MD5
--    (mdm_resolve_key_id computes the same in C). A fixed 8 bytes instead of the text, and
--    no contact point in clear in the index. Two keys sharing an id only add a candidate,
--    which the model scores like any other. The table is a lookup structure kept by the
--    resolver, so it no longer checks each row against source_record (a key-share lock on
--    the record per key).
ALTER TABLE blocking_key DROP CONSTRAINT blocking_key_record_id_fkey;
ALTER TABLE blocking_key ALTER COLUMN key TYPE bigint
    USING ('x' || left(md5(key), 16))::bit(64)::bigint;
COMMENT ON TABLE blocking_key IS 'Blocking keys of each source record, as 64-bit ids (mdm_resolve_key_id); candidate lookup for incremental resolution.';

-- 3. Key frequencies are counted where they are needed, reading at most key_cap + 1 rows
--    of the key's index range, instead of a counter row per key updated by every writer
--    (a hot row shared by all records of a common key).
DROP TABLE key_frequency;
