/* Golden records: membership changes, merge/split, survivorship recomputation with
 * versions, history and outbox events; reads and export. See golden.h. */
#include "mdm/golden.h"

#include "common/csvout.h"
#include "common/log.h"
#include "common/mem.h"
#include "matching/normalize.h"
#include "mdm/consent.h"
#include "mdm/ingest.h"
#include "mdm/outbox.h"
#include "mdm/resolve.h"
#include "mdm/survive.h"

#include <stdlib.h>
#include <string.h>

#define ID(buf, v) snprintf((buf), sizeof(buf), "%lld", (long long)(v))

/* ---- statements ------------------------------------------------------------------ */

static const mdm_db_stmt stmt_lock = {
    "golden_lock", "SELECT status, survivor_id FROM entity WHERE id = $1 FOR UPDATE", 1};

static const mdm_db_stmt stmt_new_entity = {
    "golden_new_entity", "INSERT INTO entity (version, golden) VALUES (0, '{}') RETURNING id", 0};

static const mdm_db_stmt stmt_record_entity = {
    "golden_record_entity", "SELECT entity_id FROM membership WHERE record_id = $1 AND active", 1};

static const mdm_db_stmt stmt_unlink = {
    "golden_unlink",
    "UPDATE membership SET active = false, unlinked_at = now() WHERE record_id = $1 AND active", 1};

static const mdm_db_stmt stmt_event = {
    "golden_event",
    "INSERT INTO link_event (action, method, entity_id, record_id, other_entity_id, probability, "
    "rule, actor, reason, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
    10};

/* Everything a recompute reads, in one round trip: the entity row (locked, so that the
 * version the recompute writes is known before it writes it), its active members with
 * their source trust and change time, its pins and its stored lineage. $1 is the entity,
 * or (RECOMPUTE_READ_OF_RECORD) the record whose entity it is. */
#define RECOMPUTE_READ(entity)                                                                     \
    "SELECT e.id, e.golden, e.version, e.status, "                                                 \
    "(SELECT coalesce(json_agg(json_build_object('id', sr.id, 'source', sr.source, "               \
    " 'source_key', sr.source_key, 'normalized', sr.normalized, 'trust', ss.trust, "               \
    "'upd', " MDM_GOLDEN_CHANGE_TIME ") ORDER BY sr.id), '[]') "                                   \
    " FROM membership m JOIN source_record sr ON sr.id = m.record_id "                             \
    " JOIN source_system ss ON ss.code = sr.source WHERE m.entity_id = e.id AND m.active) "        \
    " AS members, "                                                                                \
    "(SELECT coalesce(json_object_agg(attr, value), '{}') FROM golden_pin "                        \
    " WHERE entity_id = e.id) AS pins, "                                                           \
    "(SELECT coalesce(json_agg(json_build_object('attr', attr, 'value', value, "                   \
    " 'source_record_id', source_record_id, 'rule', rule, 'sources', sources)), '[]') "            \
    " FROM golden_value WHERE entity_id = e.id) AS lineage "                                       \
    "FROM entity e WHERE e.id = " entity " FOR UPDATE OF e"

static const mdm_db_stmt stmt_recompute_read = {"golden_recompute_read", RECOMPUTE_READ("$1"), 1};

/* The same read of the entity record $1 is an active member of: pipelined right after the
 * statement that made it one (mdm_golden_create). */
static const mdm_db_stmt stmt_recompute_read_of_record = {
    "golden_recompute_read_of_record",
    RECOMPUTE_READ("(SELECT entity_id FROM membership WHERE record_id = $1 AND active)"), 1};

/* Replaces the lineage rows: attributes gone are deleted, the others upserted; chosen_at
 * moves only for an attribute whose value or lineage changed. */
static const mdm_db_stmt stmt_replace_values = {
    "golden_replace_values",
    "WITH d AS (DELETE FROM golden_value WHERE entity_id = $1 AND NOT (attr IN "
    "(SELECT jsonb_object_keys($2::jsonb)))) "
    "INSERT INTO golden_value (entity_id, attr, value, source_record_id, rule, sources) "
    "SELECT $1, l.key, l.value->'value', (l.value->>'source_record_id')::bigint, "
    "l.value->>'rule', l.value->'sources' FROM jsonb_each($2::jsonb) l "
    "ON CONFLICT (entity_id, attr) DO UPDATE SET value = EXCLUDED.value, "
    "source_record_id = EXCLUDED.source_record_id, rule = EXCLUDED.rule, "
    "sources = EXCLUDED.sources, chosen_at = now() "
    "WHERE (golden_value.value, golden_value.source_record_id, golden_value.rule, "
    "golden_value.sources) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.source_record_id, "
    "EXCLUDED.rule, EXCLUDED.sources)",
    2};

/* New version of the golden record and its history row. */
static const mdm_db_stmt stmt_bump_version = {
    "golden_bump_version",
    "WITH b AS (UPDATE entity SET golden = $2::jsonb, version = version + 1, "
    "status = 'active', updated_at = now() WHERE id = $1 RETURNING id, version, golden) "
    "INSERT INTO entity_version (entity_id, version, golden, reason) "
    "SELECT id, version, golden, $3 FROM b RETURNING version",
    3};

/* A new entity with its first member and the create event. */
static const mdm_db_stmt stmt_create = {
    "golden_create",
    "WITH e AS (INSERT INTO entity (version, golden) VALUES (0, '{}') RETURNING id), "
    "m AS (INSERT INTO membership (record_id, entity_id) SELECT $1, id FROM e), "
    "l AS (INSERT INTO link_event (action, method, entity_id, record_id, probability, rule, "
    "actor) SELECT 'create', $2, id, $1, $3, $4, $5 FROM e) "
    "SELECT id FROM e",
    5};

/* A new member and its link event. */
static const mdm_db_stmt stmt_link = {
    "golden_link",
    "WITH m AS (INSERT INTO membership (record_id, entity_id) VALUES ($1, $2)) "
    "INSERT INTO link_event (action, method, entity_id, record_id, probability, rule, actor, "
    "details) VALUES ('link', $3, $2, $1, $4, $5, $6, $7::jsonb)",
    7};

/* Several new members and their link events. */
static const mdm_db_stmt stmt_link_many = {
    "golden_link_many",
    "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::float8[]) AS t(record_id, probability)), "
    "m AS (INSERT INTO membership (record_id, entity_id) SELECT record_id, $3 FROM r) "
    "INSERT INTO link_event (action, method, entity_id, record_id, probability, rule, actor) "
    "SELECT 'link', 'auto', $3, record_id, probability, $4, $5 FROM r ORDER BY record_id",
    5};

static const mdm_db_stmt stmt_del_values = {"golden_del_values",
                                            "DELETE FROM golden_value WHERE entity_id = $1", 1};

static const mdm_db_stmt stmt_retire = {
    "golden_retire",
    "UPDATE entity SET status = 'retired', survivor_id = $2, version = version + 1, "
    "updated_at = now() WHERE id = $1 RETURNING version, golden",
    2};

/* The two golden records just before a merge ($1 survivor, $2 retired), as merge_snapshot
 * keeps them for an exact unmerge: per entity {id, version, status, golden, values (every
 * golden_value row with lineage and chosen_at), pins, members}, keyed by id. */
static const mdm_db_stmt stmt_snapshot = {
    "golden_snapshot",
    "INSERT INTO merge_snapshot (survivor_id, retired_id, before, actor, reason)"
    " SELECT $1, $2, jsonb_object_agg(e.id::text, json_build_object('id', e.id,"
    " 'version', e.version, 'status', e.status, 'golden', e.golden,"
    " 'values', (SELECT coalesce(json_agg(json_build_object('attr', g.attr, 'value', g.value,"
    "    'source_record_id', g.source_record_id, 'rule', g.rule, 'chosen_at', g.chosen_at)"
    "    ORDER BY g.attr), '[]'::json) FROM golden_value g WHERE g.entity_id = e.id),"
    " 'pins', (SELECT coalesce(json_agg(json_build_object('attr', p.attr, 'value', p.value,"
    "    'actor', p.actor, 'reason', p.reason, 'created_at', p.created_at) ORDER BY p.attr),"
    "    '[]'::json) FROM golden_pin p WHERE p.entity_id = e.id),"
    " 'members', (SELECT coalesce(json_agg(m.record_id ORDER BY m.record_id), '[]'::json)"
    "    FROM membership m WHERE m.entity_id = e.id AND m.active))), $3, $4"
    " FROM entity e WHERE e.id IN ($1, $2) HAVING count(*) = 2"
    " RETURNING id",
    4};

static const mdm_db_stmt stmt_version = {
    "golden_version",
    "INSERT INTO entity_version (entity_id, version, golden, reason) VALUES ($1, $2, $3::jsonb, "
    "$4)",
    4};

static const mdm_db_stmt stmt_move_members = {
    "golden_move_members",
    "WITH moved AS (UPDATE membership SET active = false, unlinked_at = now() "
    "WHERE entity_id = $2 AND active RETURNING record_id) "
    "INSERT INTO membership (record_id, entity_id) SELECT record_id, $1 FROM moved "
    "RETURNING record_id",
    2};

static const mdm_db_stmt stmt_move_pins = {
    "golden_move_pins",
    "WITH old AS (DELETE FROM golden_pin WHERE entity_id = $2 RETURNING attr, value, actor, "
    "reason, created_at) INSERT INTO golden_pin (entity_id, attr, value, actor, reason, "
    "created_at) SELECT $1, attr, value, actor, reason, created_at FROM old "
    "ON CONFLICT (entity_id, attr) DO NOTHING",
    2};

static const mdm_db_stmt stmt_repoint = {
    "golden_repoint", "UPDATE entity SET survivor_id = $1 WHERE survivor_id = $2", 2};

static const mdm_db_stmt stmt_supersede_pair = {
    "golden_supersede_pair",
    "UPDATE review_item SET status = 'superseded', updated_at = now(), version = version + 1 "
    "WHERE status IN ('open', 'deferred', 'claimed') AND ((entity_id = $1 AND other_entity_id = "
    "$2) OR (entity_id = $2 AND other_entity_id = $1))",
    2};

static const mdm_db_stmt stmt_supersede_members = {
    "golden_supersede_members",
    "UPDATE review_item r SET status = 'superseded', updated_at = now(), version = r.version + 1 "
    "WHERE r.status IN ('open', 'deferred', 'claimed') AND r.kind = 'record_entity' "
    "AND r.entity_id IN ($1, $2) AND EXISTS (SELECT 1 FROM membership m WHERE "
    "m.record_id = r.record_id AND m.entity_id = $1 AND m.active)",
    2};

