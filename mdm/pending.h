/* Pending records: the queue of records a bulk load left unresolved (record_pending), and
 * the driver that resolves them.
 *
 * The queue (pending.c) is the one writer of record_pending, below every module that puts
 * records on it or takes them off: the COPY loader and a single delete (mdm/ingest.h),
 * incremental and bulk resolution (mdm/resolve.h, mdm/bulk.h), erasure (mdm/subject.h).
 *
 * The driver (pending_run.c: `mdm resolve`, and `mdm load` after its chunks) sits above
 * both resolvers: the set-based bulk resolution for a large backlog of new records, and
 * incremental resolution for the rest, so neither of them calls the other.
 *
 * Thread safety: the queue functions use only their db argument, inside the caller's
 * transaction. */
#ifndef MDM_MDM_PENDING_H
#define MDM_MDM_PENDING_H

#include "common/err.h"
#include "mdm/db.h"
#include "mdm/engine.h"

#include <stdint.h>
#include <stdio.h>

/* The queue (pending.c) */

/* Puts the records ids (a PostgreSQL bigint[] literal), in its order, on the queue;
 * records already on it stay as they are. */
mdm_status mdm_pending_add(mdm_db *db, const char *ids, mdm_err *err)
    __attribute__((warn_unused_result));

/* Takes record_id off the queue (a no-op when it is not on it). */
mdm_status mdm_pending_remove(mdm_db *db, int64_t record_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Takes the records ids (a PostgreSQL bigint[] literal) off the queue: the chunk of a bulk
 * resolution, or the records of an erased subject. */
mdm_status mdm_pending_remove_ids(mdm_db *db, const char *ids, mdm_err *err)
    __attribute__((warn_unused_result));

/* Incremental resolution, once record_id is resolved into golden record entity_id: takes
 * the record off the queue and sets *entity_version to the golden record's version (read
 * in the same statement: one round trip for both). */
mdm_status mdm_pending_resolved(mdm_db *db, int64_t record_id, int64_t entity_id,
                                int *entity_version, mdm_err *err)
    __attribute__((warn_unused_result));

/* The driver (pending_run.c) */

/* Resolves every record of record_pending: first set-based (mdm/bulk.h) when at least
 * bulk_min new records wait and a trained model is in use, then what is left (oldest
 * first), batch records per transaction (<= 0: 200), with `threads` connections in
 * parallel (<= 1: one). Killed at any point, a rerun finishes the work. *resolved (may be
 * NULL) receives the count. progress (may be NULL) gets a line now and then. */
mdm_status mdm_pending_resolve(const char *url, const mdm_engine *ctx, int batch, int threads,
                               FILE *progress, long *resolved, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
