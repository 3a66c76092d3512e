/* The neighbourhood of a record clustered again as the bulk path clusters (see
 * recluster.h). */
#include "mdm/recluster.h"

#include "common/log.h"
#include "common/mem.h"
#include "matching/link.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "matching/record.h"
#include "mdm/golden.h"
#include "mdm/score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 128

/* The neighbourhood's golden records, locked in ascending id order (every writer of a
 * golden record locks it; ascending order keeps two reclusterings from deadlocking). */
static const mdm_db_stmt stmt_lock = {
    "recluster_lock",
    "SELECT id FROM entity WHERE id = ANY($1::bigint[]) AND status = 'active' ORDER BY id "
    "FOR UPDATE",
    1};

/* Their active members, and whether a steward has judged any of them. */
static const mdm_db_stmt stmt_members = {
    "recluster_members",
    "SELECT m.entity_id, sr.id, sr.source, sr.source_key, sr.normalized::text AS n, "
    "(EXISTS (SELECT 1 FROM steward_assertion a WHERE a.record_a = sr.id OR a.record_b = sr.id) "
    " OR EXISTS (SELECT 1 FROM steward_label l WHERE l.record_a = sr.id OR l.record_b = sr.id)) "
    "AS held "
    "FROM membership m JOIN source_record sr ON sr.id = m.record_id "
    "WHERE m.entity_id = ANY($1::bigint[]) AND m.active ORDER BY sr.id LIMIT $2::int",
    2};

/* The candidates of the neighbourhood's records $1 (records sharing a blocking key held
 * by at most $2 records), best $3 by shared keys, outside the neighbourhood. */
static const mdm_db_stmt stmt_around = {
    "recluster_around",
    "SELECT m.entity_id, c.record_id, sr.normalized::text AS n FROM "
    "(SELECT r AS record_id, count(*) AS shared FROM "
    "  (SELECT array(SELECT bk.record_id FROM blocking_key bk WHERE bk.key = ks.k "
    "   LIMIT $2::int + 1) AS ids FROM "
    "   (SELECT DISTINCT key AS k FROM blocking_key WHERE record_id = ANY($1::bigint[])) ks) h, "
    "  unnest(h.ids) r "
    "  WHERE cardinality(h.ids) <= $2::int AND NOT (r = ANY($1::bigint[])) "
    "  GROUP BY r ORDER BY count(*) DESC, r LIMIT $3::int) c "
    "JOIN membership m ON m.record_id = c.record_id AND m.active "
    "JOIN source_record sr ON sr.id = c.record_id "
    "ORDER BY c.record_id",
    3};

/* The records holding each key (at most $2 + 1 of them are read). */
static const mdm_db_stmt stmt_holders = {
    "recluster_holders",
    "SELECT k AS key, array_to_string(array(SELECT bk.record_id FROM blocking_key bk "
    "WHERE bk.key = k ORDER BY bk.record_id LIMIT $2::int + 1), ',') AS ids "
    "FROM unnest($1::bigint[]) k",
    2};

static const mdm_db_stmt stmt_texts = {
    "recluster_texts",
    "SELECT id, normalized::text AS n FROM source_record WHERE id = ANY($1::bigint[]) "
    "ORDER BY id",
    1};

/* The same with each record's golden record. */
static const mdm_db_stmt stmt_holder_texts = {
    "recluster_holder_texts",
    "SELECT sr.id, sr.normalized::text AS n, m.entity_id FROM source_record sr "
    "JOIN membership m ON m.record_id = sr.id AND m.active "
    "WHERE sr.id = ANY($1::bigint[]) ORDER BY sr.id",
    1};

/* Where the neighbourhood's records are now. */
static const mdm_db_stmt stmt_where = {
    "recluster_where",
    "SELECT record_id, entity_id FROM membership WHERE record_id = ANY($1::bigint[]) AND active",
    1};

/* How much a record tells: the model's comparisons it has a value for. */
static int information(const mdm_model *m, const mdm_feat *f)
{
    int k = 0;
    for (int c = 0; c < m->ncmp; c++)
        k += f->v[m->cmp[c].field] != NULL;
    return k;
}

typedef struct rank_item {
    int info;
    const char *source, *key;
    size_t i;
} rank_item;

static int cmp_rank(const void *x, const void *y)
{
    const rank_item *a = x, *b = y;
    if (a->info != b->info)
        return a->info > b->info ? -1 : 1;
    int c = strcmp(a->source, b->source);
    if (c)
        return c;
    c = strcmp(a->key, b->key);
    if (c)
        return c;
    return a->i < b->i ? -1 : a->i > b->i;
}

void mdm_recluster_ranks(const mdm_model *m, size_t n, const mdm_feat *feats,
                         const char *const *source, const char *const *key, uint64_t *rank)
{
    rank_item *it = mdm_xmalloc((n ? n : 1) * sizeof *it);
    for (size_t i = 0; i < n; i++)
        it[i] = (rank_item){information(m, &feats[i]), source[i], key[i], i};
    qsort(it, n, sizeof *it, cmp_rank);
    for (size_t i = 0; i < n; i++)
        rank[it[i].i] = i;
    free(it);
}

