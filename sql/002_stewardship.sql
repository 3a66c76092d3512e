-- 002_stewardship: audit chain head and append-only guard, review-item evidence stamp.
-- Runs inside the transaction of `mdm migrate`; never edited once applied.

-- Audit log -------------------------------------------------------------------------------

CREATE TABLE audit_head (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id   bigint NOT NULL DEFAULT 0,
    last_hash text NOT NULL DEFAULT repeat('0', 64),
    rows      bigint NOT NULL DEFAULT 0
);
INSERT INTO audit_head DEFAULT VALUES;
COMMENT ON TABLE audit_head IS 'The one row naming the last audit_log row and its hash: rows deleted at the end of the chain are detected against it.';

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
COMMENT ON FUNCTION audit_log_refuse_change() IS 'Trigger function refusing UPDATE, DELETE and TRUNCATE on audit_log.';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE INDEX audit_log_target ON audit_log (target, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- Review queue ----------------------------------------------------------------------------

ALTER TABLE review_item ADD COLUMN scored_at timestamptz NOT NULL DEFAULT now();
COMMENT ON COLUMN review_item.scored_at IS 'When score and explanation were computed; a side that changed after it (a newer record, a merged entity) makes the item re-scored or superseded.';
CREATE INDEX review_item_other ON review_item (other_entity_id) WHERE other_entity_id IS NOT NULL;
CREATE INDEX review_item_record ON review_item (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX review_item_sort_created ON review_item (created_at, id) WHERE status IN ('open', 'claimed', 'deferred');
