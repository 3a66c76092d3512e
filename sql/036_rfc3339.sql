-- 036_rfc3339: one timestamp form in every reply and export (issue 23): RFC 3339 in UTC
-- with microseconds, "2026-12-06T05:23:42.550943Z", whatever the session's TimeZone and
-- DateStyle. Microseconds are the store's full precision, so a time read from a reply
-- compares equal to the stored one (review cursors, pins restored by an undo).
--
-- mdm_ts(t) is the form of one column; statements write `mdm_ts(created_at) AS
-- created_at`. A LANGUAGE sql function of one expression is inlined by the planner, so it
-- costs what the to_char it holds costs.
CREATE FUNCTION mdm_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
COMMENT ON FUNCTION mdm_ts(timestamptz) IS 'A time as RFC 3339 UTC with microseconds, the one timestamp form of replies, exports and events.';

-- to_jsonb() of a whole row writes timestamptz as "...+00:00" with the trailing zeros of
-- the fraction cut, so the documents built from whole rows (the subject export, the
-- erasure tombstone) go through mdm_row_json instead: to_jsonb with every timestamptz
-- column of the row's type in the form of mdm_ts. The columns come from the catalog, so a
-- timestamp column added later needs no change here.
CREATE FUNCTION mdm_row_json(r anyelement) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    j jsonb := to_jsonb(r);
    col name;
BEGIN
    FOR col IN
        SELECT a.attname FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
        WHERE t.oid = pg_typeof(r) AND a.attnum > 0 AND NOT a.attisdropped
          AND a.atttypid = 'timestamptz'::regtype
    LOOP
        IF j ->> col IS NOT NULL THEN
            j := jsonb_set(j, ARRAY[col::text], to_jsonb(mdm_ts((j ->> col)::timestamptz)));
        END IF;
    END LOOP;
    RETURN j;
END
$$;
COMMENT ON FUNCTION mdm_row_json(anyelement) IS 'to_jsonb(row) with its timestamptz columns in the form of mdm_ts (RFC 3339 UTC with microseconds).';