/* ---- the neighbourhood ---------------------------------------------------------------- */

typedef struct nrec {
    int64_t id, entity; /* entity: its golden record now (0: the record, not yet linked) */
    uint64_t tiekey;    /* rank (mdm_recluster_ranks) */
    char *source, *source_key;
    json_t *canon;
    mdm_score_rec rec;
    uint32_t cluster;
} nrec;

typedef struct hood {
    nrec *r;
    size_t n;
    size_t self; /* index of the record being resolved */
    mdm_arena *ar;
    mdm_feat *feats; /* [n + nstats] */
    size_t nstats;
    mdm_edge *edges;
    size_t nedges;
    uint8_t *bridge; /* [n] */
} hood;

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static void hood_free(hood *h)
{
    for (size_t i = 0; i < h->n; i++) {
        mdm_score_unprepare(&h->r[i].rec);
        json_decref(h->r[i].canon);
        free(h->r[i].source);
        free(h->r[i].source_key);
    }
    free(h->r);
    free(h->feats);
    free(h->edges);
    free(h->bridge);
    mdm_arena_free(h->ar);
}

/* ---- shared values from the store ----------------------------------------------------- */

/* The contact fields whose shared values stop counting (matching/link.c). */
static const mdm_field shared_fields[] = {MDM_FIELD_EMAIL,      MDM_FIELD_PHONE,
                                          MDM_FIELD_LOYALTY_ID, MDM_FIELD_CUSTOMER_NUMBER,
                                          MDM_FIELD_TAX_ID,     MDM_FIELD_NATIONAL_ID};

/* The blocking rule made of field alone (its key is "r<rule>:<value>"), or -1. */
static int value_rule(const mdm_model *m, mdm_field field)
{
    for (int r = 0; r < m->nrules; r++)
        if (m->rules[r].nparts == 1 && m->rules[r].parts[0].field == field &&
            m->rules[r].parts[0].fn == MDM_KEY_VALUE)
            return r;
    return -1;
}

static bool shared_applies(const mdm_model *m, mdm_field field)
{
    for (int k = 0; k < m->ncmp; k++)
        if (m->cmp[k].field == field && m->cmp[k].shared_null)
            return true;
    return false;
}

typedef struct vkey {
    int64_t key;
    mdm_field field;
    const char *value;
} vkey;

/* The other holders in the store of the neighbourhood's contact values, so that the
 * batch engine judges shared values over the same records in every path: their
 * features go after the neighbourhood's (h->nstats of them). A value held by more than
 * key_cap records is dropped at once (the candidate search ignores such keys too). */
