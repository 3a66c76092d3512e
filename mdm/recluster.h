/* One clustering for every path: the neighbourhood of a record clustered again as the
 * bulk path clusters.
 *
 * Bulk resolution (mdm/bulk.h), re-resolution (mdm/reresolve.h) and incremental
 * resolution (mdm/resolve.h) give one answer, whatever the path and the order the
 * records arrive in, because they all cluster with the same code and the same
 * statistics:
 *   - the batch engine's pipeline on the records' features (matching/link.h
 *     mdm_link_feats_ex: blocking, scoring, guarded best-first clustering);
 *   - no term-frequency adjustment (a frequency counted over one batch, or over the
 *     store at the time a record arrives, depends on the batch and the order);
 *   - shared values (a contact point held by many unrelated people) judged over every
 *     record of the store holding them (blocking_key), not over the batch;
 *   - ties between links of equal weight broken by a key of each record's source and
 *     source key (mdm_recluster_tiekey), not by the order of arrival.
 *
 * Incrementally (mdm_recluster_record), a new or changed record's neighbourhood is the
 * record, its current golden record and the golden records holding its candidates
 * scored at or above review. All their active members are clustered together, and the
 * golden records are brought to the clusters found, as re-resolution does: a golden
 * record whose records fall apart keeps its id for its largest part and the other parts
 * are split off; the golden records of one cluster merge into the oldest; the record
 * joins the golden record of its cluster or gets a new one. Each change is an ordinary
 * golden-record change (link events, versions, outbox events) in the caller's
 * transaction. A neighbourhood larger than MDM_RECLUSTER_MAX records, or holding a
 * record a steward has judged (an assertion or a decided pair), is not reclustered: the
 * caller decides record by record (mdm/resolve.c), as before. */
#ifndef MDM_MDM_RECLUSTER_H
#define MDM_MDM_RECLUSTER_H

#include "common/err.h"
#include "mdm/db.h"
#include "mdm/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MDM_RECLUSTER_MAX 200 /* records in a neighbourhood reclustered at most */

/* The tie keys of n records for clustering (matching/cluster.h tiekey): their ranks in
 * the order of decreasing information (how many of the model's comparisons the record
 * has a value for, in feats before shared values are dropped), then source, then source
 * key. Ranks of a subset keep the subset's relative order, so a neighbourhood and the
 * whole store break ties alike. */
struct mdm_model;
struct mdm_feat;
void mdm_recluster_ranks(const struct mdm_model *m, size_t n, const struct mdm_feat *feats,
                         const char *const *source, const char *const *key, uint64_t *rank);

typedef struct mdm_recluster_result {
    bool done;         /* false: not reclustered (too large, steward-judged, no model) */
    int64_t entity_id; /* the record's golden record */
    bool created;      /* a new golden record was created for the record */
    bool linked;       /* the record joined an existing golden record */
    int splits, merges;
    double link_p;     /* best probability to a record of its cluster (0 when alone) */
    json_t *link_expl; /* explanation of that pair, or NULL; owned by the caller */
    /* the best scored pair (at or above review) between the record and a record left in
     * another golden record: the caller's review item (entity 0: none) */
    int64_t review_entity;
    double review_p, review_w;
    json_t *review_expl; /* owned by the caller */
    /* the record is a bridge (matching/cluster.h): it matches golden records a hard
     * conflict keeps apart and joined none; the two best of them, for review items
     * naming the guard "bridge" (explanations owned by the caller) */
    int nbridge;
    int64_t bridge_entity[2];
    double bridge_p[2], bridge_w[2];
    json_t *bridge_expl[2];
} mdm_recluster_result;

/* Reclusters the neighbourhood of record_id (canonical form canon, borrowed; current:
 * its golden record or 0) made of the golden records entities[0..n) (its candidates'
 * at or above review), inside the caller's transaction, which holds the record's
 * blocking-key locks. On MDM_OK with out->done false nothing was written. Errors:
 * MDM_EDB, MDM_ERETRY (a lock conflict: the transaction is retried). */
mdm_status mdm_recluster_record(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                const json_t *canon, const char *source, const char *source_key,
                                int64_t current, const int64_t *entities, size_t n,
                                const char *actor, mdm_recluster_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
