/* Rejects: records refused by ingest (record_reject), listed with filters and retried.
 *
 * Ingest refuses only records without a key, with nothing to match on, or malformed
 * (mdm/ingest.h); each refusal is one record_reject row with field-level reasons. The
 * payload is the record as sent (single ingest, HTTP) or {"file", "line", "record"} (mdm
 * load). A retry ingests the record again with the current configuration: accepted, the
 * reject becomes 'retried' and names the source record it wrote; refused again, it stays
 * 'open' with the new reasons. A record without a source time of its own keeps the time it
 * was first refused (first_received_at) as its source time, so a newer version sent since
 * is not overwritten (the retried one is recorded as stale). Rejects of erased subjects
 * (payload withheld) are never retried.
 *
 * Thread safety: functions use only their db argument. */
#ifndef MDM_MDM_REJECT_H
#define MDM_MDM_REJECT_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"
#include "mdm/engine.h"

#include <jansson.h>
#include <stdint.h>

typedef struct mdm_reject_filter {
    const char *source;     /* NULL: every source */
    const char *source_key; /* NULL: every key */
    const char *field;      /* a reason's field (birth_date, source_key, record, ...) */
    const char *status;     /* "open" (NULL), "retried" or "all" */
    const char *from, *to;  /* received_at in [from, to) (ISO 8601, checked by the caller) */
    int64_t after;          /* keyset cursor: ids greater than this */
    int limit;              /* 1..1000 (0: 100) */
} mdm_reject_filter;

/* Rows in id order: {id, source, source_key, status, reasons, payload, file, line,
 * received_at, first_received_at, retries, retried_at, record_id}; payload is the record
 * as JSON (a string when it is not JSON, such as a withheld one). *next is the id to pass
 * as after for the next page, 0 when this page is the last. MDM_EINVAL naming the field
 * (/status, /limit) for a bad filter. */
mdm_status mdm_reject_list(mdm_db *db, const mdm_reject_filter *f, json_t **rows, int64_t *next,
                           mdm_err *err) __attribute__((warn_unused_result));

typedef struct mdm_reject_retry_stats {
    long tried;    /* open rejects read */
    long accepted; /* ingested now (status retried) */
    long refused;  /* refused again (still open, reasons renewed) */
    long skipped;  /* payload withheld (erased subject) or of an unknown source */
} mdm_reject_retry_stats;

/* Retries every open reject matching f (status and after are ignored; limit 0 = all), in
 * id order, one transaction per record (mdm_ingest_retry). */
mdm_status mdm_reject_retry(mdm_db *db, const mdm_engine *ctx, const mdm_reject_filter *f,
                            const char *actor, mdm_reject_retry_stats *stats, mdm_err *err)
    __attribute__((warn_unused_result));

/* The COPY loader (mdm/ingest.h), inside a chunk's transaction: flags in record_reject
 * each row of its staging table load_stage, other than a delete, whose key belongs to an
 * erased subject (reason erased_subject, the newest tombstone, the payload withheld and
 * "path:line" in its place), in line order. *n receives the number of rows flagged, ids
 * (reset first) the bigint[] literal of their reject ids, for the loader to drop those
 * keys' rows from its staging table. */
mdm_status mdm_reject_flag_staged(mdm_db *db, const char *source, const char *path, mdm_buf *ids,
                                  long *n, mdm_err *err) __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: deletes the refused versions of the
 * records (a PostgreSQL bigint[] literal), matched by source and key. */
mdm_status mdm_reject_erase(mdm_db *db, const char *records, mdm_err *err)
    __attribute__((warn_unused_result));

/* Stores a refused record of source (key may be NULL): payload as sent, reasons (a JSON
 * array of field-level reasons). The same payload refused again is one row, reopened with
 * the new reasons. *id (may be NULL) receives the row's id. Inside the caller's
 * transaction. */
mdm_status mdm_reject_store(mdm_db *db, const char *source, const char *key, const char *payload,
                            const json_t *reasons, int64_t *id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Flags a record sent under the key of an erased subject (mdm/subject.h): a reject with
 * the payload withheld, reason erased_subject and the tombstone id. *id (may be NULL)
 * receives the row's id. Inside the caller's transaction. */
mdm_status mdm_reject_flag_erased(mdm_db *db, const char *source, const char *source_key,
                                  int64_t tombstone_id, int64_t *id, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
