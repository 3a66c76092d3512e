/* Blocking keys and the batch candidate set (see block.h). */
#include "matching/block.h"

#include "matching/phonetic.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parallel for ---- */

typedef struct pf_arg {
    void (*fn)(void *ctx, int t, size_t lo, size_t hi);
    void *ctx;
    int t;
    size_t lo, hi;
} pf_arg;

static void *pf_main(void *p)
{
    pf_arg *a = p;
    a->fn(a->ctx, a->t, a->lo, a->hi);
    return NULL;
}

void mdm_parallel_for(int threads, size_t n, void (*fn)(void *ctx, int t, size_t lo, size_t hi),
                      void *ctx)
{
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > n)
        threads = n ? (int)n : 1;
    if (threads == 1) {
        fn(ctx, 0, 0, n);
        return;
    }
    pthread_t *th = mdm_xcalloc((size_t)threads, sizeof *th);
    pf_arg *args = mdm_xcalloc((size_t)threads, sizeof *args);
    for (int t = 0; t < threads; t++) {
        args[t] = (pf_arg){fn, ctx, t, n * (size_t)t / (size_t)threads,
                           n * (size_t)(t + 1) / (size_t)threads};
        if (t > 0 && pthread_create(&th[t], NULL, pf_main, &args[t]) != 0) {
            args[t].fn = NULL; /* could not start: run it here below */
        }
    }
    fn(ctx, 0, args[0].lo, args[0].hi);
    for (int t = 1; t < threads; t++) {
        if (args[t].fn)
            pthread_join(th[t], NULL);
        else
            fn(ctx, t, args[t].lo, args[t].hi);
    }
    free(th);
    free(args);
}

/* ---- key strings ---- */

static const char *multi_value(const mdm_feat *f, mdm_field field, int i)
{
    if (field == MDM_FIELD_EMAIL)
        return i < f->n_emails ? f->emails[i] : NULL;
    if (field == MDM_FIELD_PHONE)
        return i < f->n_phones ? f->phones[i] : NULL;
    return i == 0 ? f->v[field] : NULL;
}

/* Appends the value of one key part to out[*len..cap); false when the part is missing. */
static bool part_value(const mdm_key_part *p, const mdm_feat *f, int vi, char *out, size_t *len,
                       size_t cap)
{
    char tmp[64];
    const char *v = multi_value(f, p->field, vi);
    switch (p->fn) {
    case MDM_KEY_YEAR:
        if (!f->by)
            return false;
        snprintf(tmp, sizeof tmp, "%d", f->by);
        v = tmp;
        break;
    case MDM_KEY_MONTHDAY:
        if (!f->bm || !f->bd)
            return false;
        snprintf(tmp, sizeof tmp, "%d-%d", f->bm, f->bd);
        v = tmp;
        break;
    case MDM_KEY_CANON:
        v = p->field == MDM_FIELD_FIRST_NAME ? f->first_canon : v;
        break;
    case MDM_KEY_PHONETIC:
        if (p->field == MDM_FIELD_FIRST_NAME)
            v = f->first_phon;
        else if (p->field == MDM_FIELD_LAST_NAME)
            v = f->last_phon;
        else if (v) {
            char alt[8];
            mdm_phon_double_metaphone(v, tmp, alt, 5);
            v = tmp;
        }
        break;
    case MDM_KEY_SOUNDEX:
        if (v) {
            mdm_phon_soundex(v, tmp, 5);
            v = tmp;
        }
        break;
    default:
        break;
    }
    if (!v || !*v)
        return false;
    size_t n = strlen(v);
    const char *s = v;
    if (p->fn == MDM_KEY_INITIAL)
        n = 1;
    else if (p->fn == MDM_KEY_PREFIX3 && n > 3)
        n = 3;
    else if (p->fn == MDM_KEY_LAST4 && n > 4) {
        s = v + n - 4;
        n = 4;
    }
    if (*len + n + 2 >= cap)
        n = cap > *len + 2 ? cap - *len - 2 : 0;
    if (*len && *len + 1 < cap)
        out[(*len)++] = '|';
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = 0;
    return true;
}

