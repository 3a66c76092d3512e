/* Blocking: which record pairs are compared at all.
 *
 * A blocking rule (model.h) is a list of parts field:function; a record's key for a rule
 * joins the parts' values ("r0:SM0|r" for last_name:soundex+first_name:initial). A record
 * with a part missing has no key for that rule; a multi-valued field (e-mail, phone)
 * gives one key per value. Two records are candidates when they share a key of any rule;
 * the candidate set is the union over rules, without duplicates.
 *
 * Oversized blocks (more records than max_block_size) are never dropped silently: they
 * are compared by sorted neighbourhood (members sorted by name and birth date, each
 * compared with its next MDM_BLOCK_WINDOW neighbours) and reported in the statistics.
 *
 * mdm_block_keys() gives the keys as strings so a service can store and look them up;
 * mdm_block_candidates() computes the batch candidate set with several threads. */
#ifndef MDM_MATCHING_BLOCK_H
#define MDM_MATCHING_BLOCK_H

#include "common/err.h"
#include "common/mem.h"
#include "matching/model.h"

#include <stddef.h>
#include <stdint.h>

#define MDM_BLOCK_WINDOW 30

/* Writes up to max keys of f into keys[] (strings allocated in a) and returns how many
 * there are (may exceed max: then only max were written). Keys are "r<rule>:<parts>",
 * stable across versions for the same configuration. Thread-safe. */
size_t mdm_block_keys(const mdm_model *m, const mdm_feat *f, mdm_arena *a, const char **keys,
                      size_t max);

typedef struct mdm_block_stats {
    size_t keys;   /* (record, key) entries */
    size_t blocks; /* keys shared by at least two records */
    size_t largest_block;
    size_t oversized_blocks;                /* blocks larger than max_block_size */
    size_t oversized_records;               /* records in them (with repetition) */
    size_t pairs;                           /* distinct candidate pairs */
    size_t rule_pairs[MDM_MAX_BLOCK_RULES]; /* pairs each rule proposed (before the union) */
} mdm_block_stats;

/* Says whether records of sources sa and sb may be paired (ctx from the caller). */
typedef bool (*mdm_pair_filter)(void *ctx, uint32_t sa, uint32_t sb);

/* Candidate pairs of feats[0..n): *pairs receives a malloc'd array of (i << 32 | j),
 * i < j, sorted and distinct; the caller frees it. filter may be NULL (all pairs).
 * threads >= 1. */
mdm_status mdm_block_candidates(const mdm_model *m, const mdm_feat *feats, size_t n,
                                mdm_pair_filter filter, void *filter_ctx, int threads,
                                uint64_t **pairs, size_t *npairs, mdm_block_stats *stats,
                                mdm_err *err);

/* Runs fn(ctx, t, lo, hi) on threads t = 0..threads-1 over an even split of [0, n);
 * thread 0 is the caller. Returns when all are done. */
void mdm_parallel_for(int threads, size_t n, void (*fn)(void *ctx, int t, size_t lo, size_t hi),
                      void *ctx);

/* Sorts a[0..n) ascending (LSD radix sort; tmp may be NULL). Used for pairs. */
void mdm_block_sort_u64(uint64_t *a, size_t n);

#endif
