/* The pending-record driver: `mdm resolve`, and `mdm load` after its chunks, resolve the
 * records a bulk load left in record_pending (new or changed records, and deletes).
 *
 * It sits above both resolvers: the set-based bulk resolution (mdm/bulk.h) for a large
 * backlog of new records, and incremental resolution (mdm/resolve.h) for the rest, so
 * neither of them calls the other. */
#ifndef MDM_MDM_PENDING_H
#define MDM_MDM_PENDING_H

#include "common/err.h"
#include "mdm/engine.h"

#include <stdio.h>

/* Resolves every record of record_pending: first set-based (mdm/bulk.h) when at least
 * bulk_min new records wait and a trained model is in use, then what is left (oldest
 * first), batch records per transaction (<= 0: 200), with `threads` connections in
 * parallel (<= 1: one). Killed at any point, a rerun finishes the work. *resolved (may be
 * NULL) receives the count. progress (may be NULL) gets a line now and then. */
mdm_status mdm_pending_resolve(const char *url, const mdm_engine *ctx, int batch, int threads,
                               FILE *progress, long *resolved, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
