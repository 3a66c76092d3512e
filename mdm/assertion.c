#include "mdm/assertion.h"

#include <stdio.h>
#include <stdlib.h>

#define ASSERTION_JSON                                                                             \
    "json_build_object('id', a.id, 'kind', a.kind, 'record_a', a.record_a, 'record_b',"            \
    " a.record_b, 'actor', a.actor, 'reason', a.reason, 'created_at', mdm_ts(a.created_at))"

/* a later assertion on a pair replaces the earlier one */
#define REPLACE                                                                                    \
    " ON CONFLICT (record_a, record_b) DO UPDATE SET kind = EXCLUDED.kind,"                        \
    " actor = EXCLUDED.actor, reason = EXCLUDED.reason"

static const mdm_db_stmt stmt_put = {
    "assertion_put",
    "INSERT INTO steward_assertion AS a (kind, record_a, record_b, actor, reason) VALUES ($1, $2,"
    " $3, $4, $5)" REPLACE ", created_at = now() RETURNING " ASSERTION_JSON "::text AS j",
    5};

static const mdm_db_stmt stmt_delete = {
    "assertion_delete",
    "DELETE FROM steward_assertion a WHERE a.id = $1 RETURNING " ASSERTION_JSON "::text AS j", 1};

static const mdm_db_stmt stmt_list = {
    "assertion_list",
    "SELECT coalesce(json_agg(" ASSERTION_JSON " ORDER BY a.id), '[]')::text AS items,"
    " max(a.id) AS last, count(*) AS n FROM (SELECT * FROM steward_assertion a WHERE a.id > $1"
    " AND ($2::bigint = 0 OR $2 IN (a.record_a, a.record_b)) ORDER BY a.id LIMIT $3) a",
    3};

static const mdm_db_stmt stmt_never_link_sets = {
    "assertion_never_link_sets",
    "INSERT INTO steward_assertion (kind, record_a, record_b, actor, reason)"
    " SELECT DISTINCT 'never_link', least(a, b), greatest(a, b), $3, $4"
    " FROM unnest($1::bigint[]) a, unnest($2::bigint[]) b WHERE a <> b" REPLACE
    ", created_at = now()",
    4};

static const mdm_db_stmt stmt_unlink_sets = {
    "assertion_unlink_sets",
    "DELETE FROM steward_assertion s USING unnest($1::bigint[]) a, unnest($2::bigint[]) b"
    " WHERE a <> b AND s.record_a = least(a, b) AND s.record_b = greatest(a, b)"
    " AND s.kind = 'never_link'",
    2};

static const mdm_db_stmt stmt_restore = {
    "assertion_restore",
    "INSERT INTO steward_assertion (kind, record_a, record_b, actor, reason, created_at)"
    " SELECT r.kind, r.record_a, r.record_b, r.actor, r.reason, r.created_at"
    " FROM jsonb_to_recordset($1::jsonb) AS r(kind text, record_a bigint, record_b bigint,"
    "   actor text, reason text, created_at timestamptz)" REPLACE
    ", created_at = EXCLUDED.created_at",
    1};

static const mdm_db_stmt stmt_label_sets = {
    "assertion_label_sets",
    "INSERT INTO steward_label (record_a, record_b, label, auto_linked, origin, actor)"
    " SELECT DISTINCT least(a, b), greatest(a, b), $3, $4::boolean, $5, $6"
    " FROM unnest($1::bigint[]) a, unnest($2::bigint[]) b WHERE a <> b",
    6};

/* Record pairs across the two sides of review item $1: side A is the record
 * (record_entity) or the members of entity_id; side B the members of entity_id
 * (record_entity) or of other_entity_id. */
#define REVIEW_PAIRS                                                                               \
    "WITH a AS (SELECT r.record_id AS rid FROM review_item r"                                      \
    "             WHERE r.id = $1 AND r.kind = 'record_entity'"                                    \
    "           UNION SELECT m.record_id FROM review_item r JOIN membership m"                     \
    "             ON m.entity_id = r.entity_id AND m.active"                                       \
    "             WHERE r.id = $1 AND r.kind = 'entity_entity'),"                                  \
    " b AS (SELECT m.record_id AS rid FROM review_item r JOIN membership m"                        \
    "         ON m.active AND m.entity_id = CASE WHEN r.kind = 'record_entity'"                    \
    "                                    THEN r.entity_id ELSE r.other_entity_id END"              \
    "         WHERE r.id = $1),"                                                                   \
    " p AS (SELECT DISTINCT least(a.rid, b.rid) AS ra, greatest(a.rid, b.rid) AS rb"               \
    "         FROM a, b WHERE a.rid <> b.rid)"

static const mdm_db_stmt stmt_never_link_review = {
    "assertion_never_link_review",
    REVIEW_PAIRS " INSERT INTO steward_assertion (kind, record_a, record_b, actor, reason)"
                 " SELECT 'never_link', ra, rb, $2, $3 FROM p" REPLACE ", created_at = now()",
    3};

