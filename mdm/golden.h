/* Golden records: entities, membership (cross-references to source records), merge and
 * split, recomputation through survivorship, reads for the API, and export.
 *
 * Invariants kept here (the only module that writes entity, membership, golden_value,
 * entity_version):
 *   - a source record has at most one active membership;
 *   - an active entity has at least one active member; when its last member leaves it is
 *     retired (status 'retired', survivor_id NULL) and a 'deleted' event is emitted;
 *   - a merge keeps the OLDER (smaller) id; the younger is retired with survivor_id
 *     pointing to the survivor (chains are compressed: whatever pointed to the retired
 *     id now points to the survivor);
 *   - every change of golden values bumps entity.version, writes entity_version and one
 *     outbox event (created, updated, merged, split, deleted) in the same transaction;
 *     recomputing with unchanged inputs changes nothing;
 *   - every membership change is a link_event (action, method, actor, score, rule).
 * Writers lock the entity rows they change (SELECT ... FOR UPDATE, ascending id) and
 * follow survivor pointers after locking, so concurrent merges never lose a member.
 *
 * All write functions run inside the caller's transaction (from an mdm_db_run_tx
 * callback) and never commit. Read functions may run inside or outside one. */
#ifndef MDM_MDM_GOLDEN_H
#define MDM_MDM_GOLDEN_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct mdm_ingest_ctx mdm_ingest_ctx;

/* A member's change time as survivorship compares it (UTC text), over source_record sr;
 * the bulk path must read exactly what a recompute reads. */
#define MDM_GOLDEN_CHANGE_TIME                                                                     \
    "to_char(COALESCE(sr.source_updated_at, sr.received_at) AT TIME ZONE 'UTC', "                  \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US')"

/* ---- Writes (inside the caller's transaction) ------------------------------------ */

/* Creates an entity holding record_id (which must have no active membership), computes
 * its golden record and emits 'created'. *entity_id receives the new id. */
