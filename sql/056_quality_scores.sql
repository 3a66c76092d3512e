-- 056_quality_scores: one definition of the data-quality scores (issue 21, docs/QUALITY.md).
--
-- The scores were SQL text inside mdm/quality.c, read by the entity reply alone. The golden
-- export, the change events (entity events in the outbox, so push deliveries and the change
-- feed) and the Prometheus histograms need the same numbers, so the definition moves here
-- as functions that every reader calls: mdm/quality.c (entity reply, record reply, report,
-- histograms, filters), mdm/outbox.c (events written one at a time), mdm/bulk.c (the
-- set-based events of a bulk resolution) and mdm/query.c (the golden export). Nothing is
-- stored: a score is computed when read (freshness depends on the time of reading; inside
-- a transaction, on its start, now()).

-- Values a canonical record (a source record's normalized, or a golden record) sent: first
-- name, last name, birth date, each e-mail, phone and address, and each value ingest left
-- out as invalid (an issue with "dropped": true). One expression without a subquery, so
-- PostgreSQL inlines it (a subquery made it a function call of about 14 µs per record).
CREATE FUNCTION mdm_quality_sent(n jsonb) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (coalesce(n->>'first_name', '') <> '')::int + (coalesce(n->>'last_name', '') <> '')::int
        + (coalesce(n->>'birth_date', '') <> '')::int
        + CASE WHEN jsonb_typeof(n->'emails') = 'array' THEN jsonb_array_length(n->'emails') ELSE 0 END
        + CASE WHEN jsonb_typeof(n->'phones') = 'array' THEN jsonb_array_length(n->'phones') ELSE 0 END
        + CASE WHEN jsonb_typeof(n->'addresses') = 'array' THEN jsonb_array_length(n->'addresses') ELSE 0 END
        + CASE WHEN jsonb_typeof(n->'issues') = 'array' THEN
            jsonb_array_length(jsonb_path_query_array(n->'issues', '$[*] ? (@.dropped == true)')) ELSE 0 END
$$;
COMMENT ON FUNCTION mdm_quality_sent(jsonb) IS 'Values a canonical record sent (names, birth date, each contact and address, and each value dropped as invalid): the denominator of validity.';

-- Values flagged on a canonical record: its issues.
CREATE FUNCTION mdm_quality_flagged(n jsonb) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(n->'issues') = 'array' THEN jsonb_array_length(n->'issues') ELSE 0 END
$$;
COMMENT ON FUNCTION mdm_quality_flagged(jsonb) IS 'Values flagged on a canonical record (its issues): the numerator of 1 - validity.';

-- Share of six attributes present: first name, last name, birth date, an e-mail, a phone,
-- an address with a street line; three decimals.
CREATE FUNCTION mdm_quality_completeness(n jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(((coalesce(n->>'first_name', '') <> '')::int + (coalesce(n->>'last_name', '') <> '')::int
        + (coalesce(n->>'birth_date', '') <> '')::int
        + (CASE WHEN jsonb_typeof(n->'emails') = 'array' THEN jsonb_array_length(n->'emails') ELSE 0 END > 0)::int
        + (CASE WHEN jsonb_typeof(n->'phones') = 'array' THEN jsonb_array_length(n->'phones') ELSE 0 END > 0)::int
        + (coalesce(n->'addresses'->0->>'line1', '') <> '')::int) / 6.0, 3)
$$;
COMMENT ON FUNCTION mdm_quality_completeness(jsonb) IS 'Completeness of a canonical record: share of first name, last name, birth date, an e-mail, a phone and an address with a street line (0..1, three decimals).';

-- 1 - flagged / sent, at least 0; three decimals.
CREATE FUNCTION mdm_quality_validity(sent bigint, flagged bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(greatest(0, 1 - flagged::numeric / greatest(sent, 1)), 3)
$$;
COMMENT ON FUNCTION mdm_quality_validity(bigint, bigint) IS 'Validity from values sent and values flagged: 1 - flagged / sent, at least 0 (three decimals).';

-- 1 - days since t / 1095, at least 0 (three decimals); NULL for a NULL time.
CREATE FUNCTION mdm_quality_freshness(t timestamptz) RETURNS numeric
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT round(greatest(0, 1 - extract(epoch FROM now() - t) / 86400 / 1095)::numeric, 3)
$$;
COMMENT ON FUNCTION mdm_quality_freshness(timestamptz) IS 'Freshness of a record last updated at t: 1 - days since / 1095, at least 0 (three decimals).';

CREATE FUNCTION mdm_quality_days(t timestamptz) RETURNS int
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT floor(extract(epoch FROM now() - t) / 86400)::int
$$;
COMMENT ON FUNCTION mdm_quality_days(timestamptz) IS 'Whole days since t (freshness_days).';

-- The scores of one source record: its canonical record n, updated at t.
CREATE FUNCTION mdm_quality_record(n jsonb, t timestamptz) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('completeness', mdm_quality_completeness(n),
        'validity', mdm_quality_validity(mdm_quality_sent(n), mdm_quality_flagged(n)),
        'freshness', mdm_quality_freshness(t), 'freshness_days', mdm_quality_days(t))
$$;
COMMENT ON FUNCTION mdm_quality_record(jsonb, timestamptz) IS 'Scores of a source record (normalized, change time): {completeness, validity, freshness, freshness_days}.';

-- The scores of a golden record g from its active, not deleted member records (their
-- canonical records ns and change times ts, in the same order): completeness of g, validity
-- over all members' values, consistency (share of first name, last name and birth date on
-- which the members that hold one agree, by comparison key; 1 when none holds any), and the
-- freshness of the newest member (NULL without members). PL/pgSQL, one pass over the
-- members: as one SQL statement (subqueries over unnest, count(DISTINCT)) it cost about
-- 0.4 ms per golden record, too much for the events of a bulk resolution.
CREATE FUNCTION mdm_quality_golden(g jsonb, ns jsonb[], ts timestamptz[]) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    n jsonb;
    v text;
    i int := 0;
    sent bigint;
    flagged bigint;
    newest timestamptz;
    k text[] := ARRAY[NULL, NULL, NULL]; -- the first dob, last and first key seen
    more boolean[] := ARRAY[false, false, false]; -- another value seen after it
    names text[] := ARRAY['dob', 'last', 'first'];
    have int := 0;
    agree int := 0;
BEGIN
    IF ns IS NOT NULL AND cardinality(ns) > 0 THEN
        sent := 0;
        flagged := 0;
        FOREACH n IN ARRAY ns LOOP
            i := i + 1;
            sent := sent + mdm_quality_sent(n);
            flagged := flagged + mdm_quality_flagged(n);
            newest := greatest(newest, ts[i]);
            FOR j IN 1..3 LOOP
                v := n->'keys'->>names[j];
                IF v IS NOT NULL THEN
                    IF k[j] IS NULL THEN
                        k[j] := v;
                    ELSIF v <> k[j] THEN
                        more[j] := true;
                    END IF;
                END IF;
            END LOOP;
        END LOOP;
    END IF;
    FOR j IN 1..3 LOOP
        IF k[j] IS NOT NULL THEN
            have := have + 1;
            IF NOT more[j] THEN
                agree := agree + 1;
            END IF;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('completeness', mdm_quality_completeness(g),
        'validity', mdm_quality_validity(sent, flagged),
        'consistency', round(CASE WHEN have = 0 THEN 1 ELSE agree::numeric / have END, 3),
        'freshness', mdm_quality_freshness(newest), 'freshness_days', mdm_quality_days(newest));
END
$$;
COMMENT ON FUNCTION mdm_quality_golden(jsonb, jsonb[], timestamptz[]) IS 'Scores of a golden record from its member records: {completeness, validity, consistency, freshness, freshness_days}.';

-- The scores of golden record id as stored now (its golden values and active members).
CREATE FUNCTION mdm_quality_entity(id bigint) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT mdm_quality_golden((SELECT e.golden FROM entity e WHERE e.id = $1),
        array_agg(sr.normalized ORDER BY sr.id),
        array_agg(COALESCE(sr.source_updated_at, sr.received_at) ORDER BY sr.id))
    FROM membership mb JOIN source_record sr ON sr.id = mb.record_id AND NOT sr.deleted
    WHERE mb.entity_id = $1 AND mb.active
$$;
COMMENT ON FUNCTION mdm_quality_entity(bigint) IS 'Scores of a golden record as stored (mdm_quality_golden over its active, not deleted members).';

-- Whether scores (an object from the functions above) lie within bounds, a filter of the
-- review queue and of search: {"min_completeness": 0.5, "max_validity": 0.9, ...}, each
-- min_X / max_X an inclusive bound on score X. A score that is absent or null fails its
-- bound; no bounds pass.
CREATE FUNCTION mdm_quality_within(scores jsonb, bounds jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(bool_and(coalesce(CASE WHEN left(b.key, 4) = 'min_'
            THEN (scores->>substr(b.key, 5))::numeric >= b.value::numeric
            ELSE (scores->>substr(b.key, 5))::numeric <= b.value::numeric END, false)), true)
    FROM jsonb_each_text(bounds) b
$$;
COMMENT ON FUNCTION mdm_quality_within(jsonb, jsonb) IS 'Whether data-quality scores lie within bounds {min_X|max_X: number} (inclusive; a missing score fails its bound).';
