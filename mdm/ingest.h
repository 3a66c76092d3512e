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
 * there by content hash), then resolved by mdm_resolve_pending (mdm/resolve.h).
 *
 * Thread safety: an mdm_ingest_ctx may be shared by threads (it is read-only); each
 * thread uses its own mdm_db. */
#ifndef MDM_MDM_INGEST_H
#define MDM_MDM_INGEST_H

#include "common/err.h"
#include "mdm/config.h"
#include "mdm/db.h"
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

/* Shared, read-only settings for ingest and resolution. */
typedef struct mdm_ingest_ctx mdm_ingest_ctx;

/* Builds the context from cfg: sources, resolve thresholds, survivorship rules. Returns
 * NULL with err (MDM_EINVAL naming the configuration key) on bad configuration. The
 * model (match weights) is read from the active match_model row on first use by each
 * connection, or the built-in default when there is none. */
mdm_ingest_ctx *mdm_ingest_ctx_new(const mdm_config *cfg, mdm_err *err);
/* Same from parts (tests): sources array, "resolve", "survivorship" and "model"
 * sections (each may be NULL), default country (NULL: "US"). */
mdm_ingest_ctx *mdm_ingest_ctx_new_json(const json_t *sources, const json_t *resolve,
                                        const json_t *survivorship, const json_t *model,
                                        const char *default_country, mdm_err *err);
void mdm_ingest_ctx_free(mdm_ingest_ctx *ctx); /* NULL is a no-op */
/* Replaces the field length limits (matching/limits.h; mdm_ingest_ctx_new reads them from the
 * "limits" section, mdm_ingest_ctx_new_json starts with the defaults). Call before
 * sharing ctx between threads. */
struct mdm_limits;
void mdm_ingest_ctx_set_limits(mdm_ingest_ctx *ctx, const struct mdm_limits *limits);

/* The matching model. The "model" configuration section is {"path": FILE} (a model
 * trained by `mdm train`, e.g. demo/model.json), an inline trained model document, or
 * overrides of the built-in weights ({"prior", "weights"}, mdm/resolve.h). The active row
 * of match_model (a trained model document, or the weights layout) replaces it: call
 * mdm_ingest_ctx_use_db_model.
 * Call once at start-up, before sharing ctx between threads. *version receives the
 * match_model version used (0 = configuration or built-in). */
mdm_status mdm_ingest_ctx_use_db_model(mdm_ingest_ctx *ctx, mdm_db *db, int *version, mdm_err *err)
    __attribute__((warn_unused_result));

/* Parts of the context, for mdm/resolve.c and mdm/golden.c. */
const mdm_sources *mdm_ingest_sources(const mdm_ingest_ctx *ctx);
const struct mdm_resolve_settings *mdm_ingest_resolve_settings(const mdm_ingest_ctx *ctx);
const struct mdm_resolve_model *mdm_ingest_model(const mdm_ingest_ctx *ctx);
const struct mdm_survive_config *mdm_ingest_survive(const mdm_ingest_ctx *ctx);
/* The trained engine model (matching/model.h) or NULL when the built-in weights apply. */
const struct mdm_model *mdm_ingest_engine(const mdm_ingest_ctx *ctx);
/* The match_model version the model came from (0: configuration or built-in). */
int mdm_ingest_engine_version(const mdm_ingest_ctx *ctx);

/* Normalizer handles (matching/normalize.h) from a process-wide pool: one per thread at
 * a time, given back after use. NULL with err when ICU cannot be initialised. */
struct mdm_norm *mdm_ingest_norm_acquire(mdm_err *err);
void mdm_ingest_norm_release(struct mdm_norm *n); /* NULL is a no-op */

/* Ingests one record of source `source` (a configured code). record is the record in
 * the source's own layout, or already canonical (has "source_key"); borrowed. actor
 * names who sent it (API key name, "cli"); used in link events and stored with the
 * version in source_record_history (the per-record trail: single-record writes get no
 * audit_log row of their own).
 * Returns MDM_OK with *out filled (also for rejected/stale/unchanged records),
 * MDM_ENOTFOUND for an unknown source, MDM_ERETRY when the database stayed busy after
 * retries, MDM_EDB; on error nothing was written. */
mdm_status mdm_ingest(mdm_db *db, const mdm_ingest_ctx *ctx, const char *source,
                      const json_t *record, const char *actor, mdm_ingest_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Retries a refused record (mdm/reject.h): as mdm_ingest, except that a record without
 * a source time of its own takes default_time (ISO 8601; NULL: none), and a renewed
 * refusal is not stored (out->errors holds its reasons; the caller updates its reject). */
mdm_status mdm_ingest_retry(mdm_db *db, const mdm_ingest_ctx *ctx, const char *source,
                            const json_t *record, const char *default_time, const char *actor,
                            mdm_ingest_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Deletes (retires) record source/source_key; same as ingesting {"op": "delete"}.
 * MDM_ENOTFOUND when the record was never received. */
mdm_status mdm_ingest_delete(mdm_db *db, const mdm_ingest_ctx *ctx, const char *source,
                             const char *source_key, const char *actor, mdm_ingest_result *out,
                             mdm_err *err) __attribute__((warn_unused_result));

/* Maps and validates without writing (matching/canonical.h mdm_canonicalize with the
 * source's definition, the context's default country and limits, a pooled normalizer):
 * *canonical receives the canonical record (new reference) or NULL with *errors (new
 * reference, as in mdm_ingest_result.errors). Used by mdm_ingest, the bulk loader and the
 * read-only match endpoint. */
mdm_status mdm_ingest_canonicalize(const mdm_ingest_ctx *ctx, const mdm_source *src,
                                   const json_t *record, json_t **canonical, json_t **errors,
                                   mdm_err *err) __attribute__((warn_unused_result));

/* Comparison forms used by search: the canonical key of an e-mail address (new string,
 * or NULL when it is not one) and the E.164 form of a phone number (false when it is not
 * one; country is the default for national layouts, NULL = "US"). */
char *mdm_ingest_email_key(const char *email);
bool mdm_ingest_phone_key(const char *phone, const char *country, char out[24]);
/* Comparison form of a name or identifier: lower case ASCII, punctuation as one space. */
char *mdm_ingest_text_key(const char *s);

/* SHA-256 (hex) of the canonical content (without source_updated_at and op). */
void mdm_ingest_content_hash(const json_t *canonical, char out[65]);

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
 * as mdm_subject_check_reingest, checked for the whole chunk by one statement. progress
 * (may be NULL) gets one line per chunk. */
mdm_status mdm_ingest_load(mdm_db *db, const mdm_ingest_ctx *ctx, const char *source,
                           const char *path, const char *format, int chunk_rows, FILE *progress,
                           mdm_load_stats *stats, mdm_err *err) __attribute__((warn_unused_result));

#endif
