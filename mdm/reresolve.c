/* Re-resolution of every golden record under the active model (see reresolve.h). */
#include "mdm/reresolve.h"

#include "common/log.h"
#include "common/mem.h"
#include "matching/link.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "mdm/bulk.h"
#include "mdm/golden.h"
#include "mdm/locks.h"
#include "mdm/recluster.h"
#include "mdm/resolve.h"
#include "mdm/score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_PAGE    5000
#define MAX_EXAMPLES 20

static const mdm_db_stmt stmt_gate = {"reresolve_gate",
                                      "SELECT pg_advisory_lock(" MDM_LOCK_BULK ")", 0};
static const mdm_db_stmt stmt_ungate = {"reresolve_ungate",
                                        "SELECT pg_advisory_unlock(" MDM_LOCK_BULK ")", 0};
static const mdm_db_stmt stmt_pending = {"reresolve_pending",
                                         "SELECT count(*) AS n FROM record_pending", 0};

static const mdm_db_stmt stmt_records = {
    "reresolve_records",
    "SELECT sr.id, m.entity_id, sr.source, sr.source_key, sr.normalized::text AS n "
    "FROM source_record sr "
    "JOIN membership m ON m.record_id = sr.id AND m.active "
    "JOIN entity e ON e.id = m.entity_id AND e.status = 'active' "
    "WHERE NOT sr.deleted AND sr.id > $1::bigint ORDER BY sr.id LIMIT $2::int",
    2};

/* golden records holding a record a steward has judged */
static const mdm_db_stmt stmt_held = {
    "reresolve_held",
    "SELECT DISTINCT m.entity_id FROM membership m WHERE m.active AND m.record_id IN ("
    "SELECT record_a FROM steward_label UNION SELECT record_b FROM steward_label UNION "
    "SELECT record_a FROM steward_assertion UNION SELECT record_b FROM steward_assertion) "
    "ORDER BY 1",
    0};

static const mdm_db_stmt stmt_never = {
    "reresolve_never",
    "SELECT record_a, record_b FROM steward_assertion WHERE kind = 'never_link' "
    "ORDER BY record_a, record_b",
    0};

static const mdm_db_stmt stmt_count_active = {
    "reresolve_count", "SELECT count(*) AS n FROM entity WHERE status = 'active'", 0};

typedef struct rrec {
    int64_t id, entity;
    char *source, *source_key;
    uint32_t cluster;
    char *json;
} rrec;

/* A part of a golden record that ends in one cluster. */
typedef struct unit {
    uint32_t cluster;
    int64_t entity;  /* existing golden record (the kept part) or, once split, the new one */
    int64_t from;    /* the golden record a split part leaves (0 for a kept part) */
    size_t lo, hi;   /* its records: order[lo..hi) */
    int64_t min_rid; /* its oldest record */
    int64_t owner;   /* final golden record (dry run: the kept entity, or -1 - unit index) */
} unit;

typedef struct plan {
    rrec *r;
    size_t n, cap;
    size_t *order; /* records by (entity, cluster, id) */
    unit *u;
    size_t nu;
    int64_t *never; /* never_link pairs, flattened (a, b), sorted */
    size_t nnever;
} plan;

/* qsort has no context argument: the records being ordered */
static const rrec *sort_r;