static mdm_status shared_stats(mdm_db *db, const mdm_engine *ctx, hood *h, mdm_err *err)
{
    const mdm_model *m = mdm_engine_model(ctx);
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    if (m->shared_min_people < 2)
        return MDM_OK;
    vkey *vk = NULL;
    size_t nvk = 0, cap = 0;
    for (size_t fi = 0; fi < sizeof shared_fields / sizeof shared_fields[0]; fi++) {
        mdm_field field = shared_fields[fi];
        int rule = value_rule(m, field);
        if (rule < 0 || !shared_applies(m, field))
            continue;
        for (size_t i = 0; i < h->n; i++)
            for (int q = 0; q < MDM_FEAT_MULTI; q++) {
                const char *v = mdm_feat_value(&h->feats[i], field, q);
                if (!v)
                    break;
                char *k = mdm_xasprintf("r%d:%s", rule, v);
                if (nvk == cap) {
                    cap = cap ? 2 * cap : 32;
                    vk = mdm_xrealloc(vk, cap * sizeof *vk);
                }
                vk[nvk++] = (vkey){mdm_score_key_id(k), field, v};
                free(k);
            }
    }
    if (!nvk)
        return MDM_OK;
    int64_t *keys = mdm_xmalloc(nvk * sizeof *keys);
    for (size_t i = 0; i < nvk; i++)
        keys[i] = vk[i].key;
    size_t nkeys = mdm_score_sort_ids(keys, nvk);
    mdm_buf karr = {0};
    mdm_db_id_array(&karr, keys, nkeys);
    char kcap[16];
    snprintf(kcap, sizeof kcap, "%d", rs->key_cap);
    const char *p[2] = {karr.data, kcap};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_holders, p, &res, err);
    mdm_buf_free(&karr);
    free(keys);
    if (st != MDM_OK) {
        free(vk);
        return st;
    }
    /* holders outside the neighbourhood of values held by at least shared_min_people */
    int64_t *in = mdm_xmalloc((h->n ? h->n : 1) * sizeof *in);
    for (size_t i = 0; i < h->n; i++)
        in[i] = h->r[i].id;
    qsort(in, h->n, sizeof *in, cmp_i64);
    int64_t *other = NULL;
    size_t nother = 0, ocap = 0;
    for (int row = 0; row < PQntuples(res); row++) {
        int64_t key = mdm_db_get_ll(res, row, "key", 0);
        const char *ids = mdm_db_get(res, row, "ids", "");
        size_t cnt = 0;
        for (const char *s = ids; *s; s++)
            cnt += *s == ',';
        cnt += *ids != 0;
        if (cnt < (size_t)m->shared_min_people)
            continue;
        if (cnt > (size_t)rs->key_cap) { /* held by very many: shared */
            for (size_t v = 0; v < nvk; v++)
                if (vk[v].key == key)
                    for (size_t i = 0; i < h->n; i++)
                        mdm_feat_drop_value(&h->feats[i], vk[v].field, vk[v].value);
            continue;
        }
        for (const char *s = ids; *s;) {
            char *end;
            int64_t id = strtoll(s, &end, 10);
            s = *end == ',' ? end + 1 : end;
            if (bsearch(&id, in, h->n, sizeof *in, cmp_i64))
                continue;
            if (nother == ocap) {
                ocap = ocap ? 2 * ocap : 64;
                other = mdm_xrealloc(other, ocap * sizeof *other);
            }
            other[nother++] = id;
        }
    }
    PQclear(res);
    free(in);
    free(vk);
    if (!nother) {
        free(other);
        return MDM_OK;
    }
    nother = mdm_score_sort_ids(other, nother);
    mdm_buf oarr = {0};
    mdm_db_id_array(&oarr, other, nother);
    free(other);
    const char *po[1] = {oarr.data};
    st = mdm_db_exec(db, &stmt_texts, po, &res, err);
    mdm_buf_free(&oarr);
    if (st != MDM_OK)
        return st;
    int nt = PQntuples(res);
    h->feats = mdm_xrealloc(h->feats, (h->n + (size_t)nt + 1) * sizeof *h->feats);
    mdm_norm *norm = mdm_engine_norm_acquire(err);
    if (!norm) {
        PQclear(res);
        return MDM_EINTERNAL;
    }
    size_t k = h->n;
    for (int row = 0; row < nt; row++) {
        mdm_feat *f = &h->feats[k];
        memset(f, 0, sizeof *f);
        if (mdm_score_features_text(ctx, norm, h->ar, mdm_db_get(res, row, "n", "{}"),
                                    mdm_score_phone_key, NULL, f, NULL)) {
            f->source = 0;
            k++;
        }
    }
    mdm_engine_norm_release(norm);
    PQclear(res);
    h->nstats = k - h->n;
    return MDM_OK;
}

/* The golden records holding a value of the record whose sharing the record changes:
 * with it, the value's holders become (or stop being) many different people, so the
 * value stops (or starts) counting as evidence between them, and their golden records
 * are weighed again (*ents, sorted, *nents of them). */
