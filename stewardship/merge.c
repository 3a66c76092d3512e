/* Manual merge, split, unmerge, pins and assertions around the core's golden-record
 * primitives (mdm/golden.h).
 *
 * Invariants: every action locks the entities it touches through mdm_golden_lock
 * (ascending ids), checks the caller's version, refuses what a never_link assertion
 * forbids, and writes labels, consent recomputation and one audit row in the same
 * transaction as the change. Every merge, manual or automatic, stores a snapshot of both
 * golden records first (mdm_golden_merge), so it can be undone exactly. */
#include "stewardship/merge.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/assertion.h"
#include "mdm/audit.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/query.h"
#include "mdm/survive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the snapshot mdm_golden_merge just wrote for this pair (the rows are locked) */
static const mdm_db_stmt stmt_snapshot_last = {
    "merge_snapshot_last",
    "SELECT id, (before -> $1::text ->> 'version')::int AS sv,"
    " (before -> $2::text ->> 'version')::int AS rv FROM merge_snapshot"
    " WHERE survivor_id = $1::bigint AND retired_id = $2::bigint ORDER BY id DESC LIMIT 1",
    2};

static const mdm_db_stmt stmt_snapshot_find = {
    "merge_snapshot_find",
    "SELECT id, survivor_id, retired_id, before::text AS before, undone_at FROM merge_snapshot"
    " WHERE ($1::bigint > 0 AND id = $1)"
    "    OR ($1::bigint = 0 AND (survivor_id = $2 OR retired_id = $2))"
    " ORDER BY id DESC LIMIT 1 FOR UPDATE",
    2};

static const mdm_db_stmt stmt_entity_version = {
    "merge_entity_version", "SELECT version, status FROM entity WHERE id = $1", 1};

static const mdm_db_stmt stmt_record_entity = {
    "merge_record_entity",
    "SELECT m.entity_id, (SELECT count(*) FROM membership x WHERE x.entity_id = m.entity_id"
    " AND x.active) AS size FROM membership m WHERE m.record_id = $1 AND m.active",
    1};

/* never_link between any record of side A (record $1, or members of entity $2 when $1
 * is 0) and any member of entity $3 */
static const mdm_db_stmt stmt_forbidden = {
    "merge_forbidden",
    "WITH a AS (SELECT $1::bigint AS rid WHERE $1::bigint > 0"
    "           UNION SELECT record_id FROM membership WHERE $1::bigint = 0 AND entity_id = $2"
    "             AND active),"
    " b AS (SELECT record_id AS rid FROM membership WHERE entity_id = $3 AND active)"
    " SELECT sa.record_a, sa.record_b FROM steward_assertion sa, a, b"
    " WHERE sa.kind = 'never_link' AND sa.record_a = least(a.rid, b.rid)"
    "   AND sa.record_b = greatest(a.rid, b.rid) LIMIT 1",
    3};

static const mdm_db_stmt stmt_members = {
    "merge_members",
    "SELECT record_id FROM membership WHERE entity_id = $1 AND active ORDER BY record_id", 1};

static const mdm_db_stmt stmt_pin_get = {
    "merge_pin_get",
    "SELECT value::text AS value FROM golden_pin WHERE entity_id = $1 AND attr = $2", 2};

static const mdm_db_stmt stmt_record_exists = {
    "merge_record_exists", "SELECT count(*) AS n FROM source_record WHERE id IN ($1, $2)", 2};

/* the steward assertions between two sets of records ($1, $2: bigint arrays), as JSON */
static const mdm_db_stmt stmt_assert_between = {
    "merge_assert_between",
    "SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_object('kind', s.kind, 'record_a',"
    " s.record_a, 'record_b', s.record_b, 'actor', s.actor, 'reason', s.reason, 'created_at',"
    " s.created_at)), '[]')::text AS j FROM unnest($1::bigint[]) a, unnest($2::bigint[]) b"
    " JOIN steward_assertion s ON true WHERE a <> b AND s.record_a = least(a, b)"
    " AND s.record_b = greatest(a, b)",
    2};

static const mdm_db_stmt stmt_split_find = {
    "merge_split_find",
    "SELECT id, entity_id, other_id, created, moved::text AS moved, before::text AS before,"
    " assertions::text AS assertions, undone_at FROM split_snapshot"
    " WHERE ($1::bigint > 0 AND id = $1)"
    "    OR ($1::bigint = 0 AND (entity_id = $2 OR other_id = $2))"
    " ORDER BY id DESC LIMIT 1 FOR UPDATE",
    2};

/* which of the records ($2: bigint array) are active members of entity $1 */
static const mdm_db_stmt stmt_members_among = {
    "merge_members_among",
    "SELECT record_id, (SELECT count(*) FROM membership x WHERE x.entity_id = $1 AND x.active)"
    " AS size FROM membership WHERE entity_id = $1 AND active AND record_id = ANY($2::bigint[])"
    " ORDER BY record_id",
    2};

static const mdm_db_stmt stmt_same_entity = {
    "merge_same_entity",
    "SELECT count(*) AS n FROM membership a JOIN membership b ON a.entity_id = b.entity_id"
    " WHERE a.record_id = $1 AND a.active AND b.record_id = $2 AND b.active",
    2};

/* ---- helpers ---------------------------------------------------------------------- */

/* Runs fn in a transaction; the reply fn left in *slot goes to *out on success (when out is
 * not NULL), else it is freed. */
static mdm_status run_tx_result(mdm_db *db, const char *name, mdm_db_tx_fn fn, void *c,
                                json_t **slot, json_t **out, mdm_err *err)
{
    mdm_status st = mdm_db_run_tx(db, name, fn, c, err);
    if (st == MDM_OK && out)
        *out = *slot;
    else
        json_decref(*slot);
    return st;
}

