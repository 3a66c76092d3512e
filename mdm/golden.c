/* Golden records: membership changes, merge/split, survivorship recomputation with
 * versions, history and outbox events; reads and export. See golden.h. */
#include "mdm/golden.h"

#include "common/log.h"
#include "common/mem.h"
#include "matching/canonical.h"
#include "matching/normalize.h"
#include "mdm/consent.h"
#include "mdm/engine.h"
#include "mdm/outbox.h"
#include "mdm/review.h"
#include "mdm/survive.h"

#include <stdlib.h>
#include <string.h>

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

/* A golden record leaving the active ones (retired, merged away): its values and its
 * name keys go. */
static const mdm_db_stmt stmt_del_values = {
    "golden_del_values",
    "WITH n AS (DELETE FROM entity_name WHERE entity_id = $1) "
    "DELETE FROM golden_value WHERE entity_id = $1",
    1};

/* The name keys of active golden record $1 (entity_name, read by search) made equal to
 * those of its active members (mdm_name_keys of each member's normalized->'keys', the
 * keys ingest derived) and of its pinned names ($2 kinds, $3 keys): rows no longer
 * wanted are deleted, missing ones inserted, the others left alone, so a recompute that
 * changes no name writes nothing. */
static const mdm_db_stmt stmt_names_sync = {
    "golden_names_sync",
    "WITH want AS (SELECT k.kind, k.key FROM membership m"
    "   JOIN source_record s ON s.id = m.record_id"
    "   CROSS JOIN LATERAL mdm_name_keys(s.normalized->'keys') k"
    "   WHERE m.entity_id = $1 AND m.active"
    " UNION SELECT * FROM unnest($2::smallint[], $3::text[])),"
    " gone AS (DELETE FROM entity_name n WHERE n.entity_id = $1"
    "   AND NOT EXISTS (SELECT 1 FROM want w WHERE w.kind = n.kind AND w.key = n.key))"
    " INSERT INTO entity_name (entity_id, kind, key) SELECT $1, w.kind, w.key FROM want w"
    " WHERE NOT EXISTS (SELECT 1 FROM entity_name n"
    "   WHERE n.entity_id = $1 AND n.kind = w.kind AND n.key = w.key)",
    3};

static const mdm_db_stmt stmt_retire = {
    "golden_retire",
    "UPDATE entity SET status = 'retired', survivor_id = $2, version = version + 1, "
    "updated_at = now() WHERE id = $1 RETURNING version, golden",
    2};

/* The two golden records just before a merge ($1 survivor, $2 retired), as merge_snapshot
 * keeps them for an exact unmerge: per entity {id, version, status, golden, values (every
 * golden_value row with lineage and chosen_at), pins, members}, keyed by id. */
#define SNAPSHOT_ENTITY                                                                            \
    "json_build_object('id', e.id,"                                                                \
    " 'version', e.version, 'status', e.status, 'golden', e.golden,"                               \
    " 'values', (SELECT coalesce(json_agg(json_build_object('attr', g.attr, 'value', g.value,"     \
    "    'source_record_id', g.source_record_id, 'rule', g.rule,"                                  \
    "    'chosen_at', mdm_ts(g.chosen_at))"                                                        \
    "    ORDER BY g.attr), '[]'::json) FROM golden_value g WHERE g.entity_id = e.id),"             \
    " 'pins', (SELECT coalesce(json_agg(json_build_object('attr', p.attr, 'value', p.value,"       \
    "    'actor', p.actor, 'reason', p.reason,"                                                    \
    "    'created_at', mdm_ts(p.created_at)) ORDER BY p.attr),"                                    \
    "    '[]'::json) FROM golden_pin p WHERE p.entity_id = e.id),"                                 \
    " 'members', (SELECT coalesce(json_agg(m.record_id ORDER BY m.record_id), '[]'::json)"         \
    "    FROM membership m WHERE m.entity_id = e.id AND m.active))"
