-- 048_household_publish: household events to push subscriptions (issue 21).
--
-- household.created, household.changed and household.retired reach the outbox since 028;
-- a subscription now receives them when its event_types name them (opt-in: the default
-- event_types stay the six golden-record types). A delivery names either the golden
-- record (entity_id) or the household (household_id) of its event, never both, and
-- deliveries of one household to one subscription go out in seq order, as those of one
-- golden record do (mdm/publish.c claims only the head of each chain).
ALTER TABLE delivery ALTER COLUMN entity_id DROP NOT NULL;
ALTER TABLE delivery ADD COLUMN household_id bigint;
ALTER TABLE delivery ADD CONSTRAINT delivery_subject CHECK ((entity_id IS NULL) <> (household_id IS NULL));
CREATE INDEX delivery_household ON delivery (subscription_id, household_id, seq)
    WHERE state = 'pending' AND household_id IS NOT NULL;
COMMENT ON COLUMN delivery.entity_id IS 'The golden record of an entity event; NULL for a household event (household_id set).';
COMMENT ON COLUMN delivery.household_id IS 'The household of a household.* event; NULL for an entity event. Deliveries of one household to one subscription are sent in seq order.';

ALTER TABLE subscription DROP CONSTRAINT subscription_event_types_known;
ALTER TABLE subscription ADD CONSTRAINT subscription_event_types_known CHECK (
    event_types <@ ARRAY['created', 'updated', 'merged', 'split', 'consent_changed', 'deleted',
                         'household.created', 'household.changed', 'household.retired']::text[]
    AND cardinality(event_types) > 0);
COMMENT ON COLUMN subscription.event_types IS 'Outbox event types delivered to this subscription: the golden-record types by default; household.created, household.changed and household.retired only when listed.';
