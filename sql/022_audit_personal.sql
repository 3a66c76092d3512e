-- 022_audit_personal: the audit chain holds no personal data (issue 17 item 2).
--
-- Rows of audit_log can never change, so a value written into one outlives an erasure.
-- From now on a person's free-text reason and every value a caller marks personal (a
-- pinned value) is kept here, and the chained row holds only a reference to this row
-- and the salted SHA-256 of the value ("[personal 12 sha256:...]" or
-- {"$personal": 12, "sha256": "..."}). Erasure deletes the rows linked to the subject's
-- entities or records: the value and its salt are gone, the chain is unchanged and
-- still verifies, and the salted hash left behind cannot be tested against guesses.
CREATE TABLE audit_personal (
    id         bigint PRIMARY KEY,
    audit_id   bigint NOT NULL, -- audit_log.id (no foreign key: mdm audit verify reports an orphan)
    value      text NOT NULL,
    salt       text NOT NULL,
    sha256     text NOT NULL,
    entity_ids bigint[] NOT NULL DEFAULT '{}',
    record_ids bigint[] NOT NULL DEFAULT '{}'
);
CREATE SEQUENCE audit_personal_id_seq OWNED BY audit_personal.id;
CREATE INDEX audit_personal_audit ON audit_personal (audit_id);
CREATE INDEX audit_personal_entities ON audit_personal USING gin (entity_ids);
CREATE INDEX audit_personal_records ON audit_personal USING gin (record_ids);
COMMENT ON TABLE audit_personal IS 'Personal values of audit_log rows (steward reasons, pinned values), referenced from the chained row by id and salted SHA-256; erasure deletes the rows of the subject''s entities and records.';
COMMENT ON COLUMN audit_personal.sha256 IS 'Lower-case hex SHA-256 of the salt''s bytes followed by the value''s UTF-8 bytes; the chained row holds the same text.';
COMMENT ON COLUMN audit_personal.entity_ids IS 'Entities the value is about (from the audit row''s target when it was written); erasure matches the subject set.';
COMMENT ON COLUMN audit_personal.record_ids IS 'Source records the value is about (members of those entities, ever); erasure matches the subject''s records.';