static const mdm_db_stmt stmt_snapshot = {
    "golden_snapshot",
    "INSERT INTO merge_snapshot (survivor_id, retired_id, before, actor, reason)"
    " SELECT $1, $2, jsonb_object_agg(e.id::text, " SNAPSHOT_ENTITY "), $3, $4"
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
    mdm_db_id(e, entity_id);
    mdm_db_id(r, record_id);
    mdm_db_id(o, other);
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
        mdm_db_id(s, cur);
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

/* The name keys of a golden record's pinned names, as ingest derives a record's
 * (matching/canonical.c: the comparison key of first_name, middle_name and last_name, and
 * the first name's nickname class), for stmt_names_sync: kinds and keys as SQL arrays. */
static void pinned_names(const json_t *pins, mdm_buf *kinds, mdm_buf *keys)
{
    static const struct {
        const char *attr, *kind;
    } names[] = {{"last_name", "4"}, {"first_name", "3"}, {"middle_name", "1"}};
    mdm_norm *n = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = json_string_value(json_object_get(pins, names[i].attr));
        if (!v)
            continue;
        mdm_err ignored;
        if (!n && !(n = mdm_engine_norm_acquire(&ignored)))
            break;
        char *k = mdm_canon_text_key(n, v);
        if (k && *k) {
            mdm_db_array_add(kinds, names[i].kind);
            mdm_db_array_add(keys, k);
            if (!strcmp(names[i].kind, "3")) {
                char buf[64];
                mdm_db_array_add(kinds, "2");
                mdm_db_array_add(keys, mdm_canon_first_class(n, k, buf));
            }
        }
        free(k);
    }
    mdm_engine_norm_release(n);
    mdm_buf_puts(kinds, kinds->len ? "}" : "{}");
    mdm_buf_puts(keys, keys->len ? "}" : "{}");
}

/* Recompute with options: force emits an event (and bumps the version) even when the
 * golden values did not change (membership changes); extra is merged into the payload;
 * consent also recomputes the entity's consent state (mdm_consent_recompute), in the same
 * round trip as the writes. The search's name index (entity_name) of an active golden
 * record is synchronized in that round trip too. re is the result of the read
 * (stmt_recompute_read), consumed. */
