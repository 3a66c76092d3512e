/* The read side of golden records (mdm/golden.h writes them): one golden record by id
 * (whole, or as text in halves that share a round trip with other reads), the golden
 * record of a source record, source records, search by criteria and free-text search,
 * member records, a merge preview, history, the read-only match (scored like resolution,
 * mdm/resolve.h) and the export. Nothing here writes. */
#ifndef MDM_MDM_QUERY_H
#define MDM_MDM_QUERY_H

#include "common/err.h"
#include "common/mem.h"
#include "mdm/db.h"
#include "mdm/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The entity as JSON (new reference):
 *   {"id", "status", "version", "created_at", "updated_at",
 *    "golden": {...}, "lineage": {attr: {"rule", "source_record_id", "source",
 *    "source_key", "chosen_at", "pinned"}}, "members": [{"record_id", "source",
 *    "source_key", "linked_at", "source_updated_at"}]}
 * A retired id answers {"id", "status": "retired", "survivor_id", "version"} (the
 * caller may redirect), with *survivor_id (may be NULL) set; 0 when not retired.
 * MDM_ENOTFOUND when the id does not exist. */
mdm_status mdm_query_get(mdm_db *db, int64_t id, json_t **out, int64_t *survivor_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* The same read for the HTTP path, in two halves so it shares one round trip with
 * other reads (mdm_db_exec_pipeline): mdm_query_get_call sets up its
 * MDM_QUERY_GET_CALLS statements; mdm_query_get_text consumes their results (in
 * order) and appends the document of mdm_query_get to out as JSON text WITHOUT its
 * closing brace (the caller adds members such as ",\"consent\":{...}" and then '}').
 * The stored golden record is copied as PostgreSQL printed it, never parsed; lineage
 * and members are written from their rows. MDM_ENOTFOUND when the id does not exist. */
#define MDM_QUERY_GET_CALLS 3

/* What mdm_query_get_text tells besides the text. */
typedef struct mdm_query_head {
    bool active;
    int version;
    int64_t survivor_id; /* retired: the survivor (0 when none); active: 0 */
} mdm_query_head;

void mdm_query_get_call(int64_t id, mdm_db_call calls[MDM_QUERY_GET_CALLS]);
mdm_status mdm_query_get_text(PGresult *res[MDM_QUERY_GET_CALLS], int64_t id, mdm_buf *out,
                              mdm_query_head *head, mdm_err *err)
    __attribute__((warn_unused_result));

/* The entity of a source record (active membership), 0 when none. */
mdm_status mdm_query_of_record(mdm_db *db, const char *source, const char *source_key,
                               int64_t *record_id, int64_t *entity_id, mdm_err *err)
    __attribute__((warn_unused_result));

/* One source record as JSON: {"id", "source", "source_key", "raw", "normalized",
 * "version", "deleted", "source_updated_at", "received_at", "entity_id"}. */
mdm_status mdm_query_record(mdm_db *db, const char *source, const char *source_key, json_t **out,
                            mdm_err *err) __attribute__((warn_unused_result));

typedef struct mdm_query_filter {
    const char *email; /* any of these may be NULL; at least one must be set */
    const char *phone;
    const char *loyalty_id;
    const char *name;       /* full or last name; with birth_date narrows */
    const char *birth_date; /* ISO yyyy-mm-dd */
    int64_t after;          /* cursor: entity ids > after (0 = from the start) */
    int limit;              /* 1..1000; 0 = 50 */
    const char *quality;    /* bounds on the data-quality scores (mdm_quality_bounds), or NULL;
                               narrows the criteria above, never one alone */
} mdm_query_filter;

/* Active entities matching every given criterion (comparison forms: emails and phones
 * are normalized as on ingest, names in key form), ordered by id. *out receives
 * {"items": [entity summaries {"id", "version", "golden"}], "next": cursor or null}.
 * MDM_EINVAL when no criterion is given or a value is malformed. */
mdm_status mdm_query_search(mdm_db *db, const mdm_query_filter *q, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* The active member records of entity id as the steward sees them: a new array of
 * {"record_id", "source", "source_name", "source_key", "source_updated_at", "received_at",
 * "linked_at", "fields" (the canonical record without comparison keys)}, by record id. */
mdm_status mdm_query_member_records(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* The golden record a merge of active entities a and b would produce, without writing:
 * survivorship over the members of both, with the pins the survivor would keep (its own,
 * then the other's it lacks). *out receives {"survivor", "retired", "records", "golden",
 * "lineage" ({attr: {rule, value, source_record_id[, sources]}})}. MDM_EINVAL when a == b,
 * MDM_ENOTFOUND when either is not active. Reads only. */
mdm_status mdm_query_merge_preview(mdm_db *db, const mdm_engine *ctx, int64_t a, int64_t b,
                                   json_t **out, mdm_err *err) __attribute__((warn_unused_result));

/* Free-text search of active golden records, ranked, as a steward types it: a name in any
 * order ("Robert James Whitaker", "Whitaker, Robert", "R Whitaker", "Bob Whitaker",
 * "MÜLLER", "whit"), compared in the form ingest stores (case, accents, transliteration,
 * nickname classes of matching/normalize.h); or an e-mail address, phone number, loyalty
 * id, postal code or street line (q with digits), normalized as on ingest
 * (default_country for national layouts; NULL = "US"). With three name tokens or more
 * one may miss. quality (mdm_quality_bounds, or NULL) keeps only golden records whose
 * data-quality scores lie within its bounds. *out receives {"items": [{"id", "version", "golden"}],
 * "next": offset of the next page or null, "total"}. MDM_EINVAL for an empty or over-long q,
 * initials alone, a bad offset or limit (1..1000). */
mdm_status mdm_query_find(mdm_db *db, const char *q, const char *default_country,
                          const char *quality, int offset, int limit, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* History: {"id", "versions": [{"version", "golden", "reason", "created_at"}],
 * "events": [link events {"id", "action", "method", "record_id", "other_entity_id",
 * "probability", "rule", "actor", "reason", "created_at", and for a merge "snapshot_id"
 * (what undoes exactly this merge) and "undone_at" (null while it stands)}]}, newest
 * first. */
mdm_status mdm_query_history(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Read-only match: the partial record (canonical field names, or the layout of source
 * when source is not NULL) is normalized and scored against the candidates found through
 * its blocking keys. *out: {"candidates": [{"entity_id", "probability", "score",
 * "decision": "match"|"review"|"no_match", "explanation": [...]}]} best first, at most
 * limit (0 = 10). Writes nothing. MDM_EINVAL with field errors in err for bad input. */
mdm_status mdm_query_match(mdm_db *db, const mdm_engine *ctx, const char *source,
                           const json_t *record, int limit, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Streams every active golden record with its xrefs to f, as NDJSON (one
 * {"id", "version", "golden", "xrefs": [{"source", "source_key"}]} per line) or CSV
 * (flat columns: id, version, first_name, last_name, birth_date, email, phone, line1,
 * city, postal_code, country, loyalty_id, xrefs "src:key|src:key"). format is "ndjson"
 * or "csv" (else MDM_EINVAL). *count (may be NULL) receives the number written. Runs in a
 * REPEATABLE READ READ ONLY transaction of its own (one snapshot for the whole export), so
 * never inside the caller's. */
mdm_status mdm_query_export(mdm_db *db, const char *format, FILE *f, long *count, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
