/* Bulk resolution of pending records: read, match in memory with the batch engine, write
 * set-based in chunks. See bulk.h for the protocol. */
#include "mdm/bulk.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "matching/block.h"
#include "matching/link.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/locks.h"
#include "mdm/outbox.h"
#include "mdm/pending.h"
#include "mdm/recluster.h"
#include "mdm/resolve.h"
#include "mdm/review.h"
#include "mdm/score.h"
#include "mdm/survive.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_PAGE  20000 /* records per read round trip */
#define MAX_KEYS   128
#define BULK_ACTOR "resolve"

/* clang-format off */
static const mdm_db_stmt stmt_gate = {
    "bulk_gate", "SELECT pg_advisory_lock(" MDM_LOCK_BULK ")", 0};
static const mdm_db_stmt stmt_ungate = {
    "bulk_ungate", "SELECT pg_advisory_unlock(" MDM_LOCK_BULK ")", 0};
static const mdm_db_stmt stmt_sources = {
    "bulk_sources", "SELECT code, trust::text AS trust FROM source_system ORDER BY code", 0};
static const mdm_db_stmt stmt_pending = {
    "bulk_pending",
    "SELECT sr.id, sr.source, sr.source_key, sr.normalized::text AS normalized, "
    MDM_GOLDEN_CHANGE_TIME " AS upd FROM record_pending p JOIN source_record sr ON sr.id = p.record_id "
    "WHERE p.record_id > $1 AND NOT sr.deleted "
    "AND NOT EXISTS (SELECT 1 FROM membership m WHERE m.record_id = sr.id AND m.active) "
    "AND NOT EXISTS (SELECT 1 FROM steward_assertion a WHERE a.record_a = sr.id "
    "  OR a.record_b = sr.id) "
    "ORDER BY p.record_id LIMIT $2",
    2};
static const mdm_db_stmt stmt_any_keys = {
    "bulk_any_keys", "SELECT EXISTS (SELECT 1 FROM blocking_key) AS any", 0};
static const mdm_db_stmt stmt_settled = {
    "bulk_settled",
    "SELECT sr.id, m.entity_id, sr.source, sr.source_key, sr.normalized::text AS normalized, "
    MDM_GOLDEN_CHANGE_TIME " AS upd FROM "
    "(SELECT DISTINCT r AS record_id FROM "
    "  (SELECT array(SELECT bk.record_id FROM blocking_key bk WHERE bk.key = t.key "
    "   LIMIT $1 + 1) AS ids FROM bulk_keys t) h, unnest(h.ids) r "
    "  WHERE cardinality(h.ids) <= $1) c "
    "JOIN membership m ON m.record_id = c.record_id AND m.active "
    "JOIN source_record sr ON sr.id = c.record_id "
    "ORDER BY m.entity_id, sr.id",
    1};
static const mdm_db_stmt stmt_new_ids = {
    "bulk_new_ids",
    "SELECT nextval(pg_get_serial_sequence('entity', 'id')) AS id "
    "FROM generate_series(1, $1) ORDER BY 1",
    1};
/* clang-format on */

static const char *const temp_tables =
    "CREATE TEMP TABLE IF NOT EXISTS bulk_keys (key bigint) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS bulk_entity (id bigint, golden text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS bulk_member (record_id bigint, entity_id bigint, "
    " action text, probability float8, rule text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS bulk_value (entity_id bigint, attr text, value text, "
    " source_record_id bigint, rule text, sources text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS bulk_key (record_id bigint, key bigint) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS bulk_review (record_id bigint, entity_id bigint, "
    " score float8, probability float8, explanation text) ON COMMIT DELETE ROWS;";

/* ---- records ---------------------------------------------------------------------- */

typedef struct brec {
    int64_t id;
    int64_t entity; /* settled: its golden record; pending: 0 */
    uint32_t src;   /* index in bulk.src */
    size_t off;     /* in bulk.blob: source_key \0 normalized \0 change time \0 */
    int64_t *keys;  /* pending: blocking key ids, unique (thread arena) */
    uint32_t nkeys; /* how many */
    float best;     /* pending: best probability to a member of its cluster */
    bool skipped;   /* its settled golden record went away: left to incremental */
    bool consents;  /* pending: its canonical record carries consent events */
} brec;

typedef struct bsrc {
    char *code;
    json_t *trust;
} bsrc;

typedef struct review_pair {
    uint32_t ca, cb; /* clusters, ca < cb */
    uint32_t rec;    /* the pending record the item is about */
    uint32_t other;  /* a record of the other side */
    float w, p;
    bool bridge; /* the record is a bridge: it links to both sides' clusters (guard "bridge") */
} review_pair;

typedef struct bulk {
    mdm_db *db;
    const mdm_engine *ctx;
    const mdm_model *m;
    const mdm_resolve_settings *rs;
    int threads;
    size_t chunk; /* records per write transaction */
    FILE *progress;
    bsrc *src;
    size_t nsrc;
    brec *r;
    size_t n, cap, npending;
    mdm_buf blob;
    mdm_feat *feats;
    mdm_arena **arenas; /* per thread: feature and key strings */
    size_t feat_from;   /* build_features: first record */
    int failed;         /* a thread could not get a normalizer */
    /* plan */
    uint32_t *cl; /* cluster per record */
    size_t ncl;
    int64_t *cl_entity; /* settled golden record of the cluster, 0 none, -1 several */
    int64_t *cl_new;    /* new golden record id of the cluster */
    int *cl_chunk;      /* write chunk of the cluster, -1 none */
    uint32_t *order;    /* pending records of written clusters, by cluster then id */
    size_t norder;
    review_pair *rv;
    size_t nrv;
    long planned_deferred; /* records of clusters holding several golden records */
    mdm_bulk_stats *st;
} bulk;