static mdm_status crossings(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                            const json_t *canon, int64_t **ents, size_t *nents, mdm_err *err)
{
    const mdm_model *m = mdm_engine_model(ctx);
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    *ents = NULL;
    *nents = 0;
    if (m->shared_min_people < 2)
        return MDM_OK;
    mdm_norm *norm = mdm_engine_norm_acquire(err);
    if (!norm)
        return MDM_EINTERNAL;
    mdm_arena *ar = mdm_arena_new(8192);
    mdm_score_rec self;
    mdm_score_prepare(ctx, norm, ar, canon, &self);
    int64_t keys[MAX_KEYS];
    size_t nk = 0;
    for (size_t fi = 0; fi < sizeof shared_fields / sizeof shared_fields[0]; fi++) {
        mdm_field field = shared_fields[fi];
        int rule = value_rule(m, field);
        if (rule < 0 || !shared_applies(m, field) || !self.has_feat)
            continue;
        for (int q = 0; q < MDM_FEAT_MULTI && nk < MAX_KEYS; q++) {
            const char *v = mdm_feat_value(&self.feat, field, q);
            if (!v)
                break;
            char *k = mdm_xasprintf("r%d:%s", rule, v);
            keys[nk++] = mdm_score_key_id(k);
            free(k);
        }
    }
    mdm_status st = MDM_OK;
    PGresult *res = NULL, *tr = NULL;
    char **lists = NULL;
    size_t nl = 0;
    int64_t *hold = NULL;
    size_t nh = 0;
    nk = mdm_score_sort_ids(keys, nk);
    if (!nk)
        goto out;
    mdm_buf karr = {0};
    mdm_db_id_array(&karr, keys, nk);
    char kcap[16];
    snprintf(kcap, sizeof kcap, "%d", rs->key_cap);
    const char *p[2] = {karr.data, kcap};
    st = mdm_db_exec(db, &stmt_holders, p, &res, err);
    mdm_buf_free(&karr);
    if (st != MDM_OK)
        goto out;
    /* the holder lists of values held by enough records to be shared */
    lists = mdm_xcalloc((size_t)PQntuples(res) + 1, sizeof *lists);
    for (int row = 0; row < PQntuples(res); row++) {
        const char *ids = mdm_db_get(res, row, "ids", "");
        size_t cnt = *ids != 0;
        for (const char *c = ids; *c; c++)
            cnt += *c == ',';
        if (cnt < (size_t)m->shared_min_people || cnt > (size_t)rs->key_cap)
            continue;
        lists[nl++] = mdm_xstrdup(ids);
        for (const char *c = ids; *c;) {
            char *end;
            int64_t id = strtoll(c, &end, 10);
            c = *end == ',' ? end + 1 : end;
            if (id == record_id)
                continue;
            hold = mdm_xrealloc(hold, (nh + 1) * sizeof *hold);
            hold[nh++] = id;
        }
    }
    if (!nh)
        goto out;
    nh = mdm_score_sort_ids(hold, nh);
    mdm_buf harr = {0};
    mdm_db_id_array(&harr, hold, nh);
    const char *ph[1] = {harr.data};
    st = mdm_db_exec(db, &stmt_holder_texts, ph, &tr, err);
    mdm_buf_free(&harr);
    if (st != MDM_OK)
        goto out;
    int nt = PQntuples(tr);
    mdm_feat *hf = mdm_xcalloc((size_t)nt + 1, sizeof *hf);
    int64_t *hid = mdm_xcalloc((size_t)nt + 1, sizeof *hid),
            *hent = mdm_xcalloc((size_t)nt + 1, sizeof *hent);
    for (int row = 0; row < nt; row++) {
        hid[row] = mdm_db_get_ll(tr, row, "id", 0);
        hent[row] = mdm_db_get_ll(tr, row, "entity_id", 0);
        (void)mdm_score_features_text(ctx, norm, ar, mdm_db_get(tr, row, "n", "{}"),
                                      mdm_score_phone_key, NULL, &hf[row], NULL);
    }
    const mdm_feat **list = mdm_xmalloc(((size_t)nt + 2) * sizeof(const mdm_feat *));
    int64_t *out = mdm_xmalloc(((size_t)nt * nl + 1) * sizeof *out);
    size_t no = 0;
    for (size_t l = 0; l < nl; l++) {
        size_t n = 0;
        size_t first = no;
        for (const char *c = lists[l]; *c;) {
            char *end;
            int64_t id = strtoll(c, &end, 10);
            c = *end == ',' ? end + 1 : end;
            for (int row = 0; row < nt; row++)
                if (hid[row] == id) {
                    list[n++] = &hf[row];
                    out[no++] = hent[row];
                }
        }
        bool without = mdm_link_shared(m, list, n);
        list[n++] = &self.feat;
        if (mdm_link_shared(m, list, n) == without)
            no = first; /* no change: these golden records stay as they are */
    }
    *nents = mdm_score_sort_ids(out, no);
    *ents = out;
    free(list);
    free(hf);
    free(hid);
    free(hent);
out:
    for (size_t l = 0; l < nl; l++)
        free(lists[l]);
    free(lists);
    free(hold);
    PQclear(tr);
    PQclear(res);
    mdm_score_unprepare(&self);
    mdm_engine_norm_release(norm);
    mdm_arena_free(ar);
    return st;
}

/* ---- reading and clustering ----------------------------------------------------------- */

