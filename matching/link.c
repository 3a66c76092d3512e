/* Batch linkage pipeline (see link.h). */
#include "matching/link.h"

#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "matching/canonical.h"
#include "matching/normalize.h"
#include "matching/strsim.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of the whole process (every thread): a measure the load of other jobs on
 * the machine changes much less than wall time. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mdm_link_threads(int requested)
{
    if (requested > 0)
        return requested > 256 ? 256 : requested;
    const char *env = getenv("MDM_THREADS");
    if (env && atoi(env) > 0)
        return atoi(env) > 256 ? 256 : atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- loaded data ---- */

typedef struct linkdata {
    const mdm_model *m;
    int threads;
    bool progress;
    /* sources */
    char *src_name[MDM_MAX_SOURCES];
    const mdm_source_map *src_map[MDM_MAX_SOURCES];
    size_t src_count[MDM_MAX_SOURCES];
    int nsrc;
    uint32_t dedup_mask;
    /* records */
    size_t n, cap;
    mdm_feat *feats;
    char **ids; /* record ids (in ids_arena) */
    mdm_arena *ids_arena;
    /* raw mapped values before features: blob offsets per record */
    mdm_buf blob;
    size_t *blob_off;
    mdm_arena **arenas; /* per thread, feature strings (freed once interned) */
    char **canon_txt;   /* --canonical: each record's canonical form (NDJSON line), or NULL */
    size_t rejected;    /* records the canonicalization refused */
    /* interned feature strings: names (compared across first/last), everything else */
    mdm_intern *names, *values;
    float *freq; /* [n * ncmp]: relative frequency of the record's value, -1 unknown */
    bool no_tf;  /* no term frequencies: every freq is -1 (the service's paths) */
    size_t shared_values;
    const uint64_t *tiekey; /* clustering tie keys (cluster.h), may be NULL */
    uint8_t *bridge;        /* clustering: bridge records out (cluster.h), may be NULL */
} linkdata;

static void ld_free(linkdata *ld)
{
    for (int s = 0; s < ld->nsrc; s++)
        free(ld->src_name[s]);
    free(ld->feats);
    free(ld->ids);
    mdm_arena_free(ld->ids_arena);
    mdm_buf_free(&ld->blob);
    free(ld->blob_off);
    for (int t = 0; ld->arenas && t < ld->threads; t++)
        mdm_arena_free(ld->arenas[t]);
    free(ld->arenas);
    free(ld->freq);
    mdm_intern_free(ld->names);
    mdm_intern_free(ld->values);
}

static char *file_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return mdm_xstrndup(base, n);
}

/* Reads one input: ids and mapped values into the blob. */
static mdm_status load_file(linkdata *ld, const char *path, mdm_err *err)
{
    if (!mdm_io_is_std(path) && access(path, R_OK) != 0)
        return mdm_err_set(err, MDM_EIO, "cannot open %s: %s", path, strerror(errno));
    const mdm_source_map *sm = mdm_model_source_for(ld->m, path);
    if (!sm)
        return mdm_err_set(err, MDM_EINVAL, "%s: no source of the configuration matches this file",
                           path);
    char *name = sm->code ? mdm_xstrdup(sm->code) : file_stem(path);
    int si = -1;
    for (int s = 0; s < ld->nsrc; s++)
        if (strcmp(ld->src_name[s], name) == 0)
            si = s;
    if (si < 0) {
        if (ld->nsrc == MDM_MAX_SOURCES) {
            free(name);
            return mdm_err_set(err, MDM_EINVAL, "at most %d sources per run", MDM_MAX_SOURCES);
        }
        si = ld->nsrc++;
        ld->src_name[si] = name;
        ld->src_map[si] = sm;
        if (sm->deduplicated || ld->m->one_to_one)
            ld->dedup_mask |= 1u << si;
    } else {
        free(name);
    }
    mdm_csv *c = mdm_csv_open(path, err);
    if (!c)
        return err ? err->code : MDM_EIO;
    int colidx[256], id_col;
    if (sm->ncols > 256) {
        mdm_csv_close(c);
        return mdm_err_set(err, MDM_EINVAL, "%s: at most 256 mapped columns", path);
    }
    mdm_status st = mdm_source_map_bind(sm, c, colidx, &id_col, err);
    if (st != MDM_OK) {
        mdm_csv_close(c);
        return st;
    }
    int rc;
    while ((rc = mdm_csv_next(c, err)) != 0) {
        if (rc < 0) {
            mdm_csv_close(c);
            return MDM_EINVAL;
        }
        if (ld->n >= UINT32_MAX - 1) {
            mdm_csv_close(c);
            return mdm_err_set(err, MDM_EINVAL, "too many records");
        }
        if (ld->n == ld->cap) {
            ld->cap = ld->cap ? 2 * ld->cap : 4096;
            ld->ids = mdm_xrealloc(ld->ids, ld->cap * sizeof *ld->ids);
            ld->blob_off = mdm_xrealloc(ld->blob_off, ld->cap * sizeof *ld->blob_off);
        }
        ld->ids[ld->n] = mdm_arena_strdup(ld->ids_arena, mdm_csv_field(c, (size_t)id_col));
        ld->blob_off[ld->n] = ld->blob.len;
        /* source index, then each mapped value, NUL-terminated */
        mdm_buf_putc(&ld->blob, (char)(si + 1));
        for (size_t k = 0; k < sm->ncols; k++) {
            if (colidx[k] >= 0)
                mdm_buf_puts(&ld->blob, mdm_csv_field(c, (size_t)colidx[k]));
            mdm_buf_putc(&ld->blob, 0);
        }
        ld->src_count[si]++;
        ld->n++;
    }
    mdm_csv_close(c);
    return MDM_OK;
}

typedef struct feat_ctx {
    linkdata *ld;
    int failed;
    _Atomic size_t rejected;
} feat_ctx;

/* Each record goes through the one canonicalization (matching/canonical.h), as mdm load
 * and the HTTP upserts do, and its features are those resolution builds from the
 * canonical record. A record canonicalization refuses (no key, nothing to match on)
 * keeps empty features: it stays alone, as the service never resolves it. */
static void feat_worker(void *p, int t, size_t lo, size_t hi)
{
    feat_ctx *fc = p;
    linkdata *ld = fc->ld;
    mdm_norm *norm = mdm_norm_new(NULL);
    if (!norm) {
        fc->failed = 1;
        for (size_t i = lo; i < hi; i++)
            memset(&ld->feats[i], 0, sizeof ld->feats[i]);
        return;
    }
    mdm_limits lim;
    mdm_limits_default(&lim);
    const char *defcc =
        ld->m->default_country && *ld->m->default_country ? ld->m->default_country : "US";
    /* without --canonical the record is filled directly (no document); the document
     * path is the reference (MDM_REFERENCE_KERNELS=1) and takes what that one refuses */
    bool direct = !ld->canon_txt && mdm_strsim_enabled();
    for (size_t i = lo; i < hi; i++) {
        const char *b = ld->blob.data + ld->blob_off[i];
        int si = (unsigned char)b[0] - 1;
        b++;
        const mdm_source_map *sm = ld->src_map[si];
        if (direct) {
            const char *vals[256];
            const char *q = b;
            for (size_t k = 0; k < sm->ncols; k++) {
                vals[k] = q;
                q += strlen(q) + 1;
            }
            if (mdm_canon_row_features(ld->m, norm, sm, defcc, &lim, ld->ids[i], vals,
                                       ld->arenas[t], &ld->feats[i])) {
                ld->feats[i].source = (uint32_t)si;
                continue;
            }
        }
        json_t *row = json_object();
        json_object_set_new(row, sm->key, json_string(ld->ids[i]));
        for (size_t k = 0; k < sm->ncols; k++) {
            if (*b)
                json_object_set_new(row, sm->cols[k].column, json_string(b));
            b += strlen(b) + 1;
        }
        json_t *canon = NULL, *errors = NULL;
        if (mdm_canonicalize(norm, sm, defcc, &lim, row, &canon, &errors, NULL) == MDM_OK &&
            canon) {
            mdm_canon_features(ld->m, norm, ld->arenas[t], canon, NULL, NULL, &ld->feats[i]);
        } else {
            memset(&ld->feats[i], 0, sizeof ld->feats[i]);
            fc->rejected++;
            canon = json_pack("{s:s, s:s, s:O?}", "source", ld->src_name[si], "source_key",
                              ld->ids[i], "rejected", errors);
        }
        if (ld->canon_txt)
            ld->canon_txt[i] = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
        ld->feats[i].source = (uint32_t)si;
        json_decref(canon);
        json_decref(errors);
        json_decref(row);
    }
    mdm_norm_free(norm);
}

static const char *intern_str(mdm_intern *t, const char *s)
{
    return s ? mdm_intern_str(t, mdm_intern_id(t, s, strlen(s))) : NULL;
}

static bool is_name_field(int f)
{
    return f == MDM_FIELD_FIRST_NAME || f == MDM_FIELD_MIDDLE_NAME || f == MDM_FIELD_LAST_NAME;
}

/* Task 0 interns the name strings, task 1 all others (two tables: parallel, and names
 * are compared across fields, first against last, so they share one). */
static void intern_worker(void *p, int t, size_t lo, size_t hi)
{
    linkdata *ld = p;
    for (size_t task = lo; task < hi; task++) {
        (void)t;
        for (size_t i = 0; i < ld->n; i++) {
            mdm_feat *f = &ld->feats[i];
            if (task == 0) {
                for (int k = 0; k < MDM_FIELD_COUNT; k++)
                    if (is_name_field(k))
                        f->v[k] = intern_str(ld->names, f->v[k]);
                f->first_canon = intern_str(ld->names, f->first_canon);
                f->first_alt = intern_str(ld->names, f->first_alt);
                f->last_alt = intern_str(ld->names, f->last_alt);
                f->first_phon = intern_str(ld->names, f->first_phon);
                f->last_phon = intern_str(ld->names, f->last_phon);
            } else {
                for (int k = 0; k < MDM_FIELD_COUNT; k++)
                    if (!is_name_field(k) && k != MDM_FIELD_EMAIL && k != MDM_FIELD_PHONE)
                        f->v[k] = intern_str(ld->values, f->v[k]);
                for (int k = 0; k < f->n_emails; k++)
                    f->emails[k] = intern_str(ld->values, f->emails[k]);
                for (int k = 0; k < f->n_phones; k++)
                    f->phones[k] = intern_str(ld->values, f->phones[k]);
                f->v[MDM_FIELD_EMAIL] = f->n_emails ? f->emails[0] : NULL;
                f->v[MDM_FIELD_PHONE] = f->n_phones ? f->phones[0] : NULL;
                f->interned = true;
            }
        }
    }
}

/* ---- shared values and term frequencies ---- */

typedef struct vh {
    uint64_t h;   /* value hash */
    uint32_t idx; /* record */
    uint32_t who; /* surname key hash (low bits), 0 unknown */
} vh;

