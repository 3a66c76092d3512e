/* Gauges of the store for GET /metrics: review queue depth and backlog by age, outbox head, push
 * delivery backlog and its age, dead deliveries, the last complete consent export, and when each
 * source last sent a record. Reads only, one statement each; the numbers are kept as
 * PostgreSQL printed them, so the exposition shows them unchanged. */
#ifndef MDM_MDM_GAUGES_H
#define MDM_MDM_GAUGES_H

#include "common/err.h"
#include "mdm/db.h"

#include <stddef.h>

typedef struct mdm_gauges {
    long long review_open;          /* open, claimed and deferred review items */
    long long outbox_head;          /* highest outbox seq (0: none) */
    long long deliveries_pending;   /* deliveries waiting to be sent */
    char outbox_lag_seconds[40];    /* age of the oldest pending delivery's event ("0": none) */
    long long deliveries_dead;      /* deliveries in the dead-letter state */
    char consent_export_ts[40];     /* epoch of the last complete consent export ("0": never) */
    long long review_by_age[4];     /* open review items created under a day, 1-7 days, 7-30
                                       days and 30 days or more ago */
    char review_oldest_seconds[40]; /* age of the oldest open review item ("0": none) */
} mdm_gauges;

mdm_status mdm_gauges_read(mdm_db *db, mdm_gauges *g, mdm_err *err)
    __attribute__((warn_unused_result));

/* When each registered source last sent a record: one call of fn per source, by code,
 * with the epoch seconds as text ("0": never). */
mdm_status mdm_gauges_sources(mdm_db *db, void (*fn)(void *arg, const char *code, const char *ts),
                              void *arg, mdm_err *err) __attribute__((warn_unused_result));

#endif
