/* Reading a stored canonical record (the JSON text of source_record.normalized) straight
 * into the engine's record, without building a JSON document.
 *
 * Resolution reads every pending record's canonical text once for its features; parsing
 * it into a jansson document (json_loads) and walking that document into a record
 * (mdm_canon_to_record) was about half of that phase's instructions. This reader scans
 * the text once and sets only what mdm_canon_to_record takes from it.
 *
 * Invariant: for every text, mdm_canon_text_record gives what json_loads(text, 0) and
 * mdm_canon_to_record give: the same record, the first address's country, whether there
 * are consents; and it fails exactly where json_loads fails on the texts PostgreSQL's
 * jsonb and jansson write (invalid JSON or UTF-8, \u0000, a lone surrogate, an integer
 * or real out of range, trailing text). A member given twice in one object is not
 * supported (neither writer produces one). tests/unit/test_canon_text.c checks both
 * ways on generated and hand-written texts; MDM_REFERENCE_KERNELS=1 (matching/strsim.h)
 * makes mdm_canon_text_features take the document path, for differential tests.
 *
 * Thread safety: reentrant. */
#ifndef MDM_MATCHING_CANON_TEXT_H
#define MDM_MATCHING_CANON_TEXT_H

#include "common/mem.h"
#include "matching/model.h"
#include "matching/record.h"

#include <stdbool.h>

struct mdm_norm;

/* What a canonical record's text holds for matching. */
typedef struct mdm_canon_text {
    mdm_record rec; /* as mdm_canon_to_record */
    char *country;  /* the first address's country when it is a string ("" included), else NULL */
    bool consents;  /* a non-empty "consents" array */
} mdm_canon_text;

/* Reads text (NUL-terminated) into *out (initialised first; mdm_canon_text_clear frees
 * it). False, with *out empty, when json_loads would refuse the text. */
bool mdm_canon_text_record(const char *text, mdm_canon_text *out);

void mdm_canon_text_clear(mdm_canon_text *t);

/* The engine features of a stored canonical record's text: those mdm_canon_features
 * builds from json_loads(text). False (f untouched) when the text does not parse; with m
 * NULL, only *consents is filled. *consents (may be NULL) as mdm_canon_text.consents. */
bool mdm_canon_text_features(const struct mdm_model *m, struct mdm_norm *norm, mdm_arena *a,
                             const char *text, mdm_phone_key_fn phone_fn, void *phone_ctx,
                             mdm_feat *f, bool *consents);

#endif