static int cmp_vh(const void *x, const void *y)
{
    const vh *a = x, *b = y;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* The surname of a record as the shared-value rule tells people apart (0: none). */
static uint32_t surname_hash(const mdm_feat *f)
{
    const char *ln = f->last_phon ? f->last_phon : f->v[MDM_FIELD_LAST_NAME];
    return ln ? (uint32_t)mdm_hash64(ln, strlen(ln), 3) | 1u : 0;
}

/* Whether edge f (to record o) comes before edge g (to record q) among a record's links:
 * heavier first, ties by tie key, else by index. */
static bool bridge_before(const mdm_edge *f, uint32_t o, const mdm_edge *g, uint32_t q,
                          const uint64_t *tiekey)
{
    if (f->weight != g->weight)
        return f->weight > g->weight;
    if (tiekey && tiekey[o] != tiekey[q])
        return tiekey[o] < tiekey[q];
    return o < q;
}

void mdm_link_bridge_targets(const mdm_edge *edges, size_t nedges, const uint32_t *cl,
                             const uint64_t *tiekey, const uint8_t *bridge, size_t n, double link,
                             size_t *out)
{
    for (size_t i = 0; i < 2 * n; i++)
        out[i] = SIZE_MAX;
#define OTHER(e, x)     (edges[e].a == (x) ? edges[e].b : edges[e].a)
#define BEFORE(e, f, x) bridge_before(&edges[e], OTHER(e, x), &edges[f], OTHER(f, x), tiekey)
    for (size_t e = 0; e < nedges; e++) {
        if (edges[e].prob < link)
            continue;
        uint32_t ends[2] = {edges[e].a, edges[e].b};
        for (int k = 0; k < 2; k++) {
            uint32_t x = ends[k], o = ends[1 - k];
            if (!bridge[x] || cl[o] == cl[x])
                continue;
            /* the heaviest links into two distinct clusters, kept as a running top 2 */
            size_t *t = out + 2 * (size_t)x;
            if (t[0] != SIZE_MAX && cl[o] == cl[OTHER(t[0], x)]) {
                if (BEFORE(e, t[0], x))
                    t[0] = e;
            } else if (t[1] != SIZE_MAX && cl[o] == cl[OTHER(t[1], x)]) {
                if (BEFORE(e, t[1], x))
                    t[1] = e;
                if (BEFORE(t[1], t[0], x)) {
                    size_t r = t[0];
                    t[0] = t[1];
                    t[1] = r;
                }
            } else if (t[0] == SIZE_MAX || BEFORE(e, t[0], x)) {
                t[1] = t[0];
                t[0] = e;
            } else if (t[1] == SIZE_MAX || BEFORE(e, t[1], x)) {
                t[1] = e;
            }
        }
    }
#undef BEFORE
#undef OTHER
}

bool mdm_link_shared(const mdm_model *m, const mdm_feat *const *holders, size_t n)
{
    int kmin = m->shared_min_people;
    if (kmin < 2 || n < (size_t)kmin)
        return false;
    uint32_t *who = mdm_xmalloc(n * sizeof *who);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = surname_hash(holders[i]);
        if (h)
            who[k++] = h;
    }
    qsort(who, k, sizeof *who, cmp_u32);
    int distinct = 0;
    for (size_t i = 0; i < k; i++)
        distinct += i == 0 || who[i] != who[i - 1];
    free(who);
    return distinct >= kmin && 2 * (size_t)distinct >= n;
}

/* Values of field held by records of at least shared_min_people different surnames are
 * removed from the features (mdm_link_shared). Returns how many distinct values were
 * removed. */
static size_t drop_shared(linkdata *ld, mdm_field field)
{
    vh *a = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < ld->n; i++) {
        const mdm_feat *f = &ld->feats[i];
        for (int k = 0; k < MDM_FEAT_MULTI; k++) {
            const char *v = mdm_feat_value(f, field, k);
            if (!v)
                break;
            if (n == cap) {
                cap = cap ? 2 * cap : 4096;
                a = mdm_xrealloc(a, cap * sizeof *a);
            }
            a[n++] = (vh){mdm_hash64(v, strlen(v), 11), (uint32_t)i, surname_hash(f)};
        }
    }
    if (n)
        qsort(a, n, sizeof *a, cmp_vh);
    size_t dropped = 0;
    int kmin = ld->m->shared_min_people;
    uint32_t *who = NULL;
    size_t who_cap = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].h == a[i].h)
            j++;
        if ((int)(j - i) >= kmin) {
            if (j - i > who_cap) {
                who_cap = j - i;
                who = mdm_xrealloc(who, who_cap * sizeof *who);
            }
            size_t m = 0;
            for (size_t k = i; k < j; k++)
                if (a[k].who)
                    who[m++] = a[k].who;
            qsort(who, m, sizeof *who, cmp_u32);
            int distinct = 0;
            for (size_t k = 0; k < m; k++)
                distinct += k == 0 || who[k] != who[k - 1];
            /* many different surnames, and not one person with a few misspellings */
            if (distinct >= kmin && 2 * (size_t)distinct >= j - i) {
                dropped++;
                for (size_t k = i; k < j; k++) {
                    mdm_feat *f = &ld->feats[a[k].idx];
                    for (int q = 0; q < MDM_FEAT_MULTI; q++) {
                        const char *v = mdm_feat_value(f, field, q);
                        if (v && mdm_hash64(v, strlen(v), 11) == a[i].h) {
                            mdm_feat_drop_value(f, field, v);
                            break;
                        }
                    }
                }
            }
        }
        i = j;
    }
    free(who);
    free(a);
    return dropped;
}

static void term_frequencies(linkdata *ld)
{
    const mdm_model *m = ld->m;
    ld->freq = mdm_xmalloc((ld->n ? ld->n : 1) * (size_t)m->ncmp * sizeof *ld->freq);
    for (size_t i = 0; i < ld->n * (size_t)m->ncmp; i++)
        ld->freq[i] = -1;
    vh *a = mdm_xmalloc((ld->n ? ld->n : 1) * sizeof *a);
    for (int k = 0; k < m->ncmp && !ld->no_tf; k++) {
        if (!m->cmp[k].tf)
            continue;
        mdm_field field = m->cmp[k].field;
        size_t n = 0;
        for (size_t i = 0; i < ld->n; i++) {
            const char *v = ld->feats[i].v[field];
            if (v)
                a[n++] = (vh){mdm_hash64(v, strlen(v), 13), (uint32_t)i, 0};
        }
        qsort(a, n, sizeof *a, cmp_vh);
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && a[j].h == a[i].h)
                j++;
            float f = (float)((double)(j - i) / (double)n);
            for (size_t q = i; q < j; q++)
                ld->freq[(size_t)a[q].idx * (size_t)m->ncmp + (size_t)k] = f;
            i = j;
        }
    }
    free(a);
}

/* After the features: interning, shared values, term frequencies. */
static void finish_features(linkdata *ld)
{
    const mdm_model *m = ld->m;
    /* intern every feature string: equal values then share one pointer (comparisons test
     * pointers), and repeated values are stored once */
    ld->names = mdm_intern_new();
    ld->values = mdm_intern_new();
    mdm_parallel_for(ld->threads > 1 ? 2 : 1, 2, intern_worker, ld);
    for (int t = 0; ld->arenas && t < ld->threads; t++) {
        mdm_arena_free(ld->arenas[t]);
        ld->arenas[t] = NULL;
    }
    /* shared values: contact points and identifiers */
    static const mdm_field shared_fields[] = {MDM_FIELD_EMAIL,      MDM_FIELD_PHONE,
                                              MDM_FIELD_LOYALTY_ID, MDM_FIELD_CUSTOMER_NUMBER,
                                              MDM_FIELD_TAX_ID,     MDM_FIELD_NATIONAL_ID};
    for (size_t f = 0; f < sizeof shared_fields / sizeof shared_fields[0]; f++) {
        bool off = false;
        for (int k = 0; k < m->ncmp; k++)
            if (m->cmp[k].field == shared_fields[f] && !m->cmp[k].shared_null)
                off = true;
        if (!off)
            ld->shared_values += drop_shared(ld, shared_fields[f]);
    }
    term_frequencies(ld);
}

/* The canonical records, one JSON line each in input order (--canonical). */
static mdm_status write_canonical(const linkdata *ld, const char *path, mdm_err *err)
{
    FILE *f = mdm_io_open(path, "w"); /* "-": standard output */
    if (!f)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    for (size_t i = 0; i < ld->n; i++)
        if (ld->canon_txt[i])
            fprintf(f, "%s\n", ld->canon_txt[i]);
    if (mdm_io_close(f) != 0)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    return MDM_OK;
}

static mdm_status load_all(linkdata *ld, const mdm_model *m, const mdm_link_opts *o, mdm_err *err)
{
    memset(ld, 0, sizeof *ld);
    ld->m = m;
    ld->threads = mdm_link_threads(o->threads);
    ld->progress = o->progress;
    ld->ids_arena = mdm_arena_new(1 << 20);
    if (o->ninputs < 1)
        return mdm_err_set(err, MDM_EINVAL, "no input file");
    for (int i = 0; i < o->ninputs; i++) {
        mdm_status st = load_file(ld, o->inputs[i], err);
        if (st != MDM_OK)
            return st;
    }
    if (ld->progress)
        fprintf(stderr, "link: read %zu records from %d file(s)\n", ld->n, o->ninputs);
    ld->arenas = mdm_xcalloc((size_t)ld->threads, sizeof(mdm_arena *));
    for (int t = 0; t < ld->threads; t++)
        ld->arenas[t] = mdm_arena_new(1 << 20);
    ld->feats = mdm_xcalloc(ld->n ? ld->n : 1, sizeof *ld->feats);
    if (o->canonical_out)
        ld->canon_txt = mdm_xcalloc(ld->n ? ld->n : 1, sizeof *ld->canon_txt);
    feat_ctx fc = {ld, 0, 0};
    mdm_parallel_for(ld->threads, ld->n, feat_worker, &fc);
    ld->rejected = fc.rejected;
    if (ld->canon_txt) {
        mdm_status st = write_canonical(ld, o->canonical_out, err);
        for (size_t i = 0; i < ld->n; i++)
            free(ld->canon_txt[i]);
        free(ld->canon_txt);
        ld->canon_txt = NULL;
        if (st != MDM_OK)
            return st;
    }
    if (fc.failed)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot initialise the normalizer (ICU)");
    mdm_buf_free(&ld->blob);
    free(ld->blob_off);
    ld->blob_off = NULL;
    finish_features(ld);
    return MDM_OK;
}

/* ---- pairs, levels, weights ---- */

static bool pair_allowed(void *ctx, uint32_t sa, uint32_t sb)
{
    const linkdata *ld = ctx;
    return sa != sb || !(ld->dedup_mask & (1u << sa));
}

typedef struct weights {
    double prior;
    double w[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
    double u0[MDM_MAX_COMPARISONS];
    double floor;
} weights;

static void weights_init(weights *w, const mdm_model *m)
{
    w->prior = mdm_model_prior_weight(m);
    for (int k = 0; k < m->ncmp; k++) {
        for (int l = 0; l < m->cmp[k].nlevels; l++)
            w->w[k][l] = mdm_model_level_weight(m, k, l);
        w->u0[k] = m->cmp[k].u[0];
    }
    w->floor = m->u_floor;
}

/* The pair's per-comparison weights (tf included, 0 for null) into wk. */
static void weights_of(const mdm_model *m, const weights *w, const int8_t *lv, const float *freq,
                       double *wk)
{
    for (int k = 0; k < m->ncmp; k++) {
        int l = (int)lv[k];
        wk[k] = 0;
        if (l < 0)
            continue;
        wk[k] = w->w[k][l];
        if (l == 0 && m->cmp[k].tf && freq && freq[k] >= 0) {
            double f = freq[k] > w->floor ? freq[k] : w->floor;
            wk[k] += log2(w->u0[k] / f);
        }
    }
}

static double weight_of(const mdm_model *m, const weights *w, const int8_t *lv, bool apart,
                        const float *freq)
{
    double wk[MDM_MAX_COMPARISONS];
    weights_of(m, w, lv, freq, wk);
    if (!m->ngroups) {
        double s = w->prior;
        for (int k = 0; k < m->ncmp; k++)
            s += wk[k];
        return s;
    }
    return mdm_model_combine(m, wk, apart, NULL);
}

/* A pattern: the levels and, lowest bit, whether the first names are apart (mdm_groups). */
static uint64_t encode(const mdm_model *m, const int8_t *lv, bool apart)
{
    uint64_t code = 0;
    for (int k = m->ncmp - 1; k >= 0; k--)
        code = code * (uint64_t)(m->cmp[k].nlevels + 1) + (uint64_t)(lv[k] + 1);
    return code << 1 | (apart ? 1 : 0);
}

static bool decode(const mdm_model *m, uint64_t code, int8_t *lv)
{
    bool apart = code & 1;
    code >>= 1;
    for (int k = 0; k < m->ncmp; k++) {
        uint64_t base = (uint64_t)m->cmp[k].nlevels + 1;
        lv[k] = (int8_t)((int)(code % base) - 1);
        code /= base;
    }
    return apart;
}

/* per-thread pattern histogram: open addressing code -> count */
typedef struct hist {
    uint64_t *keys; /* code + 1, 0 empty */
    double *counts;
    size_t cap, n;
} hist;

/* Frees the per-thread histograms (hists may be NULL). */
static void hists_free(hist *hists, int threads)
{
    if (!hists)
        return;
    for (int k = 0; k < threads; k++) {
        free(hists[k].keys);
        free(hists[k].counts);
    }
    free(hists);
}

static void hist_add(hist *h, uint64_t code, double c)
{
    if (2 * (h->n + 1) > h->cap) {
        hist old = *h;
        h->cap = old.cap ? 2 * old.cap : 1024;
        h->keys = mdm_xcalloc(h->cap, sizeof *h->keys);
        h->counts = mdm_xcalloc(h->cap, sizeof *h->counts);
        h->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i])
                hist_add(h, old.keys[i] - 1, old.counts[i]);
        free(old.keys);
        free(old.counts);
    }
    size_t i = (size_t)(mdm_hash64(&code, sizeof code, 1) & (h->cap - 1));
    while (h->keys[i] && h->keys[i] != code + 1)
        i = (i + 1) & (h->cap - 1);
    if (!h->keys[i]) {
        h->keys[i] = code + 1;
        h->n++;
    }
    h->counts[i] += c;
}

