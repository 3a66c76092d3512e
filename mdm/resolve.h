/* Incremental resolution against the database.
 *
 * For one source record (already upserted, canonical form in source_record.normalized):
 *   1. blocking keys (rule-prefixed strings: "em:", "ph:", "ly:", "tx:", "ni:", "nm:",
 *      "db:", "pc:"), stored as 64-bit ids (mdm_resolve_key_id), replace the record's
 *      rows in blocking_key;
 *   2. transaction-scoped advisory locks are taken on the key ids (the old ones and the
 *      new ones) in ascending order, so two records that could match each other are
 *      resolved one after the other and cannot both create an entity;
 *   3. candidates: the active members of entities sharing a key (keys held by more than
 *      `key_cap` records are skipped as evidence: at most key_cap + 1 index entries of a
 *      key are read to tell), at most `max_candidates`;
 *   4. scoring: Fellegi-Sunter match weight per candidate record, entity score = best
 *      member score; steward assertions win (never_link excludes an entity, always_link
 *      forces it); conflicting strong identifiers (loyalty_id, tax_id, national_id)
 *      never auto-link;
 *   5. decision: p >= auto_link -> link (or merge when the record bridges several
 *      entities and the entity-to-entity evidence passes, else link to the best and
 *      queue an entity_entity review item); review <= p < auto_link -> new entity and a
 *      record_entity review item; below -> new entity. Every decision is a link_event.
 *
 * Settings ("resolve" configuration section): auto_link (0.95), review (0.60), key_cap
 * (1000), max_candidates (50), bulk_min (1000). Unknown keys or values out of range are MDM_EINVAL.
 *
 * All functions that write run inside the caller's transaction. */
#ifndef MDM_MDM_RESOLVE_H
#define MDM_MDM_RESOLVE_H

#include "common/err.h"
#include "common/mem.h"
#include "matching/model.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct mdm_ingest_ctx mdm_ingest_ctx;
typedef struct mdm_ingest_result mdm_ingest_result;

typedef struct mdm_resolve_settings {
    double auto_link;
    double review;
    int key_cap;
    int max_candidates;
    long bulk_min;       /* pending new records from which mdm_resolve_pending resolves in bulk
                          * (mdm/bulk.h); 0: never */
    bool thresholds_set; /* given in configuration; else a trained model's own apply */
} mdm_resolve_settings;

/* Match weights (log2 m/u per comparison level) and the prior. Built-in defaults; the
 * "model" configuration section or the active match_model row may replace them:
 *   {"prior": -10, "weights": {"first_name": {"exact": 3.5, "close": 2, "far": -2.5},
 *    ...}}
 * Fields: first_name last_name birth_date email phone address loyalty_id tax_id
 * national_id gender; levels exact, close, far (null always weighs 0). A different
 * strong identifier (loyalty_id, tax_id, national_id "far") is a conflict. */
enum {
    MDM_RF_FIRST,
    MDM_RF_LAST,
    MDM_RF_DOB,
    MDM_RF_EMAIL,
    MDM_RF_PHONE,
    MDM_RF_ADDRESS,
    MDM_RF_LOYALTY,
    MDM_RF_TAX,
    MDM_RF_NATIONAL,
    MDM_RF_GENDER,
    MDM_RF_COUNT
};
enum { MDM_RL_EXACT, MDM_RL_CLOSE, MDM_RL_FAR, MDM_RL_COUNT };

typedef struct mdm_resolve_model {
    double prior;
    double w[MDM_RF_COUNT][MDM_RL_COUNT];
} mdm_resolve_model;

extern const char *const mdm_resolve_field_names[MDM_RF_COUNT];

/* The built-in weights. */
void mdm_resolve_model_default(mdm_resolve_model *m);
/* Overrides m from a model JSON (see above); where names the location for messages
 * ("/model"). MDM_EINVAL naming an unknown field or level or a non-number. */
mdm_status mdm_resolve_model_parse(const json_t *j, const char *where, mdm_resolve_model *m,
                                   mdm_err *err) __attribute__((warn_unused_result));

/* Reads the "resolve" section (may be NULL: defaults). MDM_EINVAL naming the key. */
mdm_status mdm_resolve_settings_parse(const json_t *section, mdm_resolve_settings *out,
                                      mdm_err *err) __attribute__((warn_unused_result));

/* Blocking keys of a canonical record as a new JSON array of strings (sorted, unique):
 * the trained model's blocking rules (matching/block.h mdm_block_keys) when there is
 * one, else the built-in rules. */
json_t *mdm_resolve_keys(const mdm_ingest_ctx *ctx, const json_t *canonical);

/* The stored id of a blocking key: the first 8 bytes of its MD5 read as a big-endian
 * signed integer, the same as SQL's ('x' || left(md5(key), 16))::bit(64)::bigint
 * (migration 017 converted stored keys with it). blocking_key holds ids, not text, and
 * the advisory lock of a key is its id. Two keys sharing an id only add a candidate,
 * which the model scores like any other. */