static int cmp_order(const void *pa, const void *pb)
{
    const rrec *a = &sort_r[*(const size_t *)pa], *b = &sort_r[*(const size_t *)pb];
    if (a->entity != b->entity)
        return a->entity < b->entity ? -1 : 1;
    if (a->cluster != b->cluster)
        return a->cluster < b->cluster ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* units by cluster; in a cluster, kept parts of existing golden records first, oldest id
 * first, so the survivor of a cluster's merges is its oldest golden record */
static int cmp_unit(const void *pa, const void *pb)
{
    const unit *a = pa, *b = pb;
    if (a->cluster != b->cluster)
        return a->cluster < b->cluster ? -1 : 1;
    bool ka = a->from == 0, kb = b->from == 0;
    if (ka != kb)
        return ka ? -1 : 1;
    int64_t ea = ka ? a->entity : a->min_rid, eb = kb ? b->entity : b->min_rid;
    return ea < eb ? -1 : ea > eb;
}

static bool never_linked(const plan *p, int64_t a, int64_t b)
{
    if (a > b) {
        int64_t t = a;
        a = b;
        b = t;
    }
    size_t lo = 0, hi = p->nnever;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int64_t x = p->never[2 * mid], y = p->never[2 * mid + 1];
        if (x < a || (x == a && y < b))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->nnever && p->never[2 * lo] == a && p->never[2 * lo + 1] == b;
}

/* ---- reading ------------------------------------------------------------------------ */

static mdm_status add_records(void *arg, PGresult *page, mdm_err *err)
{
    (void)err;
    plan *p = arg;
    for (int i = 0; i < PQntuples(page); i++) {
        if (p->n == p->cap) {
            p->cap = p->cap ? 2 * p->cap : 1024;
            p->r = mdm_xrealloc(p->r, p->cap * sizeof *p->r);
        }
        rrec *r = &p->r[p->n++];
        r->id = mdm_db_get_ll(page, i, "id", 0);
        r->entity = mdm_db_get_ll(page, i, "entity_id", 0);
        r->source = mdm_xstrdup(mdm_db_get(page, i, "source", ""));
        r->source_key = mdm_xstrdup(mdm_db_get(page, i, "source_key", ""));
        r->cluster = 0;
        r->json = mdm_xstrdup(mdm_db_get(page, i, "n", "{}"));
    }
    return MDM_OK;
}

static mdm_status read_records(mdm_db *db, plan *p, mdm_err *err)
{
    return mdm_db_exec_paged(db, &stmt_records, READ_PAGE, add_records, p, err);
}

/* The stored text of record i (mdm_score_features_all). */
static const char *json_at(void *arg, size_t i)
{
    return ((const rrec *)arg)[i].json;
}

/* Clusters of every record (r[i].cluster) by the batch engine, golden records a steward
 * decided on held together. */
static mdm_status cluster_all(mdm_db *db, const mdm_engine *ctx, plan *p, int threads,
                              mdm_reresolve_stats *s, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_held, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    int nheld = PQntuples(res);
    int64_t *held = mdm_xmalloc(((size_t)nheld + 1) * sizeof *held);
    for (int i = 0; i < nheld; i++)
        held[i] = mdm_db_get_ll(res, i, "entity_id", 0);
    PQclear(res);
    s->held = nheld;
    uint32_t *group = mdm_xcalloc(p->n ? p->n : 1, sizeof *group);
    for (size_t i = 0; i < p->n; i++) {
        size_t lo = 0, hi = (size_t)nheld;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (held[mid] < p->r[i].entity)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < (size_t)nheld && held[lo] == p->r[i].entity)
            group[i] = (uint32_t)lo + 1;
    }
    free(held);

    threads = mdm_link_threads(threads);
    mdm_score_feats fs = {0};
    st = mdm_score_features_all(ctx, p->n, json_at, p->r, threads, &fs, err);
    mdm_feat *feats = fs.v;
    for (size_t i = 0; i < p->n; i++)
        feats[i].source = 0; /* every pair may match, as the service compares */
    uint32_t *cl = mdm_xmalloc((p->n ? p->n : 1) * sizeof *cl);
    mdm_edge *edges = NULL;
    size_t nedges = 0;
    mdm_link_stats ls;
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    uint64_t *tiekey = mdm_xmalloc((p->n ? p->n : 1) * sizeof *tiekey);
    const char **tsrc = mdm_xmalloc((p->n ? p->n : 1) * sizeof *tsrc);
    const char **tkey = mdm_xmalloc((p->n ? p->n : 1) * sizeof *tkey);
    for (size_t i = 0; i < p->n; i++) {
        tsrc[i] = p->r[i].source;
        tkey[i] = p->r[i].source_key;
    }
    if (st == MDM_OK)
        mdm_recluster_ranks(mdm_engine_model(ctx), p->n, feats, tsrc, tkey, tiekey);
    free(tsrc);
    free(tkey);
    /* the one clustering of the service (mdm/recluster.h) */
    mdm_link_feats_opts lo = {.group = group,
                              .link = rs->auto_link,
                              .review = rs->review,
                              .threads = threads,
                              .no_tf = true,
                              .tiekey = tiekey};
    if (st == MDM_OK)
        st = mdm_link_feats_ex(mdm_engine_model(ctx), feats, p->n, &lo, cl, &edges, &nedges, &ls,
                               err);
    free(tiekey);
    if (st == MDM_OK) {
        /* a held golden record stays whole even where a clustering guard refused to join
         * its records (a steward's match outranks a hard negative): all of them go to the
         * cluster of its oldest record (records are in id order) */
        uint32_t *home = mdm_xmalloc(((size_t)nheld + 1) * sizeof *home);
        for (int g = 0; g <= nheld; g++)
            home[g] = UINT32_MAX;
        for (size_t i = 0; i < p->n; i++) {
            uint32_t g = group[i];
            if (g && home[g] == UINT32_MAX)
                home[g] = cl[i];
            p->r[i].cluster = g ? home[g] : cl[i];
        }
        free(home);
        s->clusters = (long)ls.cluster.clusters;
    }
    free(edges);
    free(cl);
    mdm_score_feats_free(&fs);
    free(group);
    return st;
}

