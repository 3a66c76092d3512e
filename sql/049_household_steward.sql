-- 049_household_steward: a steward moves a person into a household or splits one (issue 21).
--
-- Households are derived from the golden records (mdm/household.c); a steward's move or
-- split is recorded here as an assertion that the derivation respects: a golden record
-- with an assertion belongs to the asserted household, whatever its address and evidence
-- say, so the next mdm resolve (or any later refresh) does not undo it. The assertion
-- holds while the golden record is active and the household is active; a later move or
-- split by a steward replaces it; erasure deletes it. Written only by mdm/household.c;
-- the reason is in the audit log (audit_personal), not here.
CREATE TABLE household_assertion (
    entity_id    bigint PRIMARY KEY REFERENCES entity (id),
    household_id bigint NOT NULL REFERENCES household (id),
    kind         text NOT NULL CHECK (kind IN ('move', 'split')),
    actor        text NOT NULL,
    role         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX household_assertion_household ON household_assertion (household_id);
COMMENT ON TABLE household_assertion IS 'A steward''s placement of a golden record in a household (move, or the split-off part of a split); the household derivation keeps it there while both are active.';
COMMENT ON COLUMN household_assertion.kind IS 'move: POST /v1/households/{id}/members; split: one of the members that left in POST /v1/households/{id}/split.';
