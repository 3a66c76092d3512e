/* Incremental resolution: blocking keys under advisory locks, candidates scored through
 * mdm/score.h, decisions (link / merge / review / new entity). See resolve.h for the
 * protocol and the invariants. */
#include "mdm/resolve.h"

#include "common/log.h"
#include "common/mem.h"
#include "matching/canonical.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/locks.h"
#include "mdm/pending.h"
#include "mdm/recluster.h"
#include "mdm/review.h"
#include "mdm/score.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- statements ------------------------------------------------------------------ */

/* Everything resolution reads about the record itself, in one round trip: its canonical
 * form, its current blocking keys and entity, and the steward assertions that name it
 * (with the entity the other record is in now). */
static const mdm_db_stmt stmt_record = {
    "resolve_record",
    "SELECT sr.source, sr.source_key, sr.normalized, sr.deleted, "
    "(SELECT coalesce(json_agg(key), '[]') FROM blocking_key WHERE record_id = sr.id) AS old_keys, "
    "(SELECT entity_id FROM membership WHERE record_id = sr.id AND active) AS current, "
    "(SELECT coalesce(json_agg(json_build_object('kind', a.kind, 'entity', m.entity_id)), '[]') "
    " FROM steward_assertion a LEFT JOIN membership m ON m.active AND m.record_id = "
    " CASE WHEN a.record_a = sr.id THEN a.record_b ELSE a.record_a END "
    " WHERE a.record_a = sr.id OR a.record_b = sr.id) AS assertions "
    "FROM source_record sr WHERE sr.id = $1",
    1};

/* Waits for a bulk resolution in progress (mdm/bulk.h) and keeps the next from starting
 * until this transaction ends. */
static const mdm_db_stmt stmt_gate = {"resolve_gate",
                                      "SELECT pg_advisory_xact_lock_shared(" MDM_LOCK_BULK ")", 0};

static const mdm_db_stmt stmt_old_keys = {"resolve_old_keys",
                                          "SELECT key FROM blocking_key WHERE record_id = $1", 1};

static const mdm_db_stmt stmt_lock = {
    "resolve_lock",
    "SELECT count(pg_advisory_xact_lock(h)) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(h, o)",
    1};

static const mdm_db_stmt stmt_set_keys = {
    "resolve_set_keys",
    "WITH del AS (DELETE FROM blocking_key WHERE record_id = $1 AND NOT (key = ANY($2::bigint[]))) "
    "INSERT INTO blocking_key (key, record_id) SELECT k, $1 FROM unnest($2::bigint[]) k "
    "ON CONFLICT DO NOTHING",
    2};

/* A key held by more than $3 records is no evidence: at most $3 + 1 entries of its index
 * range are read to tell. */
static const mdm_db_stmt stmt_candidates = {
    "resolve_candidates",
    "SELECT m.entity_id, c.record_id, sr.normalized FROM "
    "(SELECT r AS record_id, count(*) AS shared FROM "
    "  (SELECT array(SELECT bk.record_id FROM blocking_key bk WHERE bk.key = k "
    "   LIMIT $3 + 1) AS ids FROM unnest($2::bigint[]) k) h, unnest(h.ids) r "
    "  WHERE cardinality(h.ids) <= $3 AND r <> $1 "
    "  GROUP BY r ORDER BY count(*) DESC, r LIMIT $4) c "
    "JOIN membership m ON m.record_id = c.record_id AND m.active "
    "JOIN source_record sr ON sr.id = c.record_id "
    "ORDER BY m.entity_id, c.record_id",
    4};

/* the version of a golden record, for a record inserted by this transaction, which no
 * load can have put on the pending list (a record that may be there leaves it with
 * mdm_pending_resolved, in the same statement) */
static const mdm_db_stmt stmt_entity_version = {
    "resolve_entity_version", "SELECT version FROM entity WHERE id = $1::bigint", 1};

static const mdm_db_stmt stmt_forget = {"resolve_forget",
                                        "DELETE FROM blocking_key WHERE record_id = $1", 1};

static const mdm_db_stmt stmt_members = {
    "resolve_members",
    "SELECT sr.id, sr.normalized FROM membership m JOIN source_record sr ON sr.id = m.record_id "
    "WHERE m.entity_id = $1 AND m.active ORDER BY sr.id LIMIT 100",
    1};

