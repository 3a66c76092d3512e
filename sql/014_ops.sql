-- Indexes for the operations gauges of /metrics (docs/OPERATIONS.md): the newest record
-- of each source (stale sources) and the last consent audit export (consent-export age)
-- are read at every scrape, so they must be index lookups, not scans.
CREATE INDEX source_record_received ON source_record (source, received_at);
CREATE INDEX audit_log_action_at ON audit_log (action, at);
COMMENT ON INDEX source_record_received IS 'Newest record per source: mdm_source_last_received_timestamp_seconds.';
COMMENT ON INDEX audit_log_action_at IS 'Last consent.export row: mdm_consent_export_last_timestamp_seconds.';