mdm_status mdm_golden_create(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                             const char *method, const char *actor, double probability,
                             const char *rule, int64_t *entity_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* Adds record_id (no active membership) to entity_id (locked and followed to its
 * survivor; *entity_id is updated) and recomputes it. */
mdm_status mdm_golden_link(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                           int64_t *entity_id, const char *method, const char *actor,
                           double probability, const char *rule, json_t *details, mdm_err *err)
    __attribute__((warn_unused_result));

/* Adds records[0..n) (no active membership) to entity_id (locked and followed to its
 * survivor; *entity_id is updated) with one link event each (probability[i], rule), then
 * recomputes the entity once (bulk resolution, mdm/bulk.h). */
mdm_status mdm_golden_link_many(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t *entity_id,
                                const int64_t *records, const double *probability, size_t n,
                                const char *rule, const char *actor, mdm_err *err)
    __attribute__((warn_unused_result));

/* Removes record_id's active membership (if any) and recomputes the entity it left
 * (retiring it when empty). *left_entity (may be NULL) receives that entity, 0 if none. */
mdm_status mdm_golden_unlink(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                             const char *method, const char *actor, const char *reason,
                             int64_t *left_entity, mdm_err *err)
    __attribute__((warn_unused_result));

/* Merges entity `from` into `into`... except that the OLDER id always survives: the two
 * are swapped when from < into. Both are followed to their survivors first (same entity:
 * MDM_ECONFLICT "already merged"). First a merge_snapshot row keeps both golden records
 * as they were (version, status, golden, golden_value rows with lineage, pins, members;
 * actor and reason), so every merge, automatic or manual, can be undone exactly
 * (stewardship/merge.h: mdm_merge_unmerge). Members move, pins of the retired entity are kept
 * where the survivor has none, the survivor is recomputed, 'merged' is emitted for the
 * survivor (payload {"survivor", "retired", "golden"}) and the retired entity's version
 * is bumped. method is "auto" or "manual"; reason may be NULL. *survivor (may be NULL)
 * receives the surviving id. MDM_ENOTFOUND for an unknown or inactive entity. */
mdm_status mdm_golden_merge(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t into, int64_t from,
                            const char *method, const char *actor, const char *reason,
                            double probability, int64_t *survivor, mdm_err *err)
    __attribute__((warn_unused_result));

/* Moves the records record_ids[0..n) of entity_id into a new entity. The id stays with
 * the larger part (if the moved part is larger, the rest moves instead). Both parts are
 * recomputed, 'split' is emitted for both. *new_entity receives the new id.
 * MDM_EINVAL when the set is empty, not all members, or all members. */
mdm_status mdm_golden_split(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t entity_id,
                            const int64_t *record_ids, size_t n, const char *actor,
                            const char *reason, int64_t *new_entity, mdm_err *err)
    __attribute__((warn_unused_result));

/* Undoes a merge (stewardship/merge.c keeps what the merge changed): moves records[0..n)
 * — the members `retired` had before the merge — from `survivor` back to `retired`, which
 * becomes active again (no survivor pointer), writes an 'unmerge' link event and
 * recomputes both with 'split' events ({"split_from", "split_into", "unmerge": true}).
 * Records no longer in survivor are skipped. before (may be NULL) holds the pre-merge
 * golden_value rows, {"<entity id>": [{"attr", "value", "source_record_id", "rule",
 * "chosen_at"}]}: a recomputed value equal to its pre-merge one (value, source record and
 * rule) gets back its pre-merge chosen_at, so lineage reads exactly as before.
 * MDM_ECONFLICT when retired is not merged into survivor, when none of the records is
 * still in survivor, or when survivor would be left empty. */
mdm_status mdm_golden_unmerge(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t survivor,
                              int64_t retired, const int64_t *records, size_t n,
                              const json_t *before, const char *actor, const char *reason,
                              mdm_err *err) __attribute__((warn_unused_result));

/* Recomputes the golden record of entity_id from its active members and pins (see
 * mdm/survive.h). When the result differs: golden_value rows replaced, entity.golden
 * and version updated, entity_version written, event `event` emitted ("updated" when
 * NULL). Retires the entity when it has no members. *changed (may be NULL) tells
 * whether anything changed. The entity must be locked by the caller (the write
 * functions above do it). */
mdm_status mdm_golden_recompute(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t entity_id,
                                const char *event, const char *reason, int *changed, mdm_err *err)
    __attribute__((warn_unused_result));

/* Locks entity id FOR UPDATE, following survivor pointers; *id receives the live id.
 * MDM_ENOTFOUND when it does not exist or is retired without survivor. */
mdm_status mdm_golden_lock(mdm_db *db, int64_t *id, mdm_err *err)
    __attribute__((warn_unused_result));

/* ---- Reads ---------------------------------------------------------------------- */

/* The entity as JSON (new reference):
 *   {"id", "status", "version", "created_at", "updated_at",
 *    "golden": {...}, "lineage": {attr: {"rule", "source_record_id", "source",
 *    "source_key", "chosen_at", "pinned"}}, "members": [{"record_id", "source",
 *    "source_key", "linked_at", "source_updated_at"}]}
 * A retired id answers {"id", "status": "retired", "survivor_id", "version"} (the
 * caller may redirect), with *survivor_id (may be NULL) set; 0 when not retired.
 * MDM_ENOTFOUND when the id does not exist. */
mdm_status mdm_golden_get(mdm_db *db, int64_t id, json_t **out, int64_t *survivor_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* The same read for the HTTP path, in two halves so it shares one round trip with
 * other reads (mdm_db_exec_pipeline): mdm_golden_get_call sets up its
 * MDM_GOLDEN_GET_CALLS statements; mdm_golden_get_text consumes their results (in
 * order) and appends the document of mdm_golden_get to out as JSON text WITHOUT its
 * closing brace (the caller adds members such as ",\"consent\":{...}" and then '}').
 * The stored golden record is copied as PostgreSQL printed it, never parsed; lineage
 * and members are written from their rows. MDM_ENOTFOUND when the id does not exist. */
#define MDM_GOLDEN_GET_CALLS 3

/* What mdm_golden_get_text tells besides the text. */
typedef struct mdm_golden_head {
    bool active;
    int version;
    int64_t survivor_id; /* retired: the survivor (0 when none); active: 0 */
} mdm_golden_head;

void mdm_golden_get_call(int64_t id, mdm_db_call calls[MDM_GOLDEN_GET_CALLS]);
mdm_status mdm_golden_get_text(PGresult *res[MDM_GOLDEN_GET_CALLS], int64_t id, mdm_buf *out,
                               mdm_golden_head *head, mdm_err *err)
    __attribute__((warn_unused_result));

/* The entity of a source record (active membership), 0 when none. */
mdm_status mdm_golden_of_record(mdm_db *db, const char *source, const char *source_key,
                                int64_t *record_id, int64_t *entity_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* One source record as JSON: {"id", "source", "source_key", "raw", "normalized",
 * "version", "deleted", "source_updated_at", "received_at", "entity_id"}. */
mdm_status mdm_golden_record_get(mdm_db *db, const char *source, const char *source_key,
                                 json_t **out, mdm_err *err) __attribute__((warn_unused_result));

typedef struct mdm_golden_query {
    const char *email; /* any of these may be NULL; at least one must be set */
    const char *phone;
    const char *loyalty_id;
    const char *name;       /* full or last name; with birth_date narrows */
    const char *birth_date; /* ISO yyyy-mm-dd */
    int64_t after;          /* cursor: entity ids > after (0 = from the start) */
    int limit;              /* 1..1000; 0 = 50 */
} mdm_golden_query;

/* Active entities matching every given criterion (comparison forms: emails and phones
 * are normalized as on ingest, names in key form), ordered by id. *out receives
 * {"items": [entity summaries {"id", "version", "golden"}], "next": cursor or null}.
 * MDM_EINVAL when no criterion is given or a value is malformed. */
mdm_status mdm_golden_search(mdm_db *db, const mdm_golden_query *q, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* The active member records of entity id as the steward sees them: a new array of
 * {"record_id", "source", "source_name", "source_key", "source_updated_at", "received_at",
 * "linked_at", "fields" (the canonical record without comparison keys)}, by record id. */
mdm_status mdm_golden_member_records(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* The golden record a merge of active entities a and b would produce, without writing:
 * survivorship over the members of both, with the pins the survivor would keep (its own,
 * then the other's it lacks). *out receives {"survivor", "retired", "records", "golden",
 * "lineage" ({attr: {rule, value, source_record_id[, sources]}})}. MDM_EINVAL when a == b,
 * MDM_ENOTFOUND when either is not active. Reads only. */
mdm_status mdm_golden_merge_preview(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t a, int64_t b,
                                    json_t **out, mdm_err *err) __attribute__((warn_unused_result));

/* Free-text search of active golden records, ranked, as a steward types it: a name in any
 * order ("Robert James Whitaker", "Whitaker, Robert", "R Whitaker", "Bob Whitaker",
 * "MÜLLER", "whit"), compared in the form ingest stores (case, accents, transliteration,
 * nickname classes of matching/normalize.h); or an e-mail address, phone number, loyalty
 * id, postal code or street line (q with digits), normalized as on ingest
 * (default_country for national layouts; NULL = "US"). With three name tokens or more
 * one may miss. *out receives {"items": [{"id", "version", "golden"}], "next": offset of
 * the next page or null, "total"}. MDM_EINVAL for an empty or over-long q, initials
 * alone, a bad offset or limit (1..1000). */
mdm_status mdm_golden_find(mdm_db *db, const char *q, const char *default_country, int offset,
                           int limit, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* History: {"id", "versions": [{"version", "golden", "reason", "created_at"}],
 * "events": [link events {"id", "action", "method", "record_id", "other_entity_id",
 * "probability", "rule", "actor", "reason", "created_at", and for a merge "snapshot_id"
 * (what undoes exactly this merge) and "undone_at" (null while it stands)}]}, newest
 * first. */
mdm_status mdm_golden_history(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Read-only match: the partial record (canonical field names, or the layout of source
 * when source is not NULL) is normalized and scored against the candidates found through
 * its blocking keys. *out: {"candidates": [{"entity_id", "probability", "score",
 * "decision": "match"|"review"|"no_match", "explanation": [...]}]} best first, at most
 * limit (0 = 10). Writes nothing. MDM_EINVAL with field errors in err for bad input. */
mdm_status mdm_golden_match(mdm_db *db, const mdm_ingest_ctx *ctx, const char *source,
                            const json_t *record, int limit, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Streams every active golden record with its xrefs to f, as NDJSON (one
 * {"id", "version", "golden", "xrefs": [{"source", "source_key"}]} per line) or CSV
 * (flat columns: id, version, first_name, last_name, birth_date, email, phone, line1,
 * city, postal_code, country, loyalty_id, xrefs "src:key|src:key"). format is "ndjson"
 * or "csv" (else MDM_EINVAL). *count (may be NULL) receives the number written. */
mdm_status mdm_golden_export(mdm_db *db, const char *format, FILE *f, long *count, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