/* The comparison pattern of every candidate pair: 32 bits each when every pattern code of
 * the model fits (FEBRL's nine comparisons need 21 bits), 64 otherwise. At 40 million
 * pairs that is 160 MB less at the peak. */
typedef struct pattern_codes {
    void *p;   /* n codes of 4 or 8 bytes */
    bool wide; /* 8 */
} pattern_codes;

static pattern_codes codes_new(const mdm_model *m, size_t n)
{
    uint64_t max = 1;
    bool wide = false;
    for (int k = 0; k < m->ncmp && !wide; k++) {
        max *= (uint64_t)m->cmp[k].nlevels + 1;
        wide = max > UINT32_MAX / 2; /* the code is the levels' number, times 2 */
    }
    return (pattern_codes){mdm_xmalloc((n ? n : 1) * (wide ? 8 : 4)), wide};
}

static void codes_free(pattern_codes *c)
{
    free(c->p);
    c->p = NULL;
}

static inline uint64_t code_at(const pattern_codes *c, size_t i)
{
    return c->wide ? ((const uint64_t *)c->p)[i] : ((const uint32_t *)c->p)[i];
}

static inline void code_set(pattern_codes *c, size_t i, uint64_t v)
{
    if (c->wide)
        ((uint64_t *)c->p)[i] = v;
    else
        ((uint32_t *)c->p)[i] = (uint32_t)v;
}