static const char *field(const bulk *b, const brec *r, int k)
{
    const char *p = b->blob.data + r->off;
    for (int i = 0; i < k; i++)
        p += strlen(p) + 1;
    return p;
}
#define SOURCE_KEY(b, r) field((b), (r), 0)
#define NORMALIZED(b, r) field((b), (r), 1)
#define CHANGED_AT(b, r) field((b), (r), 2)

static uint32_t source_index(bulk *b, const char *code)
{
    for (size_t i = 0; i < b->nsrc; i++)
        if (!strcmp(b->src[i].code, code))
            return (uint32_t)i;
    /* a source gone from source_system still has records: no trust */
    b->src = mdm_xrealloc(b->src, (b->nsrc + 1) * sizeof *b->src);
    b->src[b->nsrc] = (bsrc){mdm_xstrdup(code), NULL};
    return (uint32_t)b->nsrc++;
}

/* Appends the rows of res (id, [entity_id], source, source_key, normalized, upd). */
static void add_rows(bulk *b, const PGresult *res)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 65536;
            b->r = mdm_xrealloc(b->r, b->cap * sizeof *b->r);
        }
        brec *r = &b->r[b->n++];
        memset(r, 0, sizeof *r);
        r->id = mdm_db_get_ll(res, i, "id", 0);
        r->entity = mdm_db_get_ll(res, i, "entity_id", 0);
        r->src = source_index(b, mdm_db_get(res, i, "source", ""));
        r->off = b->blob.len;
        mdm_buf_append(&b->blob, mdm_db_get(res, i, "source_key", ""),
                       strlen(mdm_db_get(res, i, "source_key", "")) + 1);
        const char *norm = mdm_db_get(res, i, "normalized", "{}");
        mdm_buf_append(&b->blob, norm, strlen(norm) + 1);
        const char *upd = mdm_db_get(res, i, "upd", "");
        mdm_buf_append(&b->blob, upd, strlen(upd) + 1);
    }
}