static const mdm_db_stmt stmt_label_review = {
    "assertion_label_review",
    REVIEW_PAIRS
    " INSERT INTO steward_label (record_a, record_b, label, auto_linked, origin, review_id,"
    "                            actor)"
    " SELECT ra, rb, $2, coalesce((SELECT ma.entity_id = mb.entity_id"
    "   FROM membership ma, membership mb WHERE ma.record_id = ra AND ma.active"
    "   AND mb.record_id = rb AND mb.active), false), 'review', $1, $3 FROM p",
    3};

/* the never_link assertions a no_match decision wrote (its labelled pairs) */
static const mdm_db_stmt stmt_unassert_review = {
    "assertion_unassert_review",
    "DELETE FROM steward_assertion a USING steward_label l"
    " WHERE l.review_id = $1 AND l.label = 'no_match' AND a.kind = 'never_link'"
    "   AND a.record_a = l.record_a AND a.record_b = l.record_b",
    1};

static const mdm_db_stmt stmt_erase = {
    "assertion_erase",
    "UPDATE steward_assertion SET reason = NULL WHERE record_a = ANY($1::bigint[]) "
    "OR record_b = ANY($1::bigint[])",
    1};

/* Runs stmt and reads the JSON text of its one row's column j into *out (NULL when it
 * returned no row); out may be NULL. */
static mdm_status exec_row_json(mdm_db *db, const mdm_db_stmt *stmt, const char *const *params,
                                json_t **out, mdm_err *err)
{
    if (out)
        *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, stmt, params, &res, err);
    if (st == MDM_OK && out && PQntuples(res) == 1)
        *out = json_loads(mdm_db_get(res, 0, "j", ""), 0, NULL);
    PQclear(res);
    return st;
}

mdm_status mdm_assertion_put(mdm_db *db, const char *kind, int64_t record_a, int64_t record_b,
                             const char *actor, const char *reason, json_t **stored, mdm_err *err)
{
    char as[MDM_DB_ID_LEN], bs[MDM_DB_ID_LEN];
    const char *params[] = {kind, mdm_db_id(as, record_a), mdm_db_id(bs, record_b), actor, reason};
    return exec_row_json(db, &stmt_put, params, stored, err);
}

mdm_status mdm_assertion_delete(mdm_db *db, int64_t id, json_t **removed, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(ids, id)};
    return exec_row_json(db, &stmt_delete, params, removed, err);
}

mdm_status mdm_assertion_list(mdm_db *db, int64_t record_id, int64_t after, int limit, json_t **out,
                              mdm_err *err)
{
    *out = NULL;
    char afters[MDM_DB_ID_LEN], recs[MDM_DB_ID_LEN], lims[16];
    snprintf(lims, sizeof lims, "%d", limit);
    const char *params[] = {mdm_db_id(afters, after), mdm_db_id(recs, record_id), lims};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_list, params, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *items = json_loads(mdm_db_get(res, 0, "items", "[]"), 0, NULL);
    long long n = mdm_db_get_ll(res, 0, "n", 0);
    long long last = mdm_db_get_ll(res, 0, "last", 0);
    PQclear(res);
    if (!items)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot read the assertions");
    *out = json_pack("{s:o,s:o}", "items", items, "next",
                     n == limit && last ? json_integer(last) : json_null());
    return MDM_OK;
}

mdm_status mdm_assertion_never_link_sets(mdm_db *db, const char *a, const char *b,
                                         const char *actor, const char *reason, mdm_err *err)
{
    const char *params[] = {a, b, actor, reason};
    return mdm_db_exec(db, &stmt_never_link_sets, params, NULL, err);
}

mdm_status mdm_assertion_unlink_sets(mdm_db *db, const char *a, const char *b, mdm_err *err)
{
    const char *params[] = {a, b};
    return mdm_db_exec(db, &stmt_unlink_sets, params, NULL, err);
}

mdm_status mdm_assertion_restore(mdm_db *db, const char *assertions, mdm_err *err)
{
    const char *params[] = {assertions};
    return mdm_db_exec(db, &stmt_restore, params, NULL, err);
}

mdm_status mdm_assertion_label_sets(mdm_db *db, const char *a, const char *b, const char *label,
                                    bool auto_linked, const char *origin, const char *actor,
                                    mdm_err *err)
{
    const char *params[] = {a, b, label, auto_linked ? "true" : "false", origin, actor};
    return mdm_db_exec(db, &stmt_label_sets, params, NULL, err);
}

mdm_status mdm_assertion_never_link_review(mdm_db *db, int64_t review_id, const char *actor,
                                           const char *reason, long *asserted, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(ids, review_id), actor, reason};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_never_link_review, params, &res, err);
    if (st == MDM_OK && asserted)
        *asserted = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return st;
}

mdm_status mdm_assertion_label_review(mdm_db *db, int64_t review_id, const char *label,
                                      const char *actor, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(ids, review_id), label, actor};
    return mdm_db_exec(db, &stmt_label_review, params, NULL, err);
}

mdm_status mdm_assertion_unassert_review(mdm_db *db, int64_t review_id, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(ids, review_id)};
    return mdm_db_exec(db, &stmt_unassert_review, params, NULL, err);
}

mdm_status mdm_assertion_erase(mdm_db *db, const char *record_ids, mdm_err *err)
{
    const char *params[] = {record_ids};
    return mdm_db_exec(db, &stmt_erase, params, NULL, err);
}