static const mdm_db_stmt stmt_split_move = {
    "golden_split_move",
    "WITH moved AS (UPDATE membership SET active = false, unlinked_at = now() "
    "WHERE entity_id = $2 AND active AND record_id = ANY($3::bigint[]) RETURNING record_id) "
    "INSERT INTO membership (record_id, entity_id) SELECT record_id, $1 FROM moved "
    "RETURNING record_id",
    3};

static const mdm_db_stmt stmt_member_ids = {
    "golden_member_ids",
    "SELECT record_id FROM membership WHERE entity_id = $1 AND active ORDER BY record_id", 1};

/* ---- helpers --------------------------------------------------------------------- */

static mdm_status link_event(mdm_db *db, const char *action, const char *method, int64_t entity_id,
                             int64_t record_id, int64_t other, double probability, const char *rule,
                             const char *actor, const char *reason, const json_t *details,
                             mdm_err *err)
{
    char e[32], r[32], o[32], p[32];
    ID(e, entity_id);
    ID(r, record_id);
    ID(o, other);
    snprintf(p, sizeof p, "%.6f", probability);
    char *d = details ? json_dumps(details, JSON_COMPACT) : NULL;
    const char *params[10] = {action,
                              method,
                              e,
                              record_id ? r : NULL,
                              other ? o : NULL,
                              probability > 0 ? p : NULL,
                              rule,
                              actor ? actor : "system",
                              reason,
                              d};
    mdm_status st = mdm_db_exec(db, &stmt_event, params, NULL, err);
    free(d);
    return st;
}

mdm_status mdm_golden_lock(mdm_db *db, int64_t *id, mdm_err *err)
{
    int64_t cur = *id;
    for (int hops = 0; hops < 64; hops++) {
        char s[32];
        ID(s, cur);
        const char *p[1] = {s};
        PGresult *res = NULL;
        mdm_status st = mdm_db_exec(db, &stmt_lock, p, &res, err);
        if (st != MDM_OK)
            return st;
        if (PQntuples(res) != 1) {
            PQclear(res);
            return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)cur);
        }
        const char *status = mdm_db_get(res, 0, "status", "");
        int64_t surv = mdm_db_get_ll(res, 0, "survivor_id", 0);
        bool active = !strcmp(status, "active");
        PQclear(res);
        if (active) {
            *id = cur;
            return MDM_OK;
        }
        if (!surv)
            return mdm_err_set(err, MDM_ENOTFOUND, "entity %lld is %s", (long long)cur, status);
        cur = surv;
    }
    return mdm_err_set(err, MDM_EINTERNAL, "survivor chain of entity %lld too long",
                       (long long)*id);
}

/* Stored lineage rows (JSON array of {attr, value, source_record_id, rule, sources}) in
 * the shape mdm_survive_compute gives: {attr: {rule, value, source_record_id[, sources]}}. */
static json_t *stored_lineage(const json_t *rows)
{
    json_t *lin = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const json_t *v = json_object_get(r, "value");
        json_t *l = json_pack("{s:O, s:O, s:O}", "rule", json_object_get(r, "rule"), "value",
                              v ? v : json_null(), "source_record_id",
                              json_object_get(r, "source_record_id"));
        const json_t *src = json_object_get(r, "sources");
        if (src && !json_is_null(src))
            json_object_set(l, "sources", (json_t *)src);
        json_object_set_new(lin, json_string_value(json_object_get(r, "attr")), l);
    }
    return lin;
}

static mdm_status write_version(mdm_db *db, const char *eid, int version, const json_t *golden,
                                const char *reason, mdm_err *err)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    char *g = json_dumps(golden, JSON_COMPACT | JSON_SORT_KEYS);
    const char *p[4] = {eid, v, g, reason ? reason : "recomputed"};
    mdm_status st = mdm_db_exec(db, &stmt_version, p, NULL, err);
    free(g);
    return st;
}

/* Recompute with options: force emits an event (and bumps the version) even when the
 * golden values did not change (membership changes); extra is merged into the payload;
 * consent also recomputes the entity's consent state (mdm_consent_recompute), in the same
 * round trip as the writes when there are some. re is the result of the read
 * (stmt_recompute_read), consumed. */
static mdm_status recompute_from(mdm_db *db, const mdm_ingest_ctx *ctx, PGresult *re,
                                 const char *event, const char *reason, bool force,
                                 const json_t *extra, bool consent, int *changed, mdm_err *err)
{
    char eid[32];
    int64_t id = mdm_db_get_ll(re, 0, "id", 0);
    ID(eid, id);
    const char *p1[1] = {eid};
    mdm_outbox_call oc = {0};
    mdm_survive_member *mem = NULL;
    json_t *members = NULL, *pins = NULL, *golden = NULL, *lineage = NULL, *old_lineage = NULL,
           *old_golden = NULL;
    char *lin_s = NULL, *gold_s = NULL;
    if (changed)
        *changed = 0;
    mdm_status st = MDM_OK;
    if (PQntuples(re) != 1) {
        st = mdm_err_set(err, MDM_ENOTFOUND, "no entity");
        goto out_free;
    }
    old_golden = json_loads(mdm_db_get(re, 0, "golden", "{}"), 0, NULL);
    members = json_loads(mdm_db_get(re, 0, "members", "[]"), 0, NULL);
    pins = json_loads(mdm_db_get(re, 0, "pins", "{}"), 0, NULL);
    json_t *lin_rows = json_loads(mdm_db_get(re, 0, "lineage", "[]"), 0, NULL);
    old_lineage = stored_lineage(lin_rows);
    json_decref(lin_rows);
    bool active = !strcmp(mdm_db_get(re, 0, "status", ""), "active");
    int old_version = (int)mdm_db_get_ll(re, 0, "version", 0);
    size_t n = json_array_size(members);

    if (n == 0) {
        /* no member left: retire (no survivor) */
        if (!active && !force)
            goto out_free;
        PGresult *rr = NULL;
        const char *pr[2] = {eid, NULL};
        if ((st = mdm_db_exec(db, &stmt_retire, pr, &rr, err)) != MDM_OK)
            goto out_free;
        int v = (int)mdm_db_get_ll(rr, 0, "version", 0);
        PQclear(rr);
        if ((st = mdm_db_exec(db, &stmt_del_values, p1, NULL, err)) != MDM_OK)
            goto out_free;
        if ((st = write_version(db, eid, v, old_golden ? old_golden : json_object(),
                                "retired: no members", err)) != MDM_OK)
            goto out_free;
        json_t *payload = json_pack("{s:I, s:i, s:s}", "id", (json_int_t)id, "version", v, "reason",
                                    "no members");
        st = mdm_outbox_emit(db, "deleted", id, v, payload, NULL, err);
        json_decref(payload);
        if (st == MDM_OK)
            st = link_event(db, "retire", "system", id, 0, 0, 0, NULL, "system", "no members left",
                            NULL, err);
        if (changed)
            *changed = 1;
        goto out_free;
    }

    mem = mdm_xcalloc(n, sizeof *mem);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(members, i);
        mem[i].record_id = (int64_t)json_integer_value(json_object_get(m, "id"));
        mem[i].source = json_string_value(json_object_get(m, "source"));
        mem[i].source_key = json_string_value(json_object_get(m, "source_key"));
        mem[i].canonical = json_object_get(m, "normalized");
        mem[i].trust = json_object_get(m, "trust");
        mem[i].trust_default = 50;
        mem[i].updated_at = json_string_value(json_object_get(m, "upd"));
    }
    mdm_survive_compute(mdm_ingest_survive(ctx), mem, n, pins, &golden, &lineage);

    bool same_golden = active && old_version > 0 && old_golden && json_equal(golden, old_golden);
    /* One round trip: the lineage rows replaced (when they changed), the new version
     * (when the golden record changed, or force) with its outbox event, and the consent
     * state's first read. The entity row is locked (stmt_recompute_read): the new version
     * is the next one. */
    mdm_db_call calls[6];
    size_t nc = 0, bump_at = 0, consent_at = 0;
    const char *ev = event ? event : (old_version == 0 ? "created" : "updated");
    const char *pl[2] = {eid, NULL}, *pb[3] = {eid, NULL, reason ? reason : ev};
    if (!json_equal(lineage, old_lineage)) {
        pl[1] = lin_s = json_dumps(lineage, JSON_COMPACT);
        calls[nc++] = (mdm_db_call){.stmt = &stmt_replace_values, .params = pl};
    }
    bool bump = !same_golden || force;
    int v = old_version + 1;
    if (bump) {
        pb[1] = gold_s = json_dumps(golden, JSON_COMPACT | JSON_SORT_KEYS);
        bump_at = nc;
        calls[nc++] = (mdm_db_call){.stmt = &stmt_bump_version, .params = pb};
        json_t *payload =
            json_pack("{s:I, s:i, s:O}", "id", (json_int_t)id, "version", v, "golden", golden);
        if (extra)
            json_object_update(payload, (json_t *)extra);
        st = mdm_outbox_emit_calls(&oc, ev, id, v, payload, &calls[nc], err);
        json_decref(payload);
        if (st != MDM_OK)
            goto out_free;
        nc += 2;
    }
    if (consent && nc > 0) {
        consent_at = nc;
        mdm_consent_recompute_call(id, &calls[nc++]);
    }
    if (nc == 0)
        goto out_free;
    if ((st = mdm_db_exec_pipeline(db, calls, nc, err)) != MDM_OK)
        goto out_free;
    if (bump && mdm_db_get_ll(calls[bump_at].res, 0, "version", 0) != v)
        st = mdm_err_set(err, MDM_EINTERNAL, "entity %lld: version %lld written, %d expected",
                         (long long)id, mdm_db_get_ll(calls[bump_at].res, 0, "version", 0), v);
    for (size_t i = 0; i < nc; i++)
        if (!consent_at || i != consent_at)
            PQclear(calls[i].res);
    if (consent_at) {
        consent = false; /* done here */
        if (st == MDM_OK)
            st = mdm_consent_recompute_finish(db, id, calls[consent_at].res, err);
        else
            PQclear(calls[consent_at].res);
    }
    if (bump && changed)
        *changed = 1;
