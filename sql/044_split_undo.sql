-- 044_split_undo: a split can be undone like a merge (issue 22 item 5). Every steward split
-- keeps the golden record(s) as they were just before it (the same shape as a merge
-- snapshot: version, golden, golden_value rows with lineage and chosen_at, pins, members),
-- the records that moved, and the steward assertions between the two parts that the
-- split's never_link replaced, so POST /v1/entities/{id}/unsplit restores them exactly.
CREATE TABLE split_snapshot (
    id         bigserial PRIMARY KEY,
    entity_id  bigint NOT NULL REFERENCES entity (id),
    other_id   bigint NOT NULL REFERENCES entity (id),
    created    boolean NOT NULL,
    moved      bigint[] NOT NULL CHECK (cardinality(moved) > 0),
    before     jsonb NOT NULL,
    assertions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(assertions) = 'array'),
    actor      text NOT NULL,
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    undone_at  timestamptz,
    undone_by  text,
    CHECK (entity_id <> other_id)
);
CREATE INDEX split_snapshot_entity ON split_snapshot (entity_id, id);
CREATE INDEX split_snapshot_other ON split_snapshot (other_id, id);
COMMENT ON TABLE split_snapshot IS 'A steward split as it can be undone: the golden record(s) just before it (merge_snapshot''s shape), the records moved, and the assertions between the parts it replaced. Written only by mdm/golden.c.';
COMMENT ON COLUMN split_snapshot.entity_id IS 'The golden record that was split.';
COMMENT ON COLUMN split_snapshot.other_id IS 'Where the moved records went: a golden record the split created (created) or an existing one (split into).';
COMMENT ON COLUMN split_snapshot.moved IS 'The source records that moved from entity_id to other_id.';
COMMENT ON COLUMN split_snapshot.before IS 'Per golden record id (entity_id, and other_id when it existed): {id, version, status, golden, values, pins, members} just before the split; {"erased": true} after an erasure.';
COMMENT ON COLUMN split_snapshot.assertions IS 'The steward assertions between moved and remaining records before the split (its never_link replaced them), restored by an undo.';
COMMENT ON COLUMN split_snapshot.undone_at IS 'When the split was undone (POST /v1/entities/{id}/unsplit); undone_by names the steward.';

-- An undone split labels the pairs across its parts "match" again, origin unsplit.
ALTER TABLE steward_label DROP CONSTRAINT steward_label_origin_check;
ALTER TABLE steward_label ADD CONSTRAINT steward_label_origin_check
    CHECK (origin IN ('review', 'merge', 'unmerge', 'split', 'unsplit', 'assertion'));
