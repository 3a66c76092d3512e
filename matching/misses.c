/* Classification of missed true pairs (see misses.h). */
#include "matching/misses.h"

#include "common/io.h"
#include "common/mem.h"
#include "matching/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mdm_misses_class_name(int c)
{
    static const char *const fixed[] = {"not_allowed", "never_compared", "block_windowed",
                                        "vetoed",      "below_review",   "review_band"};
    static char guard_names[MDM_GUARD_COUNT][32];
    if (c >= 0 && c < MDM_MISS_GUARD)
        return fixed[c];
    if (c >= MDM_MISS_GUARD && c < MDM_MISS_APART) {
        int g = c - MDM_MISS_GUARD + 1;
        if (!guard_names[g][0])
            snprintf(guard_names[g], sizeof guard_names[g], "refused_%s",
                     mdm_guard_name((mdm_guard)g));
        return guard_names[g];
    }
    return c == MDM_MISS_APART ? "apart" : "unknown";
}

typedef struct rec_ent {
    uint32_t entity, rec;
} rec_ent;

static int cmp_rec_ent(const void *x, const void *y)
{
    const rec_ent *a = x, *b = y;
    if (a->entity != b->entity)
        return a->entity < b->entity ? -1 : 1;
    return a->rec < b->rec ? -1 : a->rec > b->rec;
}

