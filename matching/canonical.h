/* The one canonicalization of a source record: mapping, validation and normalization,
 * for every path (mdm link, mdm train and mdm explain on CSV files, mdm load, HTTP
 * upserts and batches, the match endpoint). Pure: no database, no network.
 *
 * Input is one record as a JSON object: in the source's own layout (read through its
 * definition, matching/record.h mdm_source_map: key, updated_at, op and mapping columns,
 * dotted paths into nested objects) or already canonical (it has "source_key" and the
 * source has no mapping, or the mapped key column is absent). A CSV row is the object
 * of its header's columns.
 *
 * The canonical record (what source_record.normalized holds) is a JSON object:
 *   source, source_key, source_updated_at, op, first_name, middle_name, last_name,
 *   full_name, prefix, suffix, birth_date (ISO), gender, emails [{value, type}], phones
 *   [{value (E.164 when recognised), type}], addresses [{line1, line2, city, region,
 *   postal_code, country, type}], loyalty_id, customer_number, tax_id, national_id,
 *   account_status, segment, attributes {}, consents [] — plus "keys" (comparison forms
 *   used by resolution, mdm/resolve.h) and "issues" (flagged values).
 *
 * A record without a key or with nothing to match on, or malformed (wrong JSON types,
 * invalid UTF-8, over the length limits, unknown op, unreadable source time), is refused
 * with field-level reasons (JSON pointers into the input). An invalid optional value (a
 * birth date in 2030, an unknown country) does not refuse its record: the value is left
 * out and kept in "issues" as {pointer, field, reason, value, dropped: true}; a badly
 * shaped e-mail or phone is kept with "valid": false and an issue, never matched on.
 *
 * Thread safety: reentrant; each thread passes its own normalizer handle. */
#ifndef MDM_MATCHING_CANONICAL_H
#define MDM_MATCHING_CANONICAL_H

#include "common/err.h"
#include "matching/limits.h"
#include "matching/model.h"
#include "matching/record.h"

#include <jansson.h>
#include <stdbool.h>

struct mdm_norm;

/* The scalar fields of the canonical record (source_key ... segment), NULL-terminated. */
extern const char *const mdm_canon_scalars[];

/* The fields of one canonical address (line1 ... type), NULL-terminated. */
extern const char *const mdm_canon_address_fields[];

/* Canonicalizes record (borrowed) of source src (NULL: a canonical record of no
 * configured source) with normalizer n. default_country applies when src has none (NULL:
 * "US"); lim caps the field lengths. *canonical receives the canonical record (new
 * reference), or it is NULL and *errors (new reference) holds the reasons of the refusal
 * [{"pointer", "field", "reason"}]. Returns MDM_OK in both cases; MDM_EINVAL when
 * record is not an object. */
mdm_status mdm_canonicalize(struct mdm_norm *n, const mdm_source_map *src,
                            const char *default_country, const mdm_limits *lim,
                            const json_t *record, json_t **canonical, json_t **errors, mdm_err *err)
    __attribute__((warn_unused_result));

/* The engine's record of a source record read through src's mapping, without the
 * canonical document: r (initialised first) is what mdm_canon_to_record gives from the
 * record mdm_canonicalize makes of the JSON object {src->key: key, src->cols[k].column:
 * values[k] for each k with a non-empty value}, and *first_country (new string, or NULL)
 * that record's first address's country. values[k] is NULL or "" when absent; columns
 * of the same name have the same value. Returns false (r empty) when it cannot tell:
 * the source has no mapping or maps its key, time or op column, a value is not UTF-8
 * or over its limit, the canonicalization would refuse the record, or more than 16
 * e-mails, phones or attributes; the caller then takes mdm_canonicalize. Used by mdm
 * link, which needs no document (MDM_REFERENCE_KERNELS=1 makes it take the document
 * path: tests/e2e/link_kernels.sh compares both; tests/unit/test_canonical.c compares
 * the records). */
bool mdm_canon_record(struct mdm_norm *n, const mdm_source_map *src, const char *default_country,
                      const mdm_limits *lim, const char *key, const char *const *values,
                      mdm_record *r, char **first_country);

/* The features mdm_canon_features builds from the canonical record of that row (as
 * mdm_canon_record reads it), into f (strings in a): the first address normalized once
 * where the document path normalizes it twice. False (f untouched) where
 * mdm_canon_record is false. */
bool mdm_canon_row_features(const struct mdm_model *m, struct mdm_norm *n,
                            const mdm_source_map *src, const char *default_country,
                            const mdm_limits *lim, const char *key, const char *const *values,
                            mdm_arena *a, mdm_feat *f);

/* The engine's record (matching/record.h) of a canonical record: its display values,
 * valid e-mails only, the addresses in order. r is initialised first. */
void mdm_canon_to_record(const json_t *canonical, mdm_record *r);

/* The engine features of a canonical record, what every path compares: those of
 * mdm_canon_to_record with the first address's country (else m's) for national phone
 * layouts. phone_fn (NULL: mdm_canon_phone_key) gives phone keys. Strings in a. */
void mdm_canon_features(const struct mdm_model *m, struct mdm_norm *norm, mdm_arena *a,
                        const json_t *canonical, mdm_phone_key_fn phone_fn, void *phone_ctx,
                        mdm_feat *f);

/* The features mdm_canon_features builds, from the record mdm_canon_to_record made of a
 * canonical record whose first address's country is country (NULL: none, m's). */
void mdm_canon_record_features(const struct mdm_model *m, struct mdm_norm *norm, mdm_arena *a,
                               const mdm_record *rec, const char *country,
                               mdm_phone_key_fn phone_fn, void *phone_ctx, mdm_feat *f);

/* Phone key of a canonical phone value (mdm_phone_key_fn): an E.164 value as it is,
 * anything else through mdm_feat_phone_key. */
const char *mdm_canon_phone_key(void *ctx, struct mdm_norm *norm, const char *raw,
                                const char *country, mdm_arena *a);

/* Comparison key of a text (matching/normalize.h mdm_norm_text; new string), NULL on
 * invalid UTF-8. */
char *mdm_canon_text_key(struct mdm_norm *n, const char *s);

/* The nickname class of a first-name comparison key, as keys.first_canon holds it: that of
 * its first word (bob -> robert; "mary ann" -> that of mary). Static string of the
 * nickname table, or first's first word itself in buf (size at least 64). */
const char *mdm_canon_first_class(struct mdm_norm *n, const char *first, char buf[64]);

/* Trimmed copy of s (new string) with inner whitespace collapsed to one space. */
char *mdm_canon_clean(const char *s);

/* Text of a scalar input value (new string, trimmed, inner whitespace collapsed): NULL
 * for null or empty; NULL with *bad set for an object, an array or invalid UTF-8. */
char *mdm_canon_scalar_text(const json_t *v, bool *bad);

/* A (dotted) column of an input object (borrowed), NULL when absent. */
const json_t *mdm_canon_lookup(const json_t *in, const char *column);

#endif