static mdm_status check_who(const mdm_merge_actor *who, mdm_err *err)
{
    if (!who || !who->name || !*who->name)
        return mdm_err_set_field(err, MDM_EINVAL, "/actor", "the acting steward is required");
    if (!who->role || !*who->role)
        return mdm_err_set_field(err, MDM_EINVAL, "/role", "the acting role is required");
    if (who->reason && strlen(who->reason) > MDM_AUDIT_MAX_REASON)
        return mdm_err_set_field(err, MDM_EINVAL, "/reason", "reason is longer than %d bytes",
                                 MDM_AUDIT_MAX_REASON);
    return MDM_OK;
}

static const char *reason_of(const mdm_merge_actor *who)
{
    return who->reason && *who->reason ? who->reason : NULL;
}

/* Locks entity *id (following survivors) and checks it is still id and at version
 * (when version > 0). */
static mdm_status lock_at(mdm_db *db, int64_t id, int version, int *cur_version, mdm_err *err)
{
    int64_t live = id;
    mdm_status st = mdm_golden_lock(db, &live, err);
    if (st != MDM_OK)
        return st;
    if (live != id)
        return mdm_err_set(err, MDM_ECONFLICT, "entity %lld was merged into %lld", (long long)id,
                           (long long)live);
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, id);
    const char *p[] = {ids};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_entity_version, p, &res, err)) != MDM_OK)
        return st;
    int v = (int)mdm_db_get_ll(res, 0, "version", 0);
    PQclear(res);
    if (cur_version)
        *cur_version = v;
    if (version > 0 && version != v) {
        mdm_err_set(err, MDM_ESTALE, "entity %lld is at version %d, not %d", (long long)id, v,
                    version);
        mdm_err_detail(err, "reload the entity and try again");
        return MDM_ESTALE;
    }
    return MDM_OK;
}

/* Members of entity id as a PostgreSQL array literal and a JSON array. */
static mdm_status members_of(mdm_db *db, int64_t id, mdm_buf *arr, json_t **list, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, id);
    const char *p[] = {ids};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_members, p, &res, err);
    if (st != MDM_OK)
        return st;
    mdm_buf_putc(arr, '{');
    if (list)
        *list = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        mdm_buf_printf(arr, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
        if (list)
            json_array_append_new(*list, json_integer(strtoll(PQgetvalue(res, i, 0), NULL, 10)));
    }
    mdm_buf_putc(arr, '}');
    PQclear(res);
    return MDM_OK;
}

static mdm_status forbidden(mdm_db *db, int64_t record, int64_t entity_a, int64_t entity_b,
                            mdm_err *err)
{
    char r[MDM_DB_ID_LEN], a[MDM_DB_ID_LEN], b[MDM_DB_ID_LEN];
    mdm_db_id(r, record);
    mdm_db_id(a, entity_a);
    mdm_db_id(b, entity_b);
    const char *p[] = {r, a, b};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_forbidden, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) > 0) {
        st = mdm_err_set(err, MDM_ECONFLICT,
                         "a never_link assertion between records %s and %s forbids this",
                         mdm_db_get(res, 0, "record_a", "?"), mdm_db_get(res, 0, "record_b", "?"));
        mdm_err_detail(err,
                       "remove or replace the assertion first if the stewards changed their mind");
    }
    PQclear(res);
    return st;
}

static mdm_status audit_entity(mdm_db *db, const mdm_merge_actor *who, const char *action,
                               int64_t id, json_t *before, json_t *after, mdm_err *err)
{
    char target[48];
    snprintf(target, sizeof target, "entity:%lld", (long long)id);
    mdm_status st = mdm_audit_append(db, who->name, who->role, action, target, reason_of(who),
                                     before, after, err);
    json_decref(before);
    json_decref(after);
    return st;
}

/* ---- merge ------------------------------------------------------------------------ */

mdm_status mdm_merge_entities_locked(mdm_db *db, const mdm_engine *ctx, int64_t a, int64_t b,
                                     const mdm_merge_actor *who, double probability,
                                     int64_t *survivor, mdm_err *err)
{
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    int64_t x = a < b ? a : b, y = a < b ? b : a;
    if ((st = mdm_golden_lock(db, &x, err)) != MDM_OK || (st = mdm_golden_lock(db, &y, err)))
        return st;
    if (x == y)
        return mdm_err_set(err, MDM_ECONFLICT, "entities %lld and %lld are already merged",
                           (long long)a, (long long)b);
    if ((st = forbidden(db, 0, x, y, err)) != MDM_OK)
        return st;
    int64_t keep = 0;
    st = mdm_golden_merge(db, ctx, x, y, "manual", who->name, reason_of(who), probability, &keep,
                          err);
    if (st != MDM_OK)
        return st;
    int64_t gone = keep == x ? y : x;
    char ks[MDM_DB_ID_LEN], gs[MDM_DB_ID_LEN];
    mdm_db_id(ks, keep);
    mdm_db_id(gs, gone);
    const char *ps[] = {ks, gs};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_snapshot_last, ps, &res, err)) != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_EINTERNAL, "the merge of %lld into %lld left no snapshot",
                           (long long)gone, (long long)keep);
    }
    long long snap = mdm_db_get_ll(res, 0, "id", 0);
    int keep_v = (int)mdm_db_get_ll(res, 0, "sv", 0), gone_v = (int)mdm_db_get_ll(res, 0, "rv", 0);
    PQclear(res);
    if ((st = mdm_consent_recompute(db, keep, err)) != MDM_OK)
        return st;
    int version = 0;
    if ((st = lock_at(db, keep, 0, &version, err)) != MDM_OK)
        return st;
    st = audit_entity(
        db, who, "entity.merge", keep,
        json_pack("{s:{s:I,s:i},s:{s:I,s:i}}", "survivor", "id", (json_int_t)keep, "version",
                  keep_v, "retired", "id", (json_int_t)gone, "version", gone_v),
        json_pack("{s:I,s:I,s:i,s:I}", "survivor", (json_int_t)keep, "retired", (json_int_t)gone,
                  "version", version, "snapshot_id", (json_int_t)snap),
        err);
    if (st == MDM_OK && survivor)
        *survivor = keep;
    return st;
}

