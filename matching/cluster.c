/* Guarded best-first clustering (see cluster.h). */
#include "matching/cluster.h"

#include "common/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COHESION_SAMPLE 8        /* members per side examined when both sides are large */
#define HARD_EVIDENCE   (-1e299) /* evidence of a vetoed pair or a hard negative (-inf) */

static int cmp_edge(const void *x, const void *y)
{
    const mdm_edge *a = x, *b = y;
    if (a->weight != b->weight)
        return a->weight > b->weight ? -1 : 1;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

/* the tie keys of the run that sorts (qsort has no context argument) */
static _Thread_local const uint64_t *sort_keys;

static int cmp_edge_keyed(const void *x, const void *y)
{
    const mdm_edge *a = x, *b = y;
    if (a->weight != b->weight)
        return a->weight > b->weight ? -1 : 1;
    uint64_t ka = sort_keys[a->a], kb = sort_keys[b->a];
    if (ka != kb)
        return ka < kb ? -1 : 1;
    ka = sort_keys[a->b], kb = sort_keys[b->b];
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return cmp_edge(x, y);
}

/* Sorts edges by decreasing weight, ties by the records' tie keys (each edge oriented so
 * that a holds the smaller key), else by index. */
static void sort_edges(mdm_edge *edges, size_t nedges, const uint64_t *tiekey)
{
    if (!tiekey) {
        qsort(edges, nedges, sizeof *edges, cmp_edge);
        return;
    }
    for (size_t e = 0; e < nedges; e++) {
        mdm_edge *ed = &edges[e];
        if (tiekey[ed->b] < tiekey[ed->a]) {
            uint32_t t = ed->a;
            ed->a = ed->b;
            ed->b = t;
        }
    }
    sort_keys = tiekey;
    qsort(edges, nedges, sizeof *edges, cmp_edge_keyed);
    sort_keys = NULL;
}

typedef struct uf {
    uint32_t *parent, *size, *next; /* next: circular member list */
    uint32_t *mask;                 /* sources present */
} uf;

static uint32_t find(uf *u, uint32_t x)
{
    while (u->parent[x] != x) {
        u->parent[x] = u->parent[u->parent[x]];
        x = u->parent[x];
    }
    return x;
}

static bool strong_conflict(const mdm_cluster_opts *o, const uf *u, uint32_t ra, uint32_t rb)
{
    if (!o->nstrong || !o->strong)
        return false;
    uint32_t x = ra;
    do {
        uint32_t y = rb;
        do {
            for (int s = 0; s < o->nstrong; s++) {
                const char *p = o->strong[(size_t)x * (size_t)o->nstrong + (size_t)s];
                const char *q = o->strong[(size_t)y * (size_t)o->nstrong + (size_t)s];
                if (p && q && strcmp(p, q) != 0)
                    return true;
            }
            y = u->next[y];
        } while (y != rb);
        x = u->next[x];
    } while (x != ra);
    return false;
}

/* Mean probability over cross pairs; *min_ev receives the smallest evidence, *named
 * whether every cross pair examined bears one person's name with nothing against (with
 * named_cohesion; false without). */
static double cohesion(const mdm_cluster_opts *o, const uf *u, uint32_t ra, uint32_t rb,
                       double *min_ev, bool *named)
{
    double sum = 0;
    *min_ev = 1e300;
    *named = o->named_cohesion;
    size_t n = 0;
    uint32_t x = ra;
    size_t ia = 0;
    bool sample = (size_t)u->size[ra] * u->size[rb] > 64;
    do {
        uint32_t y = rb;
        size_t ib = 0;
        do {
            double ev;
            bool one = false;
            sum += o->prob(o->prob_ctx, x, y, &ev, *named ? &one : NULL);
            if (ev < *min_ev)
                *min_ev = ev;
            *named = *named && one;
            n++;
            y = u->next[y];
            ib++;
        } while (y != rb && (!sample || ib < COHESION_SAMPLE));
        x = u->next[x];
        ia++;
    } while (x != ra && (!sample || ia < COHESION_SAMPLE));
    return n ? sum / (double)n : 0;
}

const char *mdm_guard_name(mdm_guard g)
{
    static const char *const names[MDM_GUARD_COUNT] = {
        "none",  "size",       "source",      "strong_id", "cohesion", "conflict",
        "twins", "generation", "birth_years", "household", "bridge"};
    return (unsigned)g < MDM_GUARD_COUNT ? names[g] : "unknown";
}

/* One best-first pass over the sorted edges; edges touching a record with skip[r] set
 * are refused (MDM_GUARD_BRIDGE). hard (may be NULL): per edge, whether its refusal came
 * from a hard conflict across the two clusters (a strong id, a veto or a hard negative
 * between two of their records). */
static void run_pass(size_t n, const mdm_edge *edges, size_t nedges, const mdm_cluster_opts *o,
                     const uint8_t *skip, uf *u, uint8_t *hard, mdm_cluster_stats *st)
{
    memset(st, 0, sizeof *st);
    for (size_t i = 0; i < n; i++) {
        u->parent[i] = u->next[i] = (uint32_t)i;
        u->size[i] = 1;
        u->mask[i] = o->source ? 1u << (o->source[i] & 31) : 0;
    }
    if (o->refused && nedges)
        memset(o->refused, MDM_GUARD_NONE, nedges);
    if (hard && nedges)
        memset(hard, 0, nedges);
#define REFUSE(g) (o->refused ? (void)(o->refused[e] = (uint8_t)(g)) : (void)0)
    for (size_t e = 0; e < nedges; e++) {
        const mdm_edge *ed = &edges[e];
        if (ed->prob < o->link_threshold)
            continue;
        st->links++;
        uint32_t ra = find(u, ed->a), rb = find(u, ed->b);
        if (ra == rb)
            continue;
        if (ed->guard) {
            st->refused_hard++;
            REFUSE(ed->guard);
            continue;
        }
        if (skip && (skip[ed->a] || skip[ed->b])) {
            st->refused_bridge++;
            REFUSE(MDM_GUARD_BRIDGE);
            continue;
        }
        if ((long)u->size[ra] + (long)u->size[rb] > o->max_cluster_size) {
            st->refused_size++;
            REFUSE(MDM_GUARD_SIZE);
            continue;
        }
        if (u->mask[ra] & u->mask[rb] & o->dedup_sources) {
            st->refused_source++;
            REFUSE(MDM_GUARD_SOURCE);
            continue;
        }
        if (strong_conflict(o, u, ra, rb)) {
            st->refused_strong++;
            REFUSE(MDM_GUARD_STRONG);
            if (hard)
                hard[e] = 1;
            continue;
        }
        if (o->prob && (u->size[ra] > 1 || u->size[rb] > 1)) {
            double min_ev;
            bool named;
            if (cohesion(o, u, ra, rb, &min_ev, &named) < o->min_cohesion && !named) {
                st->refused_cohesion++;
                REFUSE(MDM_GUARD_COHESION);
                if (hard && min_ev <= HARD_EVIDENCE)
                    hard[e] = 1;
                continue;
            }
            if (min_ev < o->min_pair_evidence) {
                st->refused_conflict++;
                REFUSE(MDM_GUARD_CONFLICT);
                if (hard && min_ev <= HARD_EVIDENCE)
                    hard[e] = 1;
                continue;
            }
        }
        /* union by size; splice the circular member lists */
        if (u->size[ra] < u->size[rb]) {
            uint32_t t = ra;
            ra = rb;
            rb = t;
        }
        u->parent[rb] = ra;
        u->size[ra] += u->size[rb];
        u->mask[ra] |= u->mask[rb];
        uint32_t t = u->next[ra];
        u->next[ra] = u->next[rb];
        u->next[rb] = t;
        st->merges++;
    }
#undef REFUSE
}

/* Whether record x has a hard conflict (strong id, veto, hard negative) with a member of
 * the cluster of root r. */
static bool hard_with(const mdm_cluster_opts *o, const uf *u, uint32_t x, uint32_t r)
{
    uint32_t y = r;
    do {
        for (int s = 0; s < o->nstrong && o->strong; s++) {
            const char *p = o->strong[(size_t)x * (size_t)o->nstrong + (size_t)s];
            const char *q = o->strong[(size_t)y * (size_t)o->nstrong + (size_t)s];
            if (p && q && strcmp(p, q) != 0)
                return true;
        }
        double ev;
        (void)o->prob(o->prob_ctx, x, y, &ev, NULL);
        if (ev <= HARD_EVIDENCE)
            return true;
        y = u->next[y];
    } while (y != r);
    return false;
}

void mdm_cluster_run(size_t n, mdm_edge *edges, size_t nedges, const mdm_cluster_opts *o,
                     uint32_t *cluster_of, mdm_cluster_stats *st)
{
    sort_edges(edges, nedges, o->tiekey);
    uf u;
    u.parent = mdm_xmalloc((n ? n : 1) * sizeof *u.parent);
    u.size = mdm_xmalloc((n ? n : 1) * sizeof *u.size);
    u.next = mdm_xmalloc((n ? n : 1) * sizeof *u.next);
    u.mask = mdm_xmalloc((n ? n : 1) * sizeof *u.mask);
    uint8_t *hard = o->prob ? mdm_xmalloc(nedges ? nedges : 1) : NULL;
    run_pass(n, edges, nedges, o, NULL, &u, hard, st);
    /* Bridges: a record joined to one cluster whose link to another was refused only
     * because the two clusters hold a hard conflict between other records (Sr and Jr)
     * cannot tell them apart: it joins neither, and the clustering runs again without
     * its links. */
    uint8_t *skip = NULL;
    size_t nbridges = 0;
    /* per record, its heaviest link into its own cluster (a record that agrees far better
     * with its own cluster than with the other tells the two apart) */
    float *best_in = NULL;
    if (hard && o->bridge_margin > 0) {
        best_in = mdm_xmalloc((n ? n : 1) * sizeof *best_in);
        for (size_t i = 0; i < n; i++)
            best_in[i] = -INFINITY;
        for (size_t e = 0; e < nedges; e++) {
            const mdm_edge *ed = &edges[e];
            if (ed->prob < o->link_threshold || find(&u, ed->a) != find(&u, ed->b))
                continue;
            if (ed->weight > best_in[ed->a])
                best_in[ed->a] = ed->weight;
            if (ed->weight > best_in[ed->b])
                best_in[ed->b] = ed->weight;
        }
    }
    for (size_t e = 0; hard && e < nedges; e++) {
        if (!hard[e])
            continue;
        uint32_t ends[2] = {edges[e].a, edges[e].b};
        for (int k = 0; k < 2; k++) {
            uint32_t x = ends[k], w = ends[1 - k];
            uint32_t rx = find(&u, x), rw = find(&u, w);
            if (rx == rw || u.size[rx] < 2 || (skip && skip[x]) ||
                (best_in && (double)edges[e].weight + o->bridge_margin < (double)best_in[x]) ||
                hard_with(o, &u, x, rw))
                continue;
            if (!skip)
                skip = mdm_xcalloc(n ? n : 1, 1);
            skip[x] = 1;
            nbridges++;
        }
    }
    if (skip)
        run_pass(n, edges, nedges, o, skip, &u, NULL, st);
    st->bridges = nbridges;
    if (o->bridge)
        for (size_t i = 0; i < n; i++)
            o->bridge[i] = skip ? skip[i] : 0;
    free(skip);
    free(best_in);
    free(hard);
    /* dense numbering in order of first record */
    uint32_t *num = mdm_xmalloc((n ? n : 1) * sizeof *num);
    for (size_t i = 0; i < n; i++)
        num[i] = UINT32_MAX;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = find(&u, (uint32_t)i);
        if (num[r] == UINT32_MAX) {
            num[r] = next++;
            if (u.size[r] == 1)
                st->singletons++;
            if (u.size[r] > st->largest)
                st->largest = u.size[r];
        }
        cluster_of[i] = num[r];
    }
    st->clusters = next;
    free(num);
    free(u.parent);
    free(u.size);
    free(u.next);
    free(u.mask);
}
