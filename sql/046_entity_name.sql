-- 046_entity_name: an entity-level name index for the steward's free-text search (issue 16).
-- Search looked a name token up per source record (GIN containment on normalized->'keys'
-- with a recheck of the stored record, then the record's golden record), so a common name
-- cost about 25 µs per matching record: a first name alone took 11 s on 950,000 golden
-- records. entity_name holds one row per (active golden record, kind, name key): the name
-- keys of its active members, which ingest already derived (case, accents,
-- transliteration, initials and prefixes dropped, the first name's nickname class), plus
-- those of pinned names. A token is then an index-only scan of entity_name_key, and the
-- page is ranked from this table. Written only by mdm/golden.c (and mdm/bulk.c for the
-- golden records a bulk resolution creates); rows exist only for active golden records.

-- The name keys search matches on, from a canonical record's keys (normalized->'keys'):
-- one derivation for golden.c, bulk.c and the backfill below. Kinds rank as search ranks
-- them: 4 last name, 3 first name, 2 the first name's nickname class, 1 middle name.
CREATE FUNCTION mdm_name_keys(keys jsonb) RETURNS TABLE (kind smallint, key text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT k.kind, k.key FROM (VALUES (4::smallint, keys ->> 'last'), (3::smallint, keys ->> 'first'),
        (2::smallint, keys ->> 'first_canon'), (1::smallint, keys ->> 'middle')) AS k (kind, key)
    WHERE k.key <> ''
$$;
COMMENT ON FUNCTION mdm_name_keys(jsonb) IS 'The name keys of a canonical record''s keys object, as entity_name stores them: (4, last), (3, first), (2, first_canon), (1, middle), empty ones left out.';

CREATE TABLE entity_name (
    entity_id bigint NOT NULL,
    kind      smallint NOT NULL CHECK (kind BETWEEN 1 AND 4),
    key       text COLLATE "C" NOT NULL CHECK (key <> '')
);
COMMENT ON TABLE entity_name IS 'Name keys of active golden records for search: one row per (golden record, kind, key), the keys of its active members and of its pinned names. Written only by mdm/golden.c (mdm/bulk.c for the golden records a bulk resolution creates).';
COMMENT ON COLUMN entity_name.kind IS '4 last name, 3 first name, 2 nickname class of the first name, 1 middle name (mdm_name_keys; also the weight of a whole-key match in search).';
COMMENT ON COLUMN entity_name.key IS 'The comparison form ingest stores in normalized->''keys'' (lower case ASCII, one or more words); collation C, so a prefix is a byte range of entity_name_key.';

INSERT INTO entity_name (entity_id, kind, key)
SELECT DISTINCT m.entity_id, k.kind, k.key
FROM membership m
JOIN entity e ON e.id = m.entity_id AND e.status = 'active'
JOIN source_record s ON s.id = m.record_id
CROSS JOIN LATERAL mdm_name_keys(s.normalized -> 'keys') k
WHERE m.active;

ALTER TABLE entity_name ADD PRIMARY KEY (entity_id, kind, key);
CREATE INDEX entity_name_key ON entity_name (key, kind, entity_id);
COMMENT ON INDEX entity_name_key IS 'Search: a whole key or a prefix (a byte range) to its golden records, index only.';
ANALYZE entity_name;
