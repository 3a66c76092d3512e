/* Re-resolution: every golden record evaluated again under the active model
 * (`mdm resolve --all [--dry-run]`).
 *
 * Every live, resolved source record is matched again in memory by the batch engine
 * (matching/link.h mdm_link_feats: blocking, scoring with the context's model, guarded
 * clustering), and the golden records are brought to the clusters found:
 *   - split: a golden record whose records fall into several clusters keeps its id for
 *     the largest part (ties: the part holding its oldest record); every other part is
 *     split off into a new golden record (mdm_golden_split);
 *   - merge: the golden records (or split-off parts) of one cluster are merged into the
 *     oldest id (mdm_golden_merge: the older id survives, the other points to it);
 *   - stable ids: a golden record whose records stay together keeps its id, version and
 *     history untouched.
 * Steward decisions are kept: a golden record holding a record a steward has judged
 * (steward_label, steward_assertion) is held together and never compared with another
 * such one; a merge across a never_link assertion is not made (counted as kept_apart).
 * Changes are ordinary golden-record changes: link events, new versions and 'split' /
 * 'merged' outbox events for subscribers. A dry run computes the same plan and writes
 * nothing.
 *
 * The run holds the bulk gate (MDM_LOCK_BULK, exclusively) so no ingest changes records
 * under the plan; each split and each merge is its own transaction. Records still
 * waiting for resolution (record_pending) refuse the run: resolve them first. */
#ifndef MDM_MDM_RERESOLVE_H
#define MDM_MDM_RERESOLVE_H

#include "common/err.h"
#include "mdm/db.h"
#include "mdm/ingest.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct mdm_reresolve_stats {
    long records;       /* live resolved records read */
    long entities;      /* active golden records before */
    long clusters;      /* clusters the engine found */
    long held;          /* golden records held together for a steward decision */
    long splits;        /* parts split off */
    long merges;        /* merges */
    long records_moved; /* records whose golden record changes */
    long kept_apart;    /* merges not made because of a never_link assertion */
    long entities_after;
} mdm_reresolve_stats;

/* Plans and (unless dry_run) applies the re-resolution. *changes (may be NULL) receives
 * an array of the first max_examples planned operations: {"op": "split", "entity",
 * "records": [ids]} or {"op": "merge", "into", "from", "records": n} (entity ids of
 * split-off parts are null in a dry run). threads <= 0: online CPUs. MDM_ECONFLICT when
 * records are pending, MDM_EINVAL without a trained model. */
mdm_status mdm_reresolve_all(mdm_db *db, const mdm_engine *ctx, bool dry_run, int threads,
                             const char *actor, mdm_reresolve_stats *stats, json_t **changes,
                             mdm_err *err) __attribute__((warn_unused_result));

#endif