typedef struct cmp_ctx {
    linkdata *ld;
    const uint64_t *pairs;
    pattern_codes codes;
    hist *hists;
    /* u sampling */
    double (*ucounts)[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
    /* scoring */
    weights w;
    double review;
    const struct exit_plan *plan; /* compare_score_worker */
    mdm_edge **edges;
    size_t *nedges, *caps;
    size_t *nlinks;
    double link;
} cmp_ctx;

static void compare_worker(void *p, int t, size_t lo, size_t hi)
{
    cmp_ctx *c = p;
    const mdm_model *m = c->ld->m;
    int8_t lv[MDM_MAX_COMPARISONS];
    for (size_t i = lo; i < hi; i++) {
        uint32_t a = (uint32_t)(c->pairs[i] >> 32), b = (uint32_t)c->pairs[i];
        mdm_model_levels(m, &c->ld->feats[a], &c->ld->feats[b], lv);
        uint64_t code =
            encode(m, lv, mdm_model_names_apart(m, &c->ld->feats[a], &c->ld->feats[b], lv));
        code_set(&c->codes, i, code);
        if (c->hists)
            hist_add(&c->hists[t], code, 1);
    }
}

static void u_worker(void *p, int t, size_t lo, size_t hi)
{
    cmp_ctx *c = p;
    const mdm_model *m = c->ld->m;
    int8_t lv[MDM_MAX_COMPARISONS];
    for (size_t i = lo; i < hi; i++) {
        uint32_t a = (uint32_t)(c->pairs[i] >> 32), b = (uint32_t)c->pairs[i];
        mdm_model_levels(m, &c->ld->feats[a], &c->ld->feats[b], lv);
        for (int k = 0; k < m->ncmp; k++)
            if (lv[k] >= 0)
                c->ucounts[t][k][lv[k]] += 1;
    }
}

/* The comparison patterns EM trains on when the model names training rules
 * (training.blocking): those of the candidate pairs of these rules, taken from the
 * candidates' codes (pairs and codes, sorted by pair) when blocking found them too, else
 * compared here. *ntrain receives how many pairs they are. */
static mdm_status training_hist(linkdata *ld, const mdm_model *m, const uint64_t *pairs,
                                const pattern_codes *codes, size_t npairs, hist *out,
                                size_t *ntrain, mdm_err *err)
{
    mdm_model *tm = mdm_xmalloc(sizeof *tm);
    *tm = *m; /* a view with the training rules as its blocking rules; owns nothing */
    memcpy(tm->rules, m->train_rules, sizeof tm->rules);
    tm->nrules = m->ntrain_rules;
    uint64_t *tp = NULL;
    size_t nt = 0;
    mdm_block_stats bs;
    mdm_status rc = mdm_block_candidates(tm, ld->feats, ld->n, pair_allowed, ld, ld->threads, &tp,
                                         &nt, &bs, err);
    free(tm);
    if (rc != MDM_OK)
        return rc;
    int8_t lv[MDM_MAX_COMPARISONS];
    for (size_t i = 0, j = 0; i < nt; i++) {
        while (j < npairs && pairs[j] < tp[i])
            j++;
        uint64_t code;
        if (j < npairs && pairs[j] == tp[i]) {
            code = code_at(codes, j);
        } else {
            const mdm_feat *a = &ld->feats[tp[i] >> 32], *b = &ld->feats[(uint32_t)tp[i]];
            mdm_model_levels(m, a, b, lv);
            code = encode(m, lv, mdm_model_names_apart(m, a, b, lv));
        }
        hist_add(out, code, 1);
    }
    free(tp);
    *ntrain = nt;
    return MDM_OK;
}

/* The clustering guard of a pair's hard negative (model.h), MDM_GUARD_NONE when none. */
static uint8_t guard_of(const mdm_model *m, const mdm_feat *a, const mdm_feat *b, const int8_t *lv)
{
    switch (mdm_model_guard(m, a, b, lv)) {
    case MDM_PG_TWINS:
        return MDM_GUARD_TWINS;
    case MDM_PG_GENERATION:
        return MDM_GUARD_GENERATION;
    case MDM_PG_BIRTH_YEARS:
        return MDM_GUARD_BIRTH_YEARS;
    case MDM_PG_HOUSEHOLD:
        return MDM_GUARD_HOUSEHOLD;
    default:
        return MDM_GUARD_NONE;
    }
}

/* Scores the pair (a, b) of levels lv into thread t's edges when it reaches review. */
static void score_one(cmp_ctx *c, int t, uint32_t a, uint32_t b, const int8_t *lv, bool apart)
{
    const mdm_model *m = c->ld->m;
    if (mdm_model_vetoed(m, lv))
        return;
    double w = weight_of(m, &c->w, lv, apart, c->ld->freq + (size_t)a * (size_t)m->ncmp);
    double pr = mdm_model_probability(w);
    if (pr < c->review)
        return;
    if (c->nedges[t] == c->caps[t]) {
        c->caps[t] = c->caps[t] ? 2 * c->caps[t] : 4096;
        c->edges[t] = mdm_xrealloc(c->edges[t], c->caps[t] * sizeof **c->edges);
    }
    /* hard negatives are checked on every scored pair, links and the review band
     * alike: a link is refused here, and a guarded pair is kept out of review with
     * every pair across the clusters it separates (mark_apart), whichever side of the
     * link threshold its weight falls (the twins of one home at p 0.89 or 0.91) */
    uint8_t g = guard_of(m, &c->ld->feats[a], &c->ld->feats[b], lv);
    c->edges[t][c->nedges[t]++] =
        (mdm_edge){.a = a, .b = b, .weight = (float)w, .prob = (float)pr, .guard = g};
    if (pr >= c->link)
        c->nlinks[t]++;
}

static void score_worker(void *p, int t, size_t lo, size_t hi)
{
    cmp_ctx *c = p;
    int8_t lv[MDM_MAX_COMPARISONS];
    for (size_t i = lo; i < hi; i++) {
        uint32_t a = (uint32_t)(c->pairs[i] >> 32), b = (uint32_t)c->pairs[i];
        bool apart = decode(c->ld->m, code_at(&c->codes, i), lv);
        score_one(c, t, a, b, lv, apart);
    }
}

/* ---- comparing and scoring in one pass, stopping early ---- */

/* With a trained model, a pair whose weight cannot reach the review threshold is dropped
 * by scoring whatever its levels: nothing downstream reads it (clustering, the guards,
 * entity merges and the misses report compare the pairs they look at again). The pass
 * takes the comparisons cheapest first (dates, exact values, identifiers, then strings,
 * then names) and stops as soon as the weight so far plus the most each comparison left
 * can add stays under the review weight. The most a comparison can add is its best
 * level's weight, or, when its values certainly differ (mdm_model_may_agree: interned
 * strings that are not one), its best weight below agreement, which leaves out the
 * term-frequency bonus of a rare value. A pair that gets through has every level and is
 * scored exactly as score_worker does. The bound is the weight of these bounds
 * (bound_of), which is exact as a bound because the weight grows with each comparison's
 * (a group's capped sum too, while its cap is not negative). Only with a review
 * threshold inside (0, 1), and not under MDM_REFERENCE_KERNELS=1 (so that
 * tests/e2e/link_kernels.sh compares the early exit with the full comparison). */
typedef struct exit_plan {
    bool on;
    int order[MDM_MAX_COMPARISONS];
    int first_check; /* checks from this position of order on (the cheap ones all run) */
    double best[MDM_MAX_COMPARISONS];     /* per comparison: max(0, best level's weight) */
    double best_no0[MDM_MAX_COMPARISONS]; /* max(0, best weight below agreement) */
    bool may_differ[MDM_MAX_COMPARISONS]; /* mdm_model_may_agree can say no */
    double need;                          /* the review weight, less a margin */
} exit_plan;

static int cost_class(const mdm_comparison *c)
{
    switch (c->type) {
    case MDM_CT_NAME:
        return 2;
    case MDM_CT_STRING:
    case MDM_CT_TOKENS:
    case MDM_CT_CUSTOM:
        return 1;
    default:
        return c->field == MDM_FIELD_EMAIL || c->field == MDM_FIELD_PHONE ? 1 : 0;
    }
}

static void exit_plan_init(exit_plan *p, const mdm_model *m, const weights *w, double review)
{
    memset(p, 0, sizeof *p);
    /* a group's sum is clamped to [its lowest weight, cap] (mdm_model_combine): monotonic
     * while the cap stays at or above 0, the lowest weight's bound */
    double lowest_cap = -w->prior + m->group_margin - MDM_GROUP_CAP_BELOW;
    p->on =
        (m->ngroups == 0 || lowest_cap >= 0) && review > 0 && review < 1 && mdm_strsim_enabled();
    int n = 0;
    for (int cls = 0; cls <= 2; cls++)
        for (int k = 0; k < m->ncmp; k++)
            if (cost_class(&m->cmp[k]) == cls) {
                if (cls > 0 && !p->first_check)
                    p->first_check = n;
                p->order[n++] = k;
            }
    if (!p->first_check)
        p->first_check = n;
    for (int k = 0; k < m->ncmp; k++) {
        p->best[k] = p->best_no0[k] = 0;
        for (int l = 0; l < m->cmp[k].nlevels; l++) {
            if (w->w[k][l] > p->best[k])
                p->best[k] = w->w[k][l];
            if (l > 0 && w->w[k][l] > p->best_no0[k])
                p->best_no0[k] = w->w[k][l];
        }
        mdm_cmp_type t = m->cmp[k].type;
        p->may_differ[k] = t == MDM_CT_NAME || t == MDM_CT_STRING || t == MDM_CT_TOKENS;
    }
    p->need = log2(review / (1 - review)) - 1e-6;
}

/* The most comparison k can add to the pair (a, b): its best weight, with a's
 * term-frequency bonus when it may agree, or the best weight below agreement. */
static double most_of(const exit_plan *p, const mdm_model *m, const weights *w, int k,
                      const mdm_feat *a, const mdm_feat *b, const float *freq)
{
    if (p->may_differ[k] && !mdm_model_may_agree(m, k, a, b))
        return p->best_no0[k];
    double most = p->best[k];
    if (m->cmp[k].tf && freq && freq[k] >= 0) {
        double f = freq[k] > w->floor ? freq[k] : w->floor;
        double agree = w->w[k][0] + log2(w->u0[k] / f);
        if (agree > most)
            most = agree;
    }
    return most;
}

/* An upper bound of the pair's weight from upper bounds u of its comparisons' weights:
 * the weight is monotonic in each of them (mdm_model_combine, under exit_plan_init's
 * condition on the group cap); whether the first names are apart is not known yet. */
static double bound_of(const mdm_model *m, const weights *w, const double *u)
{
    if (!m->ngroups) {
        double s = w->prior;
        for (int k = 0; k < m->ncmp; k++)
            s += u[k];
        return s;
    }
    double x = mdm_model_combine(m, u, false, NULL), y = mdm_model_combine(m, u, true, NULL);
    return x > y ? x : y;
}

/* The levels of pair (a, b) into lv, or false when its weight cannot reach p->need (lv
 * then partly filled). */
static bool levels_or_exit(const exit_plan *p, const mdm_model *m, const weights *w,
                           const mdm_feat *a, const mdm_feat *b, const float *freq, int8_t *lv)
{
    int n = m->ncmp;
    if (!p->on) {
        mdm_model_levels(m, a, b, lv);
        return true;
    }
    /* each comparison's weight, or its bound before it runs (all set by the first check) */
    double u[MDM_MAX_COMPARISONS] = {0};
    for (int i = 0; i < n; i++) {
        if (i == p->first_check)
            for (int j = i; j < n; j++)
                u[p->order[j]] = most_of(p, m, w, p->order[j], a, b, freq);
        if (i >= p->first_check && bound_of(m, w, u) < p->need)
            return false;
        int k = p->order[i];
        int l = mdm_model_level(m, k, a, b);
        lv[k] = (int8_t)l;
        u[k] = 0;
        if (l < 0)
            continue;
        u[k] = w->w[k][l];
        if (l == 0 && m->cmp[k].tf && freq && freq[k] >= 0) {
            double f = freq[k] > w->floor ? freq[k] : w->floor;
            u[k] += log2(w->u0[k] / f);
        }
    }
    return true;
}

/* compare_worker and score_worker in one, with the early exit (exit_plan). */
static void compare_score_worker(void *p, int t, size_t lo, size_t hi)
{
    cmp_ctx *c = p;
    const mdm_model *m = c->ld->m;
    int8_t lv[MDM_MAX_COMPARISONS];
    for (size_t i = lo; i < hi; i++) {
        uint32_t a = (uint32_t)(c->pairs[i] >> 32), b = (uint32_t)c->pairs[i];
        const mdm_feat *fa = &c->ld->feats[a], *fb = &c->ld->feats[b];
        const float *freq = c->ld->freq + (size_t)a * (size_t)m->ncmp;
        if (!levels_or_exit(c->plan, m, &c->w, fa, fb, freq, lv))
            continue;
        bool apart = mdm_model_names_apart(m, fa, fb, lv);
        score_one(c, t, a, b, lv, apart);
    }
}

/* One person's name and nothing against (cluster.h, named): first names exact, nicknames
 * or a typo (name levels 0-2; not an initial or a far spelling), and no comparison outside
 * the evidence groups at its "different" level (a birth date, an e-mail, a gender or an
 * identifier that disagrees). */
static bool one_name(const mdm_model *m, const int8_t *lv, bool apart)
{
    int k = m->names_k;
    if (k < 0 || lv[k] < 0 || lv[k] > 2)
        return false;
    for (int j = 0; j < m->ncmp; j++)
        if (lv[j] == m->cmp[j].nlevels - 1 && mdm_group_of(&m->grp, j, apart) < 0)
            return false;
    return true;
}

typedef struct prob_ctx {
    const linkdata *ld;
    weights w;
} prob_ctx;

static double pair_prob(void *p, uint32_t a, uint32_t b, double *evidence, bool *named)
{
    const prob_ctx *pc = p;
    const mdm_model *m = pc->ld->m;
    int8_t lv[MDM_MAX_COMPARISONS];
    mdm_model_levels(m, &pc->ld->feats[a], &pc->ld->feats[b], lv);
    uint8_t g = guard_of(m, &pc->ld->feats[a], &pc->ld->feats[b], lv);
    /* a hard negative between two records keeps their clusters apart; "household" is
     * about a link's own evidence only (a cluster may hold relatives' shared values) */
    if (mdm_model_vetoed(m, lv) || (g && g != MDM_GUARD_HOUSEHOLD)) {
        *evidence = -1e300;
        return 0;
    }
    bool apart = mdm_model_names_apart(m, &pc->ld->feats[a], &pc->ld->feats[b], lv);
    if (named)
        *named = one_name(m, lv, apart);
    double wk[MDM_MAX_COMPARISONS];
    weights_of(m, &pc->w, lv, pc->ld->freq + (size_t)a * (size_t)m->ncmp, wk);
    /* two people of one household (model.h, min_person_probability) */
    if (mdm_model_person_conflict(m, wk, apart)) {
        *evidence = -1e300;
        return 0;
    }
    double w = m->ngroups ? mdm_model_combine(m, wk, apart, NULL) : pc->w.prior;
    if (!m->ngroups)
        for (int k = 0; k < m->ncmp; k++)
            w += wk[k];
    *evidence = w - pc->w.prior;
    return mdm_model_probability(w);
}

/* Scores pairs[0..n) (comparison patterns in codes, or NULL to compare them here with
 * the early exit) into one array of edges at or above review; *nlinks counts those at
 * or above link. */
static mdm_edge *score_codes(linkdata *ld, const uint64_t *pairs, const pattern_codes *codes,
                             size_t n, double review, double link, size_t *nedges, size_t *nlinks)
{
    cmp_ctx c = {.ld = ld, .pairs = pairs, .review = review, .link = link};
    if (codes)
        c.codes = *codes;
    weights_init(&c.w, ld->m);
    exit_plan plan;
    exit_plan_init(&plan, ld->m, &c.w, review);
    c.plan = &plan;
    int th = ld->threads;
    c.edges = mdm_xcalloc((size_t)th, sizeof(mdm_edge *));
    c.nedges = mdm_xcalloc((size_t)th, sizeof *c.nedges);
    c.caps = mdm_xcalloc((size_t)th, sizeof *c.caps);
    c.nlinks = mdm_xcalloc((size_t)th, sizeof *c.nlinks);
    mdm_parallel_for(th, n, codes ? score_worker : compare_score_worker, &c);
    size_t ne = 0;
    *nlinks = 0;
    for (int k = 0; k < th; k++) {
        ne += c.nedges[k];
        *nlinks += c.nlinks[k];
    }
    mdm_edge *all = mdm_xmalloc((ne ? ne : 1) * sizeof *all);
    ne = 0;
    for (int k = 0; k < th; k++) {
        if (c.nedges[k])
            memcpy(all + ne, c.edges[k], c.nedges[k] * sizeof *all);
        ne += c.nedges[k];
        free(c.edges[k]);
    }
    free(c.edges);
    free(c.nedges);
    free(c.caps);
    free(c.nlinks);
    *nedges = ne;
    return all;
}

/* Guarded clustering of the records with the model's guards (cluster.h); edges below
 * link are ignored. */
static void cluster_edges(linkdata *ld, mdm_edge *edges, size_t ne, double link, uint32_t *cl,
                          uint8_t *refused, mdm_cluster_stats *st)
{
    const mdm_model *m = ld->m;
    size_t n = ld->n ? ld->n : 1;
    const char **strong = mdm_xcalloc(n * (size_t)(m->nstrong ? m->nstrong : 1), sizeof *strong);
    for (size_t i = 0; i < ld->n; i++)
        for (int s = 0; s < m->nstrong; s++)
            strong[i * (size_t)m->nstrong + (size_t)s] = ld->feats[i].v[m->strong_ids[s]];
    uint32_t *src = mdm_xmalloc(n * sizeof *src);
    for (size_t i = 0; i < ld->n; i++)
        src[i] = ld->feats[i].source;
    prob_ctx pc = {.ld = ld};
    weights_init(&pc.w, m);
    mdm_cluster_opts co = {.max_cluster_size = m->max_cluster_size,
                           .min_cohesion = m->min_cohesion,
                           .min_pair_evidence = m->min_pair_evidence,
                           .named_cohesion = m->named_cohesion && m->names_k >= 0,
                           .link_threshold = link,
                           .nstrong = m->nstrong,
                           .strong = strong,
                           .source = src,
                           .dedup_sources = ld->dedup_mask,
                           .prob = pair_prob,
                           .prob_ctx = &pc,
                           .refused = refused,
                           .bridge = ld->bridge,
                           .bridge_margin = m->bridge_margin,
                           .tiekey = ld->tiekey};
    mdm_cluster_run(ld->n, edges, ne, &co, cl, st);
    free(src);
    free(strong);
}

/* ---- collective evidence: entity-level merges ---- */

typedef struct cluster_pair {
    uint32_t x, y;
    float w;
} cluster_pair;

static int cmp_cluster_pair(const void *p, const void *q)
{
    const cluster_pair *a = p, *b = q;
    if (a->w != b->w)
        return a->w > b->w ? -1 : 1;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    return a->y < b->y ? -1 : a->y > b->y;
}

static uint32_t root_of(uint32_t *par, uint32_t x)
{
    while (par[x] != x) {
        par[x] = par[par[x]];
        x = par[x];
    }
    return x;
}

/* Most cross pairs an entity comparison examines (the two clusters are left apart
 * beyond it). */
#define ENTITY_MAX_CROSS 400

/* Whether records a and b cannot be one person by the engine's own rules: a deduplicated
 * source twice, a strong id that differs, first names that cannot be one person's
 * (mdm_model_names_apart), a veto, a hard negative (the household one only when
 * with_household: entity merges weigh households as the cohesion check does), evidence
 * below min_pair_evidence or a person conflict. lv receives the pair's levels and *pw
 * its match weight (set only when the pair is not apart). */
static bool pair_apart(const linkdata *ld, const weights *w, uint32_t a, uint32_t b,
                       bool with_household, int8_t *lv, double *pw)
{
    const mdm_model *m = ld->m;
    const mdm_feat *fa = &ld->feats[a], *fb = &ld->feats[b];
    if (fa->source == fb->source && (ld->dedup_mask >> fa->source & 1u))
        return true;
    for (int s = 0; s < m->nstrong; s++) {
        const char *p = fa->v[m->strong_ids[s]], *q = fb->v[m->strong_ids[s]];
        if (p && q && strcmp(p, q) != 0)
            return true;
    }
    mdm_model_levels(m, fa, fb, lv);
    uint8_t g = guard_of(m, fa, fb, lv);
    if (mdm_model_names_apart(m, fa, fb, lv) || mdm_model_vetoed(m, lv) ||
        (g && (with_household || g != MDM_GUARD_HOUSEHOLD)))
        return true;
    double wk[MDM_MAX_COMPARISONS];
    weights_of(m, w, lv, ld->freq + (size_t)a * (size_t)m->ncmp, wk);
    double sum = m->ngroups ? mdm_model_combine(m, wk, false, NULL) : w->prior;
    if (!m->ngroups)
        for (int k = 0; k < m->ncmp; k++)
            sum += wk[k];
    if (sum - w->prior < m->min_pair_evidence || mdm_model_person_conflict(m, wk, false))
        return true;
    *pw = sum;
    return false;
}

/* Entity-level comparison. Pairwise scoring sees one record of each side at a time:
 * {name, e-mail} against {name, phone} and {name, address} against {name, phone} are two
 * weak pairs, but the two clusters together agree on name, phone and address. For two
 * clusters left apart but joined by a scored pair (at or above review, what a steward would
 * be asked), every comparison takes its best level over all cross pairs (exact agreement
 * with the most frequent value of the pairs that agree, for term frequency), and the
 * clusters merge when that pattern reaches link, after two corrections:
 *   - the best of N = |A| x |B| cross pairs agrees by chance about N times as often as one
 *     pair: log2(N) bits are taken off (N random tries);
 *   - the pattern must weigh more than the best single cross pair: a link the clustering
 *     refused (cohesion) is not made here; only evidence that no one pair holds.
 * Nothing a cluster guard forbids is merged: no cross pair may be vetoed, a hard negative
 * (but "household", as in the cohesion check), below min_pair_evidence or have first names that
 * cannot be one person's (mdm_model_names_apart: a household's shared values do not combine into
 * one person), no strong id may differ, no deduplicated source appear twice, and the size stays
 * within max_cluster_size. Cluster pairs are taken by decreasing best edge weight. Returns the
 * merges; cl is renumbered only by merging (ids of the surviving clusters). */
static size_t merge_entities(const linkdata *ld, const mdm_edge *e, size_t ne, uint32_t *cl)
{
    const mdm_model *m = ld->m;
    size_t n = ld->n;
    if (!n || !ne)
        return 0;
    uint32_t nc = 0;
    for (size_t i = 0; i < n; i++)
        if (cl[i] + 1 > nc)
            nc = cl[i] + 1;
    /* members of each cluster as linked lists; union-find over clusters */
    uint32_t *head = mdm_xmalloc(nc * sizeof *head), *tail = mdm_xmalloc(nc * sizeof *tail);
    uint32_t *next = mdm_xmalloc(n * sizeof *next), *par = mdm_xmalloc(nc * sizeof *par);
    uint32_t *size = mdm_xcalloc(nc, sizeof *size);
    for (uint32_t c = 0; c < nc; c++) {
        head[c] = tail[c] = UINT32_MAX;
        par[c] = c;
    }
    for (size_t i = n; i-- > 0;) {
        next[i] = head[cl[i]];
        if (head[cl[i]] == UINT32_MAX)
            tail[cl[i]] = (uint32_t)i;
        head[cl[i]] = (uint32_t)i;
        size[cl[i]]++;
    }
    cluster_pair *cp = mdm_xmalloc(ne * sizeof *cp);
    size_t ncp = 0;
    for (size_t i = 0; i < ne; i++) {
        uint32_t x = cl[e[i].a], y = cl[e[i].b];
        if (x != y)
            cp[ncp++] = (cluster_pair){x < y ? x : y, x < y ? y : x, e[i].weight};
    }
    qsort(cp, ncp, sizeof *cp, cmp_cluster_pair);
    weights w;
    weights_init(&w, m);
    size_t merges = 0;
    int8_t lv[MDM_MAX_COMPARISONS], best[MDM_MAX_COMPARISONS];
    float freq[MDM_MAX_COMPARISONS];
    for (size_t i = 0; i < ncp; i++) {
        uint32_t x = root_of(par, cp[i].x), y = root_of(par, cp[i].y);
        if (x == y || (long)size[x] + (long)size[y] > m->max_cluster_size ||
            (size_t)size[x] * size[y] > ENTITY_MAX_CROSS)
            continue;
        for (int k = 0; k < m->ncmp; k++) {
            best[k] = -1;
            freq[k] = -1;
        }
        bool ok = true;
        double best_pair = -INFINITY;
        for (uint32_t a = head[x]; ok && a != UINT32_MAX; a = next[a])
            for (uint32_t b = head[y]; ok && b != UINT32_MAX; b = next[b]) {
                double pw;
                if (pair_apart(ld, &w, a, b, false, lv, &pw)) {
                    ok = false;
                    break;
                }
                const float *fr = ld->freq + (size_t)a * (size_t)m->ncmp;
                if (pw > best_pair)
                    best_pair = pw;
                for (int k = 0; k < m->ncmp; k++) {
                    if (lv[k] < 0 || (best[k] >= 0 && lv[k] > best[k]))
                        continue;
                    if (best[k] < 0 || lv[k] < best[k] || fr[k] > freq[k]) {
                        best[k] = lv[k];
                        freq[k] = fr[k];
                    }
                }
            }
        if (!ok)
            continue;
        double ew = weight_of(m, &w, best, false, freq) - log2((double)size[x] * size[y]);
        if (ew <= best_pair || mdm_model_probability(ew) < m->link_threshold)
            continue;
        par[y] = x;
        size[x] += size[y];
        next[tail[x]] = head[y];
        tail[x] = tail[y];
        head[y] = tail[y] = UINT32_MAX;
        merges++;
    }
    for (size_t i = 0; i < n; i++)
        cl[i] = root_of(par, cl[i]);
    free(cp);
    free(head);
    free(tail);
    free(next);
    free(par);
    free(size);
    return merges;
}

/* Dense cluster numbers in order of first record (as mdm_cluster_run numbers them). */
static void renumber(uint32_t *cl, size_t n)
{
    uint32_t *num = mdm_xmalloc((n ? n : 1) * sizeof *num);
    for (size_t i = 0; i < n; i++)
        num[i] = UINT32_MAX;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (num[cl[i]] == UINT32_MAX)
            num[cl[i]] = next++;
        cl[i] = num[cl[i]];
    }
    free(num);
}

