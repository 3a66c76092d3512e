/* Ingest: one source record in, one golden record out, in one transaction.
 *
 * mdm_ingest runs   map -> validate -> normalize -> upsert source record -> resolve ->
 * golden update (+ outbox event)   inside one mdm_db_run_tx transaction, so a failure at
 * any step leaves nothing behind. Guarantees:
 *   - idempotent: the same content again (SHA-256 of the canonical record without
 *     source_updated_at) changes nothing: no new version, no event ("unchanged");
 *   - out of order: an update whose source_updated_at is older than the stored one is
 *     recorded in source_record_history as 'stale' and not applied ("stale");
 *   - delete (op "delete"): the record is retired, its entity recomputed; an entity left
 *     without members is retired ("deleted");
 *   - a record without a key or with nothing to match on, or malformed, is refused with
 *     field-level reasons, stored only in record_reject ("rejected"; the function still
 *     returns MDM_OK so a batch goes on; the reasons are in the result); an invalid
 *     optional value does not refuse its record (matching/canonical.h says what
 *     canonicalization accepts, drops and flags).
 *
 * The canonical record (what source_record.normalized holds) is that of
 * matching/canonical.h, the same for every path (mdm link included).
 *
 * Bulk loading (mdm load) goes through mdm_ingest_load: rows are mapped and validated in
 * C, streamed with COPY into a staging table and applied with set-based SQL in chunks
 * that each commit atomically (resumable after kill -9: a rerun skips what is already
 * there by content hash), then resolved by mdm_pending_resolve (mdm/pending.h).
 *
 * Thread safety: an mdm_engine may be shared by threads (it is read-only); each
 * thread uses its own mdm_db. */
#ifndef MDM_MDM_INGEST_H
#define MDM_MDM_INGEST_H

#include "common/err.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/engine.h"
#include "mdm/source.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What happened to one input record. */
typedef enum mdm_decision {
    MDM_DECISION_CREATED,   /* a new golden record was created for it */
    MDM_DECISION_LINKED,    /* it joined an existing golden record */
    MDM_DECISION_MERGED,    /* it bridged golden records, which were merged */
    MDM_DECISION_REVIEW,    /* a possible match went to the review queue (the record has
                             * its own golden record meanwhile) */
    MDM_DECISION_UPDATED,   /* an update of a known record, golden record recomputed */
    MDM_DECISION_UNCHANGED, /* same content as stored: nothing changed */
    MDM_DECISION_STALE,     /* older than the stored version: recorded, not applied */
    MDM_DECISION_DELETED,   /* retired */
    MDM_DECISION_REJECTED,  /* invalid: stored in record_reject only */
    MDM_DECISION_PENDING,   /* stored, resolution deferred (bulk load) */
} mdm_decision;

/* "created", "linked", ... */
const char *mdm_decision_name(mdm_decision d);

typedef struct mdm_ingest_result {
    mdm_decision decision;
    int64_t record_id;  /* source_record.id; 0 when rejected */
    int64_t entity_id;  /* golden record now holding it; 0 when rejected or deleted */
    int entity_version; /* its version after the change */
    double probability; /* best match probability (0 when none was scored) */
    int64_t review_id;  /* review_item.id when decision is REVIEW (or a bridge went to
                         * review), else 0 */
    int64_t reject_id;  /* record_reject.id when rejected */
    json_t *errors;     /* when rejected: [{"pointer": "/Email", "field": "email",
                         * "reason": "..."}]; NULL otherwise; owned, see _clear */
} mdm_ingest_result;

void mdm_ingest_result_clear(mdm_ingest_result *r); /* frees errors */

/* Ingests one record of source `source` (a configured code). record is the record in
 * the source's own layout, or already canonical (has "source_key"); borrowed. actor
 * names who sent it (API key name, "cli"); used in link events and stored with the
 * version in source_record_history (the per-record trail: single-record writes get no
 * audit_log row of their own).
 * Returns MDM_OK with *out filled (also for rejected/stale/unchanged records),
 * MDM_ENOTFOUND for an unknown source, MDM_ERETRY when the database stayed busy after
 * retries, MDM_EDB; on error nothing was written. */