/* Number of values a rule iterates over (the first multi-valued part's count, else 1). */
static int rule_values(const mdm_block_rule *r, const mdm_feat *f, int *multi_part)
{
    *multi_part = -1;
    for (int i = 0; i < r->nparts; i++) {
        mdm_field fl = r->parts[i].field;
        if (fl == MDM_FIELD_EMAIL || fl == MDM_FIELD_PHONE) {
            *multi_part = i;
            return fl == MDM_FIELD_EMAIL ? f->n_emails : f->n_phones;
        }
    }
    return 1;
}

/* Order-insensitive names: a rule with a first-name and a last-name part under the same
 * function (first_name:phonetic+last_name:phonetic) puts the smaller of the two values
 * first, so a record with first and last name swapped has the same key. Sets *pf and
 * *pl to the parts to exchange, or returns false. */
static bool name_parts_swapped(const mdm_block_rule *r, const mdm_feat *f, int *pf, int *pl)
{
    *pf = *pl = -1;
    for (int i = 0; i < r->nparts; i++) {
        if (r->parts[i].field == MDM_FIELD_FIRST_NAME && *pf < 0)
            *pf = i;
        else if (r->parts[i].field == MDM_FIELD_LAST_NAME && *pl < 0)
            *pl = i;
    }
    if (*pf < 0 || *pl < 0 || r->parts[*pf].fn != r->parts[*pl].fn ||
        r->parts[*pf].fn == MDM_KEY_CANON)
        return false;
    char x[96], y[96];
    size_t lx = 0, ly = 0;
    return part_value(&r->parts[*pf], f, 0, x, &lx, sizeof x) &&
           part_value(&r->parts[*pl], f, 0, y, &ly, sizeof y) && strcmp(x, y) > 0;
}

/* Key of rule r, value vi, into out (prefix "r<rule>:" included); length or 0. */
static size_t rule_key(const mdm_model *m, int ri, const mdm_feat *f, int vi, int multi_part,
                       char *out, size_t cap)
{
    const mdm_block_rule *r = &m->rules[ri];
    int pre = snprintf(out, cap, "r%d:", ri);
    size_t len = 0;
    char *body = out + pre;
    int pf, pl;
    bool swap = name_parts_swapped(r, f, &pf, &pl);
    for (int i = 0; i < r->nparts; i++) {
        int p = swap && i == pf ? pl : swap && i == pl ? pf : i;
        if (!part_value(&r->parts[p], f, i == multi_part ? vi : 0, body, &len, cap - (size_t)pre))
            return 0;
    }
    return (size_t)pre + len;
}

/* The record as its second spelling of the names would key it (Mueller for Müller), in
 * *alt; false when it has none. */
static bool alt_view(const mdm_feat *f, mdm_feat *alt)
{
    if (!f->first_alt && !f->last_alt)
        return false;
    *alt = *f;
    if (f->first_alt) {
        alt->v[MDM_FIELD_FIRST_NAME] = f->first_alt;
        alt->first_canon = f->first_alt;
    }
    if (f->last_alt)
        alt->v[MDM_FIELD_LAST_NAME] = f->last_alt;
    return true;
}

size_t mdm_block_keys(const mdm_model *m, const mdm_feat *f, mdm_arena *a, const char **keys,
                      size_t max)
{
    size_t n = 0;
    char buf[256];
    mdm_feat alt;
    int views = alt_view(f, &alt) ? 2 : 1;
    for (int ri = 0; ri < m->nrules; ri++) {
        int mp, nv = rule_values(&m->rules[ri], f, &mp);
        for (int vi = 0; vi < nv * views; vi++) {
            size_t len = rule_key(m, ri, vi < nv ? f : &alt, vi % nv, mp, buf, sizeof buf);
            if (!len)
                continue;
            bool dup = false;
            for (size_t k = 0; k < n && k < max; k++)
                dup |= strcmp(keys[k], buf) == 0;
            if (dup)
                continue;
            if (n < max)
                keys[n] = mdm_arena_strndup(a, buf, len);
            n++;
        }
    }
    return n;
}

