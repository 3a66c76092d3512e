/* Propagation status: did a golden change reach every subscribed system, and in time?
 *
 * Reads what publishing wrote (mdm/publish_sub.h owns subscription, mdm/publish_delivery.h
 * delivery):
 * for one entity, per subscribed system, the newest entity version acknowledged and the
 * deliveries still open (pending or dead) with their age; for every subscription, how
 * many deliveries broke its propagation SLA (subscription.max_delay_seconds: the
 * longest an event may take from being written to being acknowledged). Writes nothing.
 * The figures come from the database, so every server process reports the same. */
#ifndef MDM_MDM_PROPAGATION_H
#define MDM_MDM_PROPAGATION_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdint.h>

/* *out receives {entity_id, version, systems: [{subscription_id, source, active,
 * max_delay_seconds, state ("current", "pending", "dead"), acknowledged_version,
 * acknowledged_at, open: [{delivery_id, seq, type, entity_version, state, attempts,
 * age_seconds, last_status}], oldest_open_age_seconds, over_sla}]}, one element per
 * subscription that has a delivery for the entity. MDM_ENOTFOUND for an unknown entity. */
mdm_status mdm_propagation_entity(mdm_db *db, int64_t entity_id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Appends, per subscription with an SLA, in Prometheus text:
 * mdm_propagation_sla_breaches_total (deliveries acknowledged later than the SLA, or
 * still open past it: each counted once, from the moment it is late) and
 * mdm_propagation_over_sla (open deliveries past the SLA now). */
mdm_status mdm_propagation_metrics_text(mdm_db *db, mdm_buf *out, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