mdm_status mdm_ingest(mdm_db *db, const mdm_engine *ctx, const char *source, const json_t *record,
                      const char *actor, mdm_ingest_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* mdm_ingest with the role of actor (an API key's role: source, admin, ...; NULL =
 * unknown), stored with the version in source_record_history beside the actor: consent
 * events the record carries name both (mdm/consent.h). via (NULL: not counted) names the
 * path the record came by in the deployment's record counters (mdm/counters.h: "http",
 * "batch"): the record (received) and its decision are counted in the record's own
 * transaction, sent with its COMMIT; a refused record with its record_reject row. */
mdm_status mdm_ingest_as(mdm_db *db, const mdm_engine *ctx, const char *source,
                         const json_t *record, const char *actor, const char *role, const char *via,
                         mdm_ingest_result *out, mdm_err *err) __attribute__((warn_unused_result));

/* Retries a refused record (mdm/reject.h): as mdm_ingest, except that a record without
 * a source time of its own takes default_time (ISO 8601; NULL: none), and a renewed
 * refusal is not stored (out->errors holds its reasons; the caller updates its reject). */
mdm_status mdm_ingest_retry(mdm_db *db, const mdm_engine *ctx, const char *source,
                            const json_t *record, const char *default_time, const char *actor,
                            mdm_ingest_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Deletes (retires) record source/source_key; same as ingesting {"op": "delete"}.
 * MDM_ENOTFOUND when the record was never received. via: as for mdm_ingest_as. */
mdm_status mdm_ingest_delete(mdm_db *db, const mdm_engine *ctx, const char *source,
                             const char *source_key, const char *actor, const char *via,
                             mdm_ingest_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Bulk load statistics. */
typedef struct mdm_load_stats {
    long rows;            /* input rows read */
    long inserted;        /* new source records */
    long updated;         /* changed source records */
    long unchanged;       /* same content as stored */
    long stale;           /* older than stored */
    long deleted;         /* delete rows applied */
    long rejected;        /* invalid rows (in record_reject) */
    long erased;          /* rows refused: the key belongs to an erased subject (flagged in
                             record_reject, like mdm_ingest does; see mdm/subject.h) */
    char file_sha256[65]; /* hex SHA-256 of the bytes read ("" when the file was unreadable);
                             the audit row names the input by it (stdin has no other name) */
} mdm_load_stats;

/* Loads a CSV (header row) or NDJSON file (format "csv", "ndjson", or NULL to guess from
 * the extension) of source `source` into source_record, unresolved (listed in record_pending).
 * Chunks of chunk_rows rows (<= 0: 5000) are each COPYed into a staging table and
 * applied in one transaction, so a killed load can simply be run again. Bad rows go to
 * record_reject with the file line in the payload. A row (other than a delete) whose key
 * belongs to an erased subject is refused and flagged in record_reject (reason
 * "erased_subject", tombstone id, file and line; the payload is withheld), the same rule
 * as mdm_tombstone_check_reingest, checked for the whole chunk by one statement. progress
 * (may be NULL) gets one line per chunk. actor and role (either may be NULL) name who
 * loads ("cli:USER", "admin"): stored with every history row the load writes, and so
 * with the consent events the loaded records carry. */
mdm_status mdm_ingest_load(mdm_db *db, const mdm_engine *ctx, const char *source, const char *path,
                           const char *format, int chunk_rows, FILE *progress, const char *actor,
                           const char *role, mdm_load_stats *stats, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: the records (a PostgreSQL bigint[]
 * literal) get an "erase" history row, and their raw and normalized copies are scrubbed
 * from source_record and its history (marked erased and deleted). (They leave
 * record_pending through its owner, mdm_pending_remove_ids.) */
mdm_status mdm_ingest_erase(mdm_db *db, const char *records, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
