/* Pairwise precision/recall/F1 of a clustering (see eval.h). */
#include "matching/eval.h"

#include "common/mem.h"
#include "matching/record.h"

#include <stdint.h>
#include <stdio.h>
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

struct mdm_eval_truth {
    bool febrl_ids;
    mdm_intern *entities, *keys; /* keys: "source\0record_id" ("\0record_id" without a source) */
    uint32_t *entity_of_key;
    size_t nkeys;
    mdm_buf k;
};

void mdm_eval_truth_free(mdm_eval_truth *t)
{
    if (!t)
        return;
    mdm_intern_free(t->entities);
    mdm_intern_free(t->keys);
    free(t->entity_of_key);
    mdm_buf_free(&t->k);
    free(t);
}

mdm_eval_truth *mdm_eval_truth_load(const mdm_eval_opts *o, const char *fallback_path, mdm_err *err)
{
    mdm_eval_truth *t = mdm_xcalloc(1, sizeof *t);
    t->febrl_ids = o->febrl_ids;
    t->entities = mdm_intern_new();
    t->keys = mdm_intern_new();
    if (o->febrl_ids)
        return t;
    /* without a truth file, the truth column is read from the clusters file itself */
    const char *truth_path = o->truth_path ? o->truth_path : fallback_path;
    if (!o->truth_column || !truth_path) {
        mdm_err_set(err, MDM_EINVAL, "give --febrl-ids or --truth FILE --truth-column COL");
        goto out_free;
    }
    mdm_csv *c = mdm_csv_open(truth_path, err);
    if (!c)
        goto out_free;
    int ci = mdm_csv_col(c, o->truth_column), ri = mdm_csv_col(c, "record_id"),
        si = mdm_csv_col(c, "source");
    if (ci < 0 || ri < 0) {
        mdm_err_set(err, MDM_EINVAL, "%s: needs columns record_id and %s", truth_path,
                    ci < 0 ? o->truth_column : "record_id");
        goto out_close;
    }
    int rc;
    while ((rc = mdm_csv_next(c, err)) != 0) {
        if (rc < 0)
            goto out_close;
        mdm_buf_reset(&t->k);
        if (si >= 0)
            mdm_buf_puts(&t->k, mdm_csv_field(c, (size_t)si));
        mdm_buf_putc(&t->k, 0);
        mdm_buf_puts(&t->k, mdm_csv_field(c, (size_t)ri));
        uint32_t kid = mdm_intern_id(t->keys, t->k.data, t->k.len);
        if (kid >= t->nkeys) {
            t->entity_of_key = mdm_xrealloc(t->entity_of_key, (kid + 1) * sizeof(uint32_t));
            t->nkeys = kid + 1;
        }
        const char *e = mdm_csv_field(c, (size_t)ci);
        t->entity_of_key[kid] = e[0] ? mdm_intern_id(t->entities, e, strlen(e)) : UINT32_MAX;
    }
    mdm_csv_close(c);
    return t;
out_close:
    mdm_csv_close(c);
out_free:
    mdm_eval_truth_free(t);
    return NULL;
}

uint32_t mdm_eval_truth_entity(mdm_eval_truth *t, const char *source, const char *id)
{
    if (t->febrl_ids) {
        long e = mdm_eval_febrl_entity(id);
        if (e < 0)
            return UINT32_MAX;
        char num[32];
        int len = snprintf(num, sizeof num, "%ld", e);
        return mdm_intern_id(t->entities, num, (size_t)len);
    }
    mdm_buf_reset(&t->k);
    mdm_buf_puts(&t->k, source);
    mdm_buf_putc(&t->k, 0);
    mdm_buf_puts(&t->k, id);
    uint32_t kid = mdm_intern_find(t->keys, t->k.data, t->k.len);
    if (kid == UINT32_MAX) { /* truth without a source column */
        mdm_buf_reset(&t->k);
        mdm_buf_putc(&t->k, 0);
        mdm_buf_puts(&t->k, id);
        kid = mdm_intern_find(t->keys, t->k.data, t->k.len);
    }
    return kid != UINT32_MAX && kid < t->nkeys ? t->entity_of_key[kid] : UINT32_MAX;
}

mdm_status mdm_eval_run(const char *clusters_path, const mdm_eval_opts *o, mdm_eval_result *res,
                        mdm_err *err)
{
    memset(res, 0, sizeof *res);
    mdm_status st = MDM_OK;
    mdm_intern *sources = mdm_intern_new(), *clusters = mdm_intern_new();
    row *rows = NULL;
    size_t n = 0, cap = 0;
    mdm_csv *c = NULL;
    mdm_eval_truth *truth = mdm_eval_truth_load(o, clusters_path, err);
    if (!truth) {
        st = err && err->code ? err->code : MDM_EINVAL;
        goto out;
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
    uint32_t next_single = 0;
    while ((rc = mdm_csv_next(c, err)) != 0) {
        if (rc < 0) {
            st = MDM_EINVAL;
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
        uint32_t ent = mdm_eval_truth_entity(truth, src, id);
        if (ent == UINT32_MAX) {
            res->unmatched++;
            ent = 0x80000000u + next_single++; /* a singleton entity of its own */
        }
        r->entity = ent;
    }

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
    mdm_eval_truth_free(truth);
    mdm_intern_free(sources);
    mdm_intern_free(clusters);
    return st;
}