out_free:
    if (st == MDM_OK && consent)
        st = mdm_consent_recompute(db, id, err);
    mdm_outbox_call_free(&oc);
    free(mem);
    free(lin_s);
    free(gold_s);
    json_decref(members);
    json_decref(pins);
    json_decref(golden);
    json_decref(lineage);
    json_decref(old_lineage);
    json_decref(old_golden);
    PQclear(re);
    return st;
}

static mdm_status recompute(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t id, const char *event,
                            const char *reason, bool force, const json_t *extra, bool consent,
                            int *changed, mdm_err *err)
{
    char eid[32];
    ID(eid, id);
    const char *p1[1] = {eid};
    PGresult *re = NULL;
    if (changed)
        *changed = 0;
    mdm_status st = mdm_db_exec(db, &stmt_recompute_read, p1, &re, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(re) != 1) {
        PQclear(re);
        return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)id);
    }
    return recompute_from(db, ctx, re, event, reason, force, extra, consent, changed, err);
}

mdm_status mdm_golden_recompute(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t entity_id,
                                const char *event, const char *reason, int *changed, mdm_err *err)
{
    return recompute(db, ctx, entity_id, event, reason, false, NULL, false, changed, err);
}

/* ---- membership writes ----------------------------------------------------------- */

mdm_status mdm_golden_create(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                             const char *method, const char *actor, double probability,
                             const char *rule, int64_t *entity_id, mdm_err *err)
{
    char rid[32], prob[32];
    ID(rid, record_id);
    snprintf(prob, sizeof prob, "%.6f", probability);
    const char *p[5] = {rid, method, probability > 0 ? prob : NULL, rule, actor ? actor : "system"};
    /* the entity, its member and event, then the recompute's read: one round trip */
    mdm_db_call calls[2] = {{.stmt = &stmt_create, .params = p}};
    mdm_db_call_id(&calls[1], &stmt_recompute_read_of_record, record_id);
    mdm_status st = mdm_db_exec_pipeline(db, calls, 2, err);
    if (st != MDM_OK)
        return st;
    int64_t id = mdm_db_get_ll(calls[0].res, 0, "id", 0);
    PQclear(calls[0].res);
    if ((st = recompute_from(db, ctx, calls[1].res, "created", "created", true, NULL, true, NULL,
                             err)) != MDM_OK)
        return st;
    *entity_id = id;
    return MDM_OK;
}

mdm_status mdm_golden_link(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                           int64_t *entity_id, const char *method, const char *actor,
                           double probability, const char *rule, json_t *details, mdm_err *err)
{
    mdm_status st = mdm_golden_lock(db, entity_id, err);
    if (st != MDM_OK)
        return st;
    char rid[32], eid[32], prob[32];
    ID(rid, record_id);
    ID(eid, *entity_id);
    snprintf(prob, sizeof prob, "%.6f", probability);
    char *d = details ? json_dumps(details, JSON_COMPACT) : NULL;
    const char *p[7] = {
        rid, eid, method, probability > 0 ? prob : NULL, rule, actor ? actor : "system", d};
    /* the member and its event, then the recompute's read: one round trip */
    mdm_db_call calls[2] = {{.stmt = &stmt_link, .params = p}};
    mdm_db_call_id(&calls[1], &stmt_recompute_read, *entity_id);
    st = mdm_db_exec_pipeline(db, calls, 2, err);
    free(d);
    if (st != MDM_OK)
        return st;
    PQclear(calls[0].res);
    char reason[64];
    snprintf(reason, sizeof reason, "record %lld linked", (long long)record_id);
    return recompute_from(db, ctx, calls[1].res, "updated", reason, true, NULL, true, NULL, err);
}

mdm_status mdm_golden_link_many(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t *entity_id,
                                const int64_t *records, const double *probability, size_t n,
                                const char *rule, const char *actor, mdm_err *err)
{
    if (n == 0)
        return MDM_OK;
    mdm_status st = mdm_golden_lock(db, entity_id, err);
    if (st != MDM_OK)
        return st;
    mdm_buf ids = {0}, probs = {0};
    mdm_buf_putc(&ids, '{');
    mdm_buf_putc(&probs, '{');
    for (size_t i = 0; i < n; i++) {
        mdm_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)records[i]);
        mdm_buf_printf(&probs, "%s%.6f", i ? "," : "", probability[i]);
    }
    mdm_buf_putc(&ids, '}');
    mdm_buf_putc(&probs, '}');
    char eid[32];
    ID(eid, *entity_id);
    const char *p[5] = {ids.data, probs.data, eid, rule, actor ? actor : "system"};
    st = mdm_db_exec(db, &stmt_link_many, p, NULL, err);
    mdm_buf_free(&ids);
    mdm_buf_free(&probs);
    if (st != MDM_OK)
        return st;
    char reason[64];
    snprintf(reason, sizeof reason, "%zu records linked", n);
    return recompute(db, ctx, *entity_id, "updated", reason, true, NULL, true, NULL, err);
}

mdm_status mdm_golden_unlink(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t record_id,
                             const char *method, const char *actor, const char *reason,
                             int64_t *left_entity, mdm_err *err)
{
    if (left_entity)
        *left_entity = 0;
    char rid[32];
    ID(rid, record_id);
    const char *p[1] = {rid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_record_entity, p, &res, err);
    if (st != MDM_OK)
        return st;
    int64_t eid = mdm_db_get_ll(res, 0, "entity_id", 0);
    PQclear(res);
    if (!eid)
        return MDM_OK;
    int64_t locked = eid;
    if ((st = mdm_golden_lock(db, &locked, err)) != MDM_OK)
        return st;
    /* the membership may have moved while we waited for the lock: read it again */
    if ((st = mdm_db_exec(db, &stmt_record_entity, p, &res, err)) != MDM_OK)
        return st;
    eid = mdm_db_get_ll(res, 0, "entity_id", 0);
    PQclear(res);
    if (!eid)
        return MDM_OK;
    if ((st = mdm_db_exec(db, &stmt_unlink, p, NULL, err)) != MDM_OK)
        return st;
    if ((st = link_event(db, "unlink", method, eid, record_id, 0, 0, NULL, actor, reason, NULL,
                         err)) != MDM_OK)
        return st;
    char why[64];
    snprintf(why, sizeof why, "record %lld unlinked", (long long)record_id);
    if ((st = recompute(db, ctx, eid, "updated", why, true, NULL, true, NULL, err)) != MDM_OK)
        return st;
    if (left_entity)
        *left_entity = eid;
    return MDM_OK;
}

mdm_status mdm_golden_merge(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t into, int64_t from,
                            const char *method, const char *actor, const char *reason,
                            double probability, int64_t *survivor, mdm_err *err)
{
    /* lock in ascending id order, following survivors */
    int64_t a = into < from ? into : from, b = into < from ? from : into;
    mdm_status st = mdm_golden_lock(db, &a, err);
    if (st != MDM_OK)
        return st;
    if ((st = mdm_golden_lock(db, &b, err)) != MDM_OK)
        return st;
    if (a == b)
        return mdm_err_set(err, MDM_ECONFLICT, "entities %lld and %lld are already merged",
                           (long long)into, (long long)from);
    int64_t keep = a < b ? a : b, gone = a < b ? b : a;
    char ks[32], gs[32];
    ID(ks, keep);
    ID(gs, gone);
    const char *p2[2] = {ks, gs};
    PGresult *res = NULL;
    /* both golden records as they are now, so that the merge can be undone exactly */
    const char *ps[4] = {ks, gs, actor, reason && *reason ? reason : NULL};
    if ((st = mdm_db_exec(db, &stmt_snapshot, ps, &res, err)) != MDM_OK)
        return st;
    PQclear(res);
    if ((st = mdm_db_exec(db, &stmt_move_members, p2, &res, err)) != MDM_OK)
        return st;
    int moved = PQntuples(res);
    PQclear(res);
    if ((st = mdm_db_exec(db, &stmt_move_pins, p2, NULL, err)) != MDM_OK)
        return st;
    const char *pg[1] = {gs};
    if ((st = mdm_db_exec(db, &stmt_del_values, pg, NULL, err)) != MDM_OK)
        return st;
    const char *pr[2] = {gs, ks};
    if ((st = mdm_db_exec(db, &stmt_retire, pr, &res, err)) != MDM_OK)
        return st;
    int gv = (int)mdm_db_get_ll(res, 0, "version", 0);
    json_t *gold = json_loads(mdm_db_get(res, 0, "golden", "{}"), 0, NULL);
    PQclear(res);
    char why[96];
    snprintf(why, sizeof why, "merged into %lld", (long long)keep);
    st = write_version(db, gs, gv, gold ? gold : json_object(), why, err);
    json_decref(gold);
    if (st != MDM_OK)
        return st;
    if ((st = mdm_db_exec(db, &stmt_repoint, p2, NULL, err)) != MDM_OK)
        return st;
    if ((st = mdm_db_exec(db, &stmt_supersede_pair, p2, NULL, err)) != MDM_OK ||
        (st = mdm_db_exec(db, &stmt_supersede_members, p2, NULL, err)) != MDM_OK)
        return st;
    json_t *details = json_pack("{s:i}", "moved_records", moved);
    st = link_event(db, "merge", method, keep, 0, gone, probability, method, actor, reason, details,
                    err);
    json_decref(details);
    if (st != MDM_OK)
        return st;
    json_t *extra =
        json_pack("{s:I, s:I}", "survivor", (json_int_t)keep, "retired", (json_int_t)gone);
    snprintf(why, sizeof why, "merged with %lld", (long long)gone);
    st = recompute(db, ctx, keep, "merged", why, true, extra, true, NULL, err);
    json_decref(extra);
    if (st != MDM_OK)
        return st;
    if ((st = mdm_consent_recompute(db, gone, err)) != MDM_OK)
        return st;
    if (survivor)
        *survivor = keep;
    mdm_log(MDM_LOG_INFO, "event=merge survivor=%lld retired=%lld method=%s", (long long)keep,
            (long long)gone, method);
    return MDM_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

mdm_status mdm_golden_split(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t entity_id,
                            const int64_t *record_ids, size_t n, const char *actor,
                            const char *reason, int64_t *new_entity, mdm_err *err)
{
    if (n == 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/records", "no records to split off");
    int64_t id = entity_id;
    mdm_status st = mdm_golden_lock(db, &id, err);
    if (st != MDM_OK)
        return st;
    if (id != entity_id)
        return mdm_err_set(err, MDM_ECONFLICT, "entity %lld was merged into %lld",
                           (long long)entity_id, (long long)id);
    char eid[32];
    ID(eid, id);
    const char *p1[1] = {eid};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_member_ids, p1, &res, err)) != MDM_OK)
        return st;
    size_t total = (size_t)PQntuples(res);
    int64_t *members = mdm_xcalloc(total + 1, sizeof *members);
    for (size_t i = 0; i < total; i++)
        members[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
    PQclear(res);
    int64_t *sel = mdm_xcalloc(n, sizeof *sel);
    memcpy(sel, record_ids, n * sizeof *sel);
    qsort(sel, n, sizeof *sel, cmp_i64);
    size_t uniq = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && sel[i] == sel[i - 1])
            continue;
        if (!bsearch(&sel[i], members, total, sizeof *members, cmp_i64)) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/records",
                                   "record %lld is not a member of entity %lld", (long long)sel[i],
                                   (long long)id);
            goto out_free;
        }
        sel[uniq++] = sel[i];
    }
    if (uniq == total) {
        st = mdm_err_set_field(err, MDM_EINVAL, "/records",
                               "a split must leave at least one record in entity %lld",
                               (long long)id);
        goto out_free;
    }
    /* the id stays with the larger part */
    mdm_buf moving = {0};
    mdm_buf_putc(&moving, '{');
    bool move_selected = uniq * 2 <= total;
    size_t k = 0;
    for (size_t i = 0; i < total; i++) {
        bool selected = k < uniq && sel[k] == members[i];
        if (selected)
            k++;
        if (selected == move_selected)
            mdm_buf_printf(&moving, "%s%lld", moving.len > 1 ? "," : "", (long long)members[i]);
    }
    mdm_buf_putc(&moving, '}');
    if ((st = mdm_db_exec(db, &stmt_new_entity, NULL, &res, err)) != MDM_OK) {
        mdm_buf_free(&moving);
        goto out_free;
    }
    int64_t nid = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    char nids[32];
    ID(nids, nid);
    const char *pm[3] = {nids, eid, moving.data};
    st = mdm_db_exec(db, &stmt_split_move, pm, &res, err);
    mdm_buf_free(&moving);
    if (st != MDM_OK)
        goto out_free;
    PQclear(res);
    json_t *details = json_pack("{s:I}", "new_entity", (json_int_t)nid);
    st = link_event(db, "split", "manual", id, 0, nid, 0, "manual", actor, reason, details, err);
    json_decref(details);
    if (st != MDM_OK)
        goto out_free;
    json_t *extra =
        json_pack("{s:I, s:I}", "split_from", (json_int_t)id, "split_into", (json_int_t)nid);
    st = recompute(db, ctx, id, "split", reason ? reason : "split", true, extra, false, NULL, err);
    if (st == MDM_OK)
        st = recompute(db, ctx, nid, "split", reason ? reason : "split", true, extra, false, NULL,
                       err);
    json_decref(extra);
    if (st == MDM_OK)
        st = mdm_consent_recompute(db, id, err);
    if (st == MDM_OK)
        st = mdm_consent_recompute(db, nid, err);
    if (st == MDM_OK && new_entity)
        *new_entity = nid;
