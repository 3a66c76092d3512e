/* From scored pairs to entities, with guards against over-merging.
 *
 * Batch clustering is best-first agglomeration: links (pairs at or above the link
 * threshold) are taken by decreasing match weight; a link whose two records are already
 * in different clusters merges the clusters only when every guard passes:
 *   - size: the merged cluster stays within max_cluster_size;
 *   - strong identifiers: no record of one side has a strong id (tax id, national id)
 *     that differs from the same strong id on a record of the other side;
 *   - one record per deduplicated source: two records of a source declared deduplicated
 *     never share a cluster (with two deduplicated sources this is one-to-one linkage);
 *   - cohesion, the guard against weak chains: over all cross pairs (scored directly,
 *     whether blocking paired them or not; sampled beyond 64 pairs) the mean match
 *     probability must reach min_cohesion, and no pair may carry evidence against a
 *     match (log2 Bayes factor below min_pair_evidence, e.g. different first names and
 *     birth dates). A record linked to one member of a cluster but contradicting
 *     another stays out (A~B, B~C, A!~C keeps C apart from {A, B}); a member with
 *     little information (no evidence either way) may still join. With named_cohesion,
 *     two clusters whose examined cross pairs all bear one person's name with nothing
 *     against (prob's named) need not reach min_cohesion: {name, e-mail} and {name,
 *     phone} records of one person share little, so their cross pairs score low without
 *     disagreeing, while records that chain a household together through its shared
 *     contact points carry other first names or an initial.
 *   - bridges: a record joined to one cluster whose link to another was refused only
 *     because a hard conflict (strong id, veto, hard negative) separates other records
 *     of the two (a "Thaddeus Crumwell" without suffix or birth date between Sr and Jr)
 *     and whose links to both weigh about the same (bridge_margin) cannot tell them
 *     apart: it joins neither (the clustering runs again without its links), and callers
 *     may ask a steward (mdm_cluster_opts.bridge).
 * Values shared by many people are removed from the features before scoring (link.c),
 * so they never act as evidence here either.
 *
 * Refused links are counted per guard. The result is deterministic for a given edge list;
 * with tie keys (mdm_cluster_opts.tiekey: a stable key per record, such as a hash of its
 * source and source key) it is also independent of the order of the records and of the
 * edges: links of equal weight are taken in the order of their records' keys, and each
 * link is oriented by them, so the same records give the same clusters whatever indices
 * they arrive with (bulk, incremental and re-resolution, mdm/recluster.h). */
#ifndef MDM_MATCHING_CLUSTER_H
#define MDM_MATCHING_CLUSTER_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a link did not merge its two clusters (mdm_cluster_opts.refused). */
typedef enum mdm_guard {
    MDM_GUARD_NONE = 0, /* merged, or its records were already together */
    MDM_GUARD_SIZE,
    MDM_GUARD_SOURCE,
    MDM_GUARD_STRONG,
    MDM_GUARD_COHESION,
    MDM_GUARD_CONFLICT,
    /* hard negatives of the pair itself (matching/model.h mdm_model_guard), set on the
     * edge by the scorer: such a link never merges */
    MDM_GUARD_TWINS,
    MDM_GUARD_GENERATION,
    MDM_GUARD_BIRTH_YEARS,
    MDM_GUARD_HOUSEHOLD,
    /* a record whose links reach two clusters that a hard conflict between other records
     * keeps apart (Sr and Jr): it cannot tell them apart and joins neither */
    MDM_GUARD_BRIDGE,
    MDM_GUARD_COUNT
} mdm_guard;

/* Lower-case name of a guard ("size", "source", "strong_id", "cohesion", "conflict",
 * "twins", "generation", "birth_years", "household", "bridge"). */
const char *mdm_guard_name(mdm_guard g);

typedef struct mdm_edge {
    uint32_t a, b;
    float weight;
    float prob;
    uint8_t guard; /* MDM_GUARD_NONE, or the hard negative that forbids this link */
    uint8_t apart; /* set by the linker (link.h) after clustering: the edge joins two
                      clusters its rules keep apart, so no steward is asked about it */
} mdm_edge;

/* Probability that records a and b match (vetoes applied), for cohesion; *evidence
 * receives the pair's log2 Bayes factor (match weight without the prior; -inf when vetoed).
 * named (may be NULL) receives whether the pair bears one person's name and nothing
 * against: both records have a first name and the two are one name as written (exact, a
 * nickname or a typo; not an initial, not a far spelling), and no comparison outside the
 * evidence groups disagrees (birth date, e-mail, gender, identifiers). */
typedef double (*mdm_pair_prob_fn)(void *ctx, uint32_t a, uint32_t b, double *evidence,
                                   bool *named);

typedef struct mdm_cluster_opts {
    long max_cluster_size;
    double min_cohesion;
    double min_pair_evidence;  /* a cross pair with less evidence (bits) forbids the merge */
    bool named_cohesion;       /* cross pairs that all bear one person's name with nothing
                                  against (prob's named) pass without min_cohesion */
    double link_threshold;     /* edges below it are ignored */
    int nstrong;               /* strong ids per record */
    const char *const *strong; /* [record * nstrong + s]: value or NULL */
    const uint32_t *source;    /* source index per record (< 32), may be NULL */
    uint32_t dedup_sources;    /* bit s: source s holds no duplicates */
    mdm_pair_prob_fn prob;     /* may be NULL: cohesion guard off */
    void *prob_ctx;
    uint8_t *refused;       /* may be NULL; else [nedges]: per edge after the sort, the mdm_guard
                               that refused it (MDM_GUARD_NONE when it was not refused) */
    uint8_t *bridge;        /* may be NULL; else [n]: 1 for a record kept alone as a bridge */
    double bridge_margin;   /* bits; > 0: a record is a bridge only when its refused link
                               weighs at least its best link into its own cluster less this
                               (it cannot tell the two apart); 0: every such record is */
    const uint64_t *tiekey; /* may be NULL (ties by index); else [n]: a stable key per record
                               that breaks ties between links of equal weight and orients
                               each link (edges are rewritten: a holds the smaller key) */
} mdm_cluster_opts;

typedef struct mdm_cluster_stats {
    size_t links, merges;
    size_t refused_size, refused_strong, refused_source, refused_cohesion, refused_conflict;
    size_t refused_hard; /* links that were hard negatives (twins, generation, birth_years) */
    size_t refused_bridge, bridges; /* links of bridge records; bridge records */
    size_t clusters, largest, singletons;
} mdm_cluster_stats;

/* Clusters records 0..n-1. edges is sorted in place (decreasing weight). cluster_of[i]
 * receives a dense cluster number (0, 1, ... in order of first record). */
void mdm_cluster_run(size_t n, mdm_edge *edges, size_t nedges, const mdm_cluster_opts *o,
                     uint32_t *cluster_of, mdm_cluster_stats *stats);

#endif
