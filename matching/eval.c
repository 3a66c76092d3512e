/* Pairwise precision/recall/F1 of a clustering (see eval.h). */
#include "matching/eval.h"

#include "common/mem.h"
#include "matching/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

long mdm_eval_febrl_entity(const char *id)
{
    if (strncmp(id, "rec-", 4) != 0)
        return -1;
    char *end;
    long n = strtol(id + 4, &end, 10);
    if (end == id + 4 || *end != '-' || n < 0)
        return -1;
    if (strcmp(end, "-org") == 0 || strncmp(end, "-dup-", 5) == 0)
        return n;
    return -1;
}

typedef struct row {
    uint32_t source, cluster, entity;
} row;

static int cmp_ce(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->cluster != y->cluster)
        return x->cluster < y->cluster ? -1 : 1;
    if (x->entity != y->entity)
        return x->entity < y->entity ? -1 : 1;
    return x->source < y->source ? -1 : x->source > y->source;
}

static int cmp_e(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->entity != y->entity)
        return x->entity < y->entity ? -1 : 1;
    return x->source < y->source ? -1 : x->source > y->source;
}

/* Pairs inside groups of rows sorted by (key..., source): all pairs, or cross-source pairs.
 * same(a,b) says whether two consecutive rows are in one group. */
static double count_pairs(const row *r, size_t n, bool cross, int level, long *groups,
                          long *largest)
{
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && r[j].entity == r[i].entity && (level == 0 || r[j].cluster == r[i].cluster))
            j++;
        double g = (double)(j - i);
        double pairs = g * (g - 1) / 2;
        if (cross) {
            size_t k = i;
            while (k < j) {
                size_t l = k;
                while (l < j && r[l].source == r[k].source)
                    l++;
                double s = (double)(l - k);
                pairs -= s * (s - 1) / 2;
                k = l;
            }
        }
        total += pairs;
        if (groups)
            (*groups)++;
        if (largest && (long)(j - i) > *largest)
            *largest = (long)(j - i);
        i = j;
    }
    return total;
}

