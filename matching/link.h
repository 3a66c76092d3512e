/* Batch linkage of CSV files in memory, on all cores (`mdm link`, `mdm train`,
 * `mdm explain`).
 *
 * Pipeline: read every input (each bound to a source of the model configuration) ->
 * features per record (parallel, one normalizer per thread) -> values shared by many
 * different people are dropped from the features (they stop counting as evidence, in
 * blocking too) -> term frequencies of tf comparisons -> blocking (block.h) -> when the
 * model is not trained: u from random pairs and m, prior by EM over the candidate pairs
 * -> scoring of every candidate pair -> guarded clustering (cluster.h) -> clusters.csv
 * (source,record_id,cluster_id: every input record exactly once) and optionally
 * pairs.csv (source_a,record_id_a,source_b,record_id_b,match_weight,probability for every
 * pair at or above the review threshold).
 *
 * One input is deduplication; several are linkage plus deduplication inside each
 * source unless the source is declared deduplicated. Record ids are carried to the output
 * and never read otherwise. Comparisons allocate nothing; candidate pairs and their
 * comparison patterns live in flat arrays.
 *
 * Training reads the comparison patterns of every candidate pair, or of
 * MDM_LINK_EM_SAMPLE of them spread evenly when there are more (EM's estimates from two
 * million patterns are as good as from all of them, and comparing all of them twice
 * costs a third of the run at a million records). Scoring with a trained model compares
 * each candidate pair once and stops as soon as its weight cannot reach the review
 * threshold (see compare_score_worker). */
#ifndef MDM_MATCHING_LINK_H
#define MDM_MATCHING_LINK_H

#include "common/err.h"
#include "matching/block.h"
#include "matching/cluster.h"
#include "matching/misses.h"
#include "matching/model.h"

#include <stdbool.h>
#include <stddef.h>

/* Candidate pairs whose patterns EM reads at most (see above); the environment variable
 * of the same name overrides it (tests). */
#define MDM_LINK_EM_SAMPLE 2000000

typedef struct mdm_link_opts {
    const char *const *inputs;
    int ninputs;
    const char *clusters_out; /* NULL: no clusters file */
    const char *pairs_out;    /* NULL: no pairs file */
    /* NULL, or where each record's canonical form goes (one JSON line per record, input
     * order; a refused record as {source, source_key, rejected: [reasons]}) */
    const char *canonical_out;
    int threads;     /* <= 0: MDM_THREADS or the number of online CPUs */
    bool progress;   /* phase lines on stderr */
    bool train_only; /* stop after training (mdm train) */
    bool retrain;    /* train even when the model is already trained */
    /* --misses: every true pair left apart, classified (misses.h) into misses_out; the
     * truth (borrowed) is read there only. misses and miss_examples receive the counts
     * and a few example lines (either may be NULL). */
    const char *misses_out;
    mdm_eval_truth *truth;
    mdm_misses_result *misses;
    mdm_buf *miss_examples;
} mdm_link_opts;

typedef struct mdm_link_stats {
    size_t records, sources, shared_values;
    size_t rejected; /* records the canonicalization refused (no key, nothing to match on):
                      * kept alone, as the service never resolves them */
    mdm_block_stats block;
    size_t links, review;
    size_t review_items; /* distinct pairs of clusters joined by a scored pair at or above
                            review that clustering left apart: what a steward would be
                            asked (mdm_link_run only) */
    mdm_cluster_stats cluster;
    size_t entity_merges; /* clusters merged on entity-level evidence (model.h, entity_merge) */
    int em_iterations;
    bool em_by_rule; /* EM over the candidates failed: m by blocking rule (link.c) */
    double lambda;
    double household_share; /* h of the learnt group margin (model.h), 0 when not learnt */
    double t_load, t_block, t_train, t_score, t_cluster, t_total; /* seconds */
    /* CPU seconds of all threads in each phase (mdm_link_run only) */
    double c_load, c_block, c_train, c_score, c_cluster, c_total;
} mdm_link_stats;

/* Runs the pipeline. Trains m first when it is not trained (or opts->retrain); m then
 * holds the trained parameters (save it with mdm_model_save). Errors name the input
 * file and line (MDM_EINVAL), or the output file (MDM_EIO). */
mdm_status mdm_link_run(mdm_model *m, const mdm_link_opts *opts, mdm_link_stats *stats,
                        mdm_err *err);

/* Loads the inputs as mdm_link_run does and explains the pair (source_a, id_a),
 * (source_b, id_b) with the trained model m, term frequencies from the inputs. A NULL
 * source matches any source. *doc receives the explanation as JSON (mdm_explain_json plus
 * the two records' source and id; the caller decrefs it). MDM_ENOTFOUND when a record is
 * absent. */
mdm_status mdm_link_explain(const mdm_model *m, const mdm_link_opts *opts, const char *source_a,
                            const char *id_a, const char *source_b, const char *id_b, json_t **doc,
                            mdm_err *err);

