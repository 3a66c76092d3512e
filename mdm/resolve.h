/* Incremental resolution against the database.
 *
 * For one source record (already upserted, canonical form in source_record.normalized):
 *   1. blocking keys (rule-prefixed strings: "em:", "ph:", "ly:", "tx:", "ni:", "nm:",
 *      "db:", "pc:"), stored as 64-bit ids (mdm_score_key_id), replace the record's
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
#include "mdm/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct mdm_ingest_result mdm_ingest_result;

/* Resolves record_id (upserted, not deleted) inside the caller's transaction, which has
 * taken mdm_resolve_gate before anything else; fills
 * out->decision (CREATED, LINKED, MERGED, REVIEW or UPDATED for a record that already
 * had an entity), entity_id, probability, review_id, and takes the record off
 * record_pending (mdm_pending_resolved). */
mdm_status mdm_resolve_record(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                              const char *actor, mdm_ingest_result *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* mdm_resolve_record in parts, for a caller that saves round trips: the read of the
 * record (mdm_resolve_record_call sets call, to run in a pipeline after the statement
 * that wrote the record; mdm_resolve_record_read resolves with its result, which the
 * caller then PQclears), or no read at all for a record the caller has just inserted in
 * this transaction (mdm_resolve_new_record: canonical is what it stored as normalized;
 * a new record has no keys, entity or assertions yet). */
void mdm_resolve_record_call(int64_t record_id, mdm_db_call *call);
mdm_status mdm_resolve_record_read(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                   const PGresult *res, const char *actor, mdm_ingest_result *out,
                                   mdm_err *err) __attribute__((warn_unused_result));
mdm_status mdm_resolve_new_record(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
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
mdm_status mdm_resolve_candidates(mdm_db *db, const mdm_engine *ctx, const json_t *canonical,
                                  int64_t self_record_id, int limit, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Bulk resolution (mdm/bulk.c): replaces the blocking keys of the records (a PostgreSQL
 * bigint[] literal) with the ones it staged in this session's temporary table bulk_key
 * (record_id, key), which it creates and fills. */
mdm_status mdm_resolve_keys_staged(mdm_db *db, const char *records, mdm_err *err)
    __attribute__((warn_unused_result));

/* Erasure (mdm/subject.h), inside its transaction: deletes the blocking keys of the
 * records (a PostgreSQL bigint[] literal). */
mdm_status mdm_resolve_erase(mdm_db *db, const char *records, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