out_free:
    free(members);
    free(sel);
    return st;
}

/* ---- unmerge (used by stewardship/merge.c) --------------------------------------- */

static const mdm_db_stmt stmt_unmerge_retired = {
    "golden_unmerge_retired", "SELECT status, survivor_id FROM entity WHERE id = $1 FOR UPDATE", 1};

static const mdm_db_stmt stmt_unmerge_move = {
    "golden_unmerge_move",
    "WITH moved AS (UPDATE membership SET active = false, unlinked_at = now() "
    "WHERE entity_id = $1 AND active AND record_id = ANY ($3::bigint[]) RETURNING record_id) "
    "INSERT INTO membership (record_id, entity_id) SELECT record_id, $2 FROM moved "
    "RETURNING record_id",
    3};

static const mdm_db_stmt stmt_unmerge_left = {
    "golden_unmerge_left", "SELECT count(*) AS n FROM membership WHERE entity_id = $1 AND active",
    1};

static const mdm_db_stmt stmt_unmerge_revive = {
    "golden_unmerge_revive",
    "UPDATE entity SET status = 'active', survivor_id = NULL, updated_at = now() WHERE id = $1", 1};

static const mdm_db_stmt stmt_unmerge_chosen_at = {
    "golden_unmerge_chosen_at",
    "UPDATE golden_value g SET chosen_at = b.chosen_at "
    "FROM jsonb_to_recordset($2::jsonb) AS b(attr text, value jsonb, source_record_id bigint, "
    "rule text, chosen_at timestamptz) "
    "WHERE g.entity_id = $1 AND g.attr = b.attr AND g.value = b.value AND g.rule = b.rule "
    "AND g.source_record_id IS NOT DISTINCT FROM b.source_record_id",
    2};

mdm_status mdm_golden_unmerge(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t survivor,
                              int64_t retired, const int64_t *records, size_t n,
                              const json_t *before, const char *actor, const char *reason,
                              mdm_err *err)
{
    if (n == 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/records", "no records to move back");
    int64_t s = survivor;
    mdm_status st = mdm_golden_lock(db, &s, err);
    if (st != MDM_OK)
        return st;
    if (s != survivor)
        return mdm_err_set(err, MDM_ECONFLICT, "entity %lld was merged into %lld since",
                           (long long)survivor, (long long)s);
    char ss[32], rs[32];
    ID(ss, survivor);
    ID(rs, retired);
    const char *pr[1] = {rs};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_unmerge_retired, pr, &res, err)) != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)retired);
    }
    bool retired_into = !strcmp(mdm_db_get(res, 0, "status", ""), "retired") &&
                        mdm_db_get_ll(res, 0, "survivor_id", 0) == survivor;
    PQclear(res);
    if (!retired_into)
        return mdm_err_set(err, MDM_ECONFLICT, "entity %lld is not merged into %lld",
                           (long long)retired, (long long)survivor);
    mdm_buf ids = {0};
    mdm_buf_putc(&ids, '{');
    for (size_t i = 0; i < n; i++)
        mdm_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)records[i]);
    mdm_buf_putc(&ids, '}');
    const char *pm[3] = {ss, rs, ids.data};
    st = mdm_db_exec(db, &stmt_unmerge_move, pm, &res, err);
    mdm_buf_free(&ids);
    if (st != MDM_OK)
        return st;
    int moved = PQntuples(res);
    PQclear(res);
    if (moved == 0)
        return mdm_err_set(err, MDM_ECONFLICT,
                           "none of the records merged from %lld is in entity %lld any more",
                           (long long)retired, (long long)survivor);
    const char *ps[1] = {ss};
    if ((st = mdm_db_exec(db, &stmt_unmerge_left, ps, &res, err)) != MDM_OK)
        return st;
    long long left = mdm_db_get_ll(res, 0, "n", 0);
    PQclear(res);
    if (left == 0)
        return mdm_err_set(err, MDM_ECONFLICT, "undoing the merge would leave entity %lld empty",
                           (long long)survivor);
    if ((st = mdm_db_exec(db, &stmt_unmerge_revive, pr, NULL, err)) != MDM_OK)
        return st;
    json_t *details = json_pack("{s:i}", "moved_records", moved);
    st = link_event(db, "unmerge", "manual", survivor, 0, retired, 0, "manual", actor, reason,
                    details, err);
    json_decref(details);
    if (st != MDM_OK)
        return st;
    json_t *extra = json_pack("{s:I, s:I, s:b}", "split_from", (json_int_t)survivor, "split_into",
                              (json_int_t)retired, "unmerge", 1);
    st = recompute(db, ctx, retired, "split", reason ? reason : "unmerge", true, extra, false, NULL,
                   err);
    if (st == MDM_OK)
        st = recompute(db, ctx, survivor, "split", reason ? reason : "unmerge", true, extra, false,
                       NULL, err);
    json_decref(extra);
    for (int side = 0; st == MDM_OK && before && side < 2; side++) {
        const char *key = side ? ss : rs;
        const json_t *rows = json_object_get(before, key);
        if (!json_is_array(rows))
            continue;
        char *rows_s = json_dumps(rows, JSON_COMPACT);
        const char *pc[2] = {key, rows_s};
        st = mdm_db_exec(db, &stmt_unmerge_chosen_at, pc, NULL, err);
        free(rows_s);
    }
    if (st == MDM_OK)
        mdm_log(MDM_LOG_INFO, "event=unmerge survivor=%lld restored=%lld records=%d",
                (long long)survivor, (long long)retired, moved);
    return st;
}

/* ---- reads ----------------------------------------------------------------------- */

static const mdm_db_stmt stmt_get = {
    "golden_get",
    "SELECT id, status, survivor_id, version, golden, created_at, updated_at FROM entity "
    "WHERE id = $1",
    1};

static const mdm_db_stmt stmt_get_lineage = {
    "golden_get_lineage",
    "SELECT gv.attr, gv.rule, gv.source_record_id, gv.chosen_at, gv.sources, sr.source, "
    "sr.source_key, (gp.entity_id IS NOT NULL) AS pinned FROM golden_value gv "
    "LEFT JOIN source_record sr ON sr.id = gv.source_record_id "
    "LEFT JOIN golden_pin gp ON gp.entity_id = gv.entity_id AND gp.attr = gv.attr "
    "WHERE gv.entity_id = $1 ORDER BY gv.attr",
    1};

static const mdm_db_stmt stmt_get_members = {
    "golden_get_members",
    "SELECT sr.id AS record_id, sr.source, sr.source_key, m.linked_at, sr.source_updated_at "
    "FROM membership m JOIN source_record sr ON sr.id = m.record_id "
    "WHERE m.entity_id = $1 AND m.active ORDER BY sr.id",
    1};

