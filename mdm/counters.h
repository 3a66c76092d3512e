/* Record counters of the whole deployment: how many source records arrived and what
 * became of them, by path (http: single upserts and deletes; batch: NDJSON batches; load:
 * `mdm load`; resolve: resolution of loaded records by `mdm resolve` or a load) and result
 * (received, rejected, unchanged, stale, deleted, pending, created, linked, review,
 * merged, updated). They live in the database (record_counter, migration 045), so every
 * `mdm serve` process and every command adds to the same totals and /metrics on any
 * process shows them (mdm_records_total{via, result}).
 *
 * Writers add a whole set of counts in one statement, inside the transaction of the work
 * they count (the load's chunks, resolution's batches, and with its COMMIT each record
 * received over HTTP), or on their own when there is none. Rows are sharded by backend, so
 * concurrent writers do not queue on one row. Thread-safe: the state is the database's. */
#ifndef MDM_MDM_COUNTERS_H
#define MDM_MDM_COUNTERS_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"

#include <stddef.h>

/* One count: result (one of the names above) and how many. */
typedef struct mdm_count {
    const char *result;
    long long n;
} mdm_count;

/* Adds counts[0..n) to path via ("http", "batch", "load", "resolve"). Counts of 0 and
 * unknown names are skipped (an unknown name is a programming error: asserted). */
mdm_status mdm_counters_add(mdm_db *db, const char *via, const mdm_count *counts, size_t n,
                            mdm_err *err) __attribute__((warn_unused_result));

/* mdm_counters_add at the end of the caller's transaction (inside mdm_db_run_tx's fn
 * only): the counts go out with its COMMIT, in the same round trip (mdm_db_at_commit), so
 * a one-record transaction counts what it did without a round trip of its own. */
void mdm_counters_at_commit(mdm_db *db, const char *via, const mdm_count *counts, size_t n);

/* Appends the Prometheus exposition of mdm_records_total to out: HELP, TYPE and one
 * series per path and result, 0 when nothing was counted yet. */
mdm_status mdm_counters_text(mdm_db *db, mdm_buf *out, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
