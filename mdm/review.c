#include "mdm/review.h"

#include <stdio.h>
#include <stdlib.h>

/* Undecided: the states a steward can still act on. */
#define UNDECIDED   "('open', 'claimed', 'deferred')"
#define NEW_VERSION "version = version + 1, updated_at = now()"

static const mdm_db_stmt stmt_create = {
    "review_create",
    "INSERT INTO review_item (kind, record_id, entity_id, other_entity_id, score, probability, "
    "explanation, priority) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $6) RETURNING id",
    7};

static const mdm_db_stmt stmt_create_staged = {
    "review_create_staged",
    "INSERT INTO review_item (kind, record_id, entity_id, score, probability, explanation, "
    "priority) SELECT 'record_entity', record_id, entity_id, score, probability, "
    "explanation::jsonb, probability FROM bulk_review ORDER BY record_id",
    0};

static const mdm_db_stmt stmt_supersede_record = {
    "review_supersede_record",
    "UPDATE review_item SET status = 'superseded', " NEW_VERSION
    " WHERE record_id = $1 AND status IN ('open', 'deferred')",
    1};

static const mdm_db_stmt stmt_supersede_pair = {
    "review_supersede_pair",
    "UPDATE review_item SET status = 'superseded', " NEW_VERSION " WHERE status IN " UNDECIDED
    " AND ((entity_id = $1 AND other_entity_id = $2) OR (entity_id = $2 AND other_entity_id = "
    "$1))",
    2};

static const mdm_db_stmt stmt_supersede_members = {
    "review_supersede_members",
    "UPDATE review_item r SET status = 'superseded', updated_at = now(), version = r.version + 1 "
    "WHERE r.status IN " UNDECIDED " AND r.kind = 'record_entity' AND r.entity_id IN ($1, $2) "
    "AND EXISTS (SELECT 1 FROM membership m WHERE m.record_id = r.record_id "
    "AND m.entity_id = $1 AND m.active)",
    2};

static const mdm_db_stmt stmt_supersede_stale = {
    "review_supersede_stale",
    "WITH stale AS ("
    " SELECT r.id, CASE"
    "   WHEN e.status <> 'active' THEN 'entity ' || r.entity_id || ' is ' || e.status"
    "   WHEN r.kind = 'entity_entity' AND o.status <> 'active'"
    "     THEN 'entity ' || r.other_entity_id || ' is ' || o.status"
    "   WHEN r.kind = 'record_entity' AND (s.deleted OR s.erased)"
    "     THEN 'record ' || r.record_id || ' was deleted'"
    "   WHEN r.kind = 'record_entity' AND m.entity_id IS NULL"
    "     THEN 'record ' || r.record_id || ' has no entity'"
    "   WHEN r.kind = 'record_entity' AND m.entity_id = r.entity_id"
    "     THEN 'record ' || r.record_id || ' is already in entity ' || r.entity_id"
    "  END AS why"
    " FROM review_item r JOIN entity e ON e.id = r.entity_id"
    " LEFT JOIN entity o ON o.id = r.other_entity_id"
    " LEFT JOIN source_record s ON s.id = r.record_id"
    " LEFT JOIN membership m ON m.record_id = r.record_id AND m.active"
    " WHERE r.status IN " UNDECIDED " AND ($1::bigint = 0 OR r.id = $1))"
    " UPDATE review_item r SET status = 'superseded', reason = stale.why,"
    "   version = r.version + 1, updated_at = now()"
    " FROM stale WHERE r.id = stale.id AND stale.why IS NOT NULL"
    " RETURNING r.id, stale.why, r.version",
    1};

static const mdm_db_stmt stmt_mark_unscored = {
    "review_mark_unscored",
    "UPDATE review_item SET scored_at = '-infinity' WHERE status IN " UNDECIDED, 0};

static const mdm_db_stmt stmt_set_assignee = {
    "review_set_assignee",
    "UPDATE review_item SET status = CASE WHEN $2::text IS NULL THEN 'open' ELSE 'claimed' END,"
    " assignee = $2, " NEW_VERSION " WHERE id = $1",
    2};

static const mdm_db_stmt stmt_set_decided = {
    "review_set_decided",
    "UPDATE review_item SET status = $2, decision = $3, reason = $4, decided_by = $5,"
    " decided_at = now(), assignee = CASE WHEN $2 = 'deferred' THEN assignee ELSE $5 "
    "END, " NEW_VERSION " WHERE id = $1 RETURNING version",
    5};

static const mdm_db_stmt stmt_reopen = {
    "review_reopen",
    "UPDATE review_item SET status = 'open', decision = NULL, decided_by = NULL,"
    " decided_at = NULL, assignee = NULL, " NEW_VERSION " WHERE id = $1",
    1};

static const mdm_db_stmt stmt_set_score = {
    "review_set_score",
    "UPDATE review_item SET score = $2, probability = $3, explanation = $4::jsonb,"
    " scored_at = now(), " NEW_VERSION " WHERE id = $1 RETURNING version",
    4};

