/* Why true pairs were missed (`mdm link --misses FILE --truth ...`).
 *
 * After a linkage run, every pair of records that the truth puts together but the
 * clustering left apart is sorted into the first class that explains it:
 *   not_allowed      the two records are in one source declared deduplicated;
 *   never_compared   no blocking rule gives them a common key;
 *   block_windowed   they share a key, but its block was oversized and compared by a
 *                    sorted window that did not reach from one to the other;
 *   vetoed           a comparison vetoes the pair (different strong identifiers);
 *   below_review     scored under the review threshold;
 *   review_band      scored between review and link (a steward would be asked);
 *   refused_<guard>  scored at or above link, and a clustering guard refused to merge the
 *                    two clusters (cluster.h: size, source, strong_id, cohesion, conflict);
 *   apart            at or above link and not refused, yet in different clusters (never
 *                    expected; counted so that nothing is hidden).
 * The wrong merges follow: every pair of records one cluster holds that the truth keeps
 * apart, as wrong_link (the pair itself is a link: at or above link, no guard refused
 * it) or wrong_cluster (joined through other records).
 * The file has one line per pair: class, the two records, probability, match
 * weight and the comparison levels by name ("first_name=exact last_name=close
 * birth_date=null ..."). Truth is read here only; the engine never sees it.
 * Per pair the work is one comparison and, for pairs never paired, the blocking keys of
 * both records. */
#ifndef MDM_MATCHING_MISSES_H
#define MDM_MATCHING_MISSES_H

#include "common/err.h"
#include "matching/block.h"
#include "matching/cluster.h"
#include "matching/eval.h"
#include "matching/model.h"

#include <stddef.h>
#include <stdint.h>

enum {
    MDM_MISS_NOT_ALLOWED,
    MDM_MISS_NEVER_COMPARED,
    MDM_MISS_WINDOWED,
    MDM_MISS_VETOED,
    MDM_MISS_BELOW_REVIEW,
    MDM_MISS_REVIEW,
    MDM_MISS_GUARD, /* + mdm_guard - 1 */
    MDM_MISS_APART = MDM_MISS_GUARD + MDM_GUARD_COUNT - 1,
    MDM_MISS_CLASSES
};

/* Comparison levels and match weight of a pair; returns its probability (0 when vetoed,
 * *vetoed set). */
typedef double (*mdm_miss_score_fn)(void *ctx, uint32_t a, uint32_t b, int8_t *levels,
                                    double *weight, bool *vetoed);

typedef struct mdm_misses_in {
    const mdm_model *m;
    size_t n;
    const mdm_feat *feats;
    const char *const *ids;       /* record id per record */
    const char *const *src_names; /* source name per source index */
    const uint32_t *cluster_of;
    const uint64_t *pairs; /* candidate pairs (a << 32 | b, a < b), sorted */
    size_t npairs;
    const mdm_edge *edges; /* as sorted by mdm_cluster_run, with its refused[] */
    const uint8_t *refused;
    size_t nedges;
    mdm_pair_filter allowed;
    void *allowed_ctx;
    mdm_miss_score_fn score;
    void *score_ctx;
    double link, review;
} mdm_misses_in;

typedef struct mdm_misses_result {
    double true_pairs, missed;
    double count[MDM_MISS_CLASSES];
    /* pairs clustered together that the truth keeps apart; those linked directly */
    double wrong_pairs, wrong_link;
    long unknown; /* records the truth does not know */
} mdm_misses_result;

/* Name of a class ("never_compared", "refused_cohesion", ...). */
const char *mdm_misses_class_name(int c);

/* Classifies every missed true pair and every wrong merge of in (truth t) into path ("-":
 * standard output) and res; when examples is not NULL, up to 3 example lines per class
 * are appended to it.
 * MDM_EIO when the file cannot be written. */
mdm_status mdm_misses_write(const mdm_misses_in *in, mdm_eval_truth *t, const char *path,
                            mdm_misses_result *res, mdm_buf *examples, mdm_err *err);

#endif