static json_t *json_or_null(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

mdm_status mdm_golden_get(mdm_db *db, int64_t id, json_t **out, int64_t *survivor_id, mdm_err *err)
{
    *out = NULL;
    if (survivor_id)
        *survivor_id = 0;
    char eid[32];
    ID(eid, id);
    const char *p[1] = {eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_get, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)id);
    }
    const char *status = mdm_db_get(res, 0, "status", "");
    json_t *e = json_pack("{s:I, s:s, s:i, s:s, s:s}", "id", (json_int_t)id, "status", status,
                          "version", (int)mdm_db_get_ll(res, 0, "version", 0), "created_at",
                          mdm_db_get(res, 0, "created_at", ""), "updated_at",
                          mdm_db_get(res, 0, "updated_at", ""));
    int64_t surv = mdm_db_get_ll(res, 0, "survivor_id", 0);
    if (strcmp(status, "active") != 0) {
        json_object_set_new(e, "survivor_id", surv ? json_integer(surv) : json_null());
        if (survivor_id)
            *survivor_id = surv;
        PQclear(res);
        *out = e;
        return MDM_OK;
    }
    json_object_set_new(e, "golden", json_or_null(mdm_db_get(res, 0, "golden", "{}")));
    PQclear(res);
    if ((st = mdm_db_exec(db, &stmt_get_lineage, p, &res, err)) != MDM_OK)
        goto out_fail;
    json_t *lin = json_object();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *sid = mdm_db_get(res, i, "source_record_id", NULL);
        json_t *l = json_pack("{s:s, s:s, s:b}", "rule", mdm_db_get(res, i, "rule", ""),
                              "chosen_at", mdm_db_get(res, i, "chosen_at", ""), "pinned",
                              !strcmp(mdm_db_get(res, i, "pinned", "f"), "t"));
        json_object_set_new(l, "source_record_id",
                            sid ? json_integer(strtoll(sid, NULL, 10)) : json_null());
        json_object_set_new(l, "source", str_or_null(mdm_db_get(res, i, "source", NULL)));
        json_object_set_new(l, "source_key", str_or_null(mdm_db_get(res, i, "source_key", NULL)));
        const char *srcs = mdm_db_get(res, i, "sources", NULL);
        if (srcs)
            json_object_set_new(l, "sources", json_or_null(srcs));
        json_object_set_new(lin, mdm_db_get(res, i, "attr", ""), l);
    }
    PQclear(res);
    json_object_set_new(e, "lineage", lin);
    if ((st = mdm_db_exec(db, &stmt_get_members, p, &res, err)) != MDM_OK)
        goto out_fail;
    json_t *members = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *m = json_pack(
            "{s:I, s:s, s:s, s:s}", "record_id", (json_int_t)mdm_db_get_ll(res, i, "record_id", 0),
            "source", mdm_db_get(res, i, "source", ""), "source_key",
            mdm_db_get(res, i, "source_key", ""), "linked_at", mdm_db_get(res, i, "linked_at", ""));
        json_object_set_new(m, "source_updated_at",
                            str_or_null(mdm_db_get(res, i, "source_updated_at", NULL)));
        json_array_append_new(members, m);
    }
    PQclear(res);
    json_object_set_new(e, "members", members);
    *out = e;
    return MDM_OK;
out_fail:
    json_decref(e);
    return st;
}

/* The read of the HTTP path: the same three statements, sent in one round trip by the
 * caller, and their rows written as JSON text. Building the lineage and members as JSON
 * inside PostgreSQL (json_build_object, aggregates with ORDER BY) cost the server more
 * than the rows themselves, and PostgreSQL is the tier that does not scale out. */
void mdm_golden_get_call(int64_t id, mdm_db_call calls[MDM_GOLDEN_GET_CALLS])
{
    mdm_db_call_id(&calls[0], &stmt_get, id);
    mdm_db_call_id(&calls[1], &stmt_get_lineage, id);
    mdm_db_call_id(&calls[2], &stmt_get_members, id);
}

/* ,"name":"value" or ,"name":null for a column that may be NULL */
static void put_member_str(mdm_buf *out, const char *name, const char *value)
{
    mdm_buf_printf(out, ",\"%s\":", name);
    if (value)
        mdm_buf_json_str(out, value);
    else
        mdm_buf_puts(out, "null");
}

static void put_lineage(mdm_buf *out, const PGresult *res)
{
    int c_attr = PQfnumber(res, "attr"), c_rule = PQfnumber(res, "rule"),
        c_sid = PQfnumber(res, "source_record_id"), c_at = PQfnumber(res, "chosen_at"),
        c_srcs = PQfnumber(res, "sources"), c_src = PQfnumber(res, "source"),
        c_key = PQfnumber(res, "source_key"), c_pin = PQfnumber(res, "pinned");
    mdm_buf_putc(out, '{');
    for (int i = 0; i < PQntuples(res); i++) {
        if (i)
            mdm_buf_putc(out, ',');
        mdm_buf_json_str(out, PQgetvalue(res, i, c_attr));
        mdm_buf_puts(out, ":{\"rule\":");
        mdm_buf_json_str(out, PQgetvalue(res, i, c_rule));
        mdm_buf_puts(out, ",\"chosen_at\":");
        mdm_buf_json_str(out, PQgetvalue(res, i, c_at));
        mdm_buf_printf(out, ",\"pinned\":%s,\"source_record_id\":",
                       strcmp(PQgetvalue(res, i, c_pin), "t") == 0 ? "true" : "false");
        if (PQgetisnull(res, i, c_sid))
            mdm_buf_puts(out, "null");
        else
            mdm_buf_printf(out, "%lld", strtoll(PQgetvalue(res, i, c_sid), NULL, 10));
        put_member_str(out, "source",
                       PQgetisnull(res, i, c_src) ? NULL : PQgetvalue(res, i, c_src));
        put_member_str(out, "source_key",
                       PQgetisnull(res, i, c_key) ? NULL : PQgetvalue(res, i, c_key));
        if (!PQgetisnull(res, i, c_srcs)) { /* jsonb as the server printed it */
            mdm_buf_puts(out, ",\"sources\":");
            mdm_buf_puts(out, PQgetvalue(res, i, c_srcs));
        }
        mdm_buf_putc(out, '}');
    }
    mdm_buf_putc(out, '}');
}

static void put_members(mdm_buf *out, const PGresult *res)
{
    int c_id = PQfnumber(res, "record_id"), c_src = PQfnumber(res, "source"),
        c_key = PQfnumber(res, "source_key"), c_at = PQfnumber(res, "linked_at"),
        c_upd = PQfnumber(res, "source_updated_at");
    mdm_buf_putc(out, '[');
    for (int i = 0; i < PQntuples(res); i++) {
        mdm_buf_printf(out, "%s{\"record_id\":%lld", i ? "," : "",
                       strtoll(PQgetvalue(res, i, c_id), NULL, 10));
        put_member_str(out, "source", PQgetvalue(res, i, c_src));
        put_member_str(out, "source_key", PQgetvalue(res, i, c_key));
        put_member_str(out, "linked_at", PQgetvalue(res, i, c_at));
        put_member_str(out, "source_updated_at",
                       PQgetisnull(res, i, c_upd) ? NULL : PQgetvalue(res, i, c_upd));
        mdm_buf_putc(out, '}');
    }
    mdm_buf_putc(out, ']');
}

mdm_status mdm_golden_get_text(PGresult *res[MDM_GOLDEN_GET_CALLS], int64_t id, mdm_buf *out,
                               mdm_golden_head *head, mdm_err *err)
{
    *head = (mdm_golden_head){0};
    mdm_status st = MDM_OK;
    PGresult *e = res[0];
    if (PQntuples(e) != 1) {
        st = mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)id);
        goto out_clear;
    }
    const char *status = mdm_db_get(e, 0, "status", "");
    head->active = strcmp(status, "active") == 0;
    head->version = (int)mdm_db_get_ll(e, 0, "version", 0);
    head->survivor_id = head->active ? 0 : mdm_db_get_ll(e, 0, "survivor_id", 0);
    mdm_buf_printf(out, "{\"id\":%lld,\"status\":", (long long)id);
    mdm_buf_json_str(out, status);
    mdm_buf_printf(out, ",\"version\":%d", head->version);
    put_member_str(out, "created_at", mdm_db_get(e, 0, "created_at", ""));
    put_member_str(out, "updated_at", mdm_db_get(e, 0, "updated_at", ""));
    if (!head->active) {
        if (head->survivor_id)
            mdm_buf_printf(out, ",\"survivor_id\":%lld", (long long)head->survivor_id);
        else
            mdm_buf_puts(out, ",\"survivor_id\":null");
        goto out_clear;
    }
    mdm_buf_puts(out, ",\"golden\":"); /* jsonb as the server printed it */
    mdm_buf_puts(out, mdm_db_get(e, 0, "golden", "{}"));
    mdm_buf_puts(out, ",\"lineage\":");
    put_lineage(out, res[1]);
    mdm_buf_puts(out, ",\"members\":");
    put_members(out, res[2]);
out_clear:
    for (int i = 0; i < MDM_GOLDEN_GET_CALLS; i++)
        PQclear(res[i]);
    return st;
}

static const mdm_db_stmt stmt_of_record = {
    "golden_of_record",
    "SELECT sr.id, m.entity_id FROM source_record sr LEFT JOIN membership m "
    "ON m.record_id = sr.id AND m.active WHERE sr.source = $1 AND sr.source_key = $2",
    2};

mdm_status mdm_golden_of_record(mdm_db *db, const char *source, const char *source_key,
                                int64_t *record_id, int64_t *entity_id, mdm_err *err)
{
    const char *p[2] = {source, source_key};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_of_record, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no record %s/%s", source, source_key);
    }
    if (record_id)
        *record_id = mdm_db_get_ll(res, 0, "id", 0);
    if (entity_id)
        *entity_id = mdm_db_get_ll(res, 0, "entity_id", 0);
    PQclear(res);
    return MDM_OK;
}

static const mdm_db_stmt stmt_record_get = {
    "golden_record_get",
    "SELECT sr.id, sr.raw, sr.normalized, sr.version, sr.deleted, sr.source_updated_at, "
    "sr.received_at, m.entity_id FROM source_record sr LEFT JOIN membership m "
    "ON m.record_id = sr.id AND m.active WHERE sr.source = $1 AND sr.source_key = $2",
    2};

mdm_status mdm_golden_record_get(mdm_db *db, const char *source, const char *source_key,
                                 json_t **out, mdm_err *err)
{
    *out = NULL;
    const char *p[2] = {source, source_key};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_record_get, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no record %s/%s", source, source_key);
    }
    json_t *normalized = json_or_null(mdm_db_get(res, 0, "normalized", NULL));
    json_object_del(normalized, "keys");
    json_t *r =
        json_pack("{s:I, s:s, s:s, s:o, s:o, s:i, s:b, s:o, s:s}", "id",
                  (json_int_t)mdm_db_get_ll(res, 0, "id", 0), "source", source, "source_key",
                  source_key, "raw", json_or_null(mdm_db_get(res, 0, "raw", NULL)), "normalized",
                  normalized, "version", (int)mdm_db_get_ll(res, 0, "version", 0), "deleted",
                  !strcmp(mdm_db_get(res, 0, "deleted", "f"), "t"), "source_updated_at",
                  str_or_null(mdm_db_get(res, 0, "source_updated_at", NULL)), "received_at",
                  mdm_db_get(res, 0, "received_at", ""));
    int64_t eid = mdm_db_get_ll(res, 0, "entity_id", 0);
    json_object_set_new(r, "entity_id", eid ? json_integer(eid) : json_null());
    PQclear(res);
    *out = r;
    return MDM_OK;
}