static const mdm_db_stmt stmt_set_priorities = {
    "review_set_priorities",
    "UPDATE review_item r SET priority = u.p"
    " FROM unnest($1::bigint[], $2::float8[]) AS u(id, p) WHERE r.id = u.id",
    2};

static const mdm_db_stmt stmt_erase = {
    "review_erase",
    "UPDATE review_item SET explanation = '[]', reason = NULL, " NEW_VERSION
    ", status = CASE WHEN status IN " UNDECIDED " THEN 'superseded' ELSE status END "
    "WHERE entity_id = ANY($1::bigint[]) OR other_entity_id = ANY($1::bigint[]) "
    "OR record_id = ANY($2::bigint[])",
    2};

/* Runs stmt; when version_out is set, reads the RETURNING version of its one row. */
static mdm_status exec_versioned(mdm_db *db, const mdm_db_stmt *stmt, const char *const *params,
                                 int *version_out, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, stmt, params, version_out ? &res : NULL, err);
    if (st == MDM_OK && version_out)
        *version_out = PQntuples(res) ? (int)mdm_db_get_ll(res, 0, "version", 0) : 0;
    PQclear(res);
    return st;
}

mdm_status mdm_review_create(mdm_db *db, const char *kind, int64_t record_id, int64_t entity_id,
                             int64_t other_entity_id, double score, double probability,
                             const char *explanation, int64_t *id_out, mdm_err *err)
{
    char rid[MDM_DB_ID_LEN], eid[MDM_DB_ID_LEN], oid[MDM_DB_ID_LEN], s[32], p[32];
    snprintf(s, sizeof s, "%.6f", score);
    snprintf(p, sizeof p, "%.6f", probability);
    const char *params[] = {kind,
                            record_id ? mdm_db_id(rid, record_id) : NULL,
                            mdm_db_id(eid, entity_id),
                            other_entity_id ? mdm_db_id(oid, other_entity_id) : NULL,
                            s,
                            p,
                            explanation ? explanation : "[]"};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_create, params, &res, err);
    if (st == MDM_OK && id_out)
        *id_out = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    return st;
}

mdm_status mdm_review_create_staged(mdm_db *db, mdm_err *err)
{
    return mdm_db_exec(db, &stmt_create_staged, NULL, NULL, err);
}

mdm_status mdm_review_supersede_record(mdm_db *db, int64_t record_id, mdm_err *err)
{
    char rid[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(rid, record_id)};
    return mdm_db_exec(db, &stmt_supersede_record, params, NULL, err);
}

mdm_status mdm_review_supersede_merged(mdm_db *db, int64_t keep, int64_t gone, mdm_err *err)
{
    char k[MDM_DB_ID_LEN], g[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(k, keep), mdm_db_id(g, gone)};
    mdm_status st = mdm_db_exec(db, &stmt_supersede_pair, params, NULL, err);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_supersede_members, params, NULL, err);
    return st;
}

mdm_status mdm_review_supersede_stale(mdm_db *db, int64_t only, PGresult **out, mdm_err *err)
{
    char id[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(id, only)};
    return mdm_db_exec(db, &stmt_supersede_stale, params, out, err);
}

mdm_status mdm_review_mark_unscored(mdm_db *db, long *marked, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_mark_unscored, NULL, &res, err);
    if (st == MDM_OK && marked)
        *marked = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return st;
}

mdm_status mdm_review_set_assignee(mdm_db *db, int64_t id, const char *assignee, mdm_err *err)
{
    char i[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(i, id), assignee};
    return mdm_db_exec(db, &stmt_set_assignee, params, NULL, err);
}

mdm_status mdm_review_set_decided(mdm_db *db, int64_t id, const char *status, const char *decision,
                                  const char *reason, const char *by, int *version_out,
                                  mdm_err *err)
{
    char i[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(i, id), status, decision, reason, by};
    return exec_versioned(db, &stmt_set_decided, params, version_out, err);
}

mdm_status mdm_review_reopen(mdm_db *db, int64_t id, mdm_err *err)
{
    char i[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(i, id)};
    return mdm_db_exec(db, &stmt_reopen, params, NULL, err);
}

mdm_status mdm_review_set_score(mdm_db *db, int64_t id, double score, double probability,
                                const char *explanation, int *version_out, mdm_err *err)
{
    char i[MDM_DB_ID_LEN], s[40], p[40];
    snprintf(s, sizeof s, "%.17g", score);
    snprintf(p, sizeof p, "%.17g", probability);
    const char *params[] = {mdm_db_id(i, id), s, p, explanation ? explanation : "[]"};
    return exec_versioned(db, &stmt_set_score, params, version_out, err);
}

mdm_status mdm_review_set_priorities(mdm_db *db, const char *ids, const char *priorities,
                                     mdm_err *err)
{
    const char *params[] = {ids, priorities};
    return mdm_db_exec(db, &stmt_set_priorities, params, NULL, err);
}

mdm_status mdm_review_erase(mdm_db *db, const char *entity_ids, const char *record_ids,
                            mdm_err *err)
{
    const char *params[] = {entity_ids, record_ids};
    return mdm_db_exec(db, &stmt_erase, params, NULL, err);
}