mdm_status mdm_merge_attach_record_locked(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                          int64_t entity_id, const mdm_merge_actor *who,
                                          double probability, int64_t *entity, mdm_err *err)
{
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    char rs[MDM_DB_ID_LEN];
    mdm_db_id(rs, record_id);
    const char *p[] = {rs};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_record_entity, p, &res, err)) != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ECONFLICT, "record %lld belongs to no entity",
                           (long long)record_id);
    }
    int64_t from = mdm_db_get_ll(res, 0, "entity_id", 0);
    long long size = mdm_db_get_ll(res, 0, "size", 0);
    PQclear(res);
    int64_t target = entity_id;
    if ((st = mdm_golden_lock(db, &target, err)) != MDM_OK)
        return st;
    if (target == from)
        return mdm_err_set(err, MDM_ECONFLICT, "record %lld is already in entity %lld",
                           (long long)record_id, (long long)target);
    if (size <= 1) /* the record's own entity: merge it, which can be undone exactly */
        return mdm_merge_entities_locked(db, ctx, target, from, who, probability, entity, err);
    if ((st = forbidden(db, record_id, 0, target, err)) != MDM_OK)
        return st;
    int64_t left = 0;
    if ((st = mdm_golden_unlink(db, ctx, record_id, "manual", who->name, reason_of(who), &left,
                                err)) != MDM_OK)
        return st;
    if ((st = mdm_golden_link(db, ctx, record_id, &target, "manual", who->name, probability,
                              "steward", NULL, err)) != MDM_OK)
        return st;
    if ((st = mdm_consent_recompute(db, target, err)) != MDM_OK ||
        (left && (st = mdm_consent_recompute(db, left, err)) != MDM_OK))
        return st;
    st = audit_entity(
        db, who, "record.move", target,
        json_pack("{s:I,s:I}", "record_id", (json_int_t)record_id, "entity_id", (json_int_t)from),
        json_pack("{s:I,s:I}", "record_id", (json_int_t)record_id, "entity_id", (json_int_t)target),
        err);
    if (st == MDM_OK && entity)
        *entity = target;
    return st;
}

typedef struct manual_ctx {
    const mdm_engine *ictx;
    int64_t id, other;
    int version;
    const mdm_merge_actor *who;
    json_t *result;
} manual_ctx;

static mdm_status manual_fn(mdm_db *db, void *arg, mdm_err *err)
{
    manual_ctx *c = arg;
    json_decref(c->result);
    c->result = NULL;
    mdm_status st = lock_at(db, c->id, c->version, NULL, err);
    if (st != MDM_OK)
        return st;
    mdm_buf ma = {0}, mb = {0};
    int64_t other = c->other;
    if ((st = mdm_golden_lock(db, &other, err)) != MDM_OK)
        goto out;
    if ((st = members_of(db, c->id, &ma, NULL, err)) != MDM_OK ||
        (st = members_of(db, other, &mb, NULL, err)) != MDM_OK)
        goto out;
    if (other != c->id && (st = mdm_assertion_label_sets(db, ma.data, mb.data, "match", false,
                                                         "merge", c->who->name, err)))
        goto out;
    int64_t keep = 0;
    if ((st = mdm_merge_entities_locked(db, c->ictx, c->id, other, c->who, 1.0, &keep, err)))
        goto out;
    int version = 0;
    if ((st = lock_at(db, keep, 0, &version, err)) != MDM_OK)
        goto out;
    c->result = json_pack("{s:I,s:I,s:i}", "survivor", (json_int_t)keep, "retired",
                          (json_int_t)(keep == c->id ? other : c->id), "version", version);
out:
    mdm_buf_free(&ma);
    mdm_buf_free(&mb);
    return st;
}

