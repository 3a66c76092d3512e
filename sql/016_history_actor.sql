-- Who sent each received version of a source record: the per-record trail of ingest.
-- Single-record upserts and deletes get no audit_log row of their own (a chain append per
-- write would serialize every writer's commit), so the history names the writer: the API
-- key ("api:NAME") or the command ("cli:USER"). NULL for rows written before this
-- migration and for bulk loads (one records.load audit row per file names those).
ALTER TABLE source_record_history ADD COLUMN actor text;
COMMENT ON COLUMN source_record_history.actor IS 'Who sent this version (API key or command); NULL for bulk loads and older rows.';
