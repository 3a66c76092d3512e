/* One reader for JSON input: configuration sections and request bodies.
 *
 * Every complaint has one form. A value that is wrong says "NAME must be WHAT"
 * ("resolve.bulk_min must be an integer from 0 to 1000000000", "reason must be a
 * string"); a key nobody reads says `unknown key "NAME" (known: a, b, c)`. NAME is the
 * dotted path of the value from the document's root ("" for a request body, so its
 * members are named bare), and err->field carries the JSON pointer ("/resolve/bulk_min").
 * The status of a complaint is the reader's: MDM_EINVAL for configuration and query
 * arguments, MDM_EUNPROCESSABLE for a well-formed body with wrong values.
 *
 * A member that is absent or JSON null is "not given": the getters leave *out unchanged
 * and succeed, so defaults are set before reading. Every getter returns false after
 * filling err, so a caller writes `if (!mdm_jin_int(...)) return err->code;`. */
#ifndef MDM_COMMON_JSONIN_H
#define MDM_COMMON_JSONIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef struct mdm_jin {
    const json_t *obj; /* the object read; NULL when it was not given */
    mdm_status code;   /* status of a complaint */
    mdm_err *err;      /* where complaints go (may be NULL) */
    char name[160];    /* dotted path of obj ("" for a whole document or body) */
    char pointer[160]; /* JSON pointer of obj ("" for a whole document or body) */
} mdm_jin;

/* Starts reading v, the object called name (a dotted path such as "resolve"; "" for a
 * request body). v NULL or JSON null is an object not given (in->obj NULL: every getter
 * then reads nothing). False, after "NAME must be an object", when v is anything else. */
bool mdm_jin_open(mdm_jin *in, const json_t *v, const char *name, mdm_status code, mdm_err *err);

/* Starts reading the member key of in as an object of its own (child). */
bool mdm_jin_member(mdm_jin *child, const mdm_jin *in, const char *key);

/* False, after `unknown key "NAME" (known: ...)`, when in holds a key not in known (a
 * NULL-terminated list). */
bool mdm_jin_known(const mdm_jin *in, const char *const known[]);

/* True when key is given (present and not null). */
bool mdm_jin_has(const mdm_jin *in, const char *key);

/* A required member: "NAME must be given: WHAT" when it is absent or null. */
bool mdm_jin_need(const mdm_jin *in, const char *key, const char *what);

/* "NAME must be an integer from MIN to MAX" ("of at least MIN" when max is LLONG_MAX). */
bool mdm_jin_int(const mdm_jin *in, const char *key, long long min, long long max, long long *out);

/* "NAME must be a number from MIN to MAX" (an integer counts as a number). */
bool mdm_jin_number(const mdm_jin *in, const char *key, double min, double max, double *out);

/* "NAME must be a probability above 0 and below 1" (thresholds: both ends excluded). */
bool mdm_jin_probability(const mdm_jin *in, const char *key, double *out);

/* "NAME must be true or false". */
bool mdm_jin_bool(const mdm_jin *in, const char *key, bool *out);

/* A string of at most maxlen bytes (0: any length); *out points into the document.
 * "NAME must be a string" or "NAME must be a string of at most N bytes". */
bool mdm_jin_string(const mdm_jin *in, const char *key, size_t maxlen, const char **out);

/* One of choices (a NULL-terminated list); *out receives its index.
 * "NAME must be one of: a, b, c". */
bool mdm_jin_choice(const mdm_jin *in, const char *key, const char *const choices[], int *out);

/* An array of min to max items; *out points into the document.
 * "NAME must be an array of MIN to MAX items" ("an array" when any size goes). */
bool mdm_jin_array(const mdm_jin *in, const char *key, size_t min, size_t max, const json_t **out);

/* A complaint of the one form about key of in (NULL: about in itself): "NAME must be "
 * followed by the formatted text. Returns the reader's status, for `return
 * mdm_jin_fail(...)` where a check goes beyond the getters. */
mdm_status mdm_jin_fail(const mdm_jin *in, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same about item i of the array member key: "NAME[i] must be ...", with the
 * pointer /.../key/i. */
mdm_status mdm_jin_fail_item(const mdm_jin *in, const char *key, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