static const mdm_db_stmt stmt_never_between = {
    "resolve_never_between",
    "SELECT 1 FROM steward_assertion a "
    "JOIN membership ma ON ma.record_id = a.record_a AND ma.active "
    "JOIN membership mb ON mb.record_id = a.record_b AND mb.active "
    "WHERE a.kind = 'never_link' AND ((ma.entity_id = $1 AND mb.entity_id = $2) OR "
    "(ma.entity_id = $2 AND mb.entity_id = $1)) LIMIT 1",
    2};

/* Takes the advisory locks of key ids (sorted, unique: every process locks in the same
 * order). */
static mdm_status lock_keys(mdm_db *db, const int64_t *ids, size_t n, mdm_err *err)
{
    if (n == 0)
        return MDM_OK;
    mdm_buf arr = {0};
    mdm_db_id_array(&arr, ids, n);
    const char *p[1] = {arr.data};
    mdm_status st = mdm_db_exec(db, &stmt_lock, p, NULL, err);
    mdm_buf_free(&arr);
    return st;
}

mdm_status mdm_resolve_gate(mdm_db *db, mdm_err *err)
{
    return mdm_db_exec(db, &stmt_gate, NULL, NULL, err);
}

mdm_status mdm_resolve_forget(mdm_db *db, int64_t record_id, mdm_err *err)
{
    char rid[MDM_DB_ID_LEN];
    const char *p[1] = {mdm_db_id(rid, record_id)};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_old_keys, p, &res, err);
    if (st != MDM_OK)
        return st;
    size_t n = (size_t)PQntuples(res);
    int64_t *ids = mdm_xcalloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = mdm_db_get_ll(res, (int)i, "key", 0);
    PQclear(res);
    st = lock_keys(db, ids, mdm_score_sort_ids(ids, n), err);
    free(ids);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_forget, p, NULL, err);
    if (st == MDM_OK)
        st = mdm_review_supersede_record(db, record_id, err);
    return st;
}

/* ---- candidates ------------------------------------------------------------------ */

/* The scored candidate rows, kept so that the explanation of a candidate (costly: JSON
 * field by field) is built only when a decision uses it (cand_expl). */
typedef struct cand_rows {
    mdm_arena *ar;
    mdm_score_rec self;
    json_t **others;
    mdm_score_rec *ops;
    int n;
} cand_rows;

typedef struct cand {
    int64_t entity_id;
    double p, w;
    json_t *expl;
    int conflict, never, always;
    const cand_rows *rows; /* with row: where expl comes from while it is NULL */
    int row;
} cand;

typedef struct cand_set {
    cand *v;
    size_t n, cap;
    cand_rows *rows;
} cand_set;

static void cand_rows_free(cand_rows *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        if (r->others[i])
            mdm_score_unprepare(&r->ops[i]);
        json_decref(r->others[i]);
    }
    mdm_score_unprepare(&r->self);
    free(r->others);
    free(r->ops);
    mdm_arena_free(r->ar);
    free(r);
}

/* c's explanation (of its best row), built on first use; NULL when it has none. */
static const json_t *cand_expl(const mdm_engine *ctx, cand *c)
{
    if (!c->expl && c->rows) {
        double prob;
        int conflict;
        mdm_score_prepared(ctx, &c->rows->self, &c->rows->ops[c->row], &prob, &c->expl, &conflict);
        c->rows = NULL;
    }
    return c->expl;
}

static cand *cand_get(cand_set *s, int64_t entity_id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].entity_id == entity_id)
            return &s->v[i];
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = mdm_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    cand *c = &s->v[s->n++];
    memset(c, 0, sizeof *c);
    c->entity_id = entity_id;
    c->p = -1;
    c->w = -1e9;
    return c;
}

static void cand_free(cand_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->v[i].expl);
    free(s->v);
    cand_rows_free(s->rows);
}

/* Best first: forced, then probability, then the older entity. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->always != y->always)
        return y->always - x->always;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return (x->entity_id > y->entity_id) - (x->entity_id < y->entity_id);
}

/* The candidate query of the key ids karr (an array literal, borrowed) as a pipelined
 * call; its parameter texts live in q, which must stay where it is until the call has
 * run. */
typedef struct cand_query {
    char rid[32], cap[16], lim[16];
    const char *p[4];
} cand_query;