/* ---- radix sorts ---- */

void mdm_block_sort_u64(uint64_t *a, size_t n)
{
    if (n < 2)
        return;
    uint64_t *tmp = mdm_xmalloc(n * sizeof *tmp);
    uint64_t *src = a, *dst = tmp;
    size_t *cnt = mdm_xmalloc(65536 * sizeof *cnt);
    for (int pass = 0; pass < 4; pass++) {
        int shift = pass * 16;
        memset(cnt, 0, 65536 * sizeof *cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(src[i] >> shift) & 0xffff]++;
        if (cnt[(src[0] >> shift) & 0xffff] == n)
            continue; /* every key has this digit: nothing to do */
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 0xffff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(cnt);
    free(tmp);
}

typedef struct entry {
    uint64_t h;
    uint32_t idx;
    uint32_t sort; /* neighbourhood order inside oversized blocks */
} entry;

static void sort_entries(entry *a, size_t n)
{
    if (n < 2)
        return;
    entry *tmp = mdm_xmalloc(n * sizeof *tmp);
    entry *src = a, *dst = tmp;
    size_t *cnt = mdm_xmalloc(65536 * sizeof *cnt);
    for (int pass = 0; pass < 4; pass++) {
        int shift = pass * 16;
        memset(cnt, 0, 65536 * sizeof *cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(src[i].h >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i].h >> shift) & 0xffff]++] = src[i];
        entry *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(cnt);
    free(tmp);
}

/* ---- candidates ---- */

typedef struct vec64 {
    uint64_t *a;
    size_t n, cap;
} vec64;

static void vpush(vec64 *v, uint64_t x)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 4096;
        v->a = mdm_xrealloc(v->a, v->cap * sizeof *v->a);
    }
    v->a[v->n++] = x;
}

typedef struct entry_vec {
    entry *a;
    size_t n, cap;
} entry_vec;

typedef struct cand_ctx {
    const mdm_model *m;
    const mdm_feat *feats;
    entry_vec *ev; /* per thread */
    /* phase 2 */
    entry *all;
    size_t nall;
    size_t *bounds; /* thread ranges aligned on blocks */
    vec64 *out;     /* per thread */
    mdm_pair_filter filter;
    void *filter_ctx;
    size_t *oversized, *oversized_recs, *blocks, *largest; /* per thread */
    size_t (*rule_pairs)[MDM_MAX_BLOCK_RULES];             /* per thread */
} cand_ctx;

/* Neighbourhood order inside an oversized block: birth year, then the first three
 * characters of the postal code, then the first two letters of the surname. */
static uint32_t sort_key(const mdm_feat *f)
{
    const char *l = f->v[MDM_FIELD_LAST_NAME], *pc = f->v[MDM_FIELD_POSTAL_CODE];
    uint32_t year = f->by >= 1900 && f->by < 2027 ? (uint32_t)(f->by - 1899) : 0;
    uint32_t area = 0;
    for (int i = 0; i < 3 && pc && pc[i]; i++)
        area =
            area * 36 +
            (uint32_t)(pc[i] >= '0' && pc[i] <= '9' ? pc[i] - '0' : (pc[i] | 0x20) - 'a' + 10) % 36;
    uint32_t sur = 0;
    for (int i = 0; i < 2; i++)
        sur =
            sur * 27 +
            (uint32_t)(l && i < (int)strlen(l) && l[i] >= 'a' && l[i] <= 'z' ? l[i] - 'a' + 1 : 0);
    return (year << 25) | ((area & 0xffff) << 10) | (sur & 0x3ff);
}

