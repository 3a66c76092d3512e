-- 029_relations: typed relationships between golden records asserted by stewards
-- (issue 21). Derived relationships (same household, same address) are read from the
-- household tables of 028; only a steward's "related" assertion is stored. Nothing here
-- is read by matching: a relationship is never evidence that two records are one person.

CREATE TABLE entity_relation (
    id         bigserial PRIMARY KEY,
    entity_a   bigint NOT NULL REFERENCES entity (id),
    entity_b   bigint NOT NULL REFERENCES entity (id),
    kind       text NOT NULL DEFAULT 'related' CHECK (kind IN ('related')),
    reason     text NOT NULL CHECK (reason <> '' AND length(reason) <= 500),
    actor      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (entity_a < entity_b),
    UNIQUE (entity_a, entity_b)
);
CREATE INDEX entity_relation_b ON entity_relation (entity_b);
COMMENT ON TABLE entity_relation IS 'Steward-asserted relationships between golden records (kind related, with a reason); reads follow merged ids to their survivors. Written only by mdm/relation.c; erasure deletes the rows of the erased subject.';
COMMENT ON COLUMN entity_relation.reason IS 'The steward''s reason (may name people: erasure deletes the row).';