static mdm_status read_never(mdm_db *db, plan *p, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_never, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    p->nnever = (size_t)PQntuples(res);
    p->never = mdm_xmalloc((2 * p->nnever + 1) * sizeof *p->never);
    for (size_t i = 0; i < p->nnever; i++) {
        p->never[2 * i] = mdm_db_get_ll(res, (int)i, "record_a", 0);
        p->never[2 * i + 1] = mdm_db_get_ll(res, (int)i, "record_b", 0);
    }
    PQclear(res);
    return MDM_OK;
}

/* ---- planning ----------------------------------------------------------------------- */

/* The parts of every golden record, one unit per (golden record, cluster). */
static void make_units(plan *p)
{
    p->order = mdm_xmalloc((p->n ? p->n : 1) * sizeof *p->order);
    for (size_t i = 0; i < p->n; i++)
        p->order[i] = i;
    sort_r = p->r;
    qsort(p->order, p->n, sizeof *p->order, cmp_order);
    p->u = mdm_xmalloc((p->n ? p->n : 1) * sizeof *p->u);
    p->nu = 0;
    for (size_t i = 0; i < p->n;) {
        /* one golden record: its parts, the largest kept (ties: the oldest record) */
        int64_t e = p->r[p->order[i]].entity;
        const size_t first = p->nu;
        size_t keep = first;
        while (i < p->n && p->r[p->order[i]].entity == e) {
            uint32_t c = p->r[p->order[i]].cluster;
            unit *u = &p->u[p->nu++];
            u->cluster = c;
            u->entity = e;
            u->from = 0;
            u->lo = i;
            u->min_rid = p->r[p->order[i]].id;
            while (i < p->n && p->r[p->order[i]].entity == e && p->r[p->order[i]].cluster == c)
                i++;
            u->hi = i;
            const unit *k = &p->u[keep];
            size_t su = u->hi - u->lo, sk = k->hi - k->lo;
            if (su > sk || (su == sk && u->min_rid < k->min_rid))
                keep = (size_t)(u - p->u);
        }
        for (size_t x = first; x < p->nu; x++)
            if (x != keep) {
                p->u[x].from = e;
                p->u[x].entity = 0;
            }
    }
    qsort(p->u, p->nu, sizeof *p->u, cmp_unit);
    for (size_t x = 0; x < p->nu; x++)
        p->u[x].owner = p->u[x].from ? -1 - (int64_t)x : p->u[x].entity;
}

static bool units_never_linked(const plan *p, const unit *a, const unit *b)
{
    if (!p->nnever)
        return false;
    for (size_t i = a->lo; i < a->hi; i++)
        for (size_t j = b->lo; j < b->hi; j++)
            if (never_linked(p, p->r[p->order[i]].id, p->r[p->order[j]].id))
                return true;
    return false;
}

/* ---- applying ----------------------------------------------------------------------- */

typedef struct op_job {
    const mdm_engine *ctx;
    const char *actor;
    const char *reason;
    int64_t entity, other; /* split: entity; merge: into, from */
    const int64_t *records;
    size_t n;
    int64_t result;
} op_job;

static mdm_status split_tx(mdm_db *db, void *arg, mdm_err *err)
{
    op_job *j = arg;
    return mdm_golden_split(db, j->ctx, j->entity, j->records, j->n, j->actor, j->reason,
                            &j->result, err);
}

static mdm_status merge_tx(mdm_db *db, void *arg, mdm_err *err)
{
    op_job *j = arg;
    return mdm_golden_merge(db, j->ctx, j->entity, j->other, "auto", j->actor, j->reason, 0,
                            &j->result, err);
}

static void example(json_t *changes, json_t *op)
{
    if (changes && json_array_size(changes) < MAX_EXAMPLES)
        json_array_append(changes, op);
    json_decref(op);
}

