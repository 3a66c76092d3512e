-- 007_steward_labels: labelled record pairs from steward decisions, and merge snapshots
-- that let a manual or automatic merge be undone exactly.
-- Runs inside the transaction of `mdm migrate`; never edited once applied.

CREATE TABLE steward_label (
    id          bigserial PRIMARY KEY,
    record_a    bigint NOT NULL REFERENCES source_record (id),
    record_b    bigint NOT NULL REFERENCES source_record (id),
    label       text NOT NULL CHECK (label IN ('match', 'no_match')),
    auto_linked boolean NOT NULL,
    origin      text NOT NULL CHECK (origin IN ('review', 'merge', 'unmerge', 'split', 'assertion')),
    review_id   bigint REFERENCES review_item (id),
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (record_a < record_b)
);
CREATE INDEX steward_label_pair ON steward_label (record_a, record_b, id);
COMMENT ON TABLE steward_label IS 'Every steward decision as labelled record pairs (the latest label of a pair wins): ground truth for `mdm eval --labels` and for re-training.';
COMMENT ON COLUMN steward_label.auto_linked IS 'Whether automation had the two records in one entity when the steward decided (a split of an automatic link is a false positive).';

CREATE TABLE merge_snapshot (
    id          bigserial PRIMARY KEY,
    survivor_id bigint NOT NULL REFERENCES entity (id),
    retired_id  bigint NOT NULL REFERENCES entity (id),
    before      jsonb NOT NULL,
    actor       text NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    undone_at   timestamptz,
    undone_by   text
);
CREATE INDEX merge_snapshot_survivor ON merge_snapshot (survivor_id, id);
CREATE INDEX merge_snapshot_retired ON merge_snapshot (retired_id, id);
COMMENT ON TABLE merge_snapshot IS 'The two golden records as they were just before a merge (version, golden, golden_value rows with lineage, pins, members), so an unmerge restores them exactly.';