static mdm_status read_sources(bulk *b, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(b->db, &stmt_sources, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    for (int i = 0; i < PQntuples(res); i++) {
        uint32_t s = source_index(b, mdm_db_get(res, i, "code", ""));
        b->src[s].trust = json_loads(mdm_db_get(res, i, "trust", "null"), 0, NULL);
    }
    PQclear(res);
    return MDM_OK;
}

static mdm_status add_page(void *arg, PGresult *page, mdm_err *err)
{
    (void)err;
    add_rows(arg, page);
    return MDM_OK;
}

static mdm_status read_pending(bulk *b, mdm_err *err)
{
    mdm_status st = mdm_db_exec_paged(b->db, &stmt_pending, READ_PAGE, add_page, b, err);
    b->npending = b->n;
    return st;
}

/* ---- features --------------------------------------------------------------------- */

static void feat_worker(void *arg, int t, size_t lo, size_t hi)
{
    bulk *b = arg;
    mdm_err err = {0};
    mdm_norm *norm = mdm_engine_norm_acquire(&err);
    if (!norm) {
        b->failed = 1;
        return;
    }
    mdm_arena *a = b->arenas[t];
    for (size_t i = lo + b->feat_from; i < hi + b->feat_from; i++) {
        brec *r = &b->r[i];
        memset(&b->feats[i], 0, sizeof b->feats[i]);
        bool consents = false;
        (void)mdm_score_features_text(b->ctx, norm, a, NORMALIZED(b, r), mdm_score_phone_key, NULL,
                                      &b->feats[i], &consents);
        r->consents = consents;
        b->feats[i].source = 0; /* sources are not deduplicated here, as incrementally */
        if (i >= b->npending)
            continue;
        const char *keys[MAX_KEYS];
        size_t nk = mdm_block_keys(b->m, &b->feats[i], a, keys, MAX_KEYS);
        if (nk > MAX_KEYS)
            nk = MAX_KEYS;
        int64_t *ids = mdm_arena_alloc(a, (nk ? nk : 1) * sizeof *ids);
        size_t k = 0;
        for (size_t j = 0; j < nk; j++) {
            int64_t id = mdm_score_key_id(keys[j]);
            bool dup = false;
            for (size_t q = 0; q < k && !dup; q++)
                dup = ids[q] == id;
            if (!dup)
                ids[k++] = id;
        }
        r->keys = ids;
        r->nkeys = (uint32_t)k;
    }
    mdm_engine_norm_release(norm);
}

/* Features (and, for pending records, blocking keys) of records from.. */
static mdm_status build_features(bulk *b, size_t from, mdm_err *err)
{
    b->feats = mdm_xrealloc(b->feats, (b->n ? b->n : 1) * sizeof *b->feats);
    b->feat_from = from;
    mdm_parallel_for(b->threads, b->n - from, feat_worker, b);
    if (b->failed)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot initialise the normalizer (ICU)");
    return MDM_OK;
}

static int cmp_id(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Settled records sharing a blocking key with the pending ones, with their golden record. */
static mdm_status read_settled(bulk *b, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(b->db, &stmt_any_keys, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    bool any = !strcmp(mdm_db_get(res, 0, "any", "f"), "t");
    PQclear(res);
    if (!any || b->npending == 0)
        return MDM_OK;
    size_t nk = 0;
    for (size_t i = 0; i < b->npending; i++)
        nk += b->r[i].nkeys;
    int64_t *all = mdm_xmalloc((nk ? nk : 1) * sizeof *all);
    nk = 0;
    for (size_t i = 0; i < b->npending; i++)
        for (uint32_t k = 0; k < b->r[i].nkeys; k++)
            all[nk++] = b->r[i].keys[k];
    if (nk)
        qsort(all, nk, sizeof *all, cmp_id);
    mdm_buf copy = {0};
    for (size_t i = 0; i < nk; i++)
        if (i == 0 || all[i] != all[i - 1])
            mdm_buf_printf(&copy, "%lld\n", (long long)all[i]);
    free(all);
    char cap_s[16];
    snprintf(cap_s, sizeof cap_s, "%d", b->rs->key_cap);
    const char *p[1] = {cap_s};
    if ((st = mdm_db_command(b->db, "BEGIN", err)) != MDM_OK)
        goto out;
    st = mdm_db_copy_in(b->db, "COPY bulk_keys (key) FROM STDIN", copy.data, copy.len, err);
    if (st == MDM_OK)
        st = mdm_db_exec(b->db, &stmt_settled, p, &res, err);
    if (st != MDM_OK) {
        mdm_err ignore;
        if (mdm_db_command(b->db, "ROLLBACK", &ignore) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "bulk resolve: rollback failed: %s", ignore.msg);
        goto out;
    }
    size_t from = b->n;
    add_rows(b, res);
    PQclear(res);
    if ((st = mdm_db_command(b->db, "COMMIT", err)) != MDM_OK)
        goto out;
    b->st->settled = (long)(b->n - from);
    st = build_features(b, from, err);
out:
    mdm_buf_free(&copy);
    return st;
}

/* ---- plan ------------------------------------------------------------------------- */

static int cmp_review(const void *x, const void *y)
{
    const review_pair *a = x, *b = y;
    if (a->ca != b->ca)
        return a->ca < b->ca ? -1 : 1;
    if (a->cb != b->cb)
        return a->cb < b->cb ? -1 : 1;
    if (a->bridge != b->bridge) /* the question that names the guard is kept */
        return a->bridge ? -1 : 1;
    if (a->p != b->p)
        return a->p > b->p ? -1 : 1;
    return a->rec < b->rec ? -1 : a->rec > b->rec;
}

static uint32_t other_end(const mdm_edge *ed, uint32_t x)
{
    return ed->a == x ? ed->b : ed->a;
}

/* The golden record a record ends in: settled, new, or 0 (deferred). */
static int64_t entity_of(const bulk *b, uint32_t i)
{
    if (b->r[i].entity)
        return b->r[i].entity;
    uint32_t c = b->cl[i];
    if (b->cl_entity[c] > 0)
        return b->cl_entity[c];
    return b->cl_entity[c] == 0 ? b->cl_new[c] : 0;
}

static void add_review_pair(bulk *b, uint32_t x, const mdm_edge *ed, bool bridge)
{
    uint32_t y = other_end(ed, x);
    if (!b->nrv || (b->nrv & (b->nrv - 1)) == 0)
        b->rv = mdm_xrealloc(b->rv, (b->nrv ? 2 * b->nrv : 1) * sizeof *b->rv);
    uint32_t ca = b->cl[x], cb = b->cl[y];
    b->rv[b->nrv++] =
        (review_pair){ca < cb ? ca : cb, ca < cb ? cb : ca, x, y, ed->weight, ed->prob, bridge};
}

static mdm_status plan(bulk *b, const mdm_edge *edges, size_t ne, const uint8_t *bridge,
                       const uint64_t *tiekey, mdm_err *err)
{
    size_t ncl = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->cl[i] + 1 > ncl)
            ncl = b->cl[i] + 1;
    b->ncl = ncl;
    b->cl_entity = mdm_xcalloc(ncl ? ncl : 1, sizeof *b->cl_entity);
    b->cl_new = mdm_xcalloc(ncl ? ncl : 1, sizeof *b->cl_new);
    b->cl_chunk = mdm_xmalloc((ncl ? ncl : 1) * sizeof *b->cl_chunk);
    size_t *pending_in = mdm_xcalloc(ncl ? ncl : 1, sizeof *pending_in);
    for (size_t c = 0; c < ncl; c++)
        b->cl_chunk[c] = -1;
    for (size_t i = b->npending; i < b->n; i++) {
        int64_t *ce = &b->cl_entity[b->cl[i]];
        if (*ce == 0)
            *ce = b->r[i].entity;
        else if (*ce != b->r[i].entity)
            *ce = -1;
    }
    for (size_t i = 0; i < b->npending; i++)
        pending_in[b->cl[i]]++;

    /* best probability inside the cluster, per pending record */
    for (size_t e = 0; e < ne; e++) {
        const mdm_edge *ed = &edges[e];
        if (b->cl[ed->a] != b->cl[ed->b])
            continue;
        if (ed->a < b->npending && ed->prob > b->r[ed->a].best)
            b->r[ed->a].best = ed->prob;
        if (ed->b < b->npending && ed->prob > b->r[ed->b].best)
            b->r[ed->b].best = ed->prob;
    }

    /* new golden record ids, oldest records first (clusters are numbered in order of
     * their first record, and pending records come first, by id) */
    size_t nnew = 0;
    for (size_t c = 0; c < ncl; c++)
        if (pending_in[c] && b->cl_entity[c] == 0)
            nnew++;
    if (nnew) {
        char n_s[24];
        snprintf(n_s, sizeof n_s, "%zu", nnew);
        const char *p[1] = {n_s};
        PGresult *res = NULL;
        mdm_status st = mdm_db_exec(b->db, &stmt_new_ids, p, &res, err);
        if (st != MDM_OK) {
            free(pending_in);
            return st;
        }
        size_t k = 0;
        for (size_t c = 0; c < ncl; c++)
            if (pending_in[c] && b->cl_entity[c] == 0)
                b->cl_new[c] = mdm_db_get_ll(res, (int)k++, "id", 0);
        PQclear(res);
    }

    /* chunks of whole clusters; records in cluster order */
    size_t *start = mdm_xcalloc(ncl + 1, sizeof *start);
    for (size_t c = 0; c < ncl; c++)
        start[c + 1] = start[c] + (b->cl_entity[c] >= 0 ? pending_in[c] : 0);
    b->norder = start[ncl];
    b->order = mdm_xmalloc((b->norder ? b->norder : 1) * sizeof *b->order);
    size_t *fill = mdm_xmalloc((ncl ? ncl : 1) * sizeof *fill);
    memcpy(fill, start, (ncl ? ncl : 1) * sizeof *fill);
    for (size_t i = 0; i < b->npending; i++) {
        uint32_t c = b->cl[i];
        if (b->cl_entity[c] >= 0)
            b->order[fill[c]++] = (uint32_t)i;
        else
            b->planned_deferred++;
    }
    int chunk = 0;
    size_t in_chunk = 0;
    for (size_t c = 0; c < ncl; c++) {
        size_t k = start[c + 1] - start[c];
        if (!k)
            continue;
        if (in_chunk && in_chunk + k > b->chunk) {
            chunk++;
            in_chunk = 0;
        }
        b->cl_chunk[c] = chunk;
        in_chunk += k;
    }
    free(fill);
    free(start);

    /* review: as record-by-record resolution asks about a record, each pending record's
     * best scored pair into another cluster (below the link threshold, or a link the
     * guards refused), not into a cluster the engine's rules keep apart from its own
     * (mdm_edge.apart); then one item per pair of clusters. A bridge record (it links to
     * two clusters a hard conflict keeps apart and joins neither) is asked about both,
     * as incremental resolution asks (matching/link.h, mdm_link_bridge_targets). */
    size_t *to = mdm_xmalloc(2 * (b->n ? b->n : 1) * sizeof *to);
    mdm_link_bridge_targets(edges, ne, b->cl, tiekey, bridge, b->n, b->rs->auto_link, to);
    size_t *best = mdm_xmalloc((b->npending ? b->npending : 1) * sizeof *best);
    for (size_t i = 0; i < b->npending; i++)
        best[i] = SIZE_MAX;
    for (size_t e = 0; e < ne; e++) {
        const mdm_edge *ed = &edges[e];
        if (b->cl[ed->a] == b->cl[ed->b] || ed->apart)
            continue;
        int64_t ea = entity_of(b, ed->a), eb = entity_of(b, ed->b);
        if (!ea || !eb || ea == eb)
            continue;
        uint32_t ends[2] = {ed->a, ed->b};
        for (int k = 0; k < 2; k++) {
            uint32_t x = ends[k];
            if (x >= b->npending || to[2 * (size_t)x] != SIZE_MAX)
                continue;
            const mdm_edge *cur = best[x] == SIZE_MAX ? NULL : &edges[best[x]];
            if (!cur || ed->weight > cur->weight ||
                (ed->weight == cur->weight && /* ties: the older other record */
                 b->r[ends[1 - k]].id < b->r[other_end(cur, x)].id))
                best[x] = e;
        }
    }
    for (uint32_t x = 0; x < b->npending; x++) {
        if (to[2 * (size_t)x] != SIZE_MAX) {
            for (int k = 0; k < 2; k++) {
                size_t e = to[2 * (size_t)x + (size_t)k];
                if (e == SIZE_MAX)
                    break;
                int64_t eo = entity_of(b, other_end(&edges[e], x));
                if (eo && eo != entity_of(b, x))
                    add_review_pair(b, x, &edges[e], true);
            }
        } else if (best[x] != SIZE_MAX) {
            add_review_pair(b, x, &edges[best[x]], false);
        }
    }
    free(to);
    free(best);
    if (b->nrv) {
        qsort(b->rv, b->nrv, sizeof *b->rv, cmp_review);
        size_t k = 0;
        for (size_t i = 0; i < b->nrv; i++)
            if (i == 0 || b->rv[i].ca != b->rv[k - 1].ca || b->rv[i].cb != b->rv[k - 1].cb)
                b->rv[k++] = b->rv[i];
        b->nrv = k;
    }
    free(pending_in);
    return MDM_OK;
}

/* ---- write ------------------------------------------------------------------------ */

/* One write chunk: built in memory (chunk_build, no database), then applied (chunk_apply).
 * The next chunk is built on a thread of its own while this one is applied, so the
 * client's survivorship and scoring overlap the server's writes. */
typedef struct chunk_job {
    bulk *b;
    int chunk;
    size_t lo, hi; /* range of b->order */
    long entities, created, linked, deferred, review;
    mdm_buf ent, mem, val, key, done, rev; /* COPY data; done: the resolved ids so far */
    pthread_t th;
    bool building;
} chunk_job;

static void copy_id(mdm_buf *c, int64_t v)
{
    mdm_buf_printf(c, "%lld", (long long)v);
}

static void copy_json(mdm_buf *c, const json_t *j)
{
    if (!j || json_is_null(j)) {
        mdm_buf_puts(c, "\\N");
        return;
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    mdm_db_copy_field(c, s);
    free(s);
}

/* Golden record of a new cluster (members in id order, as a recompute reads them). */
static void new_entity(bulk *b, const uint32_t *recs, size_t k, json_t **canon, mdm_buf *ent,
                       mdm_buf *val)
{
    mdm_survive_member *mem = mdm_xcalloc(k, sizeof *mem);
    for (size_t i = 0; i < k; i++) {
        const brec *r = &b->r[recs[i]];
        mem[i].record_id = r->id;
        mem[i].source = b->src[r->src].code;
        mem[i].source_key = SOURCE_KEY(b, r);
        mem[i].canonical = canon[i];
        mem[i].trust = b->src[r->src].trust;
        mem[i].trust_default = 50;
        mem[i].updated_at = CHANGED_AT(b, r);
    }
    json_t *golden = NULL, *lineage = NULL;
    mdm_survive_compute(mdm_engine_survive(b->ctx), mem, k, NULL, &golden, &lineage);
    int64_t eid = b->cl_new[b->cl[recs[0]]];
    char *g = json_dumps(golden, JSON_COMPACT | JSON_SORT_KEYS);
    copy_id(ent, eid);
    mdm_buf_putc(ent, '\t');
    mdm_db_copy_field(ent, g);
    mdm_buf_putc(ent, '\n');
    free(g);
    const char *attr;
    json_t *l;
    json_object_foreach(lineage, attr, l)
    {
        copy_id(val, eid);
        mdm_buf_putc(val, '\t');
        mdm_db_copy_field(val, attr);
        mdm_buf_putc(val, '\t');
        const json_t *v = json_object_get(l, "value");
        copy_json(val, v ? v : json_null());
        mdm_buf_putc(val, '\t');
        const json_t *sr = json_object_get(l, "source_record_id");
        if (json_is_integer(sr))
            copy_id(val, (int64_t)json_integer_value(sr));
        else
            mdm_buf_puts(val, "\\N");
        mdm_buf_putc(val, '\t');
        mdm_db_copy_field(val, json_string_value(json_object_get(l, "rule")));
        mdm_buf_putc(val, '\t');
        copy_json(val, json_object_get(l, "sources"));
        mdm_buf_putc(val, '\n');
    }
    json_decref(golden);
    json_decref(lineage);
    free(mem);
}

static void review_items(chunk_job *j, mdm_buf *out)
{
    bulk *b = j->b;
    for (size_t i = 0; i < b->nrv; i++) {
        const review_pair *rv = &b->rv[i];
        int ca = b->cl_chunk[rv->ca], cb = b->cl_chunk[rv->cb];
        if ((ca > cb ? ca : cb) != j->chunk) /* written with the later of the two sides */
            continue;
        json_t *x = json_loads(NORMALIZED(b, &b->r[rv->rec]), 0, NULL);
        json_t *y = json_loads(NORMALIZED(b, &b->r[rv->other]), 0, NULL);
        json_t *ex = NULL;
        if (x && y) {
            double p;
            mdm_score_pair(b->ctx, x, y, &p, &ex, NULL);
        }
        if (rv->bridge && json_is_object(ex)) /* as incremental resolution names it */
            json_object_set_new(ex, "guard", json_string("bridge"));
        json_decref(x);
        json_decref(y);
        copy_id(out, b->r[rv->rec].id);
        mdm_buf_printf(out, "\t%lld\t%.6f\t%.6f\t", (long long)entity_of(b, rv->other),
                       (double)rv->w, (double)rv->p);
        copy_json(out, ex ? ex : json_array());
        mdm_buf_putc(out, '\n');
        json_decref(ex);
        j->review++;
    }
}

/* The cluster at position *i of the chunk's records: its id (*c) and records (*recs, the
 * count returned); *i moves past it. */
static size_t next_cluster(const chunk_job *j, size_t *i, uint32_t *c, const uint32_t **recs)
{
    const bulk *b = j->b;
    size_t e = *i;
    *c = b->cl[b->order[e]];
    while (e < j->hi && b->cl[b->order[e]] == *c)
        e++;
    *recs = b->order + *i;
    size_t k = e - *i;
    *i = e;
    return k;
}

/* The blocking key rows and resolved id of records recs[0..k). */
static void add_done(chunk_job *j, const uint32_t *recs, size_t k)
{
    bulk *b = j->b;
    for (size_t q = 0; q < k; q++) {
        const brec *r = &b->r[recs[q]];
        mdm_buf_putc(&j->done, j->done.len ? ',' : '{');
        copy_id(&j->done, r->id);
        for (uint32_t kk = 0; kk < r->nkeys; kk++)
            mdm_buf_printf(&j->key, "%lld\t%lld\n", (long long)r->id, (long long)r->keys[kk]);
    }
}

/* Everything of the chunk that needs no database: new golden records with their values,
 * memberships, keys, review items. Clusters joining a settled golden record are left to
 * chunk_apply. Thread-safe against other chunks (disjoint records). */
static void chunk_build(chunk_job *j)
{
    bulk *b = j->b;
    j->entities = j->created = j->linked = j->deferred = j->review = 0;
    json_t **canon = NULL;
    for (size_t i = j->lo; i < j->hi; i++)
        b->r[b->order[i]].skipped = false;
    for (size_t i = j->lo; i < j->hi;) {
        uint32_t c;
        const uint32_t *recs;
        size_t k = next_cluster(j, &i, &c, &recs);
        if (b->cl_entity[c] > 0)
            continue;
        canon = mdm_xrealloc(canon, k * sizeof(json_t *));
        for (size_t q = 0; q < k; q++) {
            canon[q] = json_loads(NORMALIZED(b, &b->r[recs[q]]), 0, NULL);
            if (!canon[q])
                canon[q] = json_object();
        }
        new_entity(b, recs, k, canon, &j->ent, &j->val);
        for (size_t q = 0; q < k; q++) {
            const brec *r = &b->r[recs[q]];
            copy_id(&j->mem, r->id);
            mdm_buf_printf(&j->mem, "\t%lld\t%s\t", (long long)b->cl_new[c],
                           q == 0 ? "create" : "link");
            if (q == 0)
                mdm_buf_printf(&j->mem, "\\N\tbulk\n");
            else
                mdm_buf_printf(&j->mem, "%.6f\tbulk p>=%.2f\n", (double)r->best, b->rs->auto_link);
            json_decref(canon[q]);
        }
        add_done(j, recs, k);
        j->entities++;
        j->created += (long)k;
    }
    free(canon);
    review_items(j, &j->rev);
}

static void *chunk_build_main(void *arg)
{
    chunk_build(arg);
    return NULL;
}

static void chunk_build_start(chunk_job *j)
{
    j->building = pthread_create(&j->th, NULL, chunk_build_main, j) == 0;
    if (!j->building)
        chunk_build(j); /* no thread to be had: build it here */
}

static void chunk_build_wait(chunk_job *j)
{
    if (j->building)
        pthread_join(j->th, NULL);
    j->building = false;
}

static void chunk_free(chunk_job *j)
{
    mdm_buf_free(&j->ent);
    mdm_buf_free(&j->mem);
    mdm_buf_free(&j->val);
    mdm_buf_free(&j->key);
    mdm_buf_free(&j->done);
    mdm_buf_free(&j->rev);
}

/* Writes a built chunk: records joining settled golden records (mdm_golden_link_many),
 * then the COPY data and the set-based statements, then consent events. */
static mdm_status chunk_apply(mdm_db *db, chunk_job *j, mdm_err *err)
{
    bulk *b = j->b;
    int64_t *ids = NULL;
    double *probs = NULL;
    mdm_status st = mdm_outbox_lock_writer(db, err);
    for (size_t i = j->lo; i < j->hi && st == MDM_OK;) {
        uint32_t c;
        const uint32_t *recs;
        size_t k = next_cluster(j, &i, &c, &recs);
        int64_t eid = b->cl_entity[c];
        if (eid <= 0)
            continue;
        ids = mdm_xrealloc(ids, k * sizeof *ids);
        probs = mdm_xrealloc(probs, k * sizeof *probs);
        for (size_t q = 0; q < k; q++) {
            ids[q] = b->r[recs[q]].id;
            probs[q] = b->r[recs[q]].best;
        }
        char rule[48];
        snprintf(rule, sizeof rule, "bulk p>=%.2f", b->rs->auto_link);
        st = mdm_golden_link_many(db, b->ctx, &eid, ids, probs, k, rule, BULK_ACTOR, err);
        if (st == MDM_ENOTFOUND) { /* gone meanwhile: the incremental path decides */
            mdm_err_clear(err);
            st = MDM_OK;
            j->deferred += (long)k;
            for (size_t q = 0; q < k; q++)
                b->r[recs[q]].skipped = true;
            continue;
        }
        if (st == MDM_OK) {
            add_done(j, recs, k);
            j->linked += (long)k;
        }
    }
    free(ids);
    free(probs);
    struct {
        const char *sql;
        const mdm_buf *data;
    } copies[] = {
        {"COPY bulk_entity (id, golden) FROM STDIN", &j->ent},
        {"COPY bulk_member (record_id, entity_id, action, probability, rule) FROM STDIN", &j->mem},
        {"COPY bulk_value (entity_id, attr, value, source_record_id, rule, sources) FROM STDIN",
         &j->val},
        {"COPY bulk_key (record_id, key) FROM STDIN", &j->key},
        {"COPY bulk_review (record_id, entity_id, score, probability, explanation) FROM STDIN",
         &j->rev},
    };
    for (size_t q = 0; q < sizeof copies / sizeof copies[0] && st == MDM_OK; q++)
        if (copies[q].data->len)
            st = mdm_db_copy_in(db, copies[q].sql, copies[q].data->data, copies[q].data->len, err);
    mdm_buf_puts(&j->done, j->done.len ? "}" : "{}");
    if (st == MDM_OK)
        st = mdm_golden_create_staged(db, BULK_ACTOR, err);
    if (st == MDM_OK)
        st = mdm_outbox_emit_staged(db, err);
    if (st == MDM_OK)
        st = mdm_consent_state_staged(db, err);
    if (st == MDM_OK)
        st = mdm_resolve_keys_staged(db, j->done.data, err);
    /* the chunk's records off the queue, once their golden records, events, consent
     * states and keys are written */
    if (st == MDM_OK)
        st = mdm_pending_remove_ids(db, j->done.data, err);
    if (st == MDM_OK)
        st = mdm_review_create_staged(db, err);

    /* consent events arrive with their records, once the membership is settled (the
     * golden record's consent state is recomputed with each) */
    for (size_t i = j->lo; i < j->hi && st == MDM_OK; i++) {
        const brec *r = &b->r[b->order[i]];
        if (r->skipped || !r->consents)
            continue;
        json_t *cj = json_loads(NORMALIZED(b, r), 0, NULL);
        st = mdm_consent_ingest(db, r->id, b->src[r->src].code, SOURCE_KEY(b, r),
                                json_object_get(cj, "consents"), err);
        json_decref(cj);
    }
    return st;
}

static const char *const analyze_after =
    "ANALYZE source_record, record_pending, entity, membership, blocking_key, golden_value, "
    "entity_name, link_event, review_item";

static const char *const truncate_chunk =
    "TRUNCATE bulk_entity, bulk_member, bulk_value, bulk_key, bulk_review";

/* The range [lo, hi) of b->order that is the write chunk starting at lo. */
static size_t chunk_end(const bulk *b, size_t lo)
{
    int chunk = b->cl_chunk[b->cl[b->order[lo]]];
    size_t hi = lo;
    while (hi < b->norder && b->cl_chunk[b->cl[b->order[hi]]] == chunk)
        hi++;
    return hi;
}

/* Every chunk in one transaction: a run that stops anywhere leaves nothing behind, and
 * the next run plans from the same records, so it ends as an uninterrupted run would. */
static mdm_status write_tx(mdm_db *db, void *arg, mdm_err *err)
{
    bulk *b = arg;
    mdm_bulk_stats *s = b->st;
    s->entities = s->created = s->linked = s->review = 0;
    s->deferred = b->planned_deferred;
    if (b->norder == 0)
        return MDM_OK;
    mdm_status st = MDM_OK;
    chunk_job jobs[2] = {{0}};
    int cur = 0;
    jobs[0] = (chunk_job){.b = b, .lo = 0, .hi = chunk_end(b, 0)};
    jobs[0].chunk = b->cl_chunk[b->cl[b->order[0]]];
    chunk_build(&jobs[0]);
    for (;;) {
        chunk_job *j = &jobs[cur], *next = &jobs[cur ^ 1];
        bool more = j->hi < b->norder;
        if (more) {
            chunk_free(next);
            *next = (chunk_job){.b = b, .lo = j->hi, .hi = chunk_end(b, j->hi)};
            next->chunk = b->cl_chunk[b->cl[b->order[j->hi]]];
            chunk_build_start(next);
        }
        st = chunk_apply(db, j, err);
        if (st == MDM_OK)
            st = mdm_db_command(db, truncate_chunk, err);
        if (more)
            chunk_build_wait(next);
        if (st != MDM_OK)
            break;
        s->entities += j->entities;
        s->created += j->created;
        s->linked += j->linked;
        s->deferred += j->deferred;
        s->review += j->review;
        if (b->progress) {
            fprintf(b->progress, "resolve: bulk %zu/%zu records written\n", j->hi, b->norder);
            fflush(b->progress);
        }
        if (!more)
            break;
        cur ^= 1;
    }
    chunk_free(&jobs[0]);
    chunk_free(&jobs[1]);
    return st;
}

/* ---- the run ---------------------------------------------------------------------- */

static void bulk_free(bulk *b)
{
    for (size_t i = 0; i < b->nsrc; i++) {
        free(b->src[i].code);
        json_decref(b->src[i].trust);
    }
    free(b->src);
    free(b->r);
    mdm_buf_free(&b->blob);
    free(b->feats);
    for (int t = 0; b->arenas && t < b->threads; t++)
        mdm_arena_free(b->arenas[t]);
    free(b->arenas);
    free(b->cl);
    free(b->cl_entity);
    free(b->cl_new);
    free(b->cl_chunk);
    free(b->order);
    free(b->rv);
}

mdm_status mdm_bulk_resolve(mdm_db *db, const mdm_engine *ctx, int threads, int chunk,
                            FILE *progress, mdm_bulk_stats *stats, mdm_err *err)
{
    memset(stats, 0, sizeof *stats);
    const mdm_model *m = mdm_engine_model(ctx);
    if (!m || !m->trained)
        return MDM_OK;
    bulk b = {.db = db,
              .ctx = ctx,
              .m = m,
              .rs = mdm_engine_settings(ctx),
              .threads = mdm_link_threads(threads),
              .chunk = chunk > 0 ? (size_t)chunk : 10000,
              .progress = progress,
              .st = stats};
    b.arenas = mdm_xcalloc((size_t)b.threads, sizeof(mdm_arena *));
    for (int t = 0; t < b.threads; t++)
        b.arenas[t] = mdm_arena_new(1 << 20);
    mdm_edge *edges = NULL;
    size_t ne = 0;
    double t0 = mdm_clock_s();
    mdm_status st = mdm_db_exec(db, &stmt_gate, NULL, NULL, err);
    if (st != MDM_OK)
        goto out_free;
    if ((st = mdm_db_command(db, temp_tables, err)) != MDM_OK)
        goto out;
    if ((st = read_sources(&b, err)) != MDM_OK || (st = read_pending(&b, err)) != MDM_OK)
        goto out;
    stats->records = (long)b.npending;
    if (b.npending == 0)
        goto out;
    if ((st = build_features(&b, 0, err)) != MDM_OK || (st = read_settled(&b, err)) != MDM_OK)
        goto out;
    double t1 = mdm_clock_s();
    stats->t_read = t1 - t0;
    if (progress) {
        fprintf(progress, "resolve: bulk read %ld pending and %ld settled records in %.1fs\n",
                stats->records, stats->settled, stats->t_read);
        fflush(progress);
    }

    uint32_t *group = NULL;
    if (b.n > b.npending) { /* settled records arrive ordered by golden record */
        group = mdm_xcalloc(b.n, sizeof *group);
        uint32_t g = 0;
        for (size_t i = b.npending; i < b.n; i++) {
            if (i == b.npending || b.r[i].entity != b.r[i - 1].entity)
                g++;
            group[i] = g;
        }
    }
    b.cl = mdm_xmalloc((b.n ? b.n : 1) * sizeof *b.cl);
    /* the one clustering of the service (mdm/recluster.h): no term frequencies, ties
     * broken by the records' source keys, not by the order they were loaded in */
    uint64_t *tiekey = mdm_xmalloc((b.n ? b.n : 1) * sizeof *tiekey);
    uint8_t *bridge = mdm_xcalloc(b.n ? b.n : 1, 1);
    const char **tsrc = mdm_xmalloc((b.n ? b.n : 1) * sizeof *tsrc);
    const char **tkey = mdm_xmalloc((b.n ? b.n : 1) * sizeof *tkey);
    for (size_t i = 0; i < b.n; i++) {
        tsrc[i] = b.src[b.r[i].src].code;
        tkey[i] = SOURCE_KEY(&b, &b.r[i]);
    }
    mdm_recluster_ranks(m, b.n, b.feats, tsrc, tkey, tiekey);
    free(tsrc);
    free(tkey);
    mdm_link_stats ls;
    mdm_link_feats_opts lo = {.group = group,
                              .link = b.rs->auto_link,
                              .review = b.rs->review,
                              .threads = b.threads,
                              .no_tf = true,
                              .tiekey = tiekey,
                              .bridge = bridge};
    st = mdm_link_feats_ex(m, b.feats, b.n, &lo, b.cl, &edges, &ne, &ls, err);
    free(group);
    free(b.feats); /* rewritten by the engine, not used again */
    b.feats = NULL;
    if (st == MDM_OK)
        st = plan(&b, edges, ne, bridge, tiekey, err);
    free(tiekey);
    free(bridge);
    if (st != MDM_OK)
        goto out;
    double t2 = mdm_clock_s();
    stats->t_match = t2 - t1;
    if (progress) {
        fprintf(progress,
                "resolve: bulk matched in %.1fs: %zu candidate pairs, %zu links, %zu clusters, "
                "%ld records left to incremental resolution\n",
                stats->t_match, ls.block.pairs, ls.links, b.ncl, b.planned_deferred);
        fflush(progress);
    }
    st = mdm_db_run_tx(db, "bulk_resolve", write_tx, &b, err);
    /* fresh planner statistics: the tables may have grown from nothing in one transaction,
     * and the incremental path's prepared statements must not plan on stale counts */
    if (st == MDM_OK)
        st = mdm_db_command(db, analyze_after, err);
    stats->t_write = mdm_clock_s() - t2;
    if (st == MDM_OK)
        mdm_log(MDM_LOG_INFO,
                "event=bulk_resolve records=%ld settled=%ld entities=%ld linked=%ld deferred=%ld "
                "review=%ld read_s=%.1f match_s=%.1f write_s=%.1f",
                stats->records, stats->settled, stats->entities, stats->linked, stats->deferred,
                stats->review, stats->t_read, stats->t_match, stats->t_write);
out:;
    mdm_err ignore;
    if (mdm_db_exec(db, &stmt_ungate, NULL, NULL, &ignore) != MDM_OK)
        mdm_log(MDM_LOG_WARN, "bulk resolve: cannot release the gate: %s", ignore.msg);
out_free:
    free(edges);
    bulk_free(&b);
    return st;
}
