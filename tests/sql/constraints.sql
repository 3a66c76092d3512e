-- The invariants the schema itself enforces, whatever the application does.
\set ON_ERROR_STOP 0
INSERT INTO source_system (code, name, kind) VALUES ('crm', 'CRM', 'crm');
INSERT INTO source_system (code, name, kind) VALUES ('Bad Code', 'x', 'crm');
INSERT INTO source_system (code, name, kind) VALUES ('fax', 'x', 'fax');
INSERT INTO source_record (source, source_key, raw, normalized, content_hash) VALUES ('crm', 'k1', '{}', '{}', 'h');
-- unique (source, source_key)
INSERT INTO source_record (source, source_key, raw, normalized, content_hash) VALUES ('crm', 'k1', '{}', '{}', 'h2');
-- unknown source
INSERT INTO source_record (source, source_key, raw, normalized, content_hash) VALUES ('pos', 'k1', '{}', '{}', 'h');
INSERT INTO entity (id) VALUES (100), (101);
-- one active membership per source record
INSERT INTO membership (record_id, entity_id) SELECT id, 100 FROM source_record WHERE source_key = 'k1';
INSERT INTO membership (record_id, entity_id) SELECT id, 101 FROM source_record WHERE source_key = 'k1';
-- an inactive one is history and allowed
INSERT INTO membership (record_id, entity_id, active, unlinked_at) SELECT id, 101, false, now() FROM source_record WHERE source_key = 'k1';
-- a survivor pointer only on a retired entity, never to itself
UPDATE entity SET survivor_id = 100 WHERE id = 101;
UPDATE entity SET status = 'retired', survivor_id = 100 WHERE id = 101;
UPDATE entity SET status = 'retired', survivor_id = 100 WHERE id = 100;
-- consent events: status vocabulary and idempotency hash
INSERT INTO consent_event (source, source_key, purpose, channel, status, captured_at, event_hash) VALUES ('crm', 'k1', 'marketing', 'email', 'maybe', now(), 'e1');
INSERT INTO consent_event (source, source_key, purpose, channel, status, captured_at, event_hash) VALUES ('crm', 'k1', 'marketing', 'email', 'granted', now(), 'e1');
INSERT INTO consent_event (source, source_key, purpose, channel, status, captured_at, event_hash) VALUES ('crm', 'k1', 'marketing', 'email', 'granted', now(), 'e1');
-- source-role API keys are bound to a source, others are not
INSERT INTO api_key (prefix, salt, hash, role) VALUES ('p1', '\x00', '\x00', 'source');
INSERT INTO api_key (prefix, salt, hash, role, source) VALUES ('p2', '\x00', '\x00', 'reader', 'crm');
-- steward assertions are stored once per ordered pair
INSERT INTO source_record (source, source_key, raw, normalized, content_hash) VALUES ('crm', 'k2', '{}', '{}', 'h');
INSERT INTO steward_assertion (kind, record_a, record_b, actor) SELECT 'never_link', a.id, b.id, 'ann' FROM source_record a, source_record b WHERE a.source_key = 'k2' AND b.source_key = 'k1';
INSERT INTO steward_assertion (kind, record_a, record_b, actor) SELECT 'never_link', a.id, b.id, 'ann' FROM source_record a, source_record b WHERE a.source_key = 'k1' AND b.source_key = 'k2';
SELECT (SELECT count(*) FROM source_record) AS records, (SELECT count(*) FROM membership) AS memberships,
       (SELECT count(*) FROM consent_event) AS consent_events, (SELECT status FROM entity WHERE id = 101) AS e101;