static mdm_status run(mdm_db *db, const mdm_engine *ctx, bool dry_run, int threads,
                      const char *actor, plan *p, mdm_reresolve_stats *s, json_t *changes,
                      mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_pending, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    long pending = (long)mdm_db_get_ll(res, 0, "n", 0);
    PQclear(res);
    if (pending)
        return mdm_err_set(err, MDM_ECONFLICT,
                           "%ld records wait for resolution: run mdm resolve first", pending);
    if ((st = mdm_db_exec(db, &stmt_count_active, NULL, &res, err)) != MDM_OK)
        return st;
    s->entities = (long)mdm_db_get_ll(res, 0, "n", 0);
    PQclear(res);
    if ((st = read_records(db, p, err)) != MDM_OK || (st = read_never(db, p, err)) != MDM_OK ||
        (st = cluster_all(db, ctx, p, threads, s, err)) != MDM_OK)
        return st;
    s->records = (long)p->n;
    make_units(p);
    char reason[96];
    snprintf(reason, sizeof reason, "re-resolution under model version %d",
             mdm_engine_model_version(ctx));

    /* splits first: afterwards every golden record lies in one cluster */
    for (size_t x = 0; x < p->nu && st == MDM_OK; x++) {
        unit *u = &p->u[x];
        if (!u->from)
            continue;
        size_t n = u->hi - u->lo;
        int64_t *ids = mdm_xmalloc(n * sizeof *ids);
        json_t *rl = json_array();
        for (size_t i = 0; i < n; i++) {
            ids[i] = p->r[p->order[u->lo + i]].id;
            json_array_append_new(rl, json_integer((json_int_t)ids[i]));
        }
        if (!dry_run) {
            op_job j = {ctx, actor, reason, u->from, 0, ids, n, 0};
            st = mdm_db_run_tx(db, "reresolve_split", split_tx, &j, err);
            u->entity = j.result;
            u->owner = j.result;
        }
        s->splits++;
        s->records_moved += (long)n;
        example(changes, json_pack("{s:s, s:I, s:o, s:o}", "op", "split", "entity",
                                   (json_int_t)u->from, "new_entity",
                                   u->entity ? json_integer((json_int_t)u->entity) : json_null(),
                                   "records", rl));
        free(ids);
    }
    /* then the parts of one cluster merge into its oldest golden record */
    for (size_t x = 0; x < p->nu && st == MDM_OK;) {
        size_t y = x;
        while (y < p->nu && p->u[y].cluster == p->u[x].cluster)
            y++;
        unit *into = &p->u[x];
        for (size_t z = x + 1; z < y && st == MDM_OK; z++) {
            unit *from = &p->u[z];
            bool apart = false;
            /* never_link against every part already merged into this one */
            for (size_t w = x; w < z && !apart; w++)
                if (p->u[w].owner == into->owner && units_never_linked(p, &p->u[w], from))
                    apart = true;
            if (apart) {
                s->kept_apart++;
                continue;
            }
            json_int_t from_id = (json_int_t)from->entity, into_id = (json_int_t)into->entity;
            if (!dry_run) {
                op_job j = {ctx, actor, reason, into->entity, from->entity, NULL, 0, 0};
                st = mdm_db_run_tx(db, "reresolve_merge", merge_tx, &j, err);
                into->entity = j.result;
                into->owner = j.result;
            }
            /* the records of a kept part change golden record now; those of a split
             * part were counted when they left theirs */
            if (!from->from)
                s->records_moved += (long)(from->hi - from->lo);
            from->owner = into->owner;
            s->merges++;
            example(changes, json_pack("{s:s, s:o, s:o, s:I}", "op", "merge", "into",
                                       into_id ? json_integer(into_id) : json_null(), "from",
                                       from_id ? json_integer(from_id) : json_null(), "records",
                                       (json_int_t)(from->hi - from->lo)));
        }
        x = y;
    }
    if (st == MDM_OK && !dry_run) {
        if ((st = mdm_db_exec(db, &stmt_count_active, NULL, &res, err)) == MDM_OK) {
            s->entities_after = (long)mdm_db_get_ll(res, 0, "n", 0);
            PQclear(res);
        }
    } else {
        s->entities_after = s->entities + s->splits - s->merges;
    }
    return st;
}

mdm_status mdm_reresolve_all(mdm_db *db, const mdm_engine *ctx, bool dry_run, int threads,
                             const char *actor, mdm_reresolve_stats *stats, json_t **changes,
                             mdm_err *err)
{
    memset(stats, 0, sizeof *stats);
    if (changes)
        *changes = NULL;
    if (!mdm_engine_model(ctx))
        return mdm_err_set(err, MDM_EINVAL,
                           "re-resolution needs a trained model (model.path or mdm model "
                           "activate)");
    mdm_status st = MDM_OK;
    if (!dry_run && (st = mdm_db_exec(db, &stmt_gate, NULL, NULL, err)) != MDM_OK)
        return st;
    plan p = {0};
    json_t *ch = json_array();
    st = run(db, ctx, dry_run, threads, actor ? actor : "system", &p, stats, ch, err);
    if (!dry_run) {
        mdm_err uerr;
        if (mdm_db_exec(db, &stmt_ungate, NULL, NULL, &uerr) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=reresolve_ungate_failed error=\"%s\"", uerr.msg);
    }
    for (size_t i = 0; i < p.n; i++) {
        free(p.r[i].json);
        free(p.r[i].source);
        free(p.r[i].source_key);
    }
    free(p.r);
    free(p.order);
    free(p.u);
    free(p.never);
    if (st == MDM_OK && changes)
        *changes = ch;
    else
        json_decref(ch);
    if (st == MDM_OK)
        mdm_log(MDM_LOG_INFO,
                "event=reresolve dry_run=%d records=%ld splits=%ld merges=%ld moved=%ld "
                "kept_apart=%ld",
                dry_run, stats->records, stats->splits, stats->merges, stats->records_moved,
                stats->kept_apart);
    return st;
}