/* Criteria on contact points and identifiers are containment queries on the records'
 * comparison forms (GIN index source_record_keys), each satisfied by any active member. */
#define SEARCH_MEMBER(n)                                                                           \
    "AND ($" #n "::jsonb IS NULL OR e.id IN (SELECT m.entity_id FROM source_record sr "            \
    "JOIN membership m ON m.record_id = sr.id AND m.active "                                       \
    "WHERE sr.normalized->'keys' @> $" #n "::jsonb)) "

static const mdm_db_stmt stmt_search = {
    "golden_search",
    "SELECT e.id, e.version, e.golden FROM entity e WHERE e.status = 'active' AND e.id > "
    "$1 " SEARCH_MEMBER(2) SEARCH_MEMBER(3) SEARCH_MEMBER(
        4) "AND ($5::text IS NULL OR lower(e.golden->>'last_name') = $5 "
           "  OR lower(concat_ws(' ', e.golden->>'first_name', e.golden->>'last_name')) = $5) "
           "AND ($6::text IS NULL OR e.golden->>'birth_date' = $6) "
           "ORDER BY e.id LIMIT $7",
    7};

/* {"name": [value]} (list) or {"name": value}, as JSON text for a containment query. */
static char *contains(const char *name, const char *value, bool list)
{
    json_t *v = json_string(value);
    json_t *o = json_object();
    json_object_set_new(o, name, list ? json_pack("[o]", v) : v);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

mdm_status mdm_golden_search(mdm_db *db, const mdm_golden_query *q, json_t **out, mdm_err *err)
{
    *out = NULL;
    if (!q->email && !q->phone && !q->loyalty_id && !q->name && !q->birth_date)
        return mdm_err_set(err, MDM_EINVAL,
                           "give at least one of email, phone, loyalty_id, name, birth_date");
    if (q->limit < 0 || q->limit > 1000)
        return mdm_err_set_field(err, MDM_EINVAL, "/limit", "limit must be 1..1000");
    char *em = NULL, *ly = NULL, *nm = NULL, *em_key = NULL, *ph_key = NULL, *ly_key = NULL;
    char ph[24] = "";
    mdm_status st = MDM_OK;
    if (q->email) {
        em = mdm_ingest_email_key(q->email);
        if (!em) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/email", "email is not an e-mail address");
            goto out_free;
        }
        em_key = contains("emails", em, true);
    }
    if (q->phone) {
        if (!mdm_ingest_phone_key(q->phone, NULL, ph)) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/phone", "phone is not a phone number");
            goto out_free;
        }
        ph_key = contains("phones", ph, true);
    }
    if (q->loyalty_id) {
        ly = mdm_ingest_text_key(q->loyalty_id);
        size_t o = 0;
        for (size_t i = 0; ly[i]; i++)
            if (ly[i] != ' ')
                ly[o++] = ly[i];
        ly[o] = '\0';
        ly_key = contains("loyalty_id", ly, false);
    }
    if (q->name) {
        nm = mdm_xstrdup(q->name);
        for (char *p = nm; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    if (q->birth_date && (strlen(q->birth_date) != 10 || q->birth_date[4] != '-')) {
        st = mdm_err_set_field(err, MDM_EINVAL, "/birth_date", "birth_date must be yyyy-mm-dd");
        goto out_free;
    }
    int limit = q->limit ? q->limit : 50;
    char after[32], lim[16];
    ID(after, q->after);
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *p[7] = {after, em_key, ph_key, ly_key, nm, q->birth_date, lim};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_search, p, &res, err)) != MDM_OK)
        goto out_free;
    json_t *items = json_array();
    int n = PQntuples(res);
    int64_t last = 0;
    for (int i = 0; i < n && i < limit; i++) {
        last = mdm_db_get_ll(res, i, "id", 0);
        json_array_append_new(items, json_pack("{s:I, s:i, s:o}", "id", (json_int_t)last, "version",
                                               (int)mdm_db_get_ll(res, i, "version", 0), "golden",
                                               json_or_null(mdm_db_get(res, i, "golden", NULL))));
    }
    PQclear(res);
    *out = json_pack("{s:o, s:o}", "items", items, "next",
                     n > limit ? json_integer(last) : json_null());
out_free:
    free(em);
    free(ly);
    free(nm);
    free(em_key);
    free(ph_key);
    free(ly_key);
    return st;
}

/* Free-text search (mdm_golden_find). $1 name tokens and $2 their nickname classes (in
 * the comparison form ingest stores in normalized.keys), $3 initials, $4 exact key probes
 * (containment documents for normalized.keys: e-mail, phone, loyalty id, postal code,
 * street line), $5 how many name tokens must match, $6 offset, $7 limit + 1. A name token
 * matches a record's last name (4), first name (3), nickname class (2), middle name (1)
 * or, from three letters, the start of a longer first or last name (1); an entity ranks by
 * the tokens it matches, then initials, key probes and those weights.
 * Each kind of name match is its own branch of a UNION ALL, so that every probe is an
 * index lookup per token (the GIN index of migration 015, the prefix indexes of migration
 * 020); written as one OR, PostgreSQL scanned every source record (2.7 s for "Gary
 * Yarford" among 263,000 records). The prefix branches take only longer names ("mary" ->
 * "maryann"; the exact branches have the equal ones, fetched once). A record's entity is a
 * scalar subquery (one probe of membership_one_active per record found): as a join, the
 * generic plan's guesses made PostgreSQL hash all of membership. Only the page's rows
 * read their golden record. */
static const mdm_db_stmt stmt_find = {
    "golden_find",
    "WITH tok AS (SELECT t, c, i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, c, "
    "i)),"
    " name_recs AS ("
    "   SELECT tok.i, s.id, 4 AS s FROM tok JOIN source_record s"
    "     ON s.normalized->'keys' @> jsonb_build_object('last', tok.t)"
    "   UNION ALL SELECT tok.i, s.id, 3 FROM tok JOIN source_record s"
    "     ON s.normalized->'keys' @> jsonb_build_object('first', tok.t)"
    "   UNION ALL SELECT tok.i, s.id, 2 FROM tok JOIN source_record s"
    "     ON s.normalized->'keys' @> jsonb_build_object('first_canon', tok.c)"
    "   UNION ALL SELECT tok.i, s.id, 1 FROM tok JOIN source_record s"
    "     ON s.normalized->'keys' @> jsonb_build_object('middle', tok.t)"
    "   UNION ALL SELECT tok.i, s.id, 1 FROM tok JOIN source_record s"
    "     ON length(tok.t) >= 3 AND (s.normalized->'keys'->>'last') ~>~ tok.t"
    "        AND (s.normalized->'keys'->>'last') ~<~ (tok.t || chr(1114111))"
    "   UNION ALL SELECT tok.i, s.id, 1 FROM tok JOIN source_record s"
    "     ON length(tok.t) >= 3 AND (s.normalized->'keys'->>'first') ~>~ tok.t"
    "        AND (s.normalized->'keys'->>'first') ~<~ (tok.t || chr(1114111))),"
    " name_ents AS (SELECT (SELECT m.entity_id FROM membership m WHERE m.record_id = r.id"
    "   AND m.active) AS entity_id, r.i, r.s FROM name_recs r),"
    " name_hits AS (SELECT entity_id, i, max(s) AS s FROM name_ents WHERE entity_id IS NOT NULL"
    "   GROUP BY entity_id, i),"
    " names AS (SELECT entity_id, count(*) AS n, sum(s) AS s FROM name_hits GROUP BY entity_id"
    "   HAVING count(*) >= $5),"
    " key_recs AS (SELECT d.i, (SELECT m.entity_id FROM membership m WHERE m.record_id = s.id"
    "   AND m.active) AS entity_id FROM unnest($4::jsonb[]) WITH ORDINALITY AS d(doc, i)"
    "   JOIN source_record s ON s.normalized->'keys' @> d.doc),"
    " key_hits AS (SELECT entity_id, count(DISTINCT i) AS n FROM key_recs"
    "   WHERE entity_id IS NOT NULL GROUP BY entity_id),"
    " hits AS (SELECT coalesce(n.entity_id, k.entity_id) AS entity_id, coalesce(n.n, 0) AS nn,"
    "   coalesce(n.s, 0) AS ns, coalesce(k.n, 0) AS nk"
    "   FROM names n FULL JOIN key_hits k ON k.entity_id = n.entity_id"
    "   WHERE cardinality($1::text[]) = 0 OR n.entity_id IS NOT NULL),"
    " ranked AS (SELECT h.*, CASE WHEN cardinality($3::text[]) = 0 THEN 0 ELSE"
    "   (SELECT count(*) FROM unnest($3::text[]) ini WHERE EXISTS ("
    "     SELECT 1 FROM membership m JOIN source_record s ON s.id = m.record_id"
    "     WHERE m.entity_id = h.entity_id AND m.active"
    "       AND left(s.normalized->'keys'->>'first', 1) = ini)) END AS ni FROM hits h),"
    " page AS (SELECT r.entity_id, r.nn + r.nk AS matched, r.ni, r.ns, count(*) OVER () AS total"
    "   FROM ranked r JOIN entity e ON e.id = r.entity_id AND e.status = 'active'"
    "   ORDER BY r.nk + r.nn DESC, r.ni DESC, r.ns DESC, r.entity_id OFFSET $6 LIMIT $7)"
    " SELECT e.id, e.version, e.golden, p.matched, p.total FROM page p"
    " JOIN entity e ON e.id = p.entity_id"
    " ORDER BY p.matched DESC, p.ni DESC, p.ns DESC, p.entity_id",
    7};

/* One search in its own transaction with JIT compilation off: the generic plan's cost
 * estimate (every probe guessed at 1% of the records) is far above jit_above_cost, and
 * compiling the plan took 1.5-2 s of the search's 1.5-2.3 s on 263,000 records (10-110 ms
 * without). */
typedef struct find_call {
    const char *const *params;
    PGresult *res;
} find_call;