/* Reads the neighbourhood; *ok false when it is not to be reclustered. */
static mdm_status read_hood(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                            const json_t *canon, const char *source, const char *source_key,
                            int64_t current, const int64_t *entities, size_t ne, hood *h, bool *ok,
                            mdm_err *err)
{
    *ok = false;
    int64_t *ids = mdm_xmalloc((ne + 1) * sizeof *ids);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        ids[k++] = entities[i];
    if (current)
        ids[k++] = current;
    k = mdm_score_sort_ids(ids, k);
    mdm_buf arr = {0};
    mdm_db_id_array(&arr, ids, k);
    free(ids);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", MDM_RECLUSTER_MAX + 1);
    const char *pl[1] = {arr.data}, *pm[2] = {arr.data, lim};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_lock, pl, &res, err);
    if (st == MDM_OK) {
        PQclear(res);
        st = mdm_db_exec(db, &stmt_members, pm, &res, err);
    }
    mdm_buf_free(&arr);
    if (st != MDM_OK)
        return st;
    int nm = PQntuples(res);
    if (nm > MDM_RECLUSTER_MAX) {
        mdm_log(MDM_LOG_INFO, "event=recluster_skipped record=%lld reason=size members=%d",
                (long long)record_id, nm);
        PQclear(res);
        return MDM_OK;
    }
    for (int i = 0; i < nm; i++)
        if (!strcmp(mdm_db_get(res, i, "held", "f"), "t")) {
            PQclear(res);
            return MDM_OK;
        }
    h->r = mdm_xcalloc((size_t)nm + 1, sizeof *h->r);
    h->ar = mdm_arena_new(16384);
    mdm_norm *norm = mdm_engine_norm_acquire(err);
    if (!norm) {
        PQclear(res);
        return MDM_EINTERNAL;
    }
    bool self_in = false;
    for (int i = 0; i < nm; i++) {
        json_t *c = json_loads(mdm_db_get(res, i, "n", "{}"), 0, NULL);
        if (!c)
            continue;
        nrec *r = &h->r[h->n];
        r->id = mdm_db_get_ll(res, i, "id", 0);
        r->entity = mdm_db_get_ll(res, i, "entity_id", 0);
        r->source = mdm_xstrdup(mdm_db_get(res, i, "source", ""));
        r->source_key = mdm_xstrdup(mdm_db_get(res, i, "source_key", ""));
        if (r->id == record_id) { /* the stored form may be older than canon */
            json_decref(c);
            c = json_incref((json_t *)canon);
            self_in = true;
            h->self = h->n;
        }
        r->canon = c;
        mdm_score_prepare(ctx, norm, h->ar, c, &r->rec);
        h->n++;
    }
    PQclear(res);
    if (!self_in) {
        nrec *r = &h->r[h->n];
        r->id = record_id;
        r->entity = 0;
        r->source = mdm_xstrdup(source);
        r->source_key = mdm_xstrdup(source_key);
        r->canon = json_incref((json_t *)canon);
        mdm_score_prepare(ctx, norm, h->ar, r->canon, &r->rec);
        h->self = h->n++;
    }
    mdm_engine_norm_release(norm);
    for (size_t i = 0; i < h->n; i++)
        if (!h->r[i].rec.has_feat)
            return MDM_OK; /* no trained model */
    h->feats = mdm_xmalloc((h->n + 1) * sizeof *h->feats);
    for (size_t i = 0; i < h->n; i++) {
        h->feats[i] = h->r[i].rec.feat; /* a copy: the engine rewrites it */
        h->feats[i].source = 0;         /* every pair may match, as in bulk */
    }
    const char **src = mdm_xmalloc(h->n * sizeof *src), **key = mdm_xmalloc(h->n * sizeof *key);
    uint64_t *rank = mdm_xmalloc(h->n * sizeof *rank);
    for (size_t i = 0; i < h->n; i++) {
        src[i] = h->r[i].source;
        key[i] = h->r[i].source_key;
    }
    mdm_recluster_ranks(mdm_engine_model(ctx), h->n, h->feats, src, key, rank);
    for (size_t i = 0; i < h->n; i++)
        h->r[i].tiekey = rank[i];
    free(rank);
    free(key);
    free(src);
    *ok = true;
    return MDM_OK;
}

static mdm_status cluster_hood(const mdm_engine *ctx, hood *h, mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    uint64_t *tiekey = mdm_xmalloc((h->n + 1) * sizeof *tiekey);
    for (size_t i = 0; i < h->n; i++)
        tiekey[i] = h->r[i].tiekey;
    uint32_t *cl = mdm_xmalloc((h->n + 1) * sizeof *cl);
    mdm_link_feats_opts lo = {.link = rs->auto_link,
                              .review = rs->review,
                              .threads = 1,
                              .no_tf = true,
                              .tiekey = tiekey,
                              .nstats = h->nstats,
                              .bridge = h->bridge = mdm_xcalloc(h->n + 1, 1)};
    mdm_link_stats ls;
    mdm_status st = mdm_link_feats_ex(mdm_engine_model(ctx), h->feats, h->n, &lo, cl, &h->edges,
                                      &h->nedges, &ls, err);
    for (size_t i = 0; st == MDM_OK && i < h->n; i++)
        h->r[i].cluster = cl[i];
    free(cl);
    free(tiekey);
    return st;
}

/* The golden records around the neighbourhood: those holding a candidate of one of its
 * records scored at or above review against one of them (*extra, sorted, *nextra of
 * them). Clustering them too makes the neighbourhood the records the bulk path would
 * weigh together: a record refused by a guard when its cluster was smaller is weighed
 * again when the cluster grows. */