static void cand_query_set(cand_query *q, const mdm_engine *ctx, const char *karr, int64_t self,
                           mdm_db_call *call)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    snprintf(q->rid, sizeof q->rid, "%lld", (long long)self);
    snprintf(q->cap, sizeof q->cap, "%d", rs->key_cap);
    snprintf(q->lim, sizeof q->lim, "%d", rs->max_candidates);
    q->p[0] = q->rid;
    q->p[1] = karr;
    q->p[2] = q->cap;
    q->p[3] = q->lim;
    *call = (mdm_db_call){.stmt = &stmt_candidates, .params = q->p};
}

/* Scores the candidate rows of res (stmt_candidates for canon) into s. */
static void score_candidates(const mdm_engine *ctx, const json_t *canon, const PGresult *res,
                             cand_set *s)
{
    int n = PQntuples(res);
    if (n == 0)
        return;
    if (s->rows) { /* rows of an earlier call: their explanations now */
        for (size_t k = 0; k < s->n; k++)
            cand_expl(ctx, &s->v[k]);
        cand_rows_free(s->rows);
    }
    mdm_err err = {0};
    mdm_norm *norm = mdm_engine_model(ctx) ? mdm_engine_norm_acquire(&err) : NULL;
    cand_rows *r = mdm_xcalloc(1, sizeof *r);
    s->rows = r;
    r->ar = mdm_arena_new(16384);
    r->n = n;
    mdm_score_prepare(ctx, norm, r->ar, canon, &r->self);
    r->others = mdm_xcalloc((size_t)n, sizeof(json_t *));
    r->ops = mdm_xcalloc((size_t)n, sizeof *r->ops);
    for (int i = 0; i < n; i++) {
        r->others[i] = json_loads(mdm_db_get(res, i, "normalized", "{}"), 0, NULL);
        if (r->others[i])
            mdm_score_prepare(ctx, norm, r->ar, r->others[i], &r->ops[i]);
    }
    mdm_engine_norm_release(norm);
    mdm_score_drop_shared(ctx, &r->self, r->ops, (size_t)n);
    for (int i = 0; i < n; i++) {
        if (!r->others[i])
            continue;
        int64_t eid = mdm_db_get_ll(res, i, "entity_id", 0);
        double prob;
        int conflict;
        double w = mdm_score_prepared(ctx, &r->self, &r->ops[i], &prob, NULL, &conflict);
        cand *c = cand_get(s, eid);
        c->conflict |= conflict;
        if (w > c->w) {
            c->w = w;
            c->p = prob;
            json_decref(c->expl);
            c->expl = NULL;
            c->rows = r;
            c->row = i;
        }
    }
}

/* Scores the candidates of canon (key ids given) into s. */
static mdm_status gather(mdm_db *db, const mdm_engine *ctx, const json_t *canon,
                         const int64_t *kids, size_t nk, int64_t self, cand_set *s, mdm_err *err)
{
    mdm_buf karr = {0};
    mdm_db_id_array(&karr, kids, nk);
    cand_query q;
    mdm_db_call call;
    cand_query_set(&q, ctx, karr.data, self, &call);
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, call.stmt, call.params, &res, err);
    mdm_buf_free(&karr);
    if (st != MDM_OK)
        return st;
    score_candidates(ctx, canon, res, s);
    PQclear(res);
    return MDM_OK;
}

/* Entity-to-entity evidence: the best member pair and whether any pair conflicts or a
 * never_link assertion separates them. */
