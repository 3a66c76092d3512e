/* Relationships between golden records (see relation.h). */
#include "mdm/relation.h"

#include "mdm/audit.h"
#include "mdm/golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A golden id as it lives now, coalesce(survivor_id, id): a merged id answers its survivor
 * (pointers are kept compressed by mdm/golden.c, so one step is enough). */
static const mdm_db_stmt st_upsert = {
    "relation_upsert",
    "INSERT INTO entity_relation (entity_a, entity_b, reason, actor) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (entity_a, entity_b) DO UPDATE SET reason = EXCLUDED.reason, "
    "actor = EXCLUDED.actor, created_at = now() RETURNING (xmax = 0) AS created",
    4};
static const mdm_db_stmt st_remove = {
    "relation_remove",
    "DELETE FROM entity_relation r USING entity ea, entity eb "
    "WHERE ea.id = r.entity_a AND eb.id = r.entity_b "
    "AND least(coalesce(ea.survivor_id, ea.id), coalesce(eb.survivor_id, eb.id)) = $1 "
    "AND greatest(coalesce(ea.survivor_id, ea.id), coalesce(eb.survivor_id, eb.id)) = $2",
    2};
static const mdm_db_stmt st_erase = {
    "relation_erase",
    "DELETE FROM entity_relation WHERE entity_a = ANY($1::bigint[]) "
    "OR entity_b = ANY($1::bigint[])",
    1};
static const mdm_db_stmt st_list = {
    "relation_list",
    "WITH me AS (SELECT coalesce(e.survivor_id, e.id) AS id FROM entity e WHERE e.id = $1), "
    "fam AS (SELECT id FROM me UNION SELECT e.id FROM entity e JOIN me ON e.survivor_id = me.id), "
    "hh AS (SELECT hm.household_id, h.addr_hash FROM household_member hm "
    "JOIN household h ON h.id = hm.household_id JOIN me ON hm.entity_id = me.id), "
    "rel AS (SELECT hm.entity_id AS other, 'same_household' AS type, hm.household_id, "
    "NULL::text AS reason, NULL::text AS actor, NULL::timestamptz AS at "
    "FROM household_member hm JOIN hh ON hm.household_id = hh.household_id "
    "WHERE hm.entity_id <> (SELECT id FROM me) "
    "UNION ALL SELECT hm.entity_id, 'same_address', hm.household_id, NULL, NULL, NULL "
    "FROM hh JOIN household h2 ON h2.status = 'active' AND h2.addr_hash = hh.addr_hash "
    "AND h2.id <> hh.household_id JOIN household_member hm ON hm.household_id = h2.id "
    "UNION ALL SELECT x.other, 'related', NULL, r.reason, r.actor, r.created_at "
    "FROM entity_relation r JOIN entity ea ON ea.id = r.entity_a "
    "JOIN entity eb ON eb.id = r.entity_b CROSS JOIN LATERAL (SELECT CASE "
    "WHEN coalesce(ea.survivor_id, ea.id) = (SELECT id FROM me) "
    "THEN coalesce(eb.survivor_id, eb.id) ELSE coalesce(ea.survivor_id, ea.id) END AS other) x "
    "WHERE (r.entity_a IN (SELECT id FROM fam) OR r.entity_b IN (SELECT id FROM fam)) "
    "AND x.other <> (SELECT id FROM me)) "
    "SELECT (SELECT id FROM me) AS id, (SELECT coalesce(json_agg(json_build_object("
    "'entity_id', rel.other, 'type', rel.type, 'status', e.status, 'name', "
    "nullif(concat_ws(' ', e.golden->>'first_name', e.golden->>'last_name'), ''), "
    "'birth_date', e.golden->>'birth_date', 'household_id', rel.household_id, "
    "'reason', rel.reason, 'asserted_by', rel.actor, 'asserted_at', "
    "mdm_ts(rel.at)) "
    "ORDER BY rel.type DESC, rel.other), '[]'::json) FROM rel JOIN entity e ON e.id = rel.other)"
    "::text AS items",
    1};