static mdm_status find_tx(mdm_db *db, void *ctx, mdm_err *err)
{
    find_call *fc = ctx;
    PQclear(fc->res); /* a retried transaction's earlier result */
    fc->res = NULL;
    mdm_status st = mdm_db_command(db, "SET LOCAL jit = off", err);
    if (st != MDM_OK)
        return st;
    return mdm_db_exec(db, &stmt_find, fc->params, &fc->res, err);
}

/* The containment document {"addresses": [{name: value}]} (JSON text). */
static char *address_probe(const char *name, const char *value)
{
    json_t *o = json_pack("{s:[{s:s}]}", "addresses", name, value);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Appends v to the text-array literal a ({"x","y"}), quoted. */
static void array_add(mdm_buf *a, const char *v)
{
    mdm_buf_putc(a, a->len ? ',' : '{');
    mdm_buf_putc(a, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            mdm_buf_putc(a, '\\');
        mdm_buf_putc(a, *p);
    }
    mdm_buf_putc(a, '"');
}

static const char *array_end(mdm_buf *a)
{
    if (a->len == 0)
        mdm_buf_puts(a, "{}");
    else
        mdm_buf_putc(a, '}');
    return a->data;
}

static bool has_digit(const char *s)
{
    for (; *s; s++)
        if (*s >= '0' && *s <= '9')
            return true;
    return false;
}

mdm_status mdm_golden_find(mdm_db *db, const char *q, const char *default_country, int offset,
                           int limit, json_t **out, mdm_err *err)
{
    *out = NULL;
    if (!q || !*q)
        return mdm_err_set_field(err, MDM_EINVAL, "/q", "q is empty");
    if (strlen(q) > 200)
        return mdm_err_set_field(err, MDM_EINVAL, "/q", "q is longer than 200 characters");
    if (!mdm_norm_utf8_valid(q, strlen(q)))
        return mdm_err_set_field(err, MDM_EINVAL, "/q", "q is not valid UTF-8");
    if (limit < 1 || limit > 1000 || offset < 0 || offset > 100000)
        return mdm_err_set_field(err, MDM_EINVAL, "/limit",
                                 "limit must be 1..1000, offset 0..100000");
    mdm_buf toks = {0}, canons = {0}, inits = {0}, probes = {0};
    char *probe_text[4] = {0};
    size_t np = 0;
    int ntok = 0; /* name tokens of two letters or more */
    mdm_status st = MDM_OK;
    const char *country = default_country ? default_country : "US";
    if (strchr(q, '@')) { /* an e-mail address */
        char *em = mdm_ingest_email_key(q);
        if (em)
            probe_text[np++] = contains("emails", em, true);
        free(em);
    } else if (has_digit(q)) { /* phone, loyalty id, postal code or street address */
        char ph[24];
        if (mdm_ingest_phone_key(q, country, ph))
            probe_text[np++] = contains("phones", ph, true);
        char *ly = mdm_ingest_text_key(q);
        size_t o = 0;
        for (size_t i = 0; ly[i]; i++)
            if (ly[i] != ' ')
                ly[o++] = ly[i];
        ly[o] = '\0';
        if (*ly)
            probe_text[np++] = contains("loyalty_id", ly, false);
        free(ly);
        mdm_buf pc = {0};
        mdm_err ignored;
        if (strlen(q) <= 12 && mdm_norm_postal_code(q, NULL, &pc, &ignored) == MDM_OK && pc.data) {
            if (strlen(pc.data) == 10 && pc.data[5] == '-')
                pc.data[5] = '\0'; /* ZIP+4: the stored key is the ZIP */
            probe_text[np++] = address_probe("postal", pc.data);
        }
        mdm_buf_free(&pc);
        mdm_norm *n = mdm_ingest_norm_acquire(err);
        if (!n) {
            st = err ? err->code : MDM_EINTERNAL;
            goto out;
        }
        mdm_arena *a = mdm_arena_new(1024);
        mdm_address_norm an;
        if (mdm_norm_address(n, q, NULL, NULL, NULL, NULL, NULL, country, a, &an, &ignored) ==
                MDM_OK &&
            *an.line)
            probe_text[np++] = address_probe("line1", an.line);
        mdm_arena_free(a);
        mdm_ingest_norm_release(n);
    } else { /* a name, in any order, "Last, First", with initials or parts */
        char *key = mdm_ingest_text_key(q);
        char *save = NULL;
        for (char *t = strtok_r(key, " ,", &save); t && ntok < 8; t = strtok_r(NULL, " ,", &save)) {
            if (!t[1]) {
                array_add(&inits, t);
                continue;
            }
            array_add(&toks, t);
            array_add(&canons, mdm_norm_nickname_canon(NULL, t));
            ntok++;
        }
        free(key);
        if (!ntok) {
            st = mdm_err_set_field(err, MDM_EINVAL, "/q",
                                   "give a name of two letters or more (initials alone find "
                                   "too much)");
            goto out;
        }
    }
    for (size_t i = 0; i < np; i++)
        array_add(&probes, probe_text[i]);
    {
        char need[16], off[16], lim[16];
        snprintf(need, sizeof need, "%d", ntok >= 3 ? ntok - 1 : ntok);
        snprintf(off, sizeof off, "%d", offset);
        snprintf(lim, sizeof lim, "%d", limit + 1);
        const char *p[7] = {array_end(&toks),
                            array_end(&canons),
                            array_end(&inits),
                            array_end(&probes),
                            need,
                            off,
                            lim};
        find_call fc = {p, NULL};
        if ((st = mdm_db_run_tx(db, "golden_find", find_tx, &fc, err)) != MDM_OK) {
            PQclear(fc.res);
            goto out;
        }
        PGresult *res = fc.res;
        json_t *items = json_array();
        int n = PQntuples(res);
        for (int i = 0; i < n && i < limit; i++)
            json_array_append_new(items,
                                  json_pack("{s:I, s:i, s:o}", "id",
                                            (json_int_t)mdm_db_get_ll(res, i, "id", 0), "version",
                                            (int)mdm_db_get_ll(res, i, "version", 0), "golden",
                                            json_or_null(mdm_db_get(res, i, "golden", NULL))));
        long long total = n ? mdm_db_get_ll(res, 0, "total", 0) : 0;
        PQclear(res);
        *out = json_pack("{s:o, s:o, s:I}", "items", items, "next",
                         n > limit ? json_integer(offset + limit) : json_null(), "total",
                         (json_int_t)(n ? total : offset));
    }
out:
    for (size_t i = 0; i < np; i++)
        free(probe_text[i]);
    mdm_buf_free(&toks);
    mdm_buf_free(&canons);
    mdm_buf_free(&inits);
    mdm_buf_free(&probes);
    return st;
}

/* What a merge of $1 and $2 would read: the members of both (as RECOMPUTE_READ reads
 * them) and the pins the survivor would have (its own, then the other's it lacks). */
static const mdm_db_stmt stmt_preview_read = {
    "golden_preview_read",
    "SELECT (SELECT coalesce(json_agg(json_build_object('id', sr.id, 'source', sr.source,"
    " 'source_key', sr.source_key, 'normalized', sr.normalized, 'trust', ss.trust,"
    " 'upd', " MDM_GOLDEN_CHANGE_TIME ") ORDER BY sr.id), '[]')"
    " FROM membership m JOIN source_record sr ON sr.id = m.record_id"
    " JOIN source_system ss ON ss.code = sr.source"
    " WHERE m.entity_id IN ($1, $2) AND m.active)::text AS members,"
    " (SELECT coalesce(json_object_agg(attr, value), '{}') FROM (SELECT DISTINCT ON (attr)"
    "   attr, value FROM golden_pin WHERE entity_id IN ($1, $2)"
    "   ORDER BY attr, entity_id = least($1::bigint, $2::bigint) DESC) p)::text AS pins,"
    " (SELECT count(*) FROM entity WHERE id IN ($1, $2) AND status = 'active') AS active",
    2};

mdm_status mdm_golden_merge_preview(mdm_db *db, const mdm_ingest_ctx *ctx, int64_t a, int64_t b,
                                    json_t **out, mdm_err *err)
{
    *out = NULL;
    if (a == b)
        return mdm_err_set_field(err, MDM_EINVAL, "/other", "an entity cannot merge with itself");
    char as[32], bs[32];
    ID(as, a);
    ID(bs, b);
    const char *p[2] = {as, bs};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_preview_read, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (mdm_db_get_ll(res, 0, "active", 0) != 2) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "entities %lld and %lld are not both active",
                           (long long)a, (long long)b);
    }
    json_t *members = json_loads(mdm_db_get(res, 0, "members", "[]"), 0, NULL);
    json_t *pins = json_loads(mdm_db_get(res, 0, "pins", "{}"), 0, NULL);
    PQclear(res);
    size_t n = json_array_size(members);
    mdm_survive_member *mem = mdm_xcalloc(n ? n : 1, sizeof *mem);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(members, i);
        mem[i].record_id = (int64_t)json_integer_value(json_object_get(m, "id"));
        mem[i].source = json_string_value(json_object_get(m, "source"));
        mem[i].source_key = json_string_value(json_object_get(m, "source_key"));
        mem[i].canonical = json_object_get(m, "normalized");
        mem[i].trust = json_object_get(m, "trust");
        mem[i].trust_default = 50;
        mem[i].updated_at = json_string_value(json_object_get(m, "upd"));
    }
    json_t *golden = NULL, *lineage = NULL;
    mdm_survive_compute(mdm_ingest_survive(ctx), mem, n, pins, &golden, &lineage);
    free(mem);
    json_decref(members);
    json_decref(pins);
    *out = json_pack("{s:I, s:I, s:I, s:o, s:o}", "survivor", (json_int_t)(a < b ? a : b),
                     "retired", (json_int_t)(a < b ? b : a), "records", (json_int_t)n, "golden",
                     golden, "lineage", lineage);
    return MDM_OK;
}

static const mdm_db_stmt stmt_member_records = {
    "golden_member_records",
    "SELECT coalesce(json_agg(json_build_object('record_id', s.id, 'source', s.source,"
    " 'source_name', ss.name, 'source_key', s.source_key,"
    " 'source_updated_at', s.source_updated_at, 'received_at', s.received_at,"
    " 'linked_at', m.linked_at,"
    " 'fields', s.normalized - 'keys' - 'source' - 'source_key' - 'issues') ORDER BY s.id),"
    " '[]'::json)::text AS j"
    " FROM membership m JOIN source_record s ON s.id = m.record_id"
    " LEFT JOIN source_system ss ON ss.code = s.source"
    " WHERE m.entity_id = $1 AND m.active",
    1};