mdm_status mdm_merge_manual(mdm_db *db, const mdm_engine *ctx, int64_t id, int version,
                            int64_t other, const mdm_merge_actor *who, json_t **result,
                            mdm_err *err)
{
    if (result)
        *result = NULL;
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    if (other <= 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/other", "the entity to merge is required");
    if (other == id)
        return mdm_err_set_field(err, MDM_EINVAL, "/other", "an entity cannot merge with itself");
    manual_ctx c = {ctx, id, other, version, who, NULL};
    st = run_tx_result(db, "merge_manual", manual_fn, &c, &c.result, result, err);
    return st;
}

/* ---- split ------------------------------------------------------------------------ */

typedef struct split_ctx {
    const mdm_engine *ictx;
    int64_t id, into;
    int version;
    const int64_t *records;
    size_t n;
    const mdm_merge_actor *who;
    json_t *result;
} split_ctx;

static mdm_status split_fn(mdm_db *db, void *arg, mdm_err *err)
{
    split_ctx *c = arg;
    json_decref(c->result);
    c->result = NULL;
    mdm_status st = lock_at(db, c->id, c->version, NULL, err);
    if (st != MDM_OK)
        return st;
    mdm_buf all = {0}, moved = {0}, rest = {0}, went = {0};
    json_t *members = NULL;
    char *before = NULL, *assertions = NULL;
    int64_t created = 0, split_id = 0;
    if ((st = members_of(db, c->id, &all, &members, err)) != MDM_OK)
        goto out;
    /* moved and remaining sets; every chosen record must be a member */
    mdm_buf_putc(&moved, '{');
    mdm_buf_putc(&rest, '{');
    size_t nmoved = 0, nrest = 0, i;
    json_t *m;
    for (size_t k = 0; k < c->n; k++) {
        bool found = false;
        json_array_foreach(members, i, m) found |= json_integer_value(m) == c->records[k];
        if (!found) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/records",
                                   "record %lld is not a member of entity %lld",
                                   (long long)c->records[k], (long long)c->id);
            goto out;
        }
    }
    json_array_foreach(members, i, m)
    {
        bool chosen = false;
        for (size_t k = 0; k < c->n; k++)
            chosen |= json_integer_value(m) == c->records[k];
        mdm_buf *b = chosen ? &moved : &rest;
        mdm_buf_printf(b, "%s%lld", (chosen ? nmoved++ : nrest++) ? "," : "",
                       (long long)json_integer_value(m));
    }
    mdm_buf_putc(&moved, '}');
    mdm_buf_putc(&rest, '}');
    if (nrest == 0) {
        st = mdm_err_set_field(err, MDM_EINVAL, "/records",
                               "a split must leave at least one record in entity %lld",
                               (long long)c->id);
        goto out;
    }
    /* what an undo needs (mdm_merge_unsplit): the golden records before anything moves,
     * and the assertions between the parts that the split's never_link replaces */
    if (c->into > 0 && c->into != c->id && (st = lock_at(db, c->into, 0, NULL, err)) != MDM_OK)
        goto out;
    if ((st = mdm_golden_split_before(db, c->id, c->into, &before, err)) != MDM_OK)
        goto out;
    const char *pb[] = {moved.data, rest.data};
    PGresult *ares = NULL;
    if ((st = mdm_db_exec(db, &stmt_assert_between, pb, &ares, err)) != MDM_OK)
        goto out;
    assertions = mdm_xstrdup(mdm_db_get(ares, 0, "j", "[]"));
    PQclear(ares);
    /* a split says: these records are not the same person as the others */
    if ((st = mdm_assertion_never_link_sets(db, moved.data, rest.data, c->who->name,
                                            reason_of(c->who), err)) != MDM_OK ||
        (st = mdm_assertion_label_sets(db, moved.data, rest.data, "no_match", true, "split",
                                       c->who->name, err)))
        goto out;
    int64_t dest = c->into;
    if (dest == 0) {
        int64_t nid = 0;
        if ((st = mdm_golden_split(db, c->ictx, c->id, c->records, c->n, c->who->name,
                                   reason_of(c->who), &nid, err)) != MDM_OK)
            goto out;
        /* the id stays with the larger part: find where the chosen records went */
        char rs[MDM_DB_ID_LEN];
        mdm_db_id(rs, c->records[0]);
        const char *pr[] = {rs};
        PGresult *res = NULL;
        if ((st = mdm_db_exec(db, &stmt_record_entity, pr, &res, err)) != MDM_OK)
            goto out;
        dest = mdm_db_get_ll(res, 0, "entity_id", nid);
        PQclear(res);
        created = nid;
        if ((st = mdm_consent_recompute(db, nid, err)) != MDM_OK)
            goto out;
    } else {
        if (dest == c->id) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/into", "cannot split into the same entity");
            goto out;
        }
        if ((st = lock_at(db, dest, 0, NULL, err)) != MDM_OK)
            goto out;
        for (size_t k = 0; k < c->n; k++)
            if ((st = forbidden(db, c->records[k], 0, dest, err)) != MDM_OK)
                goto out;
        for (size_t k = 0; k < c->n; k++) {
            int64_t to = dest;
            if ((st = mdm_golden_unlink(db, c->ictx, c->records[k], "manual", c->who->name,
                                        reason_of(c->who), NULL, err)) != MDM_OK ||
                (st = mdm_golden_link(db, c->ictx, c->records[k], &to, "manual", c->who->name, 1.0,
                                      "steward", NULL, err)) != MDM_OK)
                goto out;
        }
    }
    if ((st = mdm_consent_recompute(db, c->id, err)) != MDM_OK ||
        (st = mdm_consent_recompute(db, dest, err)) != MDM_OK)
        goto out;
    /* the records that left c->id: to the new golden record (which holds the smaller part,
     * the chosen records or the others), or the chosen ones to `into` */
    if (created && (st = members_of(db, created, &went, NULL, err)) != MDM_OK)
        goto out;
    if ((st = mdm_golden_split_record(db, c->id, created ? created : dest, created != 0,
                                      created ? went.data : moved.data, before, assertions,
                                      c->who->name, reason_of(c->who), &split_id, err)) != MDM_OK)
        goto out;
    int version = 0;
    if ((st = lock_at(db, c->id, 0, &version, err)) != MDM_OK)
        goto out;
    json_t *moved_list = json_array();
    for (size_t k = 0; k < c->n; k++)
        json_array_append_new(moved_list, json_integer(c->records[k]));
    st = audit_entity(db, c->who, "entity.split", c->id, json_pack("{s:O}", "members", members),
                      json_pack("{s:o,s:I,s:i,s:I}", "moved", moved_list, "moved_to",
                                (json_int_t)dest, "version", version, "split_id",
                                (json_int_t)split_id),
                      err);
    if (st == MDM_OK)
        c->result =
            json_pack("{s:I,s:I,s:i,s:I}", "entity_id", (json_int_t)c->id, "moved_to",
                      (json_int_t)dest, "version", version, "split_id", (json_int_t)split_id);
out:
    free(before);
    free(assertions);
    mdm_buf_free(&went);
    json_decref(members);
    mdm_buf_free(&all);
    mdm_buf_free(&moved);
    mdm_buf_free(&rest);
    return st;
}