/* The pipeline of mdm_link_run after reading, on features the caller built (mdm
 * resolve's bulk path, mdm/bulk.h): interning, shared values, term frequencies, blocking,
 * scoring with the trained model m and guarded clustering; no training (MDM_EINVAL when m
 * is not trained). feats[i].source is the source index (bit s of dedup_mask: source s
 * holds no duplicates). The features are rewritten (interned, shared values removed)
 * and must not be used after the call (their strings may be the call's).
 * group (may be NULL): per record 0, or g > 0 for records already together (an existing
 * golden record): pairs inside one group or between two grouped records are not
 * compared, and a group's records are joined before any scored link (guards apply).
 * cluster_of[0..n) receives the clusters; *edges (malloc'd, *nedges of them) every
 * scored pair at or above review, in no particular order. */
mdm_status mdm_link_feats(const mdm_model *m, mdm_feat *feats, size_t n, const uint32_t *group,
                          uint32_t dedup_mask, double link, double review, int threads,
                          uint32_t *cluster_of, mdm_edge **edges, size_t *nedges,
                          mdm_link_stats *st, mdm_err *err);

/* mdm_link_feats with options (what mdm_link_feats leaves at 0): */
typedef struct mdm_link_feats_opts {
    const uint32_t *group; /* as for mdm_link_feats, may be NULL */
    uint32_t dedup_mask;
    double link, review;
    int threads;
    /* no term-frequency adjustment: the service's paths (bulk, incremental, re-resolution)
     * score without it, since a frequency counted over one batch (or over the store at the
     * time a record arrives) would make the answer depend on the batch and the order */
    bool no_tf;
    /* may be NULL; else [n]: a stable key per record that breaks ties in clustering
     * (cluster.h), so the clusters do not depend on the order of feats */
    const uint64_t *tiekey;
    /* feats[n .. n + nstats) are records that only count in the shared-value statistics
     * (the other holders of the batch's contact points, read from the store): they are
     * neither blocked, scored nor clustered; cluster_of has n entries */
    size_t nstats;
    uint8_t *bridge; /* may be NULL; else [n]: 1 for a record kept alone as a bridge */
} mdm_link_feats_opts;

mdm_status mdm_link_feats_ex(const mdm_model *m, mdm_feat *feats, size_t n,
                             const mdm_link_feats_opts *o, uint32_t *cluster_of, mdm_edge **edges,
                             size_t *nedges, mdm_link_stats *st, mdm_err *err);

/* The review questions of the bridge records (mdm_link_feats_opts.bridge), asked in one
 * place for every path (mdm link, bulk and incremental resolution): a record that links
 * (at or above link) to two clusters a hard conflict keeps apart joins neither, and a
 * steward is asked about each. For every record x with bridge[x] set, out[2x] and
 * out[2x + 1] receive the edges of its heaviest links into two other clusters, heaviest
 * first (one per cluster; ties by tiekey, may be NULL, else by index), SIZE_MAX where
 * there is none; other records get SIZE_MAX twice. cl: cluster per record; out: [2n]. */
void mdm_link_bridge_targets(const mdm_edge *edges, size_t nedges, const uint32_t *cl,
                             const uint64_t *tiekey, const uint8_t *bridge, size_t n, double link,
                             size_t *out);

/* Whether a value held by the n records holders (one entry per holding) is shared by
 * many different people, the rule by which the pipeline drops it from the features:
 * at least shared_min_people distinct surnames among its holders, and at least one per
 * two holders (a person's misspelt duplicates do not make their own e-mail shared). */
bool mdm_link_shared(const mdm_model *m, const mdm_feat *const *holders, size_t n);

/* Trains m (u from random pairs, m and the prior by EM over the blocked candidate pairs,
 * as mdm_link_run does) on features the caller built from stored records (`mdm train
 * --from-store`, mdm/models.h). Every pair of records is allowed (one population, as the
 * service compares them). The features are rewritten as for mdm_link_feats. m is
 * trained afterwards; st gets records, blocking, EM iterations and lambda. */
mdm_status mdm_link_train_feats(mdm_model *m, mdm_feat *feats, size_t n, int threads,
                                mdm_link_stats *st, mdm_err *err);

/* What `mdm blocking` reports: the blocking of the inputs as mdm_link_run would block
 * them (read, canonicalized, features, shared values dropped), rule by rule, and an
 * estimate of the comparison time. an.top/an.ntop are set by the caller (block.h). */
typedef struct mdm_link_blocking {
    mdm_block_analysis an;
    size_t records, rejected, shared_values;
    int threads;
    double t_load, t_block; /* seconds, measured */
    size_t sample;          /* candidate pairs compared to measure the cost */
    double ns_per_pair;     /* CPU time of one thread per pair: compare (and score when
                             * the model is trained) */
    double est_compare_s;   /* an.pairs x ns_per_pair / threads */
    double est_u_s;         /* training only: u_samples random pairs at that cost */
} mdm_link_blocking;

/* Loads the inputs as mdm_link_run does and analyses their blocking (mdm_block_analyze)
 * without scoring; the cost per pair is measured on an even sample of at most 'sample'
 * candidate pairs. */
mdm_status mdm_link_analyze_blocking(const mdm_model *m, const mdm_link_opts *opts, size_t sample,
                                     mdm_link_blocking *r, mdm_err *err);

/* Number of worker threads for a request (<= 0: MDM_THREADS, else online CPUs). */
int mdm_link_threads(int requested);

#endif