static mdm_status expand(mdm_db *db, const mdm_engine *ctx, const hood *h, int64_t **extra,
                         size_t *nextra, mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    *extra = NULL;
    *nextra = 0;
    int64_t *ids = mdm_xmalloc((h->n + 1) * sizeof *ids);
    for (size_t i = 0; i < h->n; i++)
        ids[i] = h->r[i].id;
    mdm_buf arr = {0};
    mdm_db_id_array(&arr, ids, h->n);
    free(ids);
    char kcap[16], lim[16];
    snprintf(kcap, sizeof kcap, "%d", rs->key_cap);
    snprintf(lim, sizeof lim, "%d", MDM_RECLUSTER_MAX);
    const char *p[3] = {arr.data, kcap, lim};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_around, p, &res, err);
    mdm_buf_free(&arr);
    if (st != MDM_OK)
        return st;
    int nc = PQntuples(res);
    if (nc == 0) {
        PQclear(res);
        return MDM_OK;
    }
    size_t n = h->n + (size_t)nc;
    mdm_feat *feats = mdm_xmalloc(n * sizeof *feats);
    int64_t *ent = mdm_xcalloc(n, sizeof *ent);
    for (size_t i = 0; i < h->n; i++)
        feats[i] = h->feats[i]; /* shared values already dropped (shared_stats) */
    mdm_norm *norm = mdm_engine_norm_acquire(err);
    if (!norm) {
        PQclear(res);
        free(feats);
        free(ent);
        return MDM_EINTERNAL;
    }
    mdm_arena *ar = mdm_arena_new(16384);
    size_t k = h->n;
    for (int row = 0; row < nc; row++) {
        memset(&feats[k], 0, sizeof feats[k]);
        if (mdm_score_features_text(ctx, norm, ar, mdm_db_get(res, row, "n", "{}"),
                                    mdm_score_phone_key, NULL, &feats[k], NULL)) {
            feats[k].source = 0;
            ent[k] = mdm_db_get_ll(res, row, "entity_id", 0);
            k++;
        }
    }
    mdm_engine_norm_release(norm);
    PQclear(res);
    uint32_t *cl = mdm_xmalloc(k * sizeof *cl);
    mdm_edge *edges = NULL;
    size_t ne = 0;
    mdm_link_feats_opts lo = {
        .link = rs->auto_link, .review = rs->review, .threads = 1, .no_tf = true};
    mdm_link_stats ls;
    st = mdm_link_feats_ex(mdm_engine_model(ctx), feats, k, &lo, cl, &edges, &ne, &ls, err);
    if (st == MDM_OK) {
        int64_t *x = mdm_xmalloc((ne + 1) * sizeof *x);
        size_t nx = 0;
        for (size_t e = 0; e < ne; e++) {
            uint32_t a = edges[e].a, b = edges[e].b;
            if ((a < h->n) == (b < h->n))
                continue; /* both inside, or both outside */
            x[nx++] = ent[a < h->n ? b : a];
        }
        *nextra = mdm_score_sort_ids(x, nx);
        *extra = x;
    }
    free(edges);
    free(cl);
    mdm_arena_free(ar);
    free(ent);
    free(feats);
    return st;
}

/* ---- applying ------------------------------------------------------------------------- */

/* Reads where each record of the neighbourhood is now (after a split). */
static mdm_status where_now(mdm_db *db, hood *h, mdm_err *err)
{
    int64_t *ids = mdm_xmalloc((h->n + 1) * sizeof *ids);
    for (size_t i = 0; i < h->n; i++)
        ids[i] = h->r[i].id;
    mdm_buf arr = {0};
    mdm_db_id_array(&arr, ids, h->n);
    free(ids);
    const char *p[1] = {arr.data};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_where, p, &res, err);
    mdm_buf_free(&arr);
    if (st != MDM_OK)
        return st;
    for (size_t i = 0; i < h->n; i++)
        h->r[i].entity = 0;
    for (int row = 0; row < PQntuples(res); row++) {
        int64_t rid = mdm_db_get_ll(res, row, "record_id", 0);
        for (size_t i = 0; i < h->n; i++)
            if (h->r[i].id == rid)
                h->r[i].entity = mdm_db_get_ll(res, row, "entity_id", 0);
    }
    PQclear(res);
    return MDM_OK;
}

/* The size of the part of entity e in cluster c, and its smallest tie key. */
static size_t part_size(const hood *h, int64_t e, uint32_t c, uint64_t *minkey)
{
    size_t n = 0;
    *minkey = UINT64_MAX;
    for (size_t i = 0; i < h->n; i++)
        if (h->r[i].entity == e && h->r[i].cluster == c) {
            n++;
            if (h->r[i].tiekey < *minkey)
                *minkey = h->r[i].tiekey;
        }
    return n;
}

/* Splits every golden record of the neighbourhood whose records lie in several
 * clusters: the largest part (ties: the smallest tie key) keeps the golden record. */