mdm_status mdm_merge_split(mdm_db *db, const mdm_engine *ctx, int64_t id, int version,
                           const int64_t *record_ids, size_t n, int64_t into,
                           const mdm_merge_actor *who, json_t **result, mdm_err *err)
{
    if (result)
        *result = NULL;
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    if (n == 0 || n > 10000)
        return mdm_err_set_field(err, MDM_EINVAL, "/records",
                                 "between 1 and 10000 records to split off");
    if (into < 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/into", "into must be an entity id");
    split_ctx c = {ctx, id, into, version, record_ids, n, who, NULL};
    st = run_tx_result(db, "merge_split", split_fn, &c, &c.result, result, err);
    return st;
}

/* ---- unsplit ---------------------------------------------------------------------- */

typedef struct unsplit_ctx {
    const mdm_engine *ictx;
    int64_t id, split_id;
    int version;
    const mdm_merge_actor *who;
    json_t *result;
} unsplit_ctx;

/* Parses a PostgreSQL bigint[] text ("{1,2,3}") into a JSON array of integers. */
static json_t *pg_ids(const char *s)
{
    json_t *out = json_array();
    for (const char *p = s; p && *p;) {
        while (*p && (*p < '0' || *p > '9'))
            p++;
        if (!*p)
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        json_array_append_new(out, json_integer(v));
        p = end;
    }
    return out;
}

static void ids_to(mdm_buf *b, const json_t *ids)
{
    size_t i;
    json_t *v;
    mdm_buf_putc(b, '{');
    json_array_foreach(ids, i, v)
        mdm_buf_printf(b, "%s%lld", i ? "," : "", (long long)json_integer_value(v));
    mdm_buf_putc(b, '}');
}

static mdm_status unsplit_fn(mdm_db *db, void *arg, mdm_err *err)
{
    unsplit_ctx *c = arg;
    json_decref(c->result);
    c->result = NULL;
    char sid[MDM_DB_ID_LEN], eid[MDM_DB_ID_LEN];
    mdm_db_id(sid, c->split_id);
    mdm_db_id(eid, c->id);
    const char *p[] = {sid, eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_split_find, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return c->split_id
                   ? mdm_err_set(err, MDM_ENOTFOUND, "no split %lld", (long long)c->split_id)
                   : mdm_err_set(err, MDM_ENOTFOUND, "entity %lld has no split to undo",
                                 (long long)c->id);
    }
    long long split = mdm_db_get_ll(res, 0, "id", 0);
    int64_t e = mdm_db_get_ll(res, 0, "entity_id", 0), o = mdm_db_get_ll(res, 0, "other_id", 0);
    bool created = !strcmp(mdm_db_get(res, 0, "created", "f"), "t");
    bool undone = mdm_db_get(res, 0, "undone_at", NULL) != NULL;
    json_t *moved = pg_ids(mdm_db_get(res, 0, "moved", "{}"));
    json_t *before = json_loads(mdm_db_get(res, 0, "before", "{}"), 0, NULL);
    char *assertions = mdm_xstrdup(mdm_db_get(res, 0, "assertions", "[]"));
    PQclear(res);
    char es[MDM_DB_ID_LEN], os[MDM_DB_ID_LEN];
    mdm_db_id(es, e);
    mdm_db_id(os, o);
    json_t *eb = json_object_get(before, es), *ob = json_object_get(before, os);
    json_t *still = json_array(), *rest = json_array();
    mdm_buf movedb = {0}, restb = {0}, stillb = {0};
    char *pins = NULL;
    int64_t *back = NULL;
    size_t nback = 0, i;
    json_t *v;
    if (undone) {
        st = mdm_err_set(err, MDM_ECONFLICT, "split %lld was already undone", split);
        goto out;
    }
    if (!json_is_object(eb) || !json_is_array(json_object_get(eb, "members"))) {
        st = mdm_err_set(err, MDM_ECONFLICT, "split %lld cannot be undone: its snapshot was erased",
                         split);
        goto out;
    }
    /* both golden records, in ascending id order; the caller's version is the one of the
     * golden record it named */
    int64_t lo = e < o ? e : o, hi = e < o ? o : e;
    if ((st = lock_at(db, lo, lo == c->id ? c->version : 0, NULL, err)) != MDM_OK ||
        (st = lock_at(db, hi, hi == c->id ? c->version : 0, NULL, err)) != MDM_OK)
        goto out;
    /* the parts: the records that moved, and the others the golden record had */
    json_array_foreach(json_object_get(eb, "members"), i, v)
    {
        bool went = false;
        size_t k;
        json_t *m;
        json_array_foreach(moved, k, m) went |= json_integer_value(m) == json_integer_value(v);
        if (!went)
            json_array_append(rest, v);
    }
    ids_to(&movedb, moved);
    ids_to(&restb, rest);
    /* the moved records still in the other golden record come back; those that left it
     * since stay where they are */
    const char *pm[] = {os, movedb.data};
    if ((st = mdm_db_exec(db, &stmt_members_among, pm, &res, err)) != MDM_OK)
        goto out;
    nback = (size_t)PQntuples(res);
    long long size = nback ? mdm_db_get_ll(res, 0, "size", 0) : 0;
    back = mdm_xcalloc(nback + 1, sizeof *back);
    for (size_t k = 0; k < nback; k++) {
        back[k] = strtoll(PQgetvalue(res, (int)k, 0), NULL, 10);
        json_array_append_new(still, json_integer(back[k]));
    }
    PQclear(res);
    if (nback == 0) {
        st = mdm_err_set(err, MDM_ECONFLICT,
                         "none of the records split off entity %lld is in entity %lld any more",
                         (long long)e, (long long)o);
        goto out;
    }
    ids_to(&stillb, still);
    /* the assertions the split wrote go, those it replaced come back: the parts may join */
    if ((st = mdm_assertion_unlink_sets(db, movedb.data, restb.data, err)) != MDM_OK ||
        (st = mdm_assertion_restore(db, assertions, err)) != MDM_OK)
        goto out;
    /* pins first, so survivorship sees them: the golden record's own come back */
    pins = json_dumps(json_object_get(eb, "pins"), JSON_COMPACT);
    if ((st = mdm_golden_pins_restore(db, es, pins ? pins : "[]", err)) != MDM_OK)
        goto out;
    bool whole = created && (size_t)size == nback;
    if (whole) {
        /* the golden record the split made holds just the moved records: it is merged back
         * (the older id, the split one, survives; the merge itself can be undone) */
        int64_t keep = 0;
        if ((st = mdm_golden_merge(db, c->ictx, e, o, "manual", c->who->name, reason_of(c->who),
                                   1.0, &keep, err)) != MDM_OK)
            goto out;
    } else {
        for (size_t k = 0; k < nback; k++) {
            int64_t to = e;
            if ((st = mdm_golden_unlink(db, c->ictx, back[k], "manual", c->who->name,
                                        reason_of(c->who), NULL, err)) != MDM_OK ||
                (st = mdm_golden_link(db, c->ictx, back[k], &to, "manual", c->who->name, 1.0,
                                      "steward", NULL, err)) != MDM_OK)
                goto out;
        }
    }
    /* recomputed values equal to their pre-split ones get back their pre-split time */
    if ((st = mdm_golden_restore_lineage(db, e, json_object_get(eb, "values"), err)) != MDM_OK)
        goto out;
    if (!created && json_is_object(ob) &&
        (st = mdm_golden_restore_lineage(db, o, json_object_get(ob, "values"), err)) != MDM_OK)
        goto out;
    if ((st = mdm_golden_split_undone(db, split, c->who->name, err)) != MDM_OK ||
        (st = mdm_assertion_label_sets(db, stillb.data, restb.data, "match", false, "unsplit",
                                       c->who->name, err)) != MDM_OK)
        goto out;
    if ((st = mdm_consent_recompute(db, e, err)) != MDM_OK ||
        (st = mdm_consent_recompute(db, o, err)) != MDM_OK)
        goto out;
    int version = 0;
    if ((st = lock_at(db, e, 0, &version, err)) != MDM_OK)
        goto out;
    st = audit_entity(db, c->who, "entity.unsplit", e,
                      json_pack("{s:I,s:I,s:I}", "split_id", (json_int_t)split, "entity_id",
                                (json_int_t)e, "other_id", (json_int_t)o),
                      json_pack("{s:I,s:O,s:b,s:i}", "entity_id", (json_int_t)e, "moved_back",
                                still, "other_retired", whole, "version", version),
                      err);
    if (st == MDM_OK)
        c->result = json_pack("{s:I,s:I,s:I,s:O,s:b,s:i}", "entity_id", (json_int_t)e, "other_id",
                              (json_int_t)o, "split_id", (json_int_t)split, "moved_back", still,
                              "other_retired", whole, "version", version);
out:
    free(back);
    free(pins);
    free(assertions);
    mdm_buf_free(&movedb);
    mdm_buf_free(&restb);
    mdm_buf_free(&stillb);
    json_decref(still);
    json_decref(rest);
    json_decref(moved);
    json_decref(before);
    return st;
}

mdm_status mdm_merge_unsplit(mdm_db *db, const mdm_engine *ctx, int64_t id, int64_t split_id,
                             int version, const mdm_merge_actor *who, json_t **result, mdm_err *err)
{
    if (result)
        *result = NULL;
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    if (split_id < 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/split_id", "split_id must be a split's id");
    unsplit_ctx c = {ctx, id, split_id, version, who, NULL};
    return run_tx_result(db, "merge_unsplit", unsplit_fn, &c, &c.result, result, err);
}

/* ---- unmerge ---------------------------------------------------------------------- */

typedef struct unmerge_ctx {
    const mdm_engine *ictx;
    int64_t id, snapshot_id;
    int version;
    const mdm_merge_actor *who;
    json_t *result;
} unmerge_ctx;

static mdm_status unmerge_fn(mdm_db *db, void *arg, mdm_err *err)
{
    unmerge_ctx *c = arg;
    json_decref(c->result);
    c->result = NULL;
    char sid[MDM_DB_ID_LEN], eid[MDM_DB_ID_LEN];
    mdm_db_id(sid, c->snapshot_id);
    mdm_db_id(eid, c->id);
    const char *p[] = {sid, eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_snapshot_find, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return c->snapshot_id ? mdm_err_set(err, MDM_ENOTFOUND, "no merge snapshot %lld",
                                            (long long)c->snapshot_id)
                              : mdm_err_set(err, MDM_ENOTFOUND, "entity %lld has no merge to undo",
                                            (long long)c->id);
    }
    long long snap = mdm_db_get_ll(res, 0, "id", 0);
    int64_t s = mdm_db_get_ll(res, 0, "survivor_id", 0), r = mdm_db_get_ll(res, 0, "retired_id", 0);
    bool undone = mdm_db_get(res, 0, "undone_at", NULL) != NULL;
    json_t *before = json_loads(mdm_db_get(res, 0, "before", "{}"), 0, NULL);
    PQclear(res);
    char ss[MDM_DB_ID_LEN], rs[MDM_DB_ID_LEN];
    mdm_db_id(ss, s);
    mdm_db_id(rs, r);
    json_t *sb = json_object_get(before, ss), *rb = json_object_get(before, rs);
    int64_t *records = NULL;
    json_t *values = NULL;
    char *pins_s = NULL, *spins_s = NULL;
    mdm_buf rest = {0}, back = {0};
    if (undone) {
        st = mdm_err_set(err, MDM_ECONFLICT, "merge %lld was already undone", snap);
        goto out;
    }
    /* the caller's version is the survivor's: GET of either id answers the survivor */
    if (c->version > 0 && (st = lock_at(db, s, c->version, NULL, err)) != MDM_OK)
        goto out;
    if (!json_is_object(rb) || !json_is_array(json_object_get(rb, "members"))) {
        st = mdm_err_set(err, MDM_ECONFLICT,
                         "merge %lld cannot be undone: its snapshot was "
                         "erased",
                         snap);
        goto out;
    }
    json_t *members = json_object_get(rb, "members");
    size_t n = json_array_size(members), i;
    json_t *m;
    records = mdm_xcalloc(n + 1, sizeof *records);
    json_array_foreach(members, i, m) records[i] = json_integer_value(m);
    /* pins first, so survivorship sees them: the retired entity's own come back, the
     * ones the survivor inherited from it go */
    pins_s = json_dumps(json_object_get(rb, "pins"), JSON_COMPACT);
    spins_s = json_dumps(json_is_object(sb) ? json_object_get(sb, "pins") : NULL,
                         JSON_COMPACT | JSON_ENCODE_ANY);
    if ((st = mdm_golden_pins_drop_inherited(db, ss, pins_s ? pins_s : "[]",
                                             spins_s && strcmp(spins_s, "null") ? spins_s : "[]",
                                             err)) != MDM_OK)
        goto out;
    if ((st = mdm_golden_pins_restore(db, rs, pins_s ? pins_s : "[]", err)) != MDM_OK)
        goto out;
    values = json_object();
    json_object_set(values, rs, json_object_get(rb, "values"));
    if (json_is_object(sb))
        json_object_set(values, ss, json_object_get(sb, "values"));
    if ((st = mdm_golden_unmerge(db, c->ictx, s, r, records, n, values, c->who->name,
                                 reason_of(c->who), err)) != MDM_OK)
        goto out;
    if ((st = mdm_golden_snapshot_undone(db, snap, c->who->name, err)) != MDM_OK)
        goto out;
    if ((st = members_of(db, s, &rest, NULL, err)) != MDM_OK ||
        (st = members_of(db, r, &back, NULL, err)) != MDM_OK ||
        (st = mdm_assertion_label_sets(db, back.data, rest.data, "no_match", false, "unmerge",
                                       c->who->name, err)) != MDM_OK)
        goto out;
    /* an undone merge means "not the same person", as a split does: never_link between
     * the parts, so that resolution (a bridging record sent again) cannot redo it */
    if ((st = mdm_assertion_never_link_sets(db, back.data, rest.data, c->who->name,
                                            reason_of(c->who), err)) != MDM_OK)
        goto out;
    if ((st = mdm_consent_recompute(db, s, err)) != MDM_OK ||
        (st = mdm_consent_recompute(db, r, err)) != MDM_OK)
        goto out;
    st = audit_entity(db, c->who, "entity.unmerge", r,
                      json_pack("{s:I,s:I}", "survivor", (json_int_t)s, "retired", (json_int_t)r),
                      json_pack("{s:I,s:I,s:I}", "survivor", (json_int_t)s, "restored",
                                (json_int_t)r, "snapshot_id", (json_int_t)snap),
                      err);
    int version = 0;
    if (st == MDM_OK)
        st = lock_at(db, s, 0, &version, err);
    if (st == MDM_OK)
        c->result = json_pack("{s:I,s:I,s:I,s:i}", "survivor", (json_int_t)s, "restored",
                              (json_int_t)r, "snapshot_id", (json_int_t)snap, "version", version);
out:
    mdm_buf_free(&rest);
    mdm_buf_free(&back);
    free(pins_s);
    free(spins_s);
    free(records);
    json_decref(values);
    json_decref(before);
    return st;
}

mdm_status mdm_merge_unmerge(mdm_db *db, const mdm_engine *ctx, int64_t id, int64_t snapshot_id,
                             int version, const mdm_merge_actor *who, json_t **result, mdm_err *err)
{
    if (result)
        *result = NULL;
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    unmerge_ctx c = {ctx, id, snapshot_id, version, who, NULL};
    st = run_tx_result(db, "merge_unmerge", unmerge_fn, &c, &c.result, result, err);
    return st;
}

/* ---- pins ------------------------------------------------------------------------- */

static bool known_attr(const char *a)
{
    for (size_t i = 0; mdm_survive_scalars[i]; i++)
        if (!strcmp(a, mdm_survive_scalars[i]))
            return true;
    for (size_t i = 0; mdm_survive_lists[i]; i++)
        if (!strcmp(a, mdm_survive_lists[i]))
            return true;
    return !strncmp(a, "attributes.", 11) && a[11] && strlen(a) <= 100;
}

typedef struct pin_ctx {
    const mdm_engine *ictx;
    int64_t id;
    int version;
    const char *attr;
    const char *value; /* JSON text, NULL = unpin */
    const mdm_merge_actor *who;
    json_t *result;
} pin_ctx;

static mdm_status pin_fn(mdm_db *db, void *arg, mdm_err *err)
{
    pin_ctx *c = arg;
    json_decref(c->result);
    c->result = NULL;
    mdm_status st = lock_at(db, c->id, c->version, NULL, err);
    if (st != MDM_OK)
        return st;
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, c->id);
    const char *pg[] = {ids, c->attr};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_pin_get, pg, &res, err)) != MDM_OK)
        return st;
    json_t *old = PQntuples(res)
                      ? json_loads(mdm_db_get(res, 0, "value", "null"), JSON_DECODE_ANY, NULL)
                      : NULL;
    PQclear(res);
    if (c->value) {
        st = mdm_golden_pin_put(db, c->id, c->attr, c->value, c->who->name, reason_of(c->who), err);
    } else if (!old) {
        st = mdm_err_set(err, MDM_ENOTFOUND, "attribute %s of entity %lld is not pinned", c->attr,
                         (long long)c->id);
    } else {
        st = mdm_golden_pin_del(db, c->id, c->attr, err);
    }
    if (st != MDM_OK) {
        json_decref(old);
        return st;
    }
    char why[160];
    snprintf(why, sizeof why, "%s %s", c->value ? "pinned" : "unpinned", c->attr);
    if ((st = mdm_golden_recompute(db, c->ictx, c->id, "updated", why, NULL, err)) != MDM_OK) {
        json_decref(old);
        return st;
    }
    json_t *entity = NULL;
    if ((st = mdm_query_get(db, c->id, &entity, NULL, err)) != MDM_OK) {
        json_decref(old);
        return st;
    }
    json_t *nv = c->value ? json_loads(c->value, JSON_DECODE_ANY, NULL) : NULL;
    st = audit_entity(db, c->who, c->value ? "entity.pin" : "entity.unpin", c->id,
                      json_pack("{s:s,s:o*}", "attr", c->attr, "pin", mdm_audit_personal(old)),
                      json_pack("{s:s,s:o*,s:O}", "attr", c->attr, "pin", mdm_audit_personal(nv),
                                "version", json_object_get(entity, "version")),
                      err);
    if (st == MDM_OK)
        c->result = json_pack("{s:I,s:s,s:O,s:O}", "entity_id", (json_int_t)c->id, "attr", c->attr,
                              "version", json_object_get(entity, "version"), "golden",
                              json_object_get(entity, "golden"));
    json_decref(entity);
    return st;
}