static void keys_worker(void *p, int t, size_t lo, size_t hi)
{
    cand_ctx *c = p;
    entry_vec *v = &c->ev[t];
    char buf[256];
    for (size_t i = lo; i < hi; i++) {
        const mdm_feat *f = &c->feats[i];
        uint32_t sk = sort_key(f);
        mdm_feat alt;
        int views = alt_view(f, &alt) ? 2 : 1;
        for (int ri = 0; ri < c->m->nrules; ri++) {
            int mp, nv = rule_values(&c->m->rules[ri], f, &mp);
            uint64_t seen[2 * MDM_FEAT_MULTI];
            int nseen = 0;
            for (int vi = 0; vi < nv * views; vi++) {
                size_t len = rule_key(c->m, ri, vi < nv ? f : &alt, vi % nv, mp, buf, sizeof buf);
                if (!len)
                    continue;
                /* the rule index rides in the top 4 bits, for the per-rule statistics */
                uint64_t h = (mdm_hash64(buf, len, 0x5eed) >> 4) | (uint64_t)ri << 60;
                bool dup = false;
                for (int k = 0; k < nseen; k++)
                    dup |= seen[k] == h;
                if (dup)
                    continue;
                if (nseen < 2 * MDM_FEAT_MULTI)
                    seen[nseen++] = h;
                if (v->n == v->cap) {
                    v->cap = v->cap ? 2 * v->cap : 4096;
                    v->a = mdm_xrealloc(v->a, v->cap * sizeof *v->a);
                }
                v->a[v->n++] = (entry){h, (uint32_t)i, sk};
            }
        }
    }
}