static mdm_status apply_splits(mdm_db *db, const mdm_engine *ctx, hood *h, const char *actor,
                               const char *reason, mdm_recluster_result *out, mdm_err *err)
{
    for (;;) {
        /* the first golden record (in record order) spanning two clusters */
        int64_t e = 0;
        for (size_t i = 0; i < h->n && !e; i++) {
            if (!h->r[i].entity)
                continue;
            for (size_t j = i + 1; j < h->n && !e; j++)
                if (h->r[j].entity == h->r[i].entity && h->r[j].cluster != h->r[i].cluster)
                    e = h->r[i].entity;
        }
        if (!e)
            return MDM_OK;
        uint32_t keep = UINT32_MAX;
        size_t best = 0;
        uint64_t best_key = UINT64_MAX;
        for (size_t i = 0; i < h->n; i++) {
            if (h->r[i].entity != e)
                continue;
            uint64_t mk;
            size_t s = part_size(h, e, h->r[i].cluster, &mk);
            if (s > best || (s == best && mk < best_key)) {
                best = s;
                best_key = mk;
                keep = h->r[i].cluster;
            }
        }
        /* one part moves: the part of the first record outside the kept cluster */
        uint32_t move = UINT32_MAX;
        for (size_t i = 0; i < h->n && move == UINT32_MAX; i++)
            if (h->r[i].entity == e && h->r[i].cluster != keep)
                move = h->r[i].cluster;
        int64_t *ids = mdm_xmalloc((h->n + 1) * sizeof *ids);
        size_t k = 0;
        for (size_t i = 0; i < h->n; i++)
            if (h->r[i].entity == e && h->r[i].cluster == move)
                ids[k++] = h->r[i].id;
        int64_t ne = 0;
        mdm_status st = mdm_golden_split(db, ctx, e, ids, k, actor, reason, &ne, err);
        free(ids);
        if (st != MDM_OK)
            return st;
        out->splits++;
        if ((st = where_now(db, h, err)) != MDM_OK)
            return st;
    }
}

/* Merges the golden records of each cluster into its oldest one. */
static mdm_status apply_merges(mdm_db *db, const mdm_engine *ctx, hood *h, const char *actor,
                               const char *reason, mdm_recluster_result *out, mdm_err *err)
{
    for (size_t i = 0; i < h->n; i++) {
        if (!h->r[i].entity)
            continue;
        uint32_t c = h->r[i].cluster;
        int64_t into = h->r[i].entity;
        for (size_t j = 0; j < h->n; j++)
            if (h->r[j].cluster == c && h->r[j].entity && h->r[j].entity < into)
                into = h->r[j].entity;
        for (size_t j = 0; j < h->n; j++) {
            int64_t from = h->r[j].entity;
            if (h->r[j].cluster != c || !from || from == into)
                continue;
            int64_t survivor = 0;
            mdm_status st =
                mdm_golden_merge(db, ctx, into, from, "auto", actor, reason, 0, &survivor, err);
            if (st != MDM_OK)
                return st;
            out->merges++;
            for (size_t q = 0; q < h->n; q++)
                if (h->r[q].entity == from || h->r[q].entity == into)
                    h->r[q].entity = survivor;
            into = survivor;
        }
    }
    return MDM_OK;
}

/* The best edge (probability, then the other record's tie key) of the record being
 * resolved, with the other end inside (same_cluster) or outside its cluster (and then
 * not in a cluster the rules keep apart from its own, mdm_edge.apart). */
static const mdm_edge *best_edge(const hood *h, bool same_cluster, size_t *other)
{
    const mdm_edge *best = NULL;
    size_t s = h->self;
    for (size_t e = 0; e < h->nedges; e++) {
        const mdm_edge *ed = &h->edges[e];
        size_t o;
        if (ed->a == s)
            o = ed->b;
        else if (ed->b == s)
            o = ed->a;
        else
            continue;
        if ((h->r[o].cluster == h->r[s].cluster) != same_cluster || ed->apart)
            continue;
        if (!best || ed->weight > best->weight ||
            (ed->weight == best->weight && h->r[o].tiekey < h->r[*other].tiekey)) {
            best = ed;
            *other = o;
        }
    }
    return best;
}