mdm_status mdm_merge_pin(mdm_db *db, const mdm_engine *ctx, int64_t id, int version,
                         const char *attr, const json_t *value, const mdm_merge_actor *who,
                         json_t **result, mdm_err *err)
{
    if (result)
        *result = NULL;
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    if (!attr || !known_attr(attr))
        return mdm_err_set_field(err, MDM_EINVAL, "/attr",
                                 "unknown attribute \"%.60s\" (a canonical attribute such as "
                                 "first_name or emails, or attributes.NAME)",
                                 attr ? attr : "");
    if (value && json_is_null(value))
        return mdm_err_set_field(err, MDM_EINVAL, "/value", "a pinned value cannot be null");
    char *v = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (v && strlen(v) > 10000) {
        free(v);
        return mdm_err_set_field(err, MDM_EINVAL, "/value", "the pinned value is too large");
    }
    pin_ctx c = {ctx, id, version, attr, v, who, NULL};
    st = run_tx_result(db, "merge_pin", pin_fn, &c, &c.result, result, err);
    free(v);
    return st;
}

/* ---- assertions ------------------------------------------------------------------- */

typedef struct assert_ctx {
    const char *kind;
    int64_t a, b;
    const mdm_merge_actor *who;
    json_t *result; /* the stored assertion */
} assert_ctx;

