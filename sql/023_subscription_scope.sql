-- 023_subscription_scope: data minimization in publishing (issue 17 item 11).
--
-- A subscription receives, by default, only the changes of customers its own system
-- holds: entities with an active member record from the subscription's source, or, for
-- an entity left without members (retired, erased), one that had such a record. Scope
-- 'all' sends every customer's changes, as before.
ALTER TABLE subscription ADD COLUMN scope text NOT NULL DEFAULT 'source'
    CHECK (scope IN ('source', 'all'));
COMMENT ON COLUMN subscription.scope IS 'source: only entities with a record from the subscription''s source system (the default); all: every entity.';
-- the fan-out looks up the (past) members of an entity that has no active one left
CREATE INDEX membership_entity_any ON membership (entity_id);
COMMENT ON INDEX membership_entity_any IS 'Members of an entity, active or not: the publishing scope of retired and erased entities.';
