-- 025_propagation_sla: how long a subscribed system may wait for a golden change
-- (issue 22 item 1). GET /v1/entities/{id}/propagation and the mdm_propagation_* metrics
-- compare each delivery's delay (from the event to its acknowledgement, or to now while
-- it is open) with it.
ALTER TABLE subscription ADD COLUMN max_delay_seconds integer
    CHECK (max_delay_seconds BETWEEN 1 AND 2592000);
COMMENT ON COLUMN subscription.max_delay_seconds IS 'Propagation SLA: the longest a change may take to be acknowledged by this system (NULL: none).';
-- the propagation of one entity reads its deliveries of every subscription
CREATE INDEX delivery_entity_all ON delivery (entity_id, subscription_id, seq);