static mdm_status assert_fn(mdm_db *db, void *arg, mdm_err *err)
{
    assert_ctx *c = arg;
    char as[MDM_DB_ID_LEN], bs[MDM_DB_ID_LEN];
    mdm_db_id(as, c->a);
    mdm_db_id(bs, c->b);
    const char *p2[] = {as, bs};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_record_exists, p2, &res, err);
    if (st != MDM_OK)
        return st;
    long long n = mdm_db_get_ll(res, 0, "n", 0);
    PQclear(res);
    if (n != 2)
        return mdm_err_set(err, MDM_ENOTFOUND, "records %lld and %lld do not both exist",
                           (long long)c->a, (long long)c->b);
    json_decref(c->result); /* a retried transaction stores it again */
    if ((st = mdm_assertion_put(db, c->kind, c->a, c->b, c->who->name, reason_of(c->who),
                                &c->result, err)) != MDM_OK)
        return st;
    if ((st = mdm_db_exec(db, &stmt_same_entity, p2, &res, err)) != MDM_OK)
        return st;
    bool same = mdm_db_get_ll(res, 0, "n", 0) > 0;
    PQclear(res);
    char sa[40], sb[40];
    snprintf(sa, sizeof sa, "{%s}", as);
    snprintf(sb, sizeof sb, "{%s}", bs);
    if ((st = mdm_assertion_label_sets(db, sa, sb,
                                       strcmp(c->kind, "always_link") ? "no_match" : "match", same,
                                       "assertion", c->who->name, err)) != MDM_OK)
        return st;
    char target[80];
    snprintf(target, sizeof target, "records:%s,%s", as, bs);
    char action[40];
    snprintf(action, sizeof action, "assertion.%s", c->kind);
    json_t *after = json_pack("{s:s,s:I,s:I}", "kind", c->kind, "record_a", (json_int_t)c->a,
                              "record_b", (json_int_t)c->b);
    st = mdm_audit_append(db, c->who->name, c->who->role, action, target, reason_of(c->who), NULL,
                          after, err);
    json_decref(after);
    return st;
}