mdm_status mdm_golden_member_records(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char eid[32];
    ID(eid, id);
    const char *p[1] = {eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_member_records, p, &res, err);
    if (st != MDM_OK)
        return st;
    *out = json_loads(mdm_db_get(res, 0, "j", "[]"), 0, NULL);
    PQclear(res);
    if (!*out)
        *out = json_array();
    return MDM_OK;
}

static const mdm_db_stmt stmt_hist_versions = {
    "golden_hist_versions",
    "SELECT version, golden, reason, created_at FROM entity_version WHERE entity_id = $1 "
    "ORDER BY version DESC LIMIT 500",
    1};

static const mdm_db_stmt stmt_hist_events = {
    "golden_hist_events",
    "SELECT l.id, l.action, l.method, l.entity_id, l.record_id, l.other_entity_id, l.probability,"
    " l.rule, l.actor, l.reason, l.created_at, s.id AS snapshot_id, s.undone_at"
    " FROM link_event l LEFT JOIN LATERAL (SELECT s.id, s.undone_at FROM merge_snapshot s"
    "   WHERE l.action = 'merge' AND s.survivor_id = l.entity_id"
    "     AND s.retired_id = l.other_entity_id AND s.created_at <= l.created_at"
    "   ORDER BY s.id DESC LIMIT 1) s ON true"
    " WHERE l.entity_id = $1 OR l.other_entity_id = $1 ORDER BY l.id DESC LIMIT 500",
    1};

mdm_status mdm_golden_history(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char eid[32];
    ID(eid, id);
    const char *p[1] = {eid};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_hist_versions, p, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *versions = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(versions,
                              json_pack("{s:i, s:o, s:s, s:s}", "version",
                                        (int)mdm_db_get_ll(res, i, "version", 0), "golden",
                                        json_or_null(mdm_db_get(res, i, "golden", NULL)), "reason",
                                        mdm_db_get(res, i, "reason", ""), "created_at",
                                        mdm_db_get(res, i, "created_at", "")));
    PQclear(res);
    if ((st = mdm_db_exec(db, &stmt_hist_events, p, &res, err)) != MDM_OK) {
        json_decref(versions);
        return st;
    }
    json_t *events = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *e = json_pack(
            "{s:I, s:s, s:s, s:I, s:s, s:s}", "id", (json_int_t)mdm_db_get_ll(res, i, "id", 0),
            "action", mdm_db_get(res, i, "action", ""), "method", mdm_db_get(res, i, "method", ""),
            "entity_id", (json_int_t)mdm_db_get_ll(res, i, "entity_id", 0), "actor",
            mdm_db_get(res, i, "actor", ""), "created_at", mdm_db_get(res, i, "created_at", ""));
        long long r = mdm_db_get_ll(res, i, "record_id", 0),
                  o = mdm_db_get_ll(res, i, "other_entity_id", 0);
        json_object_set_new(e, "record_id", r ? json_integer(r) : json_null());
        json_object_set_new(e, "other_entity_id", o ? json_integer(o) : json_null());
        const char *pr = mdm_db_get(res, i, "probability", NULL);
        json_object_set_new(e, "probability", pr ? json_real(strtod(pr, NULL)) : json_null());
        json_object_set_new(e, "rule", str_or_null(mdm_db_get(res, i, "rule", NULL)));
        json_object_set_new(e, "reason", str_or_null(mdm_db_get(res, i, "reason", NULL)));
        long long snap = mdm_db_get_ll(res, i, "snapshot_id", 0);
        if (snap) { /* a merge: the snapshot that undoes it, and whether it was undone */
            json_object_set_new(e, "snapshot_id", json_integer(snap));
            json_object_set_new(e, "undone_at", str_or_null(mdm_db_get(res, i, "undone_at", NULL)));
        }
        json_array_append_new(events, e);
    }
    PQclear(res);
    if (json_array_size(versions) == 0 && json_array_size(events) == 0) {
        json_decref(versions);
        json_decref(events);
        return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)id);
    }
    *out =
        json_pack("{s:I, s:o, s:o}", "id", (json_int_t)id, "versions", versions, "events", events);
    return MDM_OK;
}

mdm_status mdm_golden_match(mdm_db *db, const mdm_ingest_ctx *ctx, const char *source,
                            const json_t *record, int limit, json_t **out, mdm_err *err)
{
    *out = NULL;
    const mdm_source *src = NULL;
    if (source) {
        src = mdm_sources_find(mdm_ingest_sources(ctx), source);
        if (!src)
            return mdm_err_set(err, MDM_ENOTFOUND, "unknown source \"%s\"", source);
    }
    if (!json_is_object(record))
        return mdm_err_set_field(err, MDM_EINVAL, "", "a record must be a JSON object");
    json_t *copy = json_deep_copy(record);
    if (!src || src->nfields == 0) {
        if (!json_object_get(copy, "source_key"))
            json_object_set_new(copy, "source_key", json_string("match"));
    } else if (!json_object_get(copy, src->key_column ? src->key_column : "source_key")) {
        json_object_set_new(copy, src->key_column ? src->key_column : "source_key",
                            json_string("match"));
    }
    json_t *canon = NULL, *errors = NULL;
    mdm_status st = mdm_ingest_canonicalize(ctx, src, copy, &canon, &errors, err);
    json_decref(copy);
    if (st != MDM_OK)
        return st;
    if (errors) {
        json_t *e0 = json_array_get(errors, 0);
        st = mdm_err_set_field(err, MDM_EINVAL, json_string_value(json_object_get(e0, "pointer")),
                               "%s %s", json_string_value(json_object_get(e0, "field")),
                               json_string_value(json_object_get(e0, "reason")));
        json_decref(errors);
        return st;
    }
    json_t *cands = NULL;
    st = mdm_resolve_candidates(db, ctx, canon, 0, limit, &cands, err);
    json_decref(canon);
    if (st != MDM_OK)
        return st;
    const mdm_resolve_settings *rs = mdm_ingest_resolve_settings(ctx);
    size_t i;
    json_t *c;
    json_array_foreach(cands, i, c)
    {
        double p = json_real_value(json_object_get(c, "probability"));
        bool conflict = json_is_true(json_object_get(c, "strong_conflict"));
        json_object_set_new(c, "decision",
                            json_string(p >= rs->auto_link && !conflict ? "match"
                                        : p >= rs->review               ? "review"
                                                                        : "no_match"));
    }
    *out = json_pack("{s:o}", "candidates", cands);
    return MDM_OK;
}

/* ---- export ---------------------------------------------------------------------- */

static const mdm_db_stmt stmt_export = {
    "golden_export",
    "SELECT e.id, e.version, e.golden, "
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('source', sr.source, 'source_key', "
    "sr.source_key) ORDER BY sr.source, sr.source_key), '[]'::jsonb) FROM membership m "
    "JOIN source_record sr ON sr.id = m.record_id WHERE m.entity_id = e.id AND m.active) AS xrefs "
    "FROM entity e WHERE e.status = 'active' AND e.id > $1 ORDER BY e.id LIMIT 1000",
    1};

/* Golden values are customer data: formula cells neutralized (common/csvout.h). */
static void csv_field(FILE *f, const char *s)
{
    mdm_csvout_fput(f, s);
}

static const char *first_of(const json_t *golden, const char *list, const char *field)
{
    const json_t *item = json_array_get(json_object_get(golden, list), 0);
    return json_string_value(json_object_get(item, field));
}

mdm_status mdm_golden_export(mdm_db *db, const char *format, FILE *f, long *count, mdm_err *err)
{
    bool csv;
    if (format && !strcmp(format, "csv"))
        csv = true;
    else if (format && !strcmp(format, "ndjson"))
        csv = false;
    else
        return mdm_err_set_field(err, MDM_EINVAL, "/format", "format must be ndjson or csv");
    if (csv)
        fputs("id,version,first_name,last_name,birth_date,email,phone,line1,city,postal_code,"
              "country,loyalty_id,xrefs\n",
              f);
    long n = 0;
    int64_t after = 0;
    for (;;) {
        char a[32];
        ID(a, after);
        const char *p[1] = {a};
        PGresult *res = NULL;
        mdm_status st = mdm_db_exec(db, &stmt_export, p, &res, err);
        if (st != MDM_OK)
            return st;
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            after = mdm_db_get_ll(res, i, "id", 0);
            json_t *golden = json_or_null(mdm_db_get(res, i, "golden", NULL));
            json_t *xrefs = json_or_null(mdm_db_get(res, i, "xrefs", NULL));
            int version = (int)mdm_db_get_ll(res, i, "version", 0);
            if (csv) {
                fprintf(f, "%lld,%d,", (long long)after, version);
                static const char *const scal[] = {"first_name", "last_name", "birth_date"};
                for (size_t k = 0; k < 3; k++) {
                    csv_field(f, json_string_value(json_object_get(golden, scal[k])));
                    fputc(',', f);
                }
                csv_field(f, first_of(golden, "emails", "value"));
                fputc(',', f);
                csv_field(f, first_of(golden, "phones", "value"));
                fputc(',', f);
                csv_field(f, first_of(golden, "addresses", "line1"));
                fputc(',', f);
                csv_field(f, first_of(golden, "addresses", "city"));
                fputc(',', f);
                csv_field(f, first_of(golden, "addresses", "postal_code"));
                fputc(',', f);
                csv_field(f, first_of(golden, "addresses", "country"));
                fputc(',', f);
                csv_field(f, json_string_value(json_object_get(golden, "loyalty_id")));
                fputc(',', f);
                mdm_buf b = {0};
                size_t k;
                json_t *x;
                json_array_foreach(xrefs, k, x)
                {
                    mdm_buf_printf(&b, "%s%s:%s", k ? "|" : "",
                                   json_string_value(json_object_get(x, "source")),
                                   json_string_value(json_object_get(x, "source_key")));
                }
                csv_field(f, b.data ? b.data : "");
                mdm_buf_free(&b);
                fputc('\n', f);
            } else {
                json_t *line = json_pack("{s:I, s:i, s:O, s:O}", "id", (json_int_t)after, "version",
                                         version, "golden", golden, "xrefs", xrefs);
                char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
                fputs(s, f);
                fputc('\n', f);
                free(s);
                json_decref(line);
            }
            json_decref(golden);
            json_decref(xrefs);
            n++;
        }
        PQclear(res);
        if (rows < 1000)
            break;
    }
    if (count)
        *count = n;
    if (ferror(f))
        return mdm_err_set(err, MDM_EIO, "cannot write the export");
    return MDM_OK;
}