static void mark_apart(const linkdata *ld, mdm_edge *e, size_t ne, const uint32_t *cl);

/* The guarded clustering, then the entity-level merges (model.h, entity_merge), after
 * which the cluster counts are taken again; the scored pairs the rules keep apart are
 * marked (mark_apart). edges: the scored pairs; cl_edges: the clustering's copy (sorted
 * by it), with the group edges of mdm_link_feats. */
static void cluster_collective(linkdata *ld, mdm_edge *edges, size_t ne, mdm_edge *cl_edges,
                               size_t cne, double link, uint32_t *cl, uint8_t *refused,
                               mdm_link_stats *st)
{
    const mdm_model *m = ld->m;
    cluster_edges(ld, cl_edges, cne, link, cl, refused, &st->cluster);
    if (m->entity_merge)
        st->entity_merges = merge_entities(ld, edges, ne, cl);
    mark_apart(ld, edges, ne, cl);
    if (!st->entity_merges)
        return;
    renumber(cl, ld->n);
    size_t *count = mdm_xcalloc(ld->n ? ld->n : 1, sizeof *count);
    st->cluster.clusters = st->cluster.largest = st->cluster.singletons = 0;
    for (size_t i = 0; i < ld->n; i++)
        if (++count[cl[i]] > st->cluster.largest)
            st->cluster.largest = count[cl[i]];
    for (size_t c = 0; c < ld->n && count[c]; c++) {
        st->cluster.clusters++;
        st->cluster.singletons += count[c] == 1;
    }
    free(count);
}

typedef struct keyed_edge {
    uint64_t key; /* the two clusters it joins, smaller first */
    size_t i;
} keyed_edge;