static mdm_status recompute_from(mdm_db *db, const mdm_engine *ctx, PGresult *re, const char *event,
                                 const char *reason, bool force, const json_t *extra, bool consent,
                                 int *changed, mdm_err *err)
{
    char eid[32];
    int64_t id = mdm_db_get_ll(re, 0, "id", 0);
    mdm_db_id(eid, id);
    const char *p1[1] = {eid};
    mdm_outbox_call oc = {0};
    mdm_survive_member *mem = NULL;
    mdm_buf pin_kinds = {0}, pin_keys = {0};
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
    mdm_survive_compute(mdm_engine_survive(ctx), mem, n, pins, &golden, &lineage);

    bool same_golden = active && old_version > 0 && old_golden && json_equal(golden, old_golden);
    /* One round trip: the lineage rows replaced (when they changed), the new version
     * (when the golden record changed, or force) with its outbox event, and the consent
     * state's first read. The entity row is locked (stmt_recompute_read): the new version
     * is the next one. */
    mdm_db_call calls[7];
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
    /* the name keys search reads: a member's name may change without the golden record
     * changing, so they are compared on every recompute */
    pinned_names(pins, &pin_kinds, &pin_keys);
    const char *pn[3] = {eid, pin_kinds.data, pin_keys.data};
    calls[nc++] = (mdm_db_call){.stmt = &stmt_names_sync, .params = pn};
    if (consent) {
        consent_at = nc;
        mdm_consent_recompute_call(id, &calls[nc++]);
    }
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
    mdm_buf_free(&pin_kinds);
    mdm_buf_free(&pin_keys);
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

static mdm_status recompute(mdm_db *db, const mdm_engine *ctx, int64_t id, const char *event,
                            const char *reason, bool force, const json_t *extra, bool consent,
                            int *changed, mdm_err *err)
{
    char eid[32];
    mdm_db_id(eid, id);
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

mdm_status mdm_golden_recompute(mdm_db *db, const mdm_engine *ctx, int64_t entity_id,
                                const char *event, const char *reason, int *changed, mdm_err *err)
{
    return recompute(db, ctx, entity_id, event, reason, false, NULL, false, changed, err);
}

/* ---- membership writes ----------------------------------------------------------- */

mdm_status mdm_golden_create(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                             const char *method, const char *actor, double probability,
                             const char *rule, int64_t *entity_id, mdm_err *err)
{
    char rid[32], prob[32];
    mdm_db_id(rid, record_id);
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

mdm_status mdm_golden_link(mdm_db *db, const mdm_engine *ctx, int64_t record_id, int64_t *entity_id,
                           const char *method, const char *actor, double probability,
                           const char *rule, json_t *details, mdm_err *err)
{
    mdm_status st = mdm_golden_lock(db, entity_id, err);
    if (st != MDM_OK)
        return st;
    char rid[32], eid[32], prob[32];
    mdm_db_id(rid, record_id);
    mdm_db_id(eid, *entity_id);
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

/* The golden records bulk resolution staged, in the order their foreign keys want; $1
 * is the actor of the link events (the others take no parameter). */
/* clang-format off */
static const mdm_db_stmt stmt_create_staged[] = {
    {"golden_staged_entities",
     "INSERT INTO entity (id, version, golden) SELECT id, 1, golden::jsonb FROM bulk_entity", 0},
    {"golden_staged_versions",
     "INSERT INTO entity_version (entity_id, version, golden, reason) "
     "SELECT id, 1, golden::jsonb, 'created' FROM bulk_entity", 0},
    {"golden_staged_members",
     "INSERT INTO membership (record_id, entity_id) SELECT record_id, entity_id FROM bulk_member",
     0},
    /* the name keys search reads (entity_name), as stmt_names_sync derives them: the
     * golden records are new, so a plain insert */
    {"golden_staged_names",
     "INSERT INTO entity_name (entity_id, kind, key) SELECT DISTINCT b.entity_id, k.kind, k.key "
     "FROM bulk_member b JOIN source_record s ON s.id = b.record_id "
     "CROSS JOIN LATERAL mdm_name_keys(s.normalized->'keys') k", 0},
    {"golden_staged_link_events",
     "INSERT INTO link_event (action, method, entity_id, record_id, probability, rule, actor) "
     "SELECT action, 'auto', entity_id, record_id, probability, rule, $1 "
     "FROM bulk_member ORDER BY record_id", 1},
    {"golden_staged_values",
     "INSERT INTO golden_value (entity_id, attr, value, source_record_id, rule, sources) "
     "SELECT entity_id, attr, value::jsonb, source_record_id, rule, sources::jsonb "
     "FROM bulk_value", 0},
};
/* clang-format on */

mdm_status mdm_golden_create_staged(mdm_db *db, const char *actor, mdm_err *err)
{
    const char *params[] = {actor};
    return mdm_db_exec_each(db, stmt_create_staged,
                            sizeof stmt_create_staged / sizeof stmt_create_staged[0], params, err);
}

mdm_status mdm_golden_link_many(mdm_db *db, const mdm_engine *ctx, int64_t *entity_id,
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
    mdm_db_id(eid, *entity_id);
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

mdm_status mdm_golden_unlink(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                             const char *method, const char *actor, const char *reason,
                             int64_t *left_entity, mdm_err *err)
{
    if (left_entity)
        *left_entity = 0;
    char rid[32];
    mdm_db_id(rid, record_id);
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

mdm_status mdm_golden_merge(mdm_db *db, const mdm_engine *ctx, int64_t into, int64_t from,
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
    mdm_db_id(ks, keep);
    mdm_db_id(gs, gone);
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
    if ((st = mdm_review_supersede_merged(db, keep, gone, err)) != MDM_OK)
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

mdm_status mdm_golden_split(mdm_db *db, const mdm_engine *ctx, int64_t entity_id,
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
    mdm_db_id(eid, id);
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
    mdm_db_id(nids, nid);
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

mdm_status mdm_golden_unmerge(mdm_db *db, const mdm_engine *ctx, int64_t survivor, int64_t retired,
                              const int64_t *records, size_t n, const json_t *before,
                              const char *actor, const char *reason, mdm_err *err)
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
    mdm_db_id(ss, survivor);
    mdm_db_id(rs, retired);
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
    mdm_db_id_array(&ids, records, n);
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

static const mdm_db_stmt stmt_last_event = {"golden_last_event",
                                            "SELECT coalesce(max(id), 0) AS id FROM link_event", 0};

mdm_status mdm_golden_last_event(mdm_db *db, long long *id, mdm_err *err)
{
    PGresult *res = NULL;
    *id = 0;
    mdm_status st = mdm_db_exec(db, &stmt_last_event, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *id = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    return MDM_OK;
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_golden_erase_events = {
    "subject_erase_links",
    "UPDATE link_event SET details = NULL, reason = NULL WHERE entity_id = ANY($1::bigint[]) "
    "OR other_entity_id = ANY($1::bigint[]) OR record_id = ANY($2::bigint[])",
    2};

mdm_status mdm_golden_erase_events(mdm_db *db, const char *entities, const char *records,
                                   mdm_err *err)
{
    const char *params[] = {entities, records};
    return mdm_db_exec(db, &stmt_golden_erase_events, params, NULL, err);
}

static const mdm_db_stmt golden_erase_values_stmts[] = {
    {"subject_erase_values", "DELETE FROM golden_value WHERE entity_id = ANY($1::bigint[])", 1},
    {"subject_erase_pins", "DELETE FROM golden_pin WHERE entity_id = ANY($1::bigint[])", 1},
    {"subject_erase_names", "DELETE FROM entity_name WHERE entity_id = ANY($1::bigint[])", 1},
    {"subject_erase_versions",
     "UPDATE entity_version SET golden = '{}' WHERE entity_id = ANY($1::bigint[])", 1},
    {"subject_erase_golden",
     "UPDATE entity SET golden = '{}', updated_at = now() WHERE id = ANY($1::bigint[])", 1},
};

mdm_status mdm_golden_erase_values(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    return mdm_db_exec_each(db, golden_erase_values_stmts,
                            sizeof golden_erase_values_stmts / sizeof *golden_erase_values_stmts,
                            params, err);
}

static const mdm_db_stmt stmt_golden_erase_snapshots = {
    "subject_erase_snapshots",
    "UPDATE merge_snapshot SET before = '{\"erased\": true}', reason = NULL "
    "WHERE survivor_id = ANY($1::bigint[]) OR retired_id = ANY($1::bigint[])",
    1};
static const mdm_db_stmt stmt_golden_erase_splits = {
    "subject_erase_splits",
    "UPDATE split_snapshot SET before = '{\"erased\": true}', assertions = '[]', reason = NULL "
    "WHERE entity_id = ANY($1::bigint[]) OR other_id = ANY($1::bigint[])",
    1};

mdm_status mdm_golden_erase_snapshots(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    mdm_status st = mdm_db_exec(db, &stmt_golden_erase_snapshots, params, NULL, err);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_golden_erase_splits, params, NULL, err);
    return st;
}

static const mdm_db_stmt stmt_erase_mark = {
    "subject_mark",
    "UPDATE entity SET status = 'erased', version = version + 1, updated_at = now() "
    "WHERE id = $1::bigint RETURNING version",
    1};
static const mdm_db_stmt stmt_erase_version = {
    "subject_version",
    "INSERT INTO entity_version (entity_id, version, golden, reason) "
    "VALUES ($1::bigint, $2::int, '{}', 'erase')",
    2};
static const mdm_db_stmt stmt_erase_link = {
    "subject_link_erase",
    "INSERT INTO link_event (action, method, entity_id, actor, details) "
    "VALUES ('erase', 'manual', $1::bigint, $2, jsonb_build_object('tombstone_id', $3::bigint))",
    3};

mdm_status mdm_golden_mark_erased(mdm_db *db, int64_t id, int *version, mdm_err *err)
{
    char ids[24], ver[16];
    mdm_db_id(ids, id);
    const char *one[] = {ids};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_erase_mark, one, &res, err);
    if (st != MDM_OK)
        return st;
    *version = (int)mdm_db_get_ll(res, 0, "version", 1);
    PQclear(res);
    snprintf(ver, sizeof ver, "%d", *version);
    const char *p_ver[] = {ids, ver};
    return mdm_db_exec(db, &stmt_erase_version, p_ver, NULL, err);
}

mdm_status mdm_golden_erase_event(mdm_db *db, int64_t id, const char *actor, int64_t tombstone_id,
                                  mdm_err *err)
{
    char ids[24], tombs[24];
    mdm_db_id(ids, id);
    mdm_db_id(tombs, tombstone_id);
    const char *p_link[] = {ids, actor, tombs};
    return mdm_db_exec(db, &stmt_erase_link, p_link, NULL, err);
}

/* ---- pins and merge snapshots (stewardship/merge.c) ---------------------------------- */

static const mdm_db_stmt stmt_pin_put = {
    "merge_pin_put",
    "INSERT INTO golden_pin (entity_id, attr, value, actor, reason) VALUES ($1, $2, $3::jsonb, $4,"
    " $5) ON CONFLICT (entity_id, attr) DO UPDATE SET value = EXCLUDED.value,"
    " actor = EXCLUDED.actor, reason = EXCLUDED.reason, created_at = now()",
    5};

static const mdm_db_stmt stmt_pin_del = {
    "merge_pin_del", "DELETE FROM golden_pin WHERE entity_id = $1 AND attr = $2", 2};

static const mdm_db_stmt stmt_pins_restore = {
    "merge_pins_restore",
    "INSERT INTO golden_pin (entity_id, attr, value, actor, reason, created_at)"
    " SELECT $1, p.attr, p.value, p.actor, p.reason, p.created_at"
    " FROM jsonb_to_recordset($2::jsonb) AS p(attr text, value jsonb, actor text, reason text,"
    "   created_at timestamptz)"
    " ON CONFLICT (entity_id, attr) DO UPDATE SET value = EXCLUDED.value, actor = EXCLUDED.actor,"
    "   reason = EXCLUDED.reason, created_at = EXCLUDED.created_at",
    2};

/* pins the survivor inherited from the retired entity at the merge: the retired
 * entity's pre-merge pins ($2) the survivor did not have itself ($3) */
static const mdm_db_stmt stmt_pins_drop_inherited = {
    "merge_pins_drop_inherited",
    "DELETE FROM golden_pin g USING jsonb_to_recordset($2::jsonb) AS r(attr text, value jsonb,"
    "   created_at timestamptz)"
    " WHERE g.entity_id = $1 AND g.attr = r.attr AND g.value = r.value"
    "   AND g.created_at = r.created_at"
    "   AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset($3::jsonb) AS s(attr text) WHERE"
    "     s.attr = r.attr)",
    3};

static const mdm_db_stmt stmt_snapshot_done = {
    "merge_snapshot_done",
    "UPDATE merge_snapshot SET undone_at = now(), undone_by = $2 WHERE id = $1", 2};

mdm_status mdm_golden_pin_put(mdm_db *db, int64_t entity_id, const char *attr, const char *value,
                              const char *actor, const char *reason, mdm_err *err)
{
    char ids[32];
    mdm_db_id(ids, entity_id);
    const char *pp[] = {ids, attr, value, actor, reason};
    return mdm_db_exec(db, &stmt_pin_put, pp, NULL, err);
}

mdm_status mdm_golden_pin_del(mdm_db *db, int64_t entity_id, const char *attr, mdm_err *err)
{
    char ids[32];
    mdm_db_id(ids, entity_id);
    const char *pg[] = {ids, attr};
    return mdm_db_exec(db, &stmt_pin_del, pg, NULL, err);
}

mdm_status mdm_golden_pins_restore(mdm_db *db, const char *entity_id, const char *pins,
                                   mdm_err *err)
{
    const char *pp[] = {entity_id, pins};
    return mdm_db_exec(db, &stmt_pins_restore, pp, NULL, err);
}

mdm_status mdm_golden_pins_drop_inherited(mdm_db *db, const char *entity_id,
                                          const char *retired_pins, const char *own_pins,
                                          mdm_err *err)
{
    const char *pd[] = {entity_id, retired_pins, own_pins};
    return mdm_db_exec(db, &stmt_pins_drop_inherited, pd, NULL, err);
}

mdm_status mdm_golden_snapshot_undone(mdm_db *db, int64_t snapshot_id, const char *actor,
                                      mdm_err *err)
{
    char snaps[32];
    mdm_db_id(snaps, snapshot_id);
    const char *pu[] = {snaps, actor};
    return mdm_db_exec(db, &stmt_snapshot_done, pu, NULL, err);
}

/* ---- split snapshots (stewardship/merge.c) ------------------------------------------ */

/* The golden records $1 and $2 (0: none) as a merge snapshot keeps them, keyed by id. */
static const mdm_db_stmt stmt_split_before = {"golden_split_before",
                                              "SELECT jsonb_object_agg(e.id::text, " SNAPSHOT_ENTITY
                                              ")::text AS before"
                                              " FROM entity e WHERE e.id IN ($1, $2)",
                                              2};

static const mdm_db_stmt stmt_split_insert = {
    "golden_split_insert",
    "INSERT INTO split_snapshot (entity_id, other_id, created, moved, before, assertions, actor,"
    " reason) VALUES ($1, $2, $3::boolean, $4::bigint[], $5::jsonb, $6::jsonb, $7, $8)"
    " RETURNING id",
    8};

static const mdm_db_stmt stmt_split_done = {
    "golden_split_done",
    "UPDATE split_snapshot SET undone_at = now(), undone_by = $2 WHERE id = $1", 2};

mdm_status mdm_golden_split_before(mdm_db *db, int64_t entity_id, int64_t other_id, char **before,
                                   mdm_err *err)
{
    *before = NULL;
    char es[32], os[32];
    mdm_db_id(es, entity_id);
    mdm_db_id(os, other_id);
    const char *p[] = {es, os};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_split_before, p, &res, err);
    if (st != MDM_OK)
        return st;
    *before = mdm_xstrdup(mdm_db_get(res, 0, "before", "{}"));
    PQclear(res);
    return MDM_OK;
}

mdm_status mdm_golden_split_record(mdm_db *db, int64_t entity_id, int64_t other_id, bool created,
                                   const char *moved, const char *before, const char *assertions,
                                   const char *actor, const char *reason, int64_t *split_id,
                                   mdm_err *err)
{
    char es[32], os[32];
    mdm_db_id(es, entity_id);
    mdm_db_id(os, other_id);
    const char *p[] = {es,         os,    created ? "true" : "false",       moved, before,
                       assertions, actor, reason && *reason ? reason : NULL};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_split_insert, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (split_id)
        *split_id = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    return MDM_OK;
}

mdm_status mdm_golden_split_undone(mdm_db *db, int64_t split_id, const char *actor, mdm_err *err)
{
    char ids[32];
    mdm_db_id(ids, split_id);
    const char *p[] = {ids, actor};
    return mdm_db_exec(db, &stmt_split_done, p, NULL, err);
}

mdm_status mdm_golden_restore_lineage(mdm_db *db, int64_t entity_id, const json_t *values,
                                      mdm_err *err)
{
    if (!json_is_array(values) || json_array_size(values) == 0)
        return MDM_OK;
    char es[32];
    mdm_db_id(es, entity_id);
    char *rows = json_dumps(values, JSON_COMPACT);
    const char *p[] = {es, rows};
    mdm_status st = mdm_db_exec(db, &stmt_unmerge_chosen_at, p, NULL, err);
    free(rows);
    return st;
}
