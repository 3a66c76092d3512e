-- 045_record_counters: ingest and resolution counters that tell the truth (issue 22 item 2).
-- Per-process counters of /metrics counted HTTP only and differed from process to process.
-- These count every path (HTTP upserts and deletes, NDJSON batches, `mdm load`, resolution
-- by `mdm resolve` or a load) in the database, so /metrics on any process shows the same
-- totals. A row per (path, result, shard): the shard (the backend's pid modulo 16) spreads
-- concurrent writers over rows, so counting never makes them wait on one hot row.
CREATE TABLE record_counter (
    via    text NOT NULL CHECK (via IN ('http', 'batch', 'load', 'resolve')),
    result text NOT NULL CHECK (result IN ('received', 'created', 'linked', 'merged', 'review',
                                           'updated', 'unchanged', 'stale', 'deleted',
                                           'rejected', 'pending')),
    shard  smallint NOT NULL,
    n      bigint NOT NULL DEFAULT 0 CHECK (n >= 0),
    PRIMARY KEY (via, result, shard)
);
COMMENT ON TABLE record_counter IS 'Records received and resolved since the database was created, by path (http, batch, load, resolve) and result; sum over shard. Written only by mdm/counters.c; /metrics shows them as mdm_records_total.';
COMMENT ON COLUMN record_counter.shard IS 'The writing backend''s pid modulo 16: concurrent writers update different rows.';