static mdm_status entity_evidence(mdm_db *db, const mdm_engine *ctx, int64_t a, int64_t b,
                                  double *best_p, int *blocked, mdm_err *err)
{
    *best_p = 0;
    *blocked = 0;
    char sa[32], sb[32];
    mdm_db_id(sa, a);
    mdm_db_id(sb, b);
    PGresult *ra = NULL, *rb = NULL, *rn = NULL;
    const char *pa[1] = {sa}, *pb[1] = {sb}, *pn[2] = {sa, sb};
    mdm_status st = mdm_db_exec(db, &stmt_never_between, pn, &rn, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(rn) > 0)
        *blocked = 1;
    PQclear(rn);
    if ((st = mdm_db_exec(db, &stmt_members, pa, &ra, err)) != MDM_OK)
        return st;
    if ((st = mdm_db_exec(db, &stmt_members, pb, &rb, err)) != MDM_OK) {
        PQclear(ra);
        return st;
    }
    int na = PQntuples(ra), nb = PQntuples(rb);
    mdm_norm *norm = mdm_engine_model(ctx) ? mdm_engine_norm_acquire(err) : NULL;
    mdm_arena *ar = mdm_arena_new(16384);
    json_t **jb = mdm_xcalloc((size_t)nb + 1, sizeof(json_t *));
    mdm_score_rec *pbs = mdm_xcalloc((size_t)nb + 1, sizeof *pbs);
    for (int j = 0; j < nb; j++) {
        jb[j] = json_loads(mdm_db_get(rb, j, "normalized", "{}"), 0, NULL);
        if (jb[j])
            mdm_score_prepare(ctx, norm, ar, jb[j], &pbs[j]);
    }
    for (int i = 0; i < na; i++) {
        json_t *x = json_loads(mdm_db_get(ra, i, "normalized", "{}"), 0, NULL);
        if (!x)
            continue;
        mdm_score_rec px;
        mdm_score_prepare(ctx, norm, ar, x, &px);
        for (int j = 0; j < nb; j++) {
            if (!jb[j])
                continue;
            double p;
            int conflict;
            mdm_score_prepared(ctx, &px, &pbs[j], &p, NULL, &conflict);
            if (conflict)
                *blocked = 1;
            if (p > *best_p)
                *best_p = p;
        }
        mdm_score_unprepare(&px);
        json_decref(x);
    }
    for (int j = 0; j < nb; j++) {
        mdm_score_unprepare(&pbs[j]);
        json_decref(jb[j]);
    }
    free(pbs);
    free(jb);
    mdm_arena_free(ar);
    mdm_engine_norm_release(norm);
    PQclear(ra);
    PQclear(rb);
    return MDM_OK;
}

static mdm_status add_review(mdm_db *db, const char *kind, int64_t record_id, int64_t entity_id,
                             int64_t other, const cand *c, int64_t *id, mdm_err *err)
{
    char *ex = c->expl ? json_dumps(c->expl, JSON_COMPACT) : NULL;
    mdm_status st =
        mdm_review_create(db, kind, record_id, entity_id, other, c->w, c->p, ex, id, err);
    free(ex);
    return st;
}

/* Tries to merge entity `other` into the group of `*target` (bridge). Merges when the
 * entity-level evidence passes or the merge is forced; else queues a review item. */
static mdm_status bridge(mdm_db *db, const mdm_engine *ctx, int64_t *target, cand *other,
                         const char *actor, mdm_ingest_result *out, mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    if (other->entity_id == *target)
        return MDM_OK;
    double ep = 0;
    int blocked = 0;
    mdm_status st = entity_evidence(db, ctx, *target, other->entity_id, &ep, &blocked, err);
    if (st != MDM_OK)
        return st;
    if (other->always || (!blocked && ep >= rs->review)) {
        int64_t survivor = 0;
        char reason[96];
        snprintf(reason, sizeof reason, "bridged by record %lld (entity evidence %.3f)",
                 (long long)out->record_id, ep);
        st = mdm_golden_merge(db, ctx, *target, other->entity_id, "auto", actor, reason, other->p,
                              &survivor, err);
        if (st == MDM_ECONFLICT) /* already one entity (a concurrent merge) */
            return mdm_golden_lock(db, target, err);
        if (st != MDM_OK)
            return st;
        *target = survivor;
        out->decision = MDM_DECISION_MERGED;
        return MDM_OK;
    }
    cand_expl(ctx, other);
    cand ec = *other;
    ec.p = ep;
    return add_review(db, "entity_entity", 0, *target, other->entity_id, &ec, &out->review_id, err);
}

/* Resolves the record by reclustering its neighbourhood (mdm/recluster.h): the golden
 * records of its candidates at or above review and its current one. *done false: not
 * reclustered, nothing written (nothing around the record: a new golden record is the
 * answer the record-by-record decision gives too). */
