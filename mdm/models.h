/* Matching models in the store (match_model): training from the records already loaded,
 * listing, showing, activating and comparing versions.
 *
 * mdm_models_train reads every live source record (normalized form), builds the matching
 * engine's features exactly as resolution does (mdm_score_features), and trains a copy
 * of the context's engine model (same comparisons, blocking rules and thresholds; new u,
 * m and prior) with matching/link.h mdm_link_train_feats: u from random record pairs, m
 * and the prior by EM over the blocked candidate pairs. No labels: steward decisions are
 * not used for training (mdm_models_label_eval measures a model against them instead).
 * The result is a new version, inactive until mdm_models_activate.
 *
 * Activation sets the active row (one at a time, enforced by a unique index), records
 * who and when, writes an audit row, and marks every open review item for re-scoring
 * (scored_at = -infinity): the caller re-scores them under the new model with
 * stewardship/queue.h mdm_queue_rescore (api/cli_model.c). Running servers read the active
 * model at start-up: restart them (or they keep scoring with the old one).
 *
 * Thread safety: functions use only their arguments. */
#ifndef MDM_MDM_MODELS_H
#define MDM_MDM_MODELS_H

#include "common/err.h"
#include "mdm/db.h"
#include "mdm/ingest.h"

#include <jansson.h>

typedef struct mdm_models_train_opts {
    int threads;       /* <= 0: online CPUs */
    const char *note;  /* stored with the version (may be NULL) */
    const char *actor; /* trained_by */
} mdm_models_train_opts;

/* Trains a new version from the stored records. *version receives it; *summary (may be
 * NULL) a new object {version, records, candidate_pairs, em_iterations, lambda, prior,
 * seconds}. MDM_EINVAL when the context has no engine model to start from (configure
 * model.path) or fewer than two records are stored. */
mdm_status mdm_models_train(mdm_db *db, const mdm_engine *ctx, const mdm_models_train_opts *o,
                            int *version, json_t **summary, mdm_err *err)
    __attribute__((warn_unused_result));

/* Every version, newest first: [{version, trained_at, active, note, trained_on,
 * trained_by, activated_at, activated_by, link_threshold, review_threshold, prior}]. */
mdm_status mdm_models_list(mdm_db *db, json_t **rows, mdm_err *err)
    __attribute__((warn_unused_result));

/* One version with its model document ("model"). MDM_ENOTFOUND for an unknown one. */
mdm_status mdm_models_get(mdm_db *db, int version, json_t **doc, mdm_err *err)
    __attribute__((warn_unused_result));

/* Makes version the active model (see above). *marked receives the number of open review
 * items marked for re-scoring. MDM_ENOTFOUND for an unknown version, MDM_EINVAL for one
 * that is not a trained model. */
mdm_status mdm_models_activate(mdm_db *db, int version, const char *actor, long *marked,
                               mdm_err *err) __attribute__((warn_unused_result));

/* Differences between versions a and b: {a, b, prior: [a, b], link_threshold: [a, b],
 * review_threshold: [a, b], comparisons: [{name, levels: [{level, weight_a, weight_b,
 * delta}]}], largest: {comparison, level, delta}} (weights in bits, log2 m/u). */
mdm_status mdm_models_diff(mdm_db *db, int a, int b, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* The context's model (the active one, see mdm_engine_use_db_model) measured on the
 * steward's decided review items: each item (decision match or no_match) scored by its
 * best labelled record pair, as the queue scores items; predicted a match at or above
 * the link threshold (at_link) or the review threshold (at_review). *out receives
 * {model_version, items, match, no_match, at_link: {threshold, tp, fp, fn, tn, precision,
 * recall}, at_review: {...}}; precision and recall are null when undefined. */
mdm_status mdm_models_label_eval(mdm_db *db, const mdm_engine *ctx, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
