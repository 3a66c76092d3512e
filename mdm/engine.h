/* The matching engine of the service: the read-only context every path that maps,
 * canonicalizes, scores or resolves a record works from.
 *
 * An mdm_engine holds the configured sources (mdm/source.h), the resolution settings,
 * the built-in match weights or the trained model (matching/model.h) with the
 * match_model version it came from, the survivorship rules (mdm/survive.h), the default
 * country and the field length limits (matching/limits.h). It also owns the
 * process-wide pool of normalizer handles and the one canonicalization of the service
 * (matching/canonical.h with the context's sources, country and limits).
 *
 * The engine sits below everything that writes: ingest, resolution, bulk resolution,
 * golden records and the read side call it; it calls none of them (scripts/deps-check.sh
 * keeps mdm/ free of file cycles). Its only SQL is the read of the active match_model.
 *
 * Thread safety: an mdm_engine may be shared by threads once built (it is read-only);
 * the set-up calls (set_limits, use_db_model) come before sharing. */
#ifndef MDM_MDM_ENGINE_H
#define MDM_MDM_ENGINE_H

#include "common/err.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/source.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct mdm_limits;
struct mdm_model;
struct mdm_norm;
struct mdm_survive_config;

/* ---- resolution settings and built-in weights -------------------------------------- */

/* Settings ("resolve" configuration section): auto_link (0.95), review (0.60), key_cap
 * (1000), max_candidates (50), bulk_min (1000) (mdm/resolve.h says what each does). */
typedef struct mdm_resolve_settings {
    double auto_link;
    double review;
    int key_cap;
    int max_candidates;
    long bulk_min;       /* pending new records from which mdm_pending_resolve resolves in bulk
                          * (mdm/bulk.h); 0: never */
    bool thresholds_set; /* given in configuration; else a trained model's own apply */
} mdm_resolve_settings;

/* Match weights (log2 m/u per comparison level) and the prior. Built-in defaults; the
 * "model" configuration section or the active match_model row may replace them:
 *   {"prior": -10, "weights": {"first_name": {"exact": 3.5, "close": 2, "far": -2.5},
 *    ...}}
 * Fields: first_name last_name birth_date email phone address loyalty_id tax_id
 * national_id gender; levels exact, close, far (null always weighs 0). A different
 * strong identifier (loyalty_id, tax_id, national_id "far") is a conflict. */
enum {
    MDM_RF_FIRST,
    MDM_RF_LAST,
    MDM_RF_DOB,
    MDM_RF_EMAIL,
    MDM_RF_PHONE,
    MDM_RF_ADDRESS,
    MDM_RF_LOYALTY,
    MDM_RF_TAX,
    MDM_RF_NATIONAL,
    MDM_RF_GENDER,
    MDM_RF_COUNT
};
enum { MDM_RL_EXACT, MDM_RL_CLOSE, MDM_RL_FAR, MDM_RL_COUNT };

typedef struct mdm_resolve_model {
    double prior;
    double w[MDM_RF_COUNT][MDM_RL_COUNT];
} mdm_resolve_model;

/* NULL-terminated, so they serve as lists of known keys too */
extern const char *const mdm_resolve_field_names[MDM_RF_COUNT + 1];
extern const char *const mdm_resolve_level_names[MDM_RL_COUNT + 1]; /* exact, close, far */

/* The built-in weights. */
void mdm_engine_weights_default(mdm_resolve_model *m);
/* Overrides m from a model JSON (see above); name is its dotted path for messages
 * ("model"). MDM_EINVAL naming an unknown field or level or a non-number. */
mdm_status mdm_engine_weights_parse(const json_t *j, const char *name, mdm_resolve_model *m,
                                    mdm_err *err) __attribute__((warn_unused_result));