mdm_status mdm_merge_assert(mdm_db *db, const char *kind, int64_t record_a, int64_t record_b,
                            const mdm_merge_actor *who, json_t **result, mdm_err *err)
{
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    if (!kind || (strcmp(kind, "never_link") && strcmp(kind, "always_link")))
        return mdm_err_set_field(err, MDM_EINVAL, "/kind",
                                 "kind must be never_link or always_link");
    if (record_a <= 0 || record_b <= 0 || record_a == record_b)
        return mdm_err_set_field(err, MDM_EINVAL, "/records",
                                 "two different record ids are needed");
    assert_ctx c = {kind, record_a < record_b ? record_a : record_b,
                    record_a < record_b ? record_b : record_a, who, NULL};
    return run_tx_result(db, "merge_assert", assert_fn, &c, &c.result, result, err);
}

mdm_status mdm_merge_assertions(mdm_db *db, int64_t record_id, int64_t after, int limit,
                                json_t **out, mdm_err *err)
{
    return mdm_assertion_list(db, record_id, after, limit, out, err);
}

typedef struct unassert_ctx {
    int64_t id;
    const mdm_merge_actor *who;
    json_t *removed;
} unassert_ctx;

static mdm_status unassert_fn(mdm_db *db, void *arg, mdm_err *err)
{
    unassert_ctx *c = arg;
    json_decref(c->removed); /* a retried transaction starts over */
    c->removed = NULL;
    mdm_status st = mdm_assertion_delete(db, c->id, &c->removed, err);
    if (st != MDM_OK)
        return st;
    if (!c->removed)
        return mdm_err_set(err, MDM_ENOTFOUND, "no assertion %lld", (long long)c->id);
    char target[80];
    snprintf(target, sizeof target, "records:%lld,%lld",
             (long long)json_integer_value(json_object_get(c->removed, "record_a")),
             (long long)json_integer_value(json_object_get(c->removed, "record_b")));
    json_t *before = json_pack("{s:O,s:O,s:O}", "id", json_object_get(c->removed, "id"), "kind",
                               json_object_get(c->removed, "kind"), "actor",
                               json_object_get(c->removed, "actor"));
    st = mdm_audit_append(db, c->who->name, c->who->role, "assertion.remove", target,
                          reason_of(c->who), before, NULL, err);
    json_decref(before);
    return st;
}

mdm_status mdm_merge_unassert(mdm_db *db, int64_t id, const mdm_merge_actor *who, json_t **removed,
                              mdm_err *err)
{
    if (removed)
        *removed = NULL;
    mdm_status st = check_who(who, err);
    if (st != MDM_OK)
        return st;
    unassert_ctx c = {id, who, NULL};
    st = mdm_db_run_tx(db, "merge_unassert", unassert_fn, &c, err);
    if (st == MDM_OK && removed)
        *removed = c.removed;
    else
        json_decref(c.removed);
    return st;
}