static mdm_status recluster(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                            const json_t *canon, const char *source, const char *source_key,
                            int64_t current, cand_set *cs, const char *actor,
                            mdm_ingest_result *out, bool *done, mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    *done = false;
    int64_t *ents = mdm_xmalloc((cs->n + 1) * sizeof *ents);
    size_t ne = 0;
    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].entity_id != current && cs->v[i].p >= rs->review)
            ents[ne++] = cs->v[i].entity_id;
    mdm_status st = MDM_OK;
    if (current && (st = mdm_review_supersede_record(db, record_id, err)) != MDM_OK) {
        free(ents);
        return st;
    }
    mdm_recluster_result rr;
    st = mdm_recluster_record(db, ctx, record_id, canon, source, source_key, current, ents, ne,
                              actor, &rr, err);
    free(ents);
    if (st == MDM_OK && rr.done && current) {
        /* the changed record's values: its golden record recomputed, as below */
        int64_t target = rr.entity_id;
        int changed = 0;
        if ((st = mdm_golden_lock(db, &target, err)) == MDM_OK)
            st = mdm_golden_recompute(db, ctx, target, NULL, "source update", &changed, err);
        rr.entity_id = target;
    }
    if (st == MDM_OK && rr.done) {
        *done = true;
        out->entity_id = rr.entity_id;
        if (current)
            out->decision = rr.merges ? MDM_DECISION_MERGED : MDM_DECISION_UPDATED;
        else if (rr.merges)
            out->decision = MDM_DECISION_MERGED;
        else if (rr.linked)
            out->decision = MDM_DECISION_LINKED;
        else
            out->decision = MDM_DECISION_CREATED;
        if (rr.nbridge) {
            /* it cannot tell apart the golden records it matches: review items about
             * both name the guard "bridge" */
            for (int k = 0; k < rr.nbridge && st == MDM_OK; k++) {
                cand bc = {.entity_id = rr.bridge_entity[k],
                           .p = rr.bridge_p[k],
                           .w = rr.bridge_w[k],
                           .expl = rr.bridge_expl[k] ? rr.bridge_expl[k] : json_object()};
                rr.bridge_expl[k] = bc.expl;
                if (json_is_object(bc.expl))
                    json_object_set_new(bc.expl, "guard", json_string("bridge"));
                int64_t item = 0;
                st = add_review(db, "record_entity", record_id, bc.entity_id, 0, &bc, &item, err);
                if (!out->review_id)
                    out->review_id = item;
            }
            out->decision = MDM_DECISION_REVIEW;
        } else if (!current && rr.created && rr.review_entity) {
            /* a new golden record with a possible match: a review item about it */
            cand rc = {.entity_id = rr.review_entity,
                       .p = rr.review_p,
                       .w = rr.review_w,
                       .expl = rr.review_expl};
            st = add_review(db, "record_entity", record_id, rr.review_entity, 0, &rc,
                            &out->review_id, err);
            out->decision = MDM_DECISION_REVIEW;
        }
    }
    json_decref(rr.review_expl);
    json_decref(rr.link_expl);
    for (int k = 0; k < 2; k++)
        json_decref(rr.bridge_expl[k]);
    return st;
}

/* What resolution reads about the record before it decides (stmt_record, or known to
 * the caller that has just inserted it); owned. */
typedef struct record_facts {
    json_t *canon;
    char *source, *source_key;
    json_t *old_keys, *assertions;
    int64_t current;
    bool inserted; /* by this transaction: not on record_pending */
} record_facts;

static mdm_status resolve_facts(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                record_facts *f, const char *actor, mdm_ingest_result *out,
                                mdm_err *err);

void mdm_resolve_record_call(int64_t record_id, mdm_db_call *call)
{
    mdm_db_call_id(call, &stmt_record, record_id);
}

mdm_status mdm_resolve_record_read(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                   const PGresult *res, const char *actor, mdm_ingest_result *out,
                                   mdm_err *err)
{
    out->record_id = record_id;
    if (PQntuples(res) != 1)
        return mdm_err_set(err, MDM_ENOTFOUND, "no source record %lld", (long long)record_id);
    record_facts f = {
        json_loads(mdm_db_get(res, 0, "normalized", "{}"), 0, NULL),
        mdm_xstrdup(mdm_db_get(res, 0, "source", "")),
        mdm_xstrdup(mdm_db_get(res, 0, "source_key", "")),
        json_loads(mdm_db_get(res, 0, "old_keys", "[]"), 0, NULL),
        json_loads(mdm_db_get(res, 0, "assertions", "[]"), 0, NULL),
        mdm_db_get_ll(res, 0, "current", 0),
        false,
    };
    return resolve_facts(db, ctx, record_id, &f, actor, out, err);
}

mdm_status mdm_resolve_record(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                              const char *actor, mdm_ingest_result *out, mdm_err *err)
{
    mdm_db_call call;
    mdm_resolve_record_call(record_id, &call);
    out->record_id = record_id;
    mdm_status st = mdm_db_exec(db, call.stmt, call.params, &call.res, err);
    if (st != MDM_OK)
        return st;
    st = mdm_resolve_record_read(db, ctx, record_id, call.res, actor, out, err);
    PQclear(call.res);
    return st;
}