static bool is_candidate(const mdm_misses_in *in, uint32_t a, uint32_t b)
{
    uint64_t key = (uint64_t)a << 32 | b;
    size_t lo = 0, hi = in->npairs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (in->pairs[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < in->npairs && in->pairs[lo] == key;
}

/* edge index by pair: open addressing over (a << 32 | b) + 1 */
typedef struct edge_map {
    uint64_t *keys;
    size_t *idx;
    size_t cap;
} edge_map;

static void edge_map_build(edge_map *em, const mdm_edge *e, size_t n)
{
    em->cap = 16;
    while (em->cap < 2 * n + 2)
        em->cap *= 2;
    em->keys = mdm_xcalloc(em->cap, sizeof *em->keys);
    em->idx = mdm_xmalloc(em->cap * sizeof *em->idx);
    for (size_t i = 0; i < n; i++) {
        uint32_t a = e[i].a < e[i].b ? e[i].a : e[i].b, b = e[i].a < e[i].b ? e[i].b : e[i].a;
        uint64_t k = ((uint64_t)a << 32 | b) + 1;
        size_t h = (size_t)(mdm_hash64(&k, sizeof k, 7) & (em->cap - 1));
        while (em->keys[h] && em->keys[h] != k)
            h = (h + 1) & (em->cap - 1);
        em->keys[h] = k;
        em->idx[h] = i;
    }
}

static long edge_map_find(const edge_map *em, uint32_t a, uint32_t b)
{
    uint64_t k = ((uint64_t)a << 32 | b) + 1;
    size_t h = (size_t)(mdm_hash64(&k, sizeof k, 7) & (em->cap - 1));
    while (em->keys[h]) {
        if (em->keys[h] == k)
            return (long)em->idx[h];
        h = (h + 1) & (em->cap - 1);
    }
    return -1;
}

/* Whether a and b share a blocking key of any rule (then an oversized block windowed
 * them apart). */
static bool share_key(const mdm_model *m, const mdm_feat *fa, const mdm_feat *fb)
{
    mdm_arena *ar = mdm_arena_new(4096);
    bool shared = false;
    const char *ka[256], *kb[256];
    size_t na = mdm_block_keys(m, fa, ar, ka, 256), nb = mdm_block_keys(m, fb, ar, kb, 256);
    if (na > 256)
        na = 256;
    if (nb > 256)
        nb = 256;
    for (size_t i = 0; i < na && !shared; i++)
        for (size_t j = 0; j < nb && !shared; j++)
            shared = strcmp(ka[i], kb[j]) == 0;
    mdm_arena_free(ar);
    return shared;
}

static void levels_text(const mdm_model *m, const int8_t *lv, mdm_buf *b)
{
    for (int k = 0; k < m->ncmp; k++) {
        if (k)
            mdm_buf_putc(b, ' ');
        mdm_buf_printf(b, "%s=%s", m->cmp[k].name, mdm_model_level_name(&m->cmp[k], lv[k]));
    }
}

static int classify(const mdm_misses_in *in, const edge_map *em, uint32_t a, uint32_t b, int8_t *lv,
                    double *prob, double *weight)
{
    bool vetoed = false;
    *prob = in->score(in->score_ctx, a, b, lv, weight, &vetoed);
    if (in->allowed && !in->allowed(in->allowed_ctx, in->feats[a].source, in->feats[b].source))
        return MDM_MISS_NOT_ALLOWED;
    if (!is_candidate(in, a, b))
        return share_key(in->m, &in->feats[a], &in->feats[b]) ? MDM_MISS_WINDOWED
                                                              : MDM_MISS_NEVER_COMPARED;
    if (vetoed)
        return MDM_MISS_VETOED;
    if (*prob < in->review)
        return MDM_MISS_BELOW_REVIEW;
    if (*prob < in->link)
        return MDM_MISS_REVIEW;
    long e = edge_map_find(em, a, b);
    if (e >= 0 && in->refused && in->refused[e] != MDM_GUARD_NONE)
        return MDM_MISS_GUARD + in->refused[e] - 1;
    return MDM_MISS_APART;
}

mdm_status mdm_misses_write(const mdm_misses_in *in, mdm_eval_truth *t, const char *path,
                            mdm_misses_result *res, mdm_buf *examples, mdm_err *err)
{
    memset(res, 0, sizeof *res);
    FILE *f = mdm_io_open(path, "w");
    if (!f)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    fputs("class,source_a,record_id_a,source_b,record_id_b,probability,match_weight,levels\n", f);
    rec_ent *re = mdm_xmalloc((in->n ? in->n : 1) * sizeof *re);
    size_t nk = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t e = mdm_eval_truth_entity(t, in->src_names[in->feats[i].source], in->ids[i]);
        if (e == UINT32_MAX) {
            res->unknown++;
            continue;
        }
        re[nk++] = (rec_ent){e, (uint32_t)i};
    }
    qsort(re, nk, sizeof *re, cmp_rec_ent);
    edge_map em;
    edge_map_build(&em, in->edges, in->nedges);
    int shown[MDM_MISS_CLASSES] = {0};
    mdm_buf line = {0};
    int8_t lv[MDM_MAX_COMPARISONS];
    for (size_t i = 0; i < nk;) {
        size_t j = i;
        while (j < nk && re[j].entity == re[i].entity)
            j++;
        for (size_t x = i; x < j; x++)
            for (size_t y = x + 1; y < j; y++) {
                uint32_t a = re[x].rec, b = re[y].rec; /* a < b: sorted by record */
                res->true_pairs++;
                if (in->cluster_of[a] == in->cluster_of[b])
                    continue;
                res->missed++;
                double prob, weight;
                int c = classify(in, &em, a, b, lv, &prob, &weight);
                res->count[c]++;
                mdm_buf_reset(&line);
                mdm_buf_puts(&line, mdm_misses_class_name(c));
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->src_names[in->feats[a].source]);
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->ids[a]);
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->src_names[in->feats[b].source]);
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->ids[b]);
                mdm_buf_printf(&line, ",%.6f,%.4f,", prob, weight);
                levels_text(in->m, lv, &line);
                mdm_buf_putc(&line, '\n');
                fwrite(line.data, 1, line.len, f);
                if (examples && shown[c] < 3) {
                    shown[c]++;
                    mdm_buf_append(examples, line.data, line.len);
                }
            }
        i = j;
    }
    /* wrong merges: pairs of one cluster that the truth keeps apart */
    rec_ent *rc = mdm_xmalloc((nk ? nk : 1) * sizeof *rc);
    uint32_t *ent = mdm_xmalloc((in->n ? in->n : 1) * sizeof *ent);
    for (size_t i = 0; i < nk; i++) {
        ent[re[i].rec] = re[i].entity;
        rc[i] = (rec_ent){in->cluster_of[re[i].rec], re[i].rec};
    }
    qsort(rc, nk, sizeof *rc, cmp_rec_ent);
    int wshown[2] = {0};
    for (size_t i = 0; i < nk;) {
        size_t j = i;
        while (j < nk && rc[j].entity == rc[i].entity)
            j++;
        for (size_t x = i; x < j; x++)
            for (size_t y = x + 1; y < j; y++) {
                uint32_t a = rc[x].rec, b = rc[y].rec;
                if (ent[a] == ent[b])
                    continue;
                double prob, weight;
                bool vetoed = false;
                prob = in->score(in->score_ctx, a, b, lv, &weight, &vetoed);
                long e = edge_map_find(&em, a, b);
                /* linked directly (at or above link, no guard), or through other records */
                bool direct = e >= 0 && in->edges[e].prob >= in->link && !in->edges[e].guard &&
                              !(in->refused && in->refused[e] != MDM_GUARD_NONE);
                res->wrong_pairs++;
                res->wrong_link += direct;
                mdm_buf_reset(&line);
                mdm_buf_puts(&line, direct ? "wrong_link" : "wrong_cluster");
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->src_names[in->feats[a].source]);
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->ids[a]);
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->src_names[in->feats[b].source]);
                mdm_buf_putc(&line, ',');
                mdm_csv_quote(&line, in->ids[b]);
                mdm_buf_printf(&line, ",%.6f,%.4f,", prob, weight);
                levels_text(in->m, lv, &line);
                mdm_buf_putc(&line, '\n');
                fwrite(line.data, 1, line.len, f);
                if (examples && wshown[direct] < 3) {
                    wshown[direct]++;
                    mdm_buf_append(examples, line.data, line.len);
                }
            }
        i = j;
    }
    free(ent);
    free(rc);
    mdm_buf_free(&line);
    free(em.keys);
    free(em.idx);
    free(re);
    if (mdm_io_close(f) != 0)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    return MDM_OK;
}
