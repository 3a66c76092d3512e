/* Bulk resolution: every pending new record at once, set-based (`mdm resolve`, `mdm load`).
 *
 * mdm_pending_resolve (mdm/pending.h) runs it first when at least resolve.bulk_min new
 * records wait and a trained model is in use; what it leaves goes record by record
 * through the incremental path.
 *
 *   1. gate: the session advisory lock MDM_LOCK_BULK, taken exclusively; every
 *      transaction that writes source records or resolves takes it shared first
 *      (mdm_resolve_gate), so nothing changes or resolves under the bulk run (single
 *      ingests and load chunks wait meanwhile);
 *   2. read: the pending records (record_pending) that are new (no active membership, not
 *      deleted, named by no steward assertion), with source, change time and canonical
 *      form;
 *   3. features and blocking keys with the trained model, on all threads; settled
 *      records sharing a key with them (keys held by at most key_cap records) are read as
 *      candidates, with their golden record;
 *   4. matching: matching/link.h mdm_link_feats — the batch engine's blocking, scoring
 *      and guarded clustering; the settled members of one golden record are held together;
 *   5. plan per cluster: no settled record -> a new golden record; settled records of one
 *      golden record -> the new records join it; of two or more -> the new records are
 *      left to the incremental path (it merges or queues a review on entity-level
 *      evidence). A scored pair in the review band (or a link the guards refused) between
 *      two clusters gives one record_entity review item per pair of clusters;
 *   6. write: clusters in chunks, all in one transaction — entities, their first
 *      version, memberships, link events, golden values (survivorship in C, mdm/survive.h,
 *      exactly as a recompute computes them), outbox 'created' events, consent state,
 *      blocking key ids, review items — COPYed into temporary tables and applied with
 *      set-based SQL by the tables' owners; then the records off record_pending
 *      (mdm_pending_remove_ids). Records joining a settled golden record go
 *      through mdm_golden_link_many (one recompute per golden record); records with
 *      consent events through mdm_consent_ingest.
 * One transaction: a run killed at any point leaves nothing, and the next run plans from
 * the same records, so it ends exactly as an uninterrupted run (the plan is deterministic
 * for a given database content). */
#ifndef MDM_MDM_BULK_H
#define MDM_MDM_BULK_H

#include "common/err.h"
#include "mdm/db.h"
#include "mdm/engine.h"

#include <stdio.h>

typedef struct mdm_bulk_stats {
    long records;  /* pending new records read */
    long settled;  /* settled records read as candidates */
    long entities; /* golden records created */
    long created;  /* records in them */
    long linked;   /* records that joined a settled golden record */
    long deferred; /* records left to the incremental path */
    long review;   /* review items queued */
    double t_read, t_match, t_write;
} mdm_bulk_stats;

/* Runs the bulk resolution on db (its own connection: the gate is a session lock held
 * until the end). Does nothing (MDM_OK, all counts 0) without a trained model. chunk:
 * records per write transaction (whole clusters; <= 0: 10000). progress (may be NULL)
 * gets a line per phase. threads <= 0: the online CPUs. */
mdm_status mdm_bulk_resolve(mdm_db *db, const mdm_engine *ctx, int threads, int chunk,
                            FILE *progress, mdm_bulk_stats *stats, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