mdm_status mdm_eval_run(const char *clusters_path, const mdm_eval_opts *o, mdm_eval_result *res,
                        mdm_err *err)
{
    memset(res, 0, sizeof *res);
    mdm_status st = MDM_OK;
    mdm_intern *sources = mdm_intern_new(), *clusters = mdm_intern_new(),
               *entities = mdm_intern_new(), *keys = mdm_intern_new();
    uint32_t *truth_of_key = NULL;
    size_t ntruth = 0;
    row *rows = NULL;
    size_t n = 0, cap = 0;
    mdm_csv *c = NULL;

    if (!o->febrl_ids) {
        /* without a truth file, the truth column is read from the clusters file itself */
        const char *truth_path = o->truth_path ? o->truth_path : clusters_path;
        if (!o->truth_column) {
            st =
                mdm_err_set(err, MDM_EINVAL, "give --febrl-ids or --truth FILE --truth-column COL");
            goto out;
        }
        c = mdm_csv_open(truth_path, err);
        if (!c) {
            st = err ? err->code : MDM_EIO;
            goto out;
        }
        int ci = mdm_csv_col(c, o->truth_column), ri = mdm_csv_col(c, "record_id"),
            si = mdm_csv_col(c, "source");
        if (ci < 0 || ri < 0) {
            st = mdm_err_set(err, MDM_EINVAL, "%s: needs columns record_id and %s", truth_path,
                             ci < 0 ? o->truth_column : "record_id");
            goto out;
        }
        int rc;
        mdm_buf k = {0};
        while ((rc = mdm_csv_next(c, err)) != 0) {
            if (rc < 0) {
                st = MDM_EINVAL;
                mdm_buf_free(&k);
                goto out;
            }
            mdm_buf_reset(&k);
            if (si >= 0)
                mdm_buf_puts(&k, mdm_csv_field(c, (size_t)si));
            mdm_buf_putc(&k, 0);
            mdm_buf_puts(&k, mdm_csv_field(c, (size_t)ri));
            uint32_t kid = mdm_intern_id(keys, k.data, k.len);
            if (kid >= ntruth) {
                truth_of_key = mdm_xrealloc(truth_of_key, (kid + 1) * sizeof *truth_of_key);
                ntruth = kid + 1;
            }
            const char *e = mdm_csv_field(c, (size_t)ci);
            truth_of_key[kid] = e[0] ? mdm_intern_id(entities, e, strlen(e)) : UINT32_MAX;
        }
        mdm_buf_free(&k);
        mdm_csv_close(c);
        c = NULL;
    }

    c = mdm_csv_open(clusters_path, err);
    if (!c) {
        st = err ? err->code : MDM_EIO;
        goto out;
    }
    int si = mdm_csv_col(c, "source"), ri = mdm_csv_col(c, "record_id"),
        ki = mdm_csv_col(c, "cluster_id");
    if (si < 0 || ri < 0 || ki < 0) {
        st = mdm_err_set(err, MDM_EINVAL, "%s: needs columns source, record_id, cluster_id",
                         clusters_path);
        goto out;
    }
    int rc;
    mdm_buf k = {0};
    uint32_t next_single = 0;
    while ((rc = mdm_csv_next(c, err)) != 0) {
        if (rc < 0) {
            st = MDM_EINVAL;
            mdm_buf_free(&k);
            goto out;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            rows = mdm_xrealloc(rows, cap * sizeof *rows);
        }
        const char *src = mdm_csv_field(c, (size_t)si), *id = mdm_csv_field(c, (size_t)ri),
                   *cl = mdm_csv_field(c, (size_t)ki);
        row *r = &rows[n++];
        r->source = mdm_intern_id(sources, src, strlen(src));
        r->cluster = mdm_intern_id(clusters, cl, strlen(cl));
        uint32_t ent = UINT32_MAX;
        if (o->febrl_ids) {
            long e = mdm_eval_febrl_entity(id);
            if (e >= 0) {
                char num[32];
                int len = snprintf(num, sizeof num, "%ld", e);
                ent = mdm_intern_id(entities, num, (size_t)len);
            }
        } else {
            mdm_buf_reset(&k);
            mdm_buf_puts(&k, src);
            mdm_buf_putc(&k, 0);
            mdm_buf_puts(&k, id);
            uint32_t kid = mdm_intern_find(keys, k.data, k.len);
            if (kid == UINT32_MAX) { /* truth without a source column */
                mdm_buf_reset(&k);
                mdm_buf_putc(&k, 0);
                mdm_buf_puts(&k, id);
                kid = mdm_intern_find(keys, k.data, k.len);
            }
            if (kid != UINT32_MAX && kid < ntruth)
                ent = truth_of_key[kid];
        }
        if (ent == UINT32_MAX) {
            res->unmatched++;
            ent = 0x80000000u + next_single++; /* a singleton entity of its own */
        }
        r->entity = ent;
    }
    mdm_buf_free(&k);

    res->records = (long)n;
    res->cross_source = mdm_intern_count(sources) > 1 && !o->all_pairs;
    res->clusters = (long)mdm_intern_count(clusters);
    /* predicted pairs: group by cluster (put cluster into the entity slot) */
    row *tmp = mdm_xmalloc((n ? n : 1) * sizeof *tmp);
    for (size_t i = 0; i < n; i++) {
        tmp[i] = rows[i];
        tmp[i].entity = rows[i].cluster;
    }
    if (n)
        qsort(tmp, n, sizeof *tmp, cmp_e);
    res->predicted = count_pairs(tmp, n, res->cross_source, 0, NULL, &res->largest_cluster);
    free(tmp);
    if (n)
        qsort(rows, n, sizeof *rows, cmp_e);
    res->truth = count_pairs(rows, n, res->cross_source, 0, &res->entities, NULL);
    if (n)
        qsort(rows, n, sizeof *rows, cmp_ce);
    res->tp = count_pairs(rows, n, res->cross_source, 1, NULL, NULL);
    res->precision = res->predicted > 0 ? res->tp / res->predicted : 1.0;
    res->recall = res->truth > 0 ? res->tp / res->truth : 1.0;
    res->f1 = res->precision + res->recall > 0
                  ? 2 * res->precision * res->recall / (res->precision + res->recall)
                  : 0;
out:
    mdm_csv_close(c);
    free(rows);
    free(truth_of_key);
    mdm_intern_free(sources);
    mdm_intern_free(clusters);
    mdm_intern_free(entities);
    mdm_intern_free(keys);
    return st;
}
