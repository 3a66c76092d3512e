/* Scoring of canonical records (no SQL): blocking keys and their 64-bit ids, the trained
 * model's features, and the match weight of a pair, with the trained model of the
 * engine (matching/model.h) or its built-in weights (mdm/engine.h).
 *
 * A record that is compared with many others is prepared once (mdm_score_prepare: its
 * features built in an arena) and scored with mdm_score_prepared; mdm_score_pair does
 * both for a single pair. Everything here is thread-safe given one normalizer per
 * thread (mdm_engine_norm_acquire). */
#ifndef MDM_MDM_SCORE_H
#define MDM_MDM_SCORE_H

#include "common/mem.h"
#include "matching/model.h"
#include "mdm/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Blocking keys of a canonical record as a new JSON array of strings (sorted, unique):
 * the trained model's blocking rules (matching/block.h mdm_block_keys) when there is
 * one, else the built-in rules. */
json_t *mdm_score_keys(const mdm_engine *ctx, const json_t *canonical);

/* The stored id of a blocking key: the first 8 bytes of its MD5 read as a big-endian
 * signed integer, the same as SQL's ('x' || left(md5(key), 16))::bit(64)::bigint
 * (migration 017 converted stored keys with it). blocking_key holds ids, not text, and
 * the advisory lock of a key is its id. Two keys sharing an id only add a candidate,
 * which the model scores like any other. */
int64_t mdm_score_key_id(const char *key);

/* The ids of a JSON array of keys, sorted and unique, in a new array (*n of them). */
int64_t *mdm_score_key_ids(const json_t *keys, size_t *n);

/* The phone key resolution uses (an mdm_phone_key_fn; ctx unused): canonical phones are
 * E.164 already (ingest normalized them with libphonenumber, the slowest normalizer by
 * far), so such a value is its own key; anything else (a number kept as sent because it
 * was not valid) goes through matching/model.h mdm_feat_phone_key. Incremental and bulk
 * resolution build features and blocking keys with it. */
const char *mdm_score_phone_key(void *ctx, struct mdm_norm *norm, const char *raw,
                                const char *country, mdm_arena *a);

/* The trained model's features of a canonical record, as resolution builds them
 * (strings in a; norm is the calling thread's normalizer, mdm_engine_norm_acquire).
 * phone_fn (may be NULL: matching/model.h mdm_feat_phone_key) gives phone keys. False
 * (f untouched) when no trained model is in use. */
bool mdm_score_features(const mdm_engine *ctx, struct mdm_norm *norm, mdm_arena *a,
                        const json_t *canonical, mdm_phone_key_fn phone_fn, void *phone_ctx,
                        mdm_feat *f);

/* The same features from a stored canonical record's JSON text (source_record.normalized),
 * read without building a document (matching/canon_text.h). False (f untouched) when the
 * text does not parse; with no trained model in use f is untouched and only *consents
 * (may be NULL: whether the record carries consent events) is filled. */
bool mdm_score_features_text(const mdm_engine *ctx, struct mdm_norm *norm, mdm_arena *a,
                             const char *text, mdm_phone_key_fn phone_fn, void *phone_ctx,
                             mdm_feat *f, bool *consents);

/* The trained model's features of n stored canonical records at once, on `threads`
 * threads (matching/block.h mdm_parallel_for), each thread with its own normalizer and
 * arena: text(arg, i) gives record i's canonical JSON text (read-only, called from any
 * thread); feats->v[i] receives its features (zeroed for text that does not parse; the
 * features of mdm_score_features, phone keys by mdm_score_phone_key). feats->v and the
 * arenas holding its strings belong to the caller: mdm_score_feats_free. MDM_EINTERNAL
 * when a normalizer cannot be initialised (feats is still to be freed). Used by
 * `mdm train --from-store` and re-resolution (mdm/models.c, mdm/reresolve.c). */
typedef struct mdm_score_feats {
    mdm_feat *v;
    size_t n;
    mdm_arena **arenas; /* one per thread */
    int threads;
} mdm_score_feats;

mdm_status mdm_score_features_all(const mdm_engine *ctx, size_t n,
                                  const char *(*text)(void *arg, size_t i), void *arg, int threads,
                                  mdm_score_feats *feats, mdm_err *err)
    __attribute__((warn_unused_result));
void mdm_score_feats_free(mdm_score_feats *feats); /* NULL and an empty set are no-ops */

/* Scores two canonical records with the trained model (matching/model.h
 * mdm_model_score) or the built-in weights: returns the match weight (log2 Bayes
 * factor, prior included) and sets *probability; *explanation (may be NULL) receives a
 * new JSON explanation (field by field); *strong_conflict (may be NULL) is set when a
 * strong identifier differs or a configured conflict vetoes the pair. Thread-safe. */
double mdm_score_pair(const mdm_engine *ctx, const json_t *a, const json_t *b, double *probability,
                      json_t **explanation, int *strong_conflict);

/* ---- prepared records ----------------------------------------------------------------- */

/* A canonical record with its engine features, built once and compared many times. */
typedef struct mdm_score_rec {
    const json_t *canon; /* borrowed */
    mdm_feat feat;       /* strings in the arena given to mdm_score_prepare */
    bool has_feat;       /* false: no trained model, scored with the built-in weights */
} mdm_score_rec;

/* Prepares canon (borrowed, must outlive p) with the calling thread's normalizer (NULL:
 * built-in weights only), strings in a. */
void mdm_score_prepare(const mdm_engine *ctx, struct mdm_norm *norm, mdm_arena *a,
                       const json_t *canon, mdm_score_rec *p);
void mdm_score_unprepare(mdm_score_rec *p);

/* mdm_score_pair on prepared records: the trained model when both have features, else the
 * built-in weights. *conflict (may be NULL) as strong_conflict there. */
double mdm_score_prepared(const mdm_engine *ctx, const mdm_score_rec *a, const mdm_score_rec *b,
                          double *probability, json_t **explanation, int *conflict);

/* Removes from self's features the values that the n candidates ops show to be shared by
 * many unrelated people (the batch linker's rule, matching/link.c), before scoring. */
void mdm_score_drop_shared(const mdm_engine *ctx, mdm_score_rec *self, const mdm_score_rec *ops,
                           size_t n);

/* Sorts v and removes duplicates; returns the new count. */
size_t mdm_score_sort_ids(int64_t *v, size_t n);

#endif