/* Reads the "resolve" section (may be NULL: defaults). MDM_EINVAL naming the key. */
mdm_status mdm_engine_settings_parse(const json_t *section, mdm_resolve_settings *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* ---- the context ------------------------------------------------------------------- */

/* Shared, read-only settings for ingest, resolution and scoring. */
typedef struct mdm_engine mdm_engine;

/* Builds the context from cfg: sources, resolve thresholds, survivorship rules. Returns
 * NULL with err (MDM_EINVAL naming the configuration key) on bad configuration. The
 * model (match weights) is read from the active match_model row on first use by each
 * connection, or the built-in default when there is none. */
mdm_engine *mdm_engine_new(const mdm_config *cfg, mdm_err *err);
/* Same from parts (tests): sources array, "resolve", "survivorship" and "model"
 * sections (each may be NULL), default country (NULL: "US"). */
mdm_engine *mdm_engine_new_json(const json_t *sources, const json_t *resolve,
                                const json_t *survivorship, const json_t *model,
                                const char *default_country, mdm_err *err);
void mdm_engine_free(mdm_engine *ctx); /* NULL is a no-op */
/* Replaces the field length limits (matching/limits.h; mdm_engine_new reads them from the
 * "limits" section, mdm_engine_new_json starts with the defaults). Call before
 * sharing ctx between threads. */
void mdm_engine_set_limits(mdm_engine *ctx, const struct mdm_limits *limits);

/* The matching model. The "model" configuration section is {"path": FILE} (a model
 * trained by `mdm train`, e.g. demo/model.json), an inline trained model document, or
 * overrides of the built-in weights ({"prior", "weights"}, above). The active row
 * of match_model (a trained model document, or the weights layout) replaces it: call
 * mdm_engine_use_db_model.
 * Call once at start-up, before sharing ctx between threads. *version receives the
 * match_model version used (0 = configuration or built-in). */
mdm_status mdm_engine_use_db_model(mdm_engine *ctx, mdm_db *db, int *version, mdm_err *err)
    __attribute__((warn_unused_result));

/* Parts of the context. */
const mdm_sources *mdm_engine_sources(const mdm_engine *ctx);
const struct mdm_resolve_settings *mdm_engine_settings(const mdm_engine *ctx);
const struct mdm_resolve_model *mdm_engine_weights(const mdm_engine *ctx);
const struct mdm_survive_config *mdm_engine_survive(const mdm_engine *ctx);
/* The trained engine model (matching/model.h) or NULL when the built-in weights apply. */
const struct mdm_model *mdm_engine_model(const mdm_engine *ctx);
/* The match_model version the model came from (0: configuration or built-in). */
int mdm_engine_model_version(const mdm_engine *ctx);

/* Normalizer handles (matching/normalize.h) from a process-wide pool: one per thread at
 * a time, given back after use. NULL with err when ICU cannot be initialised. */
struct mdm_norm *mdm_engine_norm_acquire(mdm_err *err);
void mdm_engine_norm_release(struct mdm_norm *n); /* NULL is a no-op */

/* ---- canonicalization ---------------------------------------------------------------- */

/* Maps and validates without writing (matching/canonical.h mdm_canonicalize with the
 * source's definition, the context's default country and limits, a pooled normalizer):
 * *canonical receives the canonical record (new reference) or NULL with *errors (new
 * reference, as in mdm_ingest_result.errors). Used by mdm_ingest, the bulk loader and the
 * read-only match endpoint. */
mdm_status mdm_engine_canonicalize(const mdm_engine *ctx, const mdm_source *src,
                                   const json_t *record, json_t **canonical, json_t **errors,
                                   mdm_err *err) __attribute__((warn_unused_result));

/* Comparison forms used by search: the canonical key of an e-mail address (new string,
 * or NULL when it is not one) and the E.164 form of a phone number (false when it is not
 * one; country is the default for national layouts, NULL = "US"). */
char *mdm_engine_email_key(const char *email);
bool mdm_engine_phone_key(const char *phone, const char *country, char out[24]);
/* Comparison form of a name or identifier: lower case ASCII, punctuation as one space. */
char *mdm_engine_text_key(const char *s);

/* SHA-256 (hex) of the canonical content (without source_updated_at and op). */
void mdm_engine_content_hash(const json_t *canonical, char out[65]);

/* The stored text of a canonical record, json_dumps(canonical, JSON_COMPACT |
 * JSON_SORT_KEYS) (new string), and its content hash (mdm_engine_content_hash) in hash,
 * from one serialization of its members instead of two of the whole record. */
char *mdm_engine_canonical_text(const json_t *canonical, char hash[65]);
#endif