int64_t mdm_resolve_key_id(const char *key);

/* The ids of a JSON array of keys, sorted and unique, in a new array (*n of them). */
int64_t *mdm_resolve_key_ids(const json_t *keys, size_t *n);

/* The phone key resolution uses (an mdm_phone_key_fn; ctx unused): canonical phones are
 * E.164 already (ingest normalized them with libphonenumber, the slowest normalizer by
 * far), so such a value is its own key; anything else (a number kept as sent because it
 * was not valid) goes through matching/model.h mdm_feat_phone_key. Incremental and bulk
 * resolution build features and blocking keys with it. */
const char *mdm_resolve_phone_key(void *ctx, struct mdm_norm *norm, const char *raw,
                                  const char *country, mdm_arena *a);

/* The trained model's features of a canonical record, as resolution builds them
 * (strings in a; norm is the calling thread's normalizer, mdm_ingest_norm_acquire).
 * phone_fn (may be NULL: matching/model.h mdm_feat_phone_key) gives phone keys. False
 * (f untouched) when no trained model is in use. */
bool mdm_resolve_features(const mdm_ingest_ctx *ctx, struct mdm_norm *norm, mdm_arena *a,
                          const json_t *canonical, mdm_phone_key_fn phone_fn, void *phone_ctx,
                          mdm_feat *f);

/* Scores two canonical records with the trained model (matching/model.h
 * mdm_model_score) or the built-in weights: returns the match weight (log2 Bayes
 * factor, prior included) and sets *probability; *explanation (may be NULL) receives a
 * new JSON explanation (field by field); *strong_conflict (may be NULL) is set when a
 * strong identifier differs or a configured conflict vetoes the pair. Thread-safe. */
double mdm_resolve_score(const mdm_ingest_ctx *ctx, const json_t *a, const json_t *b,
                         double *probability, json_t **explanation, int *strong_conflict);

/* Resolves record_id (upserted, not deleted) inside the caller's transaction, which has
 * taken mdm_resolve_gate before anything else; fills
 * out->decision (CREATED, LINKED, MERGED, REVIEW or UPDATED for a record that already
 * had an entity), entity_id, probability, review_id, and takes the record off
 * record_pending. */
mdm_status mdm_resolve_record(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                              const char *actor, mdm_ingest_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* mdm_resolve_record in parts, for a caller that saves round trips: the read of the
 * record (mdm_resolve_record_call sets call, to run in a pipeline after the statement
 * that wrote the record; mdm_resolve_record_read resolves with its result, which the
 * caller then PQclears), or no read at all for a record the caller has just inserted in
 * this transaction (mdm_resolve_new_record: canonical is what it stored as normalized;
 * a new record has no keys, entity or assertions yet). */
void mdm_resolve_record_call(int64_t record_id, mdm_db_call *call);
mdm_status mdm_resolve_record_read(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                                   const PGresult *res, const char *actor, mdm_ingest_result *out,
                                   mdm_err *err) __attribute__((warn_unused_result));
mdm_status mdm_resolve_new_record(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                                  const json_t *canonical, const char *source,
                                  const char *source_key, const char *actor, mdm_ingest_result *out,
                                  mdm_err *err) __attribute__((warn_unused_result));

/* Waits for a bulk resolution in progress (mdm/bulk.h) and keeps the next one from
 * starting until the caller's transaction ends (a shared advisory lock). Every transaction
 * that writes source records or resolves takes it first, so a bulk run never sees a
 * record change under it and never waits for a lock such a transaction holds. */
mdm_status mdm_resolve_gate(mdm_db *db, mdm_err *err) __attribute__((warn_unused_result));

/* Removes a (deleted) record's blocking keys (under their advisory locks). */
mdm_status mdm_resolve_forget(mdm_db *db, int64_t record_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Read-only candidates of a canonical record: a new array of {"entity_id",
 * "probability", "score", "explanation"} best first, at most limit. */
mdm_status mdm_resolve_candidates(mdm_db *db, const mdm_ingest_ctx *ctx, const json_t *canonical,
                                  int64_t self_record_id, int limit, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Resolves every record of record_pending: first set-based (mdm/bulk.h) when at least
 * bulk_min new records wait and a trained model is in use, then what is left (oldest
 * first), batch records per transaction (<= 0: 200), with `threads` connections in
 * parallel (<= 1: one). Killed at any point, a rerun finishes the work. *resolved (may be
 * NULL) receives the count. progress (may be NULL) gets a line now and then. */
mdm_status mdm_resolve_pending(const char *url, const mdm_ingest_ctx *ctx, int batch, int threads,
                               FILE *progress, long *resolved, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