static mdm_status apply(mdm_db *db, const mdm_engine *ctx, hood *h, const char *actor,
                        mdm_recluster_result *out, mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    nrec *self = &h->r[h->self];
    char reason[96];
    snprintf(reason, sizeof reason, "reclustered with record %lld", (long long)self->id);
    mdm_status st = apply_splits(db, ctx, h, actor, reason, out, err);
    if (st == MDM_OK)
        st = apply_merges(db, ctx, h, actor, reason, out, err);
    if (st != MDM_OK)
        return st;
    size_t o = 0;
    const mdm_edge *in = best_edge(h, true, &o);
    if (in) {
        out->link_p = in->prob;
        double p;
        mdm_score_prepared(ctx, &self->rec, &h->r[o].rec, &p, &out->link_expl, NULL);
    }
    if (!self->entity) {
        int64_t target = 0;
        for (size_t i = 0; i < h->n; i++)
            if (i != h->self && h->r[i].cluster == self->cluster && h->r[i].entity)
                target = h->r[i].entity;
        if (target) {
            char rule[64];
            snprintf(rule, sizeof rule, "auto_link p>=%.2f", rs->auto_link);
            json_t *details =
                out->link_expl ? json_pack("{s:O}", "explanation", out->link_expl) : NULL;
            st = mdm_golden_link(db, ctx, self->id, &target, "auto", actor, out->link_p, rule,
                                 details, err);
            json_decref(details);
            if (st != MDM_OK)
                return st;
            out->linked = true;
        } else {
            size_t ro = 0;
            const mdm_edge *rv = best_edge(h, false, &ro);
            if ((st = mdm_golden_create(db, ctx, self->id, "auto", actor, rv ? rv->prob : 0,
                                        rv ? "review" : "no_match", &target, err)) != MDM_OK)
                return st;
            out->created = true;
        }
        self->entity = target;
        for (size_t i = 0; i < h->n; i++)
            if (h->r[i].cluster == self->cluster)
                h->r[i].entity = target;
    }
    out->entity_id = self->entity;
    if (h->bridge[h->self]) {
        /* the golden records it links to, best first: the questions every path asks
         * about a bridge (matching/link.h) */
        uint32_t *cl = mdm_xmalloc((h->n + 1) * sizeof *cl);
        uint64_t *tk = mdm_xmalloc((h->n + 1) * sizeof *tk);
        size_t *to = mdm_xmalloc(2 * (h->n + 1) * sizeof *to);
        for (size_t i = 0; i < h->n; i++) {
            cl[i] = h->r[i].cluster;
            tk[i] = h->r[i].tiekey;
        }
        mdm_link_bridge_targets(h->edges, h->nedges, cl, tk, h->bridge, h->n, rs->auto_link, to);
        for (int k = 0; k < 2; k++) {
            size_t e = to[2 * h->self + (size_t)k];
            if (e == SIZE_MAX)
                break;
            const mdm_edge *ed = &h->edges[e];
            size_t bo = ed->a == h->self ? ed->b : ed->a;
            if (!h->r[bo].entity || h->r[bo].entity == self->entity)
                break;
            int q = out->nbridge++;
            out->bridge_entity[q] = h->r[bo].entity;
            out->bridge_p[q] = ed->prob;
            out->bridge_w[q] = ed->weight;
            double p;
            mdm_score_prepared(ctx, &self->rec, &h->r[bo].rec, &p, &out->bridge_expl[q], NULL);
        }
        free(to);
        free(tk);
        free(cl);
        return MDM_OK;
    }
    size_t ro = 0;
    const mdm_edge *rv = best_edge(h, false, &ro);
    if (rv && h->r[ro].entity && h->r[ro].entity != self->entity) {
        out->review_entity = h->r[ro].entity;
        out->review_p = rv->prob;
        out->review_w = rv->weight;
        double p;
        mdm_score_prepared(ctx, &self->rec, &h->r[ro].rec, &p, &out->review_expl, NULL);
    }
    return MDM_OK;
}

mdm_status mdm_recluster_record(mdm_db *db, const mdm_engine *ctx, int64_t record_id,
                                const json_t *canon, const char *source, const char *source_key,
                                int64_t current, const int64_t *entities, size_t n,
                                const char *actor, mdm_recluster_result *out, mdm_err *err)
{
    memset(out, 0, sizeof *out);
    const mdm_model *m = mdm_engine_model(ctx);
    if (!m || !m->trained)
        return MDM_OK;
    hood h = {0};
    bool ok = false;
    int64_t *cross = NULL, *extra = NULL, *all = NULL;
    size_t ncross = 0, nextra = 0, nall = 0;
    mdm_status st = crossings(db, ctx, record_id, canon, &cross, &ncross, err);
    if (st == MDM_OK) {
        all = mdm_xmalloc((n + ncross + 1) * sizeof *all);
        if (n)
            memcpy(all, entities, n * sizeof *all);
        if (ncross)
            memcpy(all + n, cross, ncross * sizeof *all);
        nall = n + ncross;
        if (!nall && !current) { /* nothing around it after all */
            free(all);
            free(cross);
            return MDM_OK;
        }
        st = read_hood(db, ctx, record_id, canon, source, source_key, current, all, nall, &h, &ok,
                       err);
    }
    if (st == MDM_OK && ok)
        st = shared_stats(db, ctx, &h, err);
    if (st == MDM_OK && ok)
        st = expand(db, ctx, &h, &extra, &nextra, err);
    if (st == MDM_OK && ok && nextra) {
        all = mdm_xrealloc(all, (nall + nextra + 1) * sizeof *all);
        memcpy(all + nall, extra, nextra * sizeof *all);
        nall += nextra;
        hood_free(&h);
        memset(&h, 0, sizeof h);
        st = read_hood(db, ctx, record_id, canon, source, source_key, current, all, nall, &h, &ok,
                       err);
        if (st == MDM_OK && ok)
            st = shared_stats(db, ctx, &h, err);
    }
    free(all);
    free(cross);
    free(extra);
    if (st == MDM_OK && ok)
        st = cluster_hood(ctx, &h, err);
    if (st == MDM_OK && ok) {
        st = apply(db, ctx, &h, actor ? actor : "system", out, err);
        out->done = st == MDM_OK;
    }
    hood_free(&h);
    return st;
}