static int cmp_keyed_edge(const void *p, const void *q)
{
    const keyed_edge *a = p, *b = q;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Sets `apart` on every scored pair across two clusters that the engine's own rules keep
 * apart: some cross pair of their records is apart by pair_apart, the household negative
 * included (only the first ENTITY_MAX_CROSS cross pairs are examined). Such a pair of
 * clusters is not a question for a steward: asking would show them two people the rules
 * already tell apart (a mother and her son at one address, twins, Sr and Jr). */
static void mark_apart(const linkdata *ld, mdm_edge *e, size_t ne, const uint32_t *cl)
{
    size_t n = ld->n;
    keyed_edge *ke = mdm_xmalloc((ne ? ne : 1) * sizeof *ke);
    size_t nk = 0;
    for (size_t i = 0; i < ne; i++) {
        e[i].apart = 0;
        uint32_t x = cl[e[i].a], y = cl[e[i].b];
        if (x != y)
            ke[nk++] = (keyed_edge){x < y ? (uint64_t)x << 32 | y : (uint64_t)y << 32 | x, i};
    }
    if (!nk) {
        free(ke);
        return;
    }
    qsort(ke, nk, sizeof *ke, cmp_keyed_edge);
    uint32_t nc = 0;
    for (size_t i = 0; i < n; i++)
        if (cl[i] + 1 > nc)
            nc = cl[i] + 1;
    uint32_t *head = mdm_xmalloc(nc * sizeof *head), *next = mdm_xmalloc(n * sizeof *next);
    for (uint32_t c = 0; c < nc; c++)
        head[c] = UINT32_MAX;
    for (size_t i = n; i-- > 0;) {
        next[i] = head[cl[i]];
        head[cl[i]] = (uint32_t)i;
    }
    weights w;
    weights_init(&w, ld->m);
    int8_t lv[MDM_MAX_COMPARISONS];
    for (size_t g = 0; g < nk;) {
        size_t end = g;
        while (end < nk && ke[end].key == ke[g].key)
            end++;
        uint32_t x = (uint32_t)(ke[g].key >> 32), y = (uint32_t)ke[g].key;
        bool apart = false;
        size_t cross = 0;
        for (uint32_t a = head[x]; !apart && a != UINT32_MAX && cross < ENTITY_MAX_CROSS;
             a = next[a])
            for (uint32_t b = head[y]; b != UINT32_MAX && cross < ENTITY_MAX_CROSS; b = next[b]) {
                double pw;
                cross++;
                if ((apart = pair_apart(ld, &w, a, b, true, lv, &pw)))
                    break;
            }
        for (; g < end; g++)
            e[ke[g].i].apart = apart;
    }
    free(head);
    free(next);
    free(ke);
}

/* Distinct pairs of clusters joined by an edge (at or above review) across them, but
 * those the rules keep apart (mark_apart). */
static size_t count_review_items(const mdm_edge *e, size_t ne, const uint32_t *cl)
{
    uint64_t *cp = mdm_xmalloc((ne ? ne : 1) * sizeof *cp);
    size_t n = 0;
    for (size_t i = 0; i < ne; i++) {
        uint32_t x = cl[e[i].a], y = cl[e[i].b];
        if (x != y && !e[i].apart)
            cp[n++] = x < y ? (uint64_t)x << 32 | y : (uint64_t)y << 32 | x;
    }
    mdm_block_sort_u64(cp, n);
    size_t items = 0;
    for (size_t i = 0; i < n; i++)
        items += i == 0 || cp[i] != cp[i - 1];
    free(cp);
    return items;
}

static double miss_score(void *p, uint32_t a, uint32_t b, int8_t *lv, double *weight, bool *vetoed)
{
    const prob_ctx *pc = p;
    const mdm_model *m = pc->ld->m;
    mdm_model_levels(m, &pc->ld->feats[a], &pc->ld->feats[b], lv);
    bool apart = mdm_model_names_apart(m, &pc->ld->feats[a], &pc->ld->feats[b], lv);
    *weight = weight_of(m, &pc->w, lv, apart, pc->ld->freq + (size_t)a * (size_t)m->ncmp);
    *vetoed = mdm_model_vetoed(m, lv);
    return *vetoed ? 0 : mdm_model_probability(*weight);
}

static mdm_status write_misses(linkdata *ld, const mdm_link_opts *o, const uint32_t *cl,
                               const uint64_t *pairs, size_t npairs, const mdm_edge *edges,
                               const uint8_t *refused, size_t ne, mdm_err *err)
{
    prob_ctx pc = {.ld = ld};
    weights_init(&pc.w, ld->m);
    mdm_misses_in in = {.m = ld->m,
                        .n = ld->n,
                        .feats = ld->feats,
                        .ids = (const char *const *)ld->ids,
                        .src_names = (const char *const *)ld->src_name,
                        .cluster_of = cl,
                        .pairs = pairs,
                        .npairs = npairs,
                        .edges = edges,
                        .refused = refused,
                        .nedges = ne,
                        .allowed = pair_allowed,
                        .allowed_ctx = ld,
                        .score = miss_score,
                        .score_ctx = &pc,
                        .link = ld->m->link_threshold,
                        .review = ld->m->review_threshold};
    mdm_misses_result r;
    mdm_status rc = mdm_misses_write(&in, o->truth, o->misses_out, &r, o->miss_examples, err);
    if (o->misses)
        *o->misses = r;
    return rc;
}

/* ---- training ---- */

/* prior = expected matches among candidates / all allowed pairs; stored in m */
static double set_prior(const linkdata *ld, mdm_model *m, const mdm_em_result *r, size_t npairs)
{
    double total = 0;
    for (int s = 0; s < ld->nsrc; s++) {
        double ns_ = (double)ld->src_count[s];
        if (!(ld->dedup_mask & (1u << s)))
            total += ns_ * (ns_ - 1) / 2;
        for (int t = s + 1; t < ld->nsrc; t++)
            total += ns_ * (double)ld->src_count[t];
    }
    double matches = r->lambda * (double)npairs;
    m->lambda_candidates = r->lambda;
    m->prior = total > 0 ? matches / total : 1e-6;
    if (m->prior < 1e-12)
        m->prior = 1e-12;
    if (m->prior > 0.5)
        m->prior = 0.5;
    return m->prior;
}

/* ---- EM by blocking rule, when EM over the candidates fails ---- */

/* The candidate pairs EM read (pairs[0..n), their patterns in codes) and each record's
 * blocking key digests (mdm_block_candidates_keys), for em_by_rule. */
typedef struct rule_sample {
    const uint64_t *pairs;
    const pattern_codes *codes;
    size_t n;
    const uint32_t *rule_keys;
} rule_sample;

/* Whether EM's match class is no match class: for most comparisons, its pairs disagree
 * more often than they agree. It happens when the candidates are mostly pairs a
 * blocking rule brought together by chance, in blocks of several kinds (a birth date, a
 * surname prefix and a birth year): two classes then describe those kinds better than
 * matches and non-matches do (a million FEBRL-layout records: 45 M candidates, 1% of
 * them matches, EM put 74% in its "match" class). */
static bool em_failed(const mdm_model *m, const mdm_em_result *r)
{
    int against = 0;
    for (int k = 0; k < m->ncmp; k++)
        against += r->m[k][0] < r->m[k][m->cmp[k].nlevels - 1];
    return 2 * against > m->ncmp;
}

/* m and lambda as most linkers estimate them (Splink's training by blocking rule): the
 * pairs that share a block of rule r agree on r's fields by construction, and on their
 * other fields like random pairs when they are not matches; so for each rule EM runs on
 * the pairs of the sample that share one of its blocks, with r's comparisons left out and
 * u fixed at the random-pair estimate, and each comparison's m is the mean of the rules'
 * estimates that left it in. lambda then follows from EM over all the patterns with m
 * and u fixed (without the group caps). False when no comparison got an estimate. */
static bool em_by_rule(const mdm_model *m, const rule_sample *rs, const int *nlev,
                       const double m0[][MDM_MAX_LEVELS], mdm_em_result *out)
{
    int nr = m->nrules;
    double msum[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS] = {{0}};
    int mn[MDM_MAX_COMPARISONS] = {0};
    double u0[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
    for (int k = 0; k < m->ncmp; k++)
        for (int l = 0; l < nlev[k]; l++)
            u0[k][l] = m->cmp[k].u[l];
    int8_t lv[MDM_MAX_COMPARISONS];
    for (int r = 0; r < nr; r++) {
        uint32_t out_of_rule = 0; /* the comparisons on the rule's fields */
        for (int p = 0; p < m->rules[r].nparts; p++)
            for (int k = 0; k < m->ncmp; k++)
                if (m->cmp[k].field == m->rules[r].parts[p].field)
                    out_of_rule |= 1u << k;
        hist h = {0};
        for (size_t i = 0; i < rs->n; i++) {
            uint32_t a = (uint32_t)(rs->pairs[i] >> 32), b = (uint32_t)rs->pairs[i];
            uint32_t ka = rs->rule_keys[(size_t)a * (size_t)nr + (size_t)r];
            if (!ka || ka != rs->rule_keys[(size_t)b * (size_t)nr + (size_t)r])
                continue;
            bool apart = decode(m, code_at(rs->codes, i), lv);
            for (int k = 0; k < m->ncmp; k++)
                if (out_of_rule & (1u << k))
                    lv[k] = -1;
            hist_add(&h, encode(m, lv, apart), 1);
        }
        mdm_pattern *pats = mdm_xcalloc(h.n ? h.n : 1, sizeof *pats);
        size_t np = 0;
        for (size_t i = 0; i < h.cap; i++)
            if (h.keys[i]) {
                pats[np].names_apart = decode(m, h.keys[i] - 1, pats[np].levels);
                pats[np].count = h.counts[i];
                np++;
            }
        free(h.keys);
        free(h.counts);
        if (np) {
            mdm_em_result r1;
            mdm_em_run(pats, np, m->ncmp, nlev, m0, (const double(*)[MDM_MAX_LEVELS])u0, 0.1,
                       m->em_iterations, true, NULL, 0, &r1);
            if (!em_failed(m, &r1))
                for (int k = 0; k < m->ncmp; k++)
                    if (!(out_of_rule & (1u << k))) {
                        for (int l = 0; l < nlev[k]; l++)
                            msum[k][l] += r1.m[k][l];
                        mn[k]++;
                    }
        }
        free(pats);
    }
    bool any = false;
    for (int k = 0; k < m->ncmp; k++) {
        any |= mn[k] > 0;
        for (int l = 0; l < nlev[k]; l++) {
            out->m[k][l] = mn[k] ? msum[k][l] / mn[k] : m0[k][l];
            out->u[k][l] = u0[k][l];
        }
    }
    if (!any)
        return false;
    /* lambda: EM over every pattern of the sample with m and u fixed */
    double *bf = mdm_xmalloc((rs->n ? rs->n : 1) * sizeof *bf);
    for (size_t i = 0; i < rs->n; i++) {
        decode(m, code_at(rs->codes, i), lv);
        double b = 0;
        for (int k = 0; k < m->ncmp; k++)
            if (lv[k] >= 0)
                b += log(out->m[k][lv[k]] / out->u[k][lv[k]]);
        bf[i] = b > 700 ? 700 : b < -700 ? -700 : b;
    }
    double lambda = 0.01;
    int it = 0;
    for (; it < 200 && rs->n; it++) {
        double sum = 0, odds = (1 - lambda) / lambda;
        for (size_t i = 0; i < rs->n; i++)
            sum += 1 / (1 + odds * exp(-bf[i]));
        double next = sum / (double)rs->n;
        next = next < 1e-9 ? 1e-9 : next > 1 - 1e-9 ? 1 - 1e-9 : next;
        bool done = fabs(next - lambda) < 1e-9;
        lambda = next;
        if (done)
            break;
    }
    free(bf);
    out->lambda = lambda;
    out->iterations = it;
    out->converged = true;
    return true;
}

/* The group margin from EM's result r (model.h, group_margin "auto"): h, among candidate
 * patterns whose groups alone reach even odds, the share whose other comparisons speak
 * against a match (relatives); margin = log2((1-h)/h). */
static void learn_margin(const linkdata *ld, mdm_model *m, const mdm_pattern *pats, size_t np,
                         const mdm_em_result *r, size_t npairs, mdm_link_stats *st)
{
    double prior = set_prior(ld, m, r, npairs);
    double pw = log2(prior / (1 - prior)), pos = 0, neg = 0;
    for (size_t p = 0; p < np; p++) {
        double gsum = 0, rest = 0;
        bool any = false;
        for (int k = 0; k < m->ncmp; k++) {
            int l = (int)pats[p].levels[k];
            if (l < 0)
                continue;
            double w = log2(r->m[k][l] / m->cmp[k].u[l]);
            if (mdm_group_of(&m->grp, k, pats[p].names_apart) >= 0) {
                gsum += w;
                any = true;
            } else {
                rest += w;
            }
        }
        if (!any || gsum < -pw)
            continue;
        if (rest > 0.5)
            pos += pats[p].count;
        else if (rest < -0.5)
            neg += pats[p].count;
    }
    double h = (neg + 1) / (pos + neg + 2);
    double margin = log2((1 - h) / h);
    m->group_margin = margin < 0 ? 0 : margin > 12 ? 12 : margin; /* even odds at least */
    st->household_share = h;
}

/* npairs: the candidate pairs the patterns of merged come from; rs (may be NULL): what
 * em_by_rule reads when EM over the patterns fails */
static void train(linkdata *ld, mdm_model *m, size_t npairs, const hist *merged,
                  const rule_sample *rs, mdm_link_stats *st)
{
    /* u from random pairs */
    uint64_t seed = m->seed;
    size_t ns = ld->n >= 2 ? (size_t)m->u_samples : 0;
    uint64_t *rp = mdm_xmalloc((ns ? ns : 1) * sizeof *rp);
    size_t got = 0;
    for (size_t tries = 0; got < ns && tries < 4 * ns; tries++) {
        uint32_t a = (uint32_t)(splitmix(&seed) % ld->n), b = (uint32_t)(splitmix(&seed) % ld->n);
        if (a == b || !pair_allowed(ld, ld->feats[a].source, ld->feats[b].source))
            continue;
        rp[got++] = (uint64_t)a << 32 | b;
    }
    cmp_ctx c = {.ld = ld, .pairs = rp};
    c.ucounts = mdm_xcalloc((size_t)ld->threads, sizeof *c.ucounts);
    mdm_parallel_for(ld->threads, got, u_worker, &c);
    double counts[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS] = {{0}};
    for (int t = 0; t < ld->threads; t++)
        for (int k = 0; k < m->ncmp; k++)
            for (int l = 0; l < MDM_MAX_LEVELS; l++)
                counts[k][l] += c.ucounts[t][k][l];
    free(c.ucounts);
    free(rp);
    mdm_model_set_u(m, counts);

    /* EM over the candidate patterns */
    mdm_pattern *pats = mdm_xcalloc(merged->n ? merged->n : 1, sizeof *pats);
    size_t np = 0;
    for (size_t i = 0; i < merged->cap; i++)
        if (merged->keys[i]) {
            pats[np].names_apart = decode(m, merged->keys[i] - 1, pats[np].levels);
            pats[np].count = merged->counts[i];
            np++;
        }
    int nlev[MDM_MAX_COMPARISONS] = {0};
    double m0[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS], u0[MDM_MAX_COMPARISONS][MDM_MAX_LEVELS];
    for (int k = 0; k < m->ncmp; k++) {
        nlev[k] = m->cmp[k].nlevels;
        for (int l = 0; l < nlev[k]; l++) {
            m0[k][l] = l == 0 ? 0.85 : l == nlev[k] - 1 ? 0.03 : 0.12 / (nlev[k] - 2);
            u0[k][l] = m->cmp[k].u[l];
        }
    }
    mdm_em_result r;
    if (m->group_margin_auto)
        m->group_margin = 0;
    mdm_em_run(pats, np, m->ncmp, nlev, (const double(*)[MDM_MAX_LEVELS])m0,
               (const double(*)[MDM_MAX_LEVELS])u0, 0.1, m->em_iterations, false, &m->grp,
               m->group_margin, &r);
    if (m->group_margin_auto && m->ngroups) {
        learn_margin(ld, m, pats, np, &r, npairs, st);
        mdm_em_run(pats, np, m->ncmp, nlev, (const double(*)[MDM_MAX_LEVELS])m0,
                   (const double(*)[MDM_MAX_LEVELS])u0, 0.1, m->em_iterations, false, &m->grp,
                   m->group_margin, &r);
    }
    st->em_by_rule = rs && rs->rule_keys && em_failed(m, &r) &&
                     em_by_rule(m, rs, nlev, (const double(*)[MDM_MAX_LEVELS])m0, &r);
    if (st->em_by_rule && m->group_margin_auto && m->ngroups)
        learn_margin(ld, m, pats, np, &r, npairs, st);
    free(pats);
    for (int k = 0; k < m->ncmp; k++) {
        /* no level is impossible for a match: at most about -10 bits from one comparison */
        double z = 0;
        for (int l = 0; l < nlev[k]; l++)
            z += r.m[k][l] < 1e-3 ? 1e-3 : r.m[k][l];
        for (int l = 0; l < nlev[k]; l++)
            m->cmp[k].m[l] = (r.m[k][l] < 1e-3 ? 1e-3 : r.m[k][l]) / z;
    }
    mdm_model_monotonic(m);
    set_prior(ld, m, &r, npairs);
    m->trained = true;
    st->em_iterations = r.iterations;
    st->lambda = r.lambda;
}

/* ---- outputs ---- */

static mdm_status write_clusters(const linkdata *ld, const uint32_t *cl, const char *path,
                                 mdm_err *err)
{
    FILE *f = mdm_io_open(path, "w"); /* "-": standard output */
    if (!f)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    mdm_buf b = {0};
    fputs("source,record_id,cluster_id\n", f);
    for (size_t i = 0; i < ld->n; i++) {
        mdm_buf_reset(&b);
        mdm_csv_quote(&b, ld->src_name[ld->feats[i].source]);
        mdm_buf_putc(&b, ',');
        mdm_csv_quote(&b, ld->ids[i]);
        mdm_buf_printf(&b, ",%u\n", cl[i] + 1);
        fwrite(b.data, 1, b.len, f);
    }
    mdm_buf_free(&b);
    if (mdm_io_close(f) != 0)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    return MDM_OK;
}

static mdm_status write_pairs(const linkdata *ld, const mdm_edge *e, size_t n, const char *path,
                              mdm_err *err)
{
    FILE *f = mdm_io_open(path, "w"); /* "-": standard output */
    if (!f)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    mdm_buf b = {0};
    fputs("source_a,record_id_a,source_b,record_id_b,match_weight,probability,guard\n", f);
    for (size_t i = 0; i < n; i++) {
        mdm_buf_reset(&b);
        mdm_csv_quote(&b, ld->src_name[ld->feats[e[i].a].source]);
        mdm_buf_putc(&b, ',');
        mdm_csv_quote(&b, ld->ids[e[i].a]);
        mdm_buf_putc(&b, ',');
        mdm_csv_quote(&b, ld->src_name[ld->feats[e[i].b].source]);
        mdm_buf_putc(&b, ',');
        mdm_csv_quote(&b, ld->ids[e[i].b]);
        mdm_buf_printf(&b, ",%.4f,%.6f,%s\n", e[i].weight, e[i].prob,
                       e[i].guard ? mdm_guard_name((mdm_guard)e[i].guard) : "");
        fwrite(b.data, 1, b.len, f);
    }
    mdm_buf_free(&b);
    if (mdm_io_close(f) != 0)
        return mdm_err_set(err, MDM_EIO, "cannot write %s", path);
    return MDM_OK;
}

/* ---- pipeline ---- */

/* MDM_LINK_EM_SAMPLE, or the environment's MDM_LINK_EM_SAMPLE (a positive number; for
 * tests that reach the sampled path on small inputs). */
static size_t em_sample_size(void)
{
    const char *v = getenv("MDM_LINK_EM_SAMPLE");
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && end != v && !*end && n > 0 ? (size_t)n : (size_t)MDM_LINK_EM_SAMPLE;
}

mdm_status mdm_link_run(mdm_model *m, const mdm_link_opts *o, mdm_link_stats *st, mdm_err *err)
{
    memset(st, 0, sizeof *st);
    double t0 = now_s(), t, c0 = cpu_s(), cl_;
    linkdata ld;
    uint64_t *pairs = NULL, *sample = NULL;
    uint32_t *rule_keys = NULL;
    pattern_codes codes = {0};
    mdm_edge *all = NULL;
    size_t ne = 0;
    uint32_t *cl = NULL;
    uint8_t *refused = NULL;
    hist *hists = NULL, merged = {0};
    mdm_status rc = load_all(&ld, m, o, err);
    if (rc != MDM_OK)
        goto out;
    st->records = ld.n;
    st->rejected = ld.rejected;
    st->sources = (size_t)ld.nsrc;
    st->shared_values = ld.shared_values;
    st->t_load = (t = now_s()) - t0;
    st->c_load = (cl_ = cpu_s()) - c0;
    if (ld.progress)
        fprintf(stderr, "link: features built in %.2fs (%zu shared values dropped)\n", st->t_load,
                ld.shared_values);

    size_t npairs = 0;
    bool train_now = !m->trained || o->retrain;
    rc = mdm_block_candidates_keys(m, ld.feats, ld.n, pair_allowed, &ld, ld.threads, &pairs,
                                   &npairs, &st->block,
                                   train_now && !m->ntrain_rules ? &rule_keys : NULL, err);
    if (rc != MDM_OK)
        goto out;
    double t1 = now_s(), c1 = cpu_s();
    st->t_block = t1 - t;
    st->c_block = c1 - cl_;
    if (ld.progress)
        fprintf(stderr,
                "link: %zu candidate pairs from %zu blocks (largest %zu, %zu oversized blocks "
                "windowed) in %.2fs\n",
                npairs, st->block.blocks, st->block.largest_block, st->block.oversized_blocks,
                st->t_block);

    if (ld.progress)
        for (int r = 0; r < m->nrules; r++)
            fprintf(stderr, "link:   rule %-40s %zu pairs\n", m->rules[r].text,
                    st->block.rule_pairs[r]);
    /* Training compares every candidate (EM reads their patterns, scoring then reads
     * the stored patterns), unless there are more than MDM_LINK_EM_SAMPLE: then EM reads
     * the patterns of that many pairs spread evenly over the candidates (sorted by
     * record), and the candidates are compared afterwards, with the trained model, in
     * one pass with scoring that stops early (compare_score_worker). So does a run with
     * a trained model. */
    size_t em_sample = em_sample_size();
    bool fused = !train_now || (!m->ntrain_rules && npairs > em_sample);
    size_t ncmp_pairs = fused ? (train_now ? em_sample : 0) : npairs;
    const uint64_t *cmp_pairs = pairs;
    if (fused && train_now) {
        sample = mdm_xmalloc(ncmp_pairs * sizeof *sample);
        for (size_t j = 0; j < ncmp_pairs; j++)
            sample[j] = pairs[(size_t)((double)j * (double)npairs / (double)ncmp_pairs)];
        cmp_pairs = sample;
    }
    codes = codes_new(m, ncmp_pairs);
    cmp_ctx c = {.ld = &ld, .pairs = cmp_pairs, .codes = codes};
    if (train_now && !m->ntrain_rules)
        hists = c.hists = mdm_xcalloc((size_t)ld.threads, sizeof *hists);
    mdm_parallel_for(ld.threads, ncmp_pairs, compare_worker, &c);
    double t2 = now_s(), c2 = cpu_s();
    if (train_now) {
        size_t ntrain = npairs;
        if (m->ntrain_rules) {
            rc = training_hist(&ld, m, pairs, &codes, npairs, &merged, &ntrain, err);
            if (rc != MDM_OK)
                goto out;
        }
        for (int k = 0; hists && k < ld.threads; k++)
            for (size_t i = 0; i < hists[k].cap; i++)
                if (hists[k].keys[i])
                    hist_add(&merged, hists[k].keys[i] - 1, hists[k].counts[i]);
        rule_sample rs = {
            .pairs = cmp_pairs, .codes = &codes, .n = ncmp_pairs, .rule_keys = rule_keys};
        train(&ld, m, ntrain, &merged, m->ntrain_rules ? NULL : &rs, st);
        free(rule_keys);
        rule_keys = NULL;
        if (ld.progress)
            fprintf(stderr,
                    "link: trained (EM %d iterations%s, %.4f of candidates match, prior %.3g, "
                    "household share %.3f, group margin %.2f bits)\n",
                    st->em_iterations, st->em_by_rule ? " by blocking rule" : "", st->lambda,
                    m->prior, st->household_share, m->group_margin);
    }
    double t3 = now_s(), c3 = cpu_s();
    st->t_train = t3 - t2;
    st->c_train = c3 - c2;
    if (o->train_only) {
        st->t_score = t2 - t1;
        st->c_score = c2 - c1;
        goto out_done;
    }

    /* score */
    if (fused) {
        codes_free(&codes);
        free(sample);
        sample = NULL;
    }
    all = score_codes(&ld, pairs, fused ? NULL : &codes, npairs, m->review_threshold,
                      m->link_threshold, &ne, &st->links);
    st->review = ne - st->links;
    if (!o->misses_out) { /* the misses report looks the candidates up */
        free(pairs);
        pairs = NULL;
    }
    codes_free(&codes);
    double t4 = now_s(), c4 = cpu_s();
    st->t_score = (t2 - t1) + (t4 - t3);
    st->c_score = (c2 - c1) + (c4 - c3);

    /* cluster */
    cl = mdm_xmalloc((ld.n ? ld.n : 1) * sizeof *cl);
    if (o->misses_out)
        refused = mdm_xmalloc(ne ? ne : 1);
    cluster_collective(&ld, all, ne, all, ne, m->link_threshold, cl, refused, st);
    st->review_items = count_review_items(all, ne, cl);
    st->t_cluster = now_s() - t4;
    st->c_cluster = cpu_s() - c4;
    if (ld.progress)
        fprintf(stderr,
                "link: %zu links, %zu review pairs; %zu clusters (largest %zu); refused merges: "
                "%zu size, %zu strong id, %zu source, %zu cohesion, %zu conflict, %zu hard "
                "negative\n",
                st->links, st->review, st->cluster.clusters, st->cluster.largest,
                st->cluster.refused_size, st->cluster.refused_strong, st->cluster.refused_source,
                st->cluster.refused_cohesion, st->cluster.refused_conflict,
                st->cluster.refused_hard);
    if (o->clusters_out && (rc = write_clusters(&ld, cl, o->clusters_out, err)) != MDM_OK)
        goto out;
    if (o->pairs_out && (rc = write_pairs(&ld, all, ne, o->pairs_out, err)) != MDM_OK)
        goto out;
    if (o->misses_out && o->truth &&
        (rc = write_misses(&ld, o, cl, pairs, npairs, all, refused, ne, err)) != MDM_OK)
        goto out;
out_done:
    st->t_total = now_s() - t0;
    st->c_total = cpu_s() - c0;
out:
    free(sample);
    free(rule_keys);
    hists_free(hists, ld.threads);
    free(merged.keys);
    free(merged.counts);
    free(all);
    free(cl);
    free(refused);
    free(pairs);
    codes_free(&codes);
    ld_free(&ld);
    return rc;
}

static long find_record(const linkdata *ld, const char *source, const char *id)
{
    for (size_t i = 0; i < ld->n; i++)
        if (strcmp(ld->ids[i], id) == 0 &&
            (!source || strcmp(ld->src_name[ld->feats[i].source], source) == 0))
            return (long)i;
    return -1;
}

mdm_status mdm_link_explain(const mdm_model *m, const mdm_link_opts *o, const char *source_a,
                            const char *id_a, const char *source_b, const char *id_b, json_t **doc,
                            mdm_err *err)
{
    linkdata ld;
    *doc = NULL;
    mdm_status rc = load_all(&ld, m, o, err);
    if (rc != MDM_OK)
        goto out;
    long a = find_record(&ld, source_a, id_a), b = find_record(&ld, source_b, id_b);
    if (a < 0 || b < 0) {
        rc = mdm_err_set(err, MDM_ENOTFOUND, "no record %s%s%s in the inputs",
                         a < 0 ? (source_a ? source_a : "") : (source_b ? source_b : ""),
                         (a < 0 ? source_a : source_b) ? ":" : "", a < 0 ? id_a : id_b);
        goto out;
    }
    double freq[MDM_MAX_COMPARISONS];
    for (int k = 0; k < m->ncmp; k++)
        freq[k] = ld.freq[(size_t)a * (size_t)m->ncmp + (size_t)k];
    mdm_value_stats vs = {.freq = freq, .shared = NULL};
    mdm_explain ex;
    mdm_model_score(m, &ld.feats[a], &ld.feats[b], &vs, &ex);
    *doc = mdm_explain_json(&ex);
    json_object_set_new(
        *doc, "a",
        json_pack("{s:s,s:s}", "source", ld.src_name[ld.feats[a].source], "record_id", ld.ids[a]));
    json_object_set_new(
        *doc, "b",
        json_pack("{s:s,s:s}", "source", ld.src_name[ld.feats[b].source], "record_id", ld.ids[b]));
out:
    ld_free(&ld);
    return rc;
}

/* ---- caller-built features (mdm resolve's bulk path) ---- */

mdm_status mdm_link_feats(const mdm_model *m, mdm_feat *feats, size_t n, const uint32_t *group,
                          uint32_t dedup_mask, double link, double review, int threads,
                          uint32_t *cluster_of, mdm_edge **edges, size_t *nedges,
                          mdm_link_stats *st, mdm_err *err)
{
    mdm_link_feats_opts o = {.group = group,
                             .dedup_mask = dedup_mask,
                             .link = link,
                             .review = review,
                             .threads = threads};
    return mdm_link_feats_ex(m, feats, n, &o, cluster_of, edges, nedges, st, err);
}

mdm_status mdm_link_feats_ex(const mdm_model *m, mdm_feat *feats, size_t n,
                             const mdm_link_feats_opts *o, uint32_t *cluster_of, mdm_edge **edges,
                             size_t *nedges, mdm_link_stats *st, mdm_err *err)
{
    const uint32_t *group = o->group;
    double link = o->link, review = o->review;
    memset(st, 0, sizeof *st);
    *edges = NULL;
    *nedges = 0;
    if (!m->trained)
        return mdm_err_set(err, MDM_EINVAL, "the model is not trained");
    if (n >= UINT32_MAX - 1)
        return mdm_err_set(err, MDM_EINVAL, "too many records");
    double t0 = now_s();
    linkdata ld;
    memset(&ld, 0, sizeof ld);
    ld.m = m;
    ld.threads = mdm_link_threads(o->threads);
    ld.feats = feats;
    ld.dedup_mask = o->dedup_mask;
    ld.no_tf = o->no_tf;
    ld.tiekey = o->tiekey;
    ld.bridge = o->bridge;
    /* the statistics records count in the shared values, then leave */
    ld.n = n + o->nstats;
    finish_features(&ld);
    ld.n = n;
    st->records = n;
    st->shared_values = ld.shared_values;
    double t1 = now_s();
    st->t_load = t1 - t0;

    uint64_t *pairs = NULL;
    size_t npairs = 0;
    mdm_status rc = mdm_block_candidates(m, feats, n, pair_allowed, &ld, ld.threads, &pairs,
                                         &npairs, &st->block, err);
    if (rc != MDM_OK)
        goto out;
    if (group) { /* two records already together (or both settled) need no comparison */
        size_t k = 0;
        for (size_t i = 0; i < npairs; i++) {
            uint32_t a = (uint32_t)(pairs[i] >> 32), b = (uint32_t)pairs[i];
            if (!group[a] || !group[b])
                pairs[k++] = pairs[i];
        }
        npairs = k;
    }
    double t2 = now_s();
    st->t_block = t2 - t1;
    pattern_codes codes = codes_new(m, npairs);
    cmp_ctx c = {.ld = &ld, .pairs = pairs, .codes = codes};
    mdm_parallel_for(ld.threads, npairs, compare_worker, &c);
    size_t ne = 0;
    mdm_edge *all = score_codes(&ld, pairs, &codes, npairs, review, link, &ne, &st->links);
    st->review = ne - st->links;
    codes_free(&codes);
    free(pairs);
    pairs = NULL;
    double t3 = now_s();
    st->t_score = t3 - t2;

    /* records of one group are joined first (consecutive members, above any weight); the
     * clustering sorts its edges, so it gets a copy and the caller the scored pairs */
    mdm_edge *cl_edges = mdm_xmalloc((ne + n + 1) * sizeof *cl_edges);
    if (ne)
        memcpy(cl_edges, all, ne * sizeof *all);
    size_t cne = ne;
    if (group) {
        uint32_t ng = 0;
        for (size_t i = 0; i < n; i++)
            if (group[i] > ng)
                ng = group[i];
        uint32_t *last = mdm_xmalloc(((size_t)ng + 1) * sizeof *last);
        for (size_t g = 0; g <= ng; g++)
            last[g] = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
            uint32_t g = group[i];
            if (!g)
                continue;
            if (last[g] != UINT32_MAX)
                cl_edges[cne++] =
                    (mdm_edge){.a = last[g], .b = (uint32_t)i, .weight = 1e30f, .prob = 1.0f};
            last[g] = (uint32_t)i;
        }
        free(last);
    }
    cluster_collective(&ld, all, ne, cl_edges, cne, link, cluster_of, NULL, st);
    free(cl_edges);
    st->t_cluster = now_s() - t3;
    st->t_total = now_s() - t0;
    *edges = all;
    *nedges = ne;
out:
    free(pairs);
    ld.feats = NULL; /* the caller's */
    ld_free(&ld);
    return rc;
}

/* ---- training on caller-built features (mdm train --from-store) ---- */

mdm_status mdm_link_train_feats(mdm_model *m, mdm_feat *feats, size_t n, int threads,
                                mdm_link_stats *st, mdm_err *err)
{
    memset(st, 0, sizeof *st);
    if (n < 2)
        return mdm_err_set(err, MDM_EINVAL, "training needs at least two records (%zu)", n);
    if (n >= UINT32_MAX - 1)
        return mdm_err_set(err, MDM_EINVAL, "too many records");
    double t0 = now_s();
    linkdata ld;
    memset(&ld, 0, sizeof ld);
    ld.m = m;
    ld.threads = mdm_link_threads(threads);
    ld.feats = feats;
    ld.n = n;
    /* one population, every pair allowed: the service compares records across and within
     * sources alike (mdm/bulk.c does the same) */
    for (size_t i = 0; i < n; i++)
        feats[i].source = 0;
    ld.nsrc = 1;
    ld.src_count[0] = n;
    finish_features(&ld);
    st->records = n;
    st->sources = 1;
    st->shared_values = ld.shared_values;
    double t1 = now_s();
    st->t_load = t1 - t0;

    uint64_t *pairs = NULL;
    pattern_codes codes = {0};
    size_t npairs = 0;
    hist *hists = NULL, merged = {0};
    mdm_status rc = mdm_block_candidates(m, feats, n, pair_allowed, &ld, ld.threads, &pairs,
                                         &npairs, &st->block, err);
    if (rc != MDM_OK)
        goto out;
    double t2 = now_s();
    st->t_block = t2 - t1;
    codes = codes_new(m, npairs);
    cmp_ctx c = {.ld = &ld, .pairs = pairs, .codes = codes};
    if (!m->ntrain_rules)
        hists = c.hists = mdm_xcalloc((size_t)ld.threads, sizeof *hists);
    mdm_parallel_for(ld.threads, npairs, compare_worker, &c);
    size_t ntrain = npairs;
    if (m->ntrain_rules) {
        rc = training_hist(&ld, m, pairs, &codes, npairs, &merged, &ntrain, err);
        if (rc != MDM_OK)
            goto out;
    }
    for (int k = 0; hists && k < ld.threads; k++)
        for (size_t i = 0; i < hists[k].cap; i++)
            if (hists[k].keys[i])
                hist_add(&merged, hists[k].keys[i] - 1, hists[k].counts[i]);
    double t3 = now_s();
    st->t_score = t3 - t2;
    train(&ld, m, ntrain, &merged, NULL, st);
    st->t_train = now_s() - t3;
    st->t_total = now_s() - t0;
out:
    hists_free(hists, ld.threads);
    free(merged.keys);
    free(merged.counts);
    free(pairs);
    codes_free(&codes);
    ld.nsrc = 0;     /* no source names were allocated */
    ld.feats = NULL; /* the caller's */
    ld_free(&ld);
    return rc;
}

/* ---- blocking analysis (mdm blocking) ---- */

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

mdm_status mdm_link_analyze_blocking(const mdm_model *m, const mdm_link_opts *o, size_t sample,
                                     mdm_link_blocking *r, mdm_err *err)
{
    mdm_block_big *top = r->an.top;
    size_t ntop = r->an.ntop;
    memset(r, 0, sizeof *r);
    r->an.top = top;
    r->an.ntop = ntop;
    double t0 = now_s();
    linkdata ld;
    uint64_t *pairs = NULL, *sp = NULL;
    pattern_codes codes = {0};
    mdm_status rc = load_all(&ld, m, o, err);
    if (rc != MDM_OK)
        goto out;
    r->records = ld.n;
    r->rejected = ld.rejected;
    r->shared_values = ld.shared_values;
    r->threads = ld.threads;
    double t1 = now_s();
    r->t_load = t1 - t0;
    rc = mdm_block_analyze(m, ld.feats, ld.n, pair_allowed, &ld, ld.threads, &r->an, &pairs, err);
    if (rc != MDM_OK)
        goto out;
    r->t_block = now_s() - t1;

    /* cost per pair: an even sample of the candidate pairs compared (and scored, when the
     * model is trained) on this thread alone, in its CPU time (the load of other jobs
     * changes wall time, not this) */
    size_t k = sample < r->an.pairs ? sample : r->an.pairs;
    if (k) {
        sp = mdm_xmalloc(k * sizeof *sp);
        for (size_t i = 0; i < k; i++)
            sp[i] = pairs[(size_t)((double)i * (double)r->an.pairs / (double)k)];
        codes = codes_new(m, k);
        int threads = ld.threads;
        ld.threads = 1;
        double c0 = thread_cpu_s();
        cmp_ctx c = {.ld = &ld, .pairs = sp, .codes = codes};
        compare_worker(&c, 0, 0, k);
        if (m->trained) {
            size_t ne = 0, nl = 0;
            free(score_codes(&ld, sp, &codes, k, m->review_threshold, m->link_threshold, &ne, &nl));
        }
        r->ns_per_pair = (thread_cpu_s() - c0) * 1e9 / (double)k;
        ld.threads = threads;
        r->sample = k;
        r->est_compare_s = r->ns_per_pair * 1e-9 * (double)r->an.pairs / ld.threads;
        if (!m->trained || o->retrain)
            r->est_u_s = r->ns_per_pair * 1e-9 * (double)m->u_samples / ld.threads;
    }
out:
    codes_free(&codes);
    free(sp);
    free(pairs);
    ld_free(&ld);
    return rc;
}
