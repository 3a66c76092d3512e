-- Browser-test fixtures: two source systems, four records each in its own entity, and
-- two review items (Ann/Anne: to accept; Bob/Robert: to reject). Ids are looked up by
-- source key in the tests, never assumed.
INSERT INTO source_system (code, name, kind) VALUES ('crm', 'CRM', 'crm'), ('loyalty', 'Loyalty', 'loyalty');

WITH r(source, key, doc) AS (VALUES
  ('crm', 'C-1', '{"source": "crm", "source_key": "C-1", "first_name": "Ann", "last_name": "Lee", "birth_date": "1980-02-01", "emails": [{"value": "ann.lee@example.org", "type": "home"}]}'),
  ('loyalty', 'L-1', '{"source": "loyalty", "source_key": "L-1", "first_name": "Anne", "last_name": "Lee", "birth_date": "1980-02-01", "emails": [{"value": "ann.lee@example.org", "type": "home"}], "loyalty_id": "LY1"}'),
  ('crm', 'C-2', '{"source": "crm", "source_key": "C-2", "first_name": "Bob", "last_name": "Ray", "birth_date": "1975-06-30", "phones": [{"value": "+15550100", "type": "mobile"}]}'),
  ('loyalty', 'L-2', '{"source": "loyalty", "source_key": "L-2", "first_name": "Robert", "last_name": "Roy", "birth_date": "1957-06-03", "phones": [{"value": "+15550199", "type": "mobile"}]}')
)
INSERT INTO source_record (source, source_key, raw, normalized, content_hash, source_updated_at)
SELECT source, key, doc::jsonb, doc::jsonb, md5(doc), now() - interval '1 day' FROM r;

-- one entity per record, golden = the record's own values, lineage from that record
INSERT INTO entity (golden)
SELECT normalized - 'source' - 'source_key' FROM source_record ORDER BY id;
INSERT INTO membership (record_id, entity_id)
SELECT s.id, e.id FROM (SELECT id, row_number() OVER (ORDER BY id) n FROM source_record) s
JOIN (SELECT id, row_number() OVER (ORDER BY id) n FROM entity) e USING (n);
INSERT INTO golden_value (entity_id, attr, value, source_record_id, rule)
SELECT m.entity_id, kv.key, kv.value, m.record_id, 'source_trust'
FROM membership m JOIN source_record s ON s.id = m.record_id,
     jsonb_each(s.normalized - 'source' - 'source_key') kv;
INSERT INTO link_event (action, method, entity_id, record_id, actor)
SELECT 'create', 'auto', entity_id, record_id, 'system' FROM membership;

INSERT INTO review_item (kind, record_id, entity_id, score, probability, explanation)
SELECT 'record_entity', l.id, m.entity_id, 7.4, 0.86,
       '[{"field": "first_name", "level": "close", "weight": 2.3},
         {"field": "last_name", "level": "exact", "weight": 4.1},
         {"field": "birth_date", "level": "exact", "weight": 5.2},
         {"field": "emails", "level": "exact", "weight": 6.8}]'::jsonb
FROM source_record l, source_record c JOIN membership m ON m.record_id = c.id AND m.active
WHERE l.source_key = 'L-1' AND c.source_key = 'C-1';

INSERT INTO review_item (kind, record_id, entity_id, score, probability, explanation)
SELECT 'record_entity', l.id, m.entity_id, 1.1, 0.62,
       '[{"field": "first_name", "level": "close", "weight": 1.9},
         {"field": "last_name", "level": "close", "weight": 1.2},
         {"field": "birth_date", "level": "far", "weight": -3.4},
         {"field": "phones", "level": "far", "weight": -1.5}]'::jsonb
FROM source_record l, source_record c JOIN membership m ON m.record_id = c.id AND m.active
WHERE l.source_key = 'L-2' AND c.source_key = 'C-2';
