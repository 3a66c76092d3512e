/* Pairwise evaluation of a clustering against known truth (`mdm eval`).
 *
 * Reads a clusters file (source,record_id,cluster_id) and the truth: either an entity
 * per record taken from a truth file column (truth file columns: record_id, optional
 * source, and the named column), or, for FEBRL files only, the entity number inside
 * record ids ("rec-12-org", "rec-12-dup-3"). Truth is used here only, never by the
 * engine. Counts pairs of records placed together (predicted) and belonging together
 * (true): precision = TP / predicted, recall = TP / true, F1 their harmonic mean. In
 * linkage (more than one source in the clusters file) only cross-source pairs count
 * unless all_pairs is set. */
#ifndef MDM_MATCHING_EVAL_H
#define MDM_MATCHING_EVAL_H

#include "common/err.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mdm_eval_opts {
    bool febrl_ids;           /* truth from FEBRL record ids */
    const char *truth_path;   /* truth file (when not febrl_ids); NULL: the clusters file */
    const char *truth_column; /* entity column of the truth file */
    bool all_pairs;           /* count within-source pairs even in linkage */
} mdm_eval_opts;

typedef struct mdm_eval_result {
    long records, clusters, entities, largest_cluster;
    long unmatched; /* records absent from the truth (counted as singletons) */
    bool cross_source;
    double tp, predicted, truth;
    double precision, recall, f1;
} mdm_eval_result;

/* Evaluates clusters_path. MDM_EIO / MDM_EINVAL name the file and line at fault. */
mdm_status mdm_eval_run(const char *clusters_path, const mdm_eval_opts *o, mdm_eval_result *res,
                        mdm_err *err);

/* The truth alone, for callers that evaluate records they hold (mdm link --misses). */
typedef struct mdm_eval_truth mdm_eval_truth;

/* Loads the truth of o (o->febrl_ids: nothing to read; else o->truth_path, or
 * fallback_path when it is NULL, with o->truth_column). NULL with err set on failure. */
mdm_eval_truth *mdm_eval_truth_load(const mdm_eval_opts *o, const char *fallback_path,
                                    mdm_err *err);

/* Entity number of a record (dense, from 0), or UINT32_MAX when the truth does not know
 * it. Not thread-safe (FEBRL ids are numbered on first sight). */
uint32_t mdm_eval_truth_entity(mdm_eval_truth *t, const char *source, const char *id);

void mdm_eval_truth_free(mdm_eval_truth *t);

/* Entity number of a FEBRL record id ("rec-12-dup-3" -> 12), or -1. */
long mdm_eval_febrl_entity(const char *rec_id);

#endif
