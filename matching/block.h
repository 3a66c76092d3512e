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

/* As mdm_block_candidates; besides, when rule_keys is not NULL, *rule_keys receives a
 * malloc'd array of n * m->nrules digests: [i * nrules + r] is nonzero, and equal for
 * two records, when they share a key of rule r (the smallest hash of record i's keys of
 * rule r, so records sharing another of several keys may differ; 32 bits, so unrelated
 * keys may rarely agree). Training reads which rules proposed a pair (link.c). */
mdm_status mdm_block_candidates_keys(const mdm_model *m, const mdm_feat *feats, size_t n,
                                     mdm_pair_filter filter, void *filter_ctx, int threads,
                                     uint64_t **pairs, size_t *npairs, mdm_block_stats *stats,
                                     uint32_t **rule_keys, mdm_err *err);

/* ---- analysis before scoring (mdm blocking) ---- */

/* One of the largest blocks: its rule, a member record (whose key names the block), its
 * size and key text (without the "r<rule>:" prefix; cut at 127 bytes). */
typedef struct mdm_block_big {
    int rule;
    uint32_t record;
    size_t size;
    bool windowed; /* larger than max_block_size: compared by sorted neighbourhood */
    uint64_t hash;
    char key[128];
} mdm_block_big;

typedef struct mdm_block_rule_stats {
    size_t keys;              /* (record, key) entries */
    size_t blocks;            /* keys shared by at least two records */
    size_t largest;           /* records in the largest block */
    size_t oversized;         /* blocks larger than max_block_size (windowed) */
    size_t oversized_records; /* records in them */
    size_t pairs;             /* distinct allowed pairs the rule proposes */
    size_t fresh;             /* of them, those no earlier rule proposed */
    size_t cumulative;        /* distinct pairs of this rule and the earlier ones */
} mdm_block_rule_stats;

typedef struct mdm_block_analysis {
    /* in: top[0..ntop) to fill (ntop may be 0); out: ntop = how many were filled */
    mdm_block_big *top;
    size_t ntop;
    size_t keys;
    size_t pairs; /* the candidate set: mdm_block_candidates' pairs */
    mdm_block_rule_stats rule[MDM_MAX_BLOCK_RULES];
} mdm_block_analysis;

/* What mdm_block_candidates would give, rule by rule, without comparing anything: per
 * rule its blocks, the distinct pairs it proposes and how many of them no earlier rule
 * proposed (the sum of those is an->pairs, the candidate set), and the an->ntop largest
 * blocks of all rules. *pairs (may be NULL) receives the candidate set as
 * mdm_block_candidates gives it (malloc'd, an->pairs of them). Needs the memory of the
 * candidate set plus that of the largest rule's pairs. */
mdm_status mdm_block_analyze(const mdm_model *m, const mdm_feat *feats, size_t n,
                             mdm_pair_filter filter, void *filter_ctx, int threads,
                             mdm_block_analysis *an, uint64_t **pairs, mdm_err *err);

/* Runs fn(ctx, t, lo, hi) on threads t = 0..threads-1 over an even split of [0, n);
 * thread 0 is the caller. Returns when all are done. */
void mdm_parallel_for(int threads, size_t n, void (*fn)(void *ctx, int t, size_t lo, size_t hi),
                      void *ctx);

/* Sorts a[0..n) ascending (LSD radix sort; tmp may be NULL). Used for pairs. */
void mdm_block_sort_u64(uint64_t *a, size_t n);

#endif