typedef struct assert_ctx {
    int64_t a, b;
    const char *reason, *actor, *role;
    bool created;
    bool remove;
} assert_ctx;

static mdm_status relation_tx(mdm_db *db, void *arg, mdm_err *err)
{
    assert_ctx *c = arg;
    int64_t a = c->a, b = c->b;
    /* both live; locked in ascending order of the ids asked for */
    mdm_status st = mdm_golden_lock(db, a < b ? &a : &b, err);
    if (st == MDM_OK)
        st = mdm_golden_lock(db, a < b ? &b : &a, err);
    if (st != MDM_OK)
        return st;
    if (a == b)
        return mdm_err_set_field(err, MDM_EINVAL, "/other",
                                 "a golden record is not related to itself (the two ids are "
                                 "one golden record)");
    char pa[MDM_DB_ID_LEN], pb[MDM_DB_ID_LEN];
    mdm_db_id(pa, a < b ? a : b);
    mdm_db_id(pb, a < b ? b : a);
    PGresult *res = NULL;
    if (c->remove) {
        const char *params[] = {pa, pb};
        st = mdm_db_exec(db, &st_remove, params, &res, err);
        if (st != MDM_OK)
            return st;
        bool gone = atoi(PQcmdTuples(res)) > 0;
        PQclear(res);
        if (!gone)
            return mdm_err_set(err, MDM_ENOTFOUND, "no relationship between %lld and %lld",
                               (long long)a, (long long)b);
    } else {
        const char *params[] = {pa, pb, c->reason, c->actor};
        st = mdm_db_exec(db, &st_upsert, params, &res, err);
        if (st != MDM_OK)
            return st;
        c->created = !strcmp(mdm_db_get(res, 0, "created", "f"), "t");
        PQclear(res);
    }
    char target[32];
    snprintf(target, sizeof target, "entity:%s", pa);
    json_t *after = json_pack("{s:I, s:I, s:s}", "entity_a", (json_int_t)(a < b ? a : b),
                              "entity_b", (json_int_t)(a < b ? b : a), "kind", "related");
    st = mdm_audit_append(db, c->actor, c->role, c->remove ? "relation.remove" : "relation.assert",
                          target, c->remove ? NULL : c->reason, NULL, after, err);
    json_decref(after);
    return st;
}

mdm_status mdm_relation_assert(mdm_db *db, int64_t a, int64_t b, const char *reason,
                               const char *actor, const char *role, bool *created, mdm_err *err)
{
    if (!reason || !*reason || strlen(reason) > 500)
        return mdm_err_set_field(err, MDM_EINVAL, "/reason",
                                 "a reason is required (at most 500 bytes)");
    assert_ctx c = {a, b, reason, actor, role, false, false};
    mdm_status st = mdm_db_run_tx(db, "relation_assert", relation_tx, &c, err);
    if (st == MDM_OK && created)
        *created = c.created;
    return st;
}

mdm_status mdm_relation_remove(mdm_db *db, int64_t a, int64_t b, const char *actor,
                               const char *role, mdm_err *err)
{
    assert_ctx c = {a, b, NULL, actor, role, false, true};
    return mdm_db_run_tx(db, "relation_remove", relation_tx, &c, err);
}

mdm_status mdm_relation_list(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char s[MDM_DB_ID_LEN];
    mdm_db_id(s, id);
    const char *params[] = {s};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_list, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (!mdm_db_get(res, 0, "id", NULL)) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no such golden record");
    }
    json_t *items = json_loads(mdm_db_get(res, 0, "items", "[]"), 0, NULL);
    *out = json_pack("{s:I, s:o}", "id", (json_int_t)mdm_db_get_ll(res, 0, "id", 0), "items",
                     items ? items : json_array());
    PQclear(res);
    return MDM_OK;
}

mdm_status mdm_relation_erase(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    return mdm_db_exec(db, &st_erase, params, NULL, err);
}