static int cmp_sort(const void *x, const void *y)
{
    const entry *a = x, *b = y;
    if (a->sort != b->sort)
        return a->sort < b->sort ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void emit_pair(cand_ctx *c, vec64 *out, uint32_t i, uint32_t j)
{
    if (i == j)
        return;
    if (i > j) {
        uint32_t t = i;
        i = j;
        j = t;
    }
    if (c->filter && !c->filter(c->filter_ctx, c->feats[i].source, c->feats[j].source))
        return;
    vpush(out, (uint64_t)i << 32 | j);
}

static void pairs_worker(void *p, int t, size_t lo_t, size_t hi_t)
{
    (void)lo_t;
    (void)hi_t;
    cand_ctx *c = p;
    size_t lo = c->bounds[t], hi = c->bounds[t + 1];
    vec64 *out = &c->out[t];
    size_t maxb = (size_t)c->m->max_block_size;
    size_t i = lo;
    while (i < hi) {
        size_t j = i + 1;
        while (j < hi && c->all[j].h == c->all[i].h)
            j++;
        size_t s = j - i;
        size_t before = out->n;
        if (s >= 2) {
            c->blocks[t]++;
            if (s > c->largest[t])
                c->largest[t] = s;
            if (s <= maxb) {
                for (size_t a = i; a < j; a++)
                    for (size_t b = a + 1; b < j; b++)
                        emit_pair(c, out, c->all[a].idx, c->all[b].idx);
            } else {
                c->oversized[t]++;
                c->oversized_recs[t] += s;
                qsort(c->all + i, s, sizeof *c->all, cmp_sort);
                for (size_t a = i; a < j; a++)
                    for (size_t b = a + 1; b < j && b <= a + MDM_BLOCK_WINDOW; b++)
                        emit_pair(c, out, c->all[a].idx, c->all[b].idx);
            }
        }
        c->rule_pairs[t][c->all[i].h >> 60] += out->n - before;
        i = j;
    }
}

/* Thread ranges of all[lo..hi) on block boundaries, balanced by the pairs each block
 * yields, into c->bounds[0..threads]. */
static void split_blocks(cand_ctx *c, size_t lo, size_t hi, int threads)
{
    size_t maxb = (size_t)c->m->max_block_size;
    double work = 0;
    for (size_t i = lo; i < hi;) {
        size_t j = i + 1;
        while (j < hi && c->all[j].h == c->all[i].h)
            j++;
        double s = (double)(j - i);
        work += s <= (double)maxb ? s * s : s * MDM_BLOCK_WINDOW;
        i = j;
    }
    double per = work / threads, acc = 0;
    int t = 1;
    c->bounds[0] = lo;
    for (size_t i = lo; i < hi && t < threads;) {
        size_t j = i + 1;
        while (j < hi && c->all[j].h == c->all[i].h)
            j++;
        double s = (double)(j - i);
        acc += s <= (double)maxb ? s * s : s * MDM_BLOCK_WINDOW;
        if (acc >= per * t)
            c->bounds[t++] = j;
        i = j;
    }
    for (; t <= threads; t++)
        c->bounds[t] = hi;
}

/* Sorts a[0..*n) and drops the repeated values. */
static void sort_unique(uint64_t *a, size_t *n)
{
    mdm_block_sort_u64(a, *n);
    size_t u = 0;
    for (size_t i = 0; i < *n; i++)
        if (u == 0 || a[i] != a[u - 1])
            a[u++] = a[i];
    *n = u;
}

/* Runs pairs_worker on the ranges of c->bounds and returns the pairs, in no order and
 * with repeats (malloc'd, *np of them); the per-thread statistics accumulate. */
static uint64_t *collect_pairs(cand_ctx *c, int threads, size_t *np)
{
    c->out = mdm_xcalloc((size_t)threads, sizeof *c->out);
    mdm_parallel_for(threads, (size_t)threads, pairs_worker, c);
    size_t n = 0;
    for (int k = 0; k < threads; k++)
        n += c->out[k].n;
    /* the first thread's array grows to hold them all, and each other one is freed as
     * soon as it is copied: at most the pairs plus one thread's share at a time (a fresh
     * array for all of them needed the pairs twice, with the growth slack on top) */
    uint64_t *all = mdm_xrealloc(c->out[0].a, (n ? n : 1) * sizeof *all);
    size_t off = c->out[0].n;
    for (int k = 1; k < threads; k++) {
        if (c->out[k].n)
            memcpy(all + off, c->out[k].a, c->out[k].n * sizeof *all);
        off += c->out[k].n;
        free(c->out[k].a);
    }
    free(c->out);
    c->out = NULL;
    *np = n;
    return all;
}

/* Keys of every record, sorted by hash (so by rule: the rule rides in the top bits). */
static void build_entries(cand_ctx *c, size_t n, int threads)
{
    c->ev = mdm_xcalloc((size_t)threads, sizeof *c->ev);
    mdm_parallel_for(threads, n, keys_worker, c);
    size_t total = 0;
    for (int t = 0; t < threads; t++)
        total += c->ev[t].n;
    c->all = mdm_xmalloc((total ? total : 1) * sizeof *c->all);
    c->nall = 0;
    for (int t = 0; t < threads; t++) {
        if (c->ev[t].n)
            memcpy(c->all + c->nall, c->ev[t].a, c->ev[t].n * sizeof *c->all);
        c->nall += c->ev[t].n;
        free(c->ev[t].a);
    }
    free(c->ev);
    c->ev = NULL;
    sort_entries(c->all, c->nall);
}

static void thread_stats_new(cand_ctx *c, int threads)
{
    c->bounds = mdm_xcalloc((size_t)threads + 1, sizeof *c->bounds);
    c->oversized = mdm_xcalloc((size_t)threads, sizeof(size_t));
    c->oversized_recs = mdm_xcalloc((size_t)threads, sizeof(size_t));
    c->blocks = mdm_xcalloc((size_t)threads, sizeof(size_t));
    c->largest = mdm_xcalloc((size_t)threads, sizeof(size_t));
    c->rule_pairs = mdm_xcalloc((size_t)threads, sizeof *c->rule_pairs);
}

static void thread_stats_free(cand_ctx *c)
{
    free(c->bounds);
    free(c->oversized);
    free(c->oversized_recs);
    free(c->blocks);
    free(c->largest);
    free(c->rule_pairs);
}

mdm_status mdm_block_candidates(const mdm_model *m, const mdm_feat *feats, size_t n,
                                mdm_pair_filter filter, void *filter_ctx, int threads,
                                uint64_t **pairs, size_t *npairs, mdm_block_stats *stats,
                                mdm_err *err)
{
    return mdm_block_candidates_keys(m, feats, n, filter, filter_ctx, threads, pairs, npairs, stats,
                                     NULL, err);
}

mdm_status mdm_block_candidates_keys(const mdm_model *m, const mdm_feat *feats, size_t n,
                                     mdm_pair_filter filter, void *filter_ctx, int threads,
                                     uint64_t **pairs, size_t *npairs, mdm_block_stats *stats,
                                     uint32_t **rule_keys, mdm_err *err)
{
    (void)err;
    if (threads < 1)
        threads = 1;
    memset(stats, 0, sizeof *stats);
    cand_ctx c = {.m = m, .feats = feats, .filter = filter, .filter_ctx = filter_ctx};
    build_entries(&c, n, threads);
    stats->keys = c.nall;
    if (rule_keys) {
        size_t nr = (size_t)(m->nrules > 0 ? m->nrules : 1);
        uint32_t *rk = mdm_xcalloc((n ? n : 1) * nr, sizeof *rk);
        for (size_t i = 0; i < c.nall; i++) { /* sorted by hash: the first is the smallest */
            uint64_t h = c.all[i].h;
            size_t slot = (size_t)c.all[i].idx * nr + (size_t)(h >> 60);
            if (!rk[slot])
                rk[slot] = (uint32_t)(h ^ h >> 29) | 1;
        }
        *rule_keys = rk;
    }
    thread_stats_new(&c, threads);
    split_blocks(&c, 0, c.nall, threads);
    size_t u = 0;
    uint64_t *all = collect_pairs(&c, threads, &u);
    free(c.all); /* before the sort, which needs as much again */
    for (int k = 0; k < threads; k++) {
        stats->oversized_blocks += c.oversized[k];
        stats->oversized_records += c.oversized_recs[k];
        stats->blocks += c.blocks[k];
        if (c.largest[k] > stats->largest_block)
            stats->largest_block = c.largest[k];
        for (int r = 0; r < MDM_MAX_BLOCK_RULES; r++)
            stats->rule_pairs[r] += c.rule_pairs[k][r];
    }
    thread_stats_free(&c);
    sort_unique(all, &u);
    *pairs = all;
    *npairs = u;
    stats->pairs = u;
    return MDM_OK;
}

/* ---- analysis (mdm blocking) ---- */

/* The key string of rule ri of record f whose hash is h (as keys_worker hashes it). */
static void key_text(const mdm_model *m, int ri, const mdm_feat *f, uint64_t h, char *out,
                     size_t cap)
{
    char buf[256];
    mdm_feat alt;
    int views = alt_view(f, &alt) ? 2 : 1;
    int mp, nv = rule_values(&m->rules[ri], f, &mp);
    out[0] = 0;
    for (int vi = 0; vi < nv * views; vi++) {
        size_t len = rule_key(m, ri, vi < nv ? f : &alt, vi % nv, mp, buf, sizeof buf);
        if (len && ((mdm_hash64(buf, len, 0x5eed) >> 4) | (uint64_t)ri << 60) == h) {
            const char *body = strchr(buf, ':'); /* without the "r<rule>:" prefix */
            body = body ? body + 1 : buf;
            size_t bl = strlen(body) < cap - 1 ? strlen(body) : cap - 1;
            memcpy(out, body, bl);
            out[bl] = 0;
            return;
        }
    }
}

/* Pairs of sorted distinct a[0..na) absent from sorted distinct u[0..nu). */
static size_t count_new(const uint64_t *a, size_t na, const uint64_t *u, size_t nu)
{
    size_t i = 0, j = 0, fresh = 0;
    while (i < na) {
        while (j < nu && u[j] < a[i])
            j++;
        fresh += j == nu || u[j] != a[i];
        i++;
    }
    return fresh;
}

/* *u (sorted, distinct, *nu of them) becomes its union with a[0..na), sorted and distinct
 * (fresh: how many of a are not in *u). Merges from the end, in place. */
static void merge_into(uint64_t **u, size_t *nu, const uint64_t *a, size_t na, size_t fresh)
{
    if (!fresh)
        return;
    size_t n = *nu + fresh;
    uint64_t *x = mdm_xrealloc(*u, n * sizeof *x);
    size_t i = *nu, j = na, k = n;
    while (j > 0) {
        if (i > 0 && x[i - 1] > a[j - 1])
            x[--k] = x[--i];
        else if (i > 0 && x[i - 1] == a[j - 1])
            j--; /* already there: the one of *u stays */
        else
            x[--k] = a[--j];
    }
    *u = x;
    *nu = n;
}

mdm_status mdm_block_analyze(const mdm_model *m, const mdm_feat *feats, size_t n,
                             mdm_pair_filter filter, void *filter_ctx, int threads,
                             mdm_block_analysis *an, uint64_t **pairs, mdm_err *err)
{
    (void)err;
    if (threads < 1)
        threads = 1;
    size_t ntop = an->ntop;
    mdm_block_big *top = an->top;
    memset(an, 0, sizeof *an);
    an->top = top;
    cand_ctx c = {.m = m, .feats = feats, .filter = filter, .filter_ctx = filter_ctx};
    build_entries(&c, n, threads);
    an->keys = c.nall;

    /* blocks per rule and the largest overall (before any pair is made: the oversized
     * blocks are reordered by pairs_worker) */
    size_t maxb = (size_t)m->max_block_size;
    for (size_t i = 0; i < c.nall;) {
        size_t j = i + 1;
        while (j < c.nall && c.all[j].h == c.all[i].h)
            j++;
        size_t s = j - i;
        int r = (int)(c.all[i].h >> 60);
        an->rule[r].keys += s;
        if (s >= 2) {
            an->rule[r].blocks++;
            if (s > an->rule[r].largest)
                an->rule[r].largest = s;
            if (s > maxb) {
                an->rule[r].oversized++;
                an->rule[r].oversized_records += s;
            }
            /* keep the ntop largest, largest first */
            size_t k = an->ntop < ntop ? an->ntop++ : ntop;
            while (k > 0 && top[k - 1].size < s) {
                if (k < ntop)
                    top[k] = top[k - 1];
                k--;
            }
            if (k < ntop)
                top[k] = (mdm_block_big){.rule = r,
                                         .record = c.all[i].idx,
                                         .size = s,
                                         .windowed = s > maxb,
                                         .hash = c.all[i].h};
        }
        i = j;
    }
    for (size_t k = 0; k < an->ntop; k++)
        key_text(m, top[k].rule, &feats[top[k].record], top[k].hash, top[k].key, sizeof top[k].key);

    /* pairs rule by rule (each rule's entries are one range), then the union */
    thread_stats_new(&c, threads);
    uint64_t *u = mdm_xmalloc(sizeof *u);
    size_t nu = 0, lo = 0;
    for (int r = 0; r < m->nrules; r++) {
        size_t hi = lo;
        while (hi < c.nall && (int)(c.all[hi].h >> 60) == r)
            hi++;
        split_blocks(&c, lo, hi, threads);
        size_t np = 0;
        uint64_t *p = collect_pairs(&c, threads, &np);
        sort_unique(p, &np);
        size_t fresh = count_new(p, np, u, nu);
        merge_into(&u, &nu, p, np, fresh);
        free(p);
        an->rule[r].pairs = np;
        an->rule[r].fresh = fresh;
        an->rule[r].cumulative = nu;
        lo = hi;
    }
    thread_stats_free(&c);
    free(c.all);
    an->pairs = nu;
    if (pairs)
        *pairs = u;
    else
        free(u);
    return MDM_OK;
}