mdm_status mdm_resolve_new_record(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                  const json_t *canonical, const char *source,
                                  const char *source_key, const char *actor, mdm_ingest_result *out,
                                  mdm_err *err)
{
    out->record_id = record_id;
    record_facts f = {json_incref((json_t *)canonical),
                      mdm_xstrdup(source),
                      mdm_xstrdup(source_key),
                      json_array(),
                      json_array(),
                      0,
                      true};
    return resolve_facts(db, ctx, record_id, &f, actor, out, err);
}

/* Resolves the record of f (consumed). */
static mdm_status resolve_facts(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                record_facts *f, const char *actor, mdm_ingest_result *out,
                                mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    char rid[MDM_DB_ID_LEN];
    mdm_db_id(rid, record_id);
    json_t *canon = f->canon;
    int64_t *kids = NULL, *lockset = NULL;
    size_t nk = 0;
    char *source = f->source, *source_key = f->source_key;
    json_t *old_keys = f->old_keys, *assertions = f->assertions;
    int64_t current = f->current;
    bool inserted = f->inserted;
    cand_set cs = {0};
    mdm_status st = MDM_OK;
    if (!canon) {
        st = mdm_err_set(err, MDM_EINTERNAL, "source record %lld: bad normalized JSON",
                         (long long)record_id);
        goto out_free_ctx;
    }
    /* One round trip: the keys' locks (new and old keys, sorted), the record's keys
     * replaced, the candidates sharing them; the server runs them in this order. */
    json_t *keys = mdm_score_keys(ctx, canon);
    kids = mdm_score_key_ids(keys, &nk);
    json_decref(keys);
    size_t nold = json_array_size(old_keys), nlock = nk;
    lockset = mdm_xcalloc(nk + nold + 1, sizeof *lockset);
    memcpy(lockset, kids, nk * sizeof *kids);
    for (size_t i = 0; i < nold; i++)
        lockset[nlock++] = (int64_t)json_integer_value(json_array_get(old_keys, i));
    nlock = mdm_score_sort_ids(lockset, nlock);
    mdm_buf larr = {0}, karr = {0};
    if (nlock)
        mdm_db_id_array(&larr, lockset, nlock);
    mdm_db_id_array(&karr, kids, nk);
    const char *pl[1] = {larr.data}, *pk[2] = {rid, karr.data};
    mdm_db_call calls[3];
    size_t nc = 0;
    if (nlock)
        calls[nc++] = (mdm_db_call){.stmt = &stmt_lock, .params = pl};
    calls[nc++] = (mdm_db_call){.stmt = &stmt_set_keys, .params = pk};
    cand_query q;
    cand_query_set(&q, ctx, karr.data, record_id, &calls[nc++]);
    st = mdm_db_exec_pipeline(db, calls, nc, err);
    mdm_buf_free(&larr);
    mdm_buf_free(&karr);
    if (st != MDM_OK)
        goto out_free_ctx;
    score_candidates(ctx, canon, calls[nc - 1].res, &cs);
    for (size_t i = 0; i < nc; i++)
        PQclear(calls[i].res);

    /* steward assertions */
    size_t ai;
    json_t *a;
    json_array_foreach(assertions, ai, a)
    {
        int64_t eid = (int64_t)json_integer_value(json_object_get(a, "entity"));
        if (!eid)
            continue;
        cand *c = cand_get(&cs, eid);
        if (!strcmp(json_string_value(json_object_get(a, "kind")), "never_link"))
            c->never = 1;
        else {
            c->always = 1;
            if (c->p < 0)
                c->p = 1, c->w = 0;
        }
    }
out_free_ctx:;
    bool asserted = json_array_size(assertions) > 0;
    json_decref(old_keys);
    json_decref(assertions);
    if (st != MDM_OK)
        goto out_free;

    if (cs.n)
        qsort(cs.v, cs.n, sizeof *cs.v, cand_cmp);
    for (size_t i = 0; i < cs.n; i++)
        if (cs.v[i].entity_id != current && cs.v[i].p > out->probability)
            out->probability = cs.v[i].p;
    const char *actor_s = actor ? actor : "system";

    /* The one clustering (mdm/recluster.h): the record's neighbourhood clustered as the
     * bulk path clusters. A record a steward has judged, and a neighbourhood too large or
     * holding such records, are decided below, record by record. */
    bool reclustered = false;
    if (!asserted && mdm_engine_model(ctx)) {
        if ((st = recluster(db, ctx, record_id, canon, source, source_key, current, &cs, actor_s,
                            out, &reclustered, err)) != MDM_OK)
            goto out_free;
    }
    if (reclustered) {
        /* decided */
    } else if (current) {
        /* an update of a linked record: it stays; it may now bridge to other entities */
        if ((st = mdm_review_supersede_record(db, record_id, err)) != MDM_OK)
            goto out_free;
        out->decision = MDM_DECISION_UPDATED;
        int64_t target = current;
        if ((st = mdm_golden_lock(db, &target, err)) != MDM_OK)
            goto out_free;
        for (size_t i = 0; i < cs.n; i++) {
            cand *c = &cs.v[i];
            if (c->entity_id == current || c->never)
                continue;
            if (c->always || (c->p >= rs->auto_link && !c->conflict))
                if ((st = bridge(db, ctx, &target, c, actor_s, out, err)) != MDM_OK)
                    goto out_free;
        }
        int changed = 0;
        if ((st = mdm_golden_recompute(db, ctx, target, NULL, "source update", &changed, err)) !=
            MDM_OK)
            goto out_free;
        out->entity_id = target;
    } else {
        cand *best = NULL;
        size_t bi = 0;
        for (size_t i = 0; i < cs.n; i++) {
            cand *c = &cs.v[i];
            if (!c->never && (c->always || (c->p >= rs->auto_link && !c->conflict))) {
                best = c;
                bi = i;
                break;
            }
        }
        if (!best) {
            /* new entity; a possible match goes to review, not a pair the rules tell
             * apart (a hard negative, a veto, a strong id that differs, two people of
             * one household): as the one clustering asks (mdm_edge.apart), whether its
             * probability is over the link threshold or in the review band */
            cand *rv = NULL;
            for (size_t i = 0; i < cs.n; i++)
                if (!cs.v[i].never && !cs.v[i].conflict && cs.v[i].p >= rs->review) {
                    rv = &cs.v[i];
                    break;
                }
            int64_t eid = 0;
            if ((st = mdm_golden_create(db, ctx, record_id, "auto", actor_s, rv ? rv->p : 0,
                                        rv ? "review" : "no_match", &eid, err)) != MDM_OK)
                goto out_free;
            out->entity_id = eid;
            out->decision = MDM_DECISION_CREATED;
            if (rv) {
                cand_expl(ctx, rv);
                if ((st = add_review(db, "record_entity", record_id, rv->entity_id, 0, rv,
                                     &out->review_id, err)) != MDM_OK)
                    goto out_free;
                out->decision = MDM_DECISION_REVIEW;
            }
        }
        /* A record that matches two golden records the guards keep apart (a hard negative
         * or a strong id between their members, a never-link assertion) cannot tell
         * them apart: it would join one at random. It becomes a golden record of its
         * own, and review items about both name the guard "bridge". */
        cand *apart = NULL;
        for (size_t i = bi + 1; best && !best->always && i < cs.n; i++) {
            cand *c = &cs.v[i];
            if (c->never || c->always || c->conflict || c->p < rs->auto_link)
                continue;
            double ep = 0;
            int blocked = 0;
            if ((st = entity_evidence(db, ctx, best->entity_id, c->entity_id, &ep, &blocked,
                                      err)) != MDM_OK)
                goto out_free;
            if (blocked) {
                apart = c;
                break;
            }
        }
        if (apart) {
            int64_t eid = 0;
            if ((st = mdm_golden_create(db, ctx, record_id, "auto", actor_s, best->p, "review",
                                        &eid, err)) != MDM_OK)
                goto out_free;
            out->entity_id = eid;
            out->decision = MDM_DECISION_REVIEW;
            cand *both[2] = {best, apart};
            for (int k = 0; k < 2; k++) {
                cand_expl(ctx, both[k]);
                if (!both[k]->expl)
                    both[k]->expl = json_object();
                if (json_is_object(both[k]->expl))
                    json_object_set_new(both[k]->expl, "guard", json_string("bridge"));
                int64_t item = 0;
                if ((st = add_review(db, "record_entity", record_id, both[k]->entity_id, 0, both[k],
                                     &item, err)) != MDM_OK)
                    goto out_free;
                if (!out->review_id)
                    out->review_id = item;
            }
        } else if (best) {
            int64_t target = best->entity_id;
            char rule[64];
            snprintf(rule, sizeof rule, best->always ? "always_link" : "auto_link p>=%.2f",
                     rs->auto_link);
            const json_t *ex = cand_expl(ctx, best);
            json_t *details = ex ? json_pack("{s:O}", "explanation", ex) : NULL;
            st = mdm_golden_link(db, ctx, record_id, &target, "auto", actor_s, best->p, rule,
                                 details, err);
            json_decref(details);
            if (st != MDM_OK)
                goto out_free;
            out->decision = MDM_DECISION_LINKED;
            for (size_t i = bi + 1; i < cs.n; i++) {
                cand *c = &cs.v[i];
                if (c->never || !(c->always || (c->p >= rs->auto_link && !c->conflict)))
                    continue;
                if ((st = bridge(db, ctx, &target, c, actor_s, out, err)) != MDM_OK)
                    goto out_free;
            }
            out->entity_id = target;
        }
    }
    if (inserted) {
        char eid[MDM_DB_ID_LEN];
        const char *pe[1] = {mdm_db_id(eid, out->entity_id)};
        PGresult *vr = NULL;
        st = mdm_db_exec(db, &stmt_entity_version, pe, &vr, err);
        if (st == MDM_OK) {
            out->entity_version = (int)mdm_db_get_ll(vr, 0, "version", 0);
            PQclear(vr);
        }
    } else { /* off the pending list if a bulk load put it there */
        st = mdm_pending_resolved(db, record_id, out->entity_id, &out->entity_version, err);
    }
    /* the record's consent events, once its membership is settled (idempotent) */
    if (st == MDM_OK && json_array_size(json_object_get(canon, "consents")))
        st = mdm_consent_ingest(db, record_id, source, source_key,
                                json_object_get(canon, "consents"), err);
out_free:
    free(source);
    free(source_key);
    cand_free(&cs);
    json_decref(canon);
    free(kids);
    free(lockset);
    return st;
}

mdm_status mdm_resolve_candidates(mdm_db *db, const mdm_engine *ctx, const json_t *canonical,
                                  int64_t self_record_id, int limit, json_t **out, mdm_err *err)
{
    *out = NULL;
    json_t *keys = mdm_score_keys(ctx, canonical);
    size_t nk = 0;
    int64_t *kids = mdm_score_key_ids(keys, &nk);
    json_decref(keys);
    cand_set cs = {0};
    mdm_status st = gather(db, ctx, canonical, kids, nk, self_record_id, &cs, err);
    free(kids);
    if (st != MDM_OK) {
        cand_free(&cs);
        return st;
    }
    if (cs.n)
        qsort(cs.v, cs.n, sizeof *cs.v, cand_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < cs.n && (int)i < (limit > 0 ? limit : 10); i++) {
        cand *c = &cs.v[i];
        const json_t *ex = cand_expl(ctx, c);
        json_array_append_new(arr, json_pack("{s:I, s:f, s:f, s:O, s:b}", "entity_id",
                                             (json_int_t)c->entity_id, "probability", c->p, "score",
                                             c->w, "explanation", ex ? ex : json_null(),
                                             "strong_conflict", c->conflict));
    }
    cand_free(&cs);
    *out = arr;
    return MDM_OK;
}

/* ---- bulk resolution (mdm/bulk.c) -------------------------------------------------- */

/* the records hold no keys after the first statement, and a record's key ids are unique:
 * a plain insert, without the speculative insertion of ON CONFLICT */
static const mdm_db_stmt stmt_keys_staged[] = {
    {"resolve_staged_old_keys", "DELETE FROM blocking_key WHERE record_id = ANY($1::bigint[])", 1},
    {"resolve_staged_keys",
     "INSERT INTO blocking_key (key, record_id) SELECT key, record_id FROM bulk_key", 0},
};

mdm_status mdm_resolve_keys_staged(mdm_db *db, const char *records, mdm_err *err)
{
    const char *params[] = {records};
    return mdm_db_exec_each(db, stmt_keys_staged,
                            sizeof stmt_keys_staged / sizeof stmt_keys_staged[0], params, err);
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_resolve_erase = {
    "subject_erase_blocking", "DELETE FROM blocking_key WHERE record_id = ANY($1::bigint[])", 1};

mdm_status mdm_resolve_erase(mdm_db *db, const char *records, mdm_err *err)
{
    const char *params[] = {records};
    return mdm_db_exec(db, &stmt_resolve_erase, params, NULL, err);
}
