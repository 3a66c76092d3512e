/* Field limits: the longest value, in bytes, that the canonical contract accepts for
 * each field, on every entry path (HTTP upsert and batch, mdm load, the match endpoint).
 *
 * A value over its limit rejects the record with a reason naming the field ("is longer
 * than 64 bytes"), before any normalizer sees it: phone parsing costs time that grows
 * with the square of the input length, so no unbounded text may reach it. The limits
 * come from the "limits" configuration section ({"phone": 64, "first_name": 128, ...,
 * "default": 256}); each key is a field of mdm_limits_fields below. The defaults and
 * the reasons for them are in docs/SECURITY.md.
 *
 * An mdm_limits is plain data: copy it, share it read-only between threads. */
#ifndef MDM_MATCHING_LIMITS_H
#define MDM_MATCHING_LIMITS_H

#include "common/err.h"

#include <jansson.h>
#include <stddef.h>

/* The scalar fields of the canonical record, in order: X(name) for each. One list for
 * matching/canonical.h mdm_canon_scalars and the first entries of mdm_limits_fields. */
#define MDM_CANON_SCALAR_LIST(X)                                                                   \
    X(source_key)                                                                                  \
    X(source_updated_at)                                                                           \
    X(op)                                                                                          \
    X(first_name)                                                                                  \
    X(middle_name)                                                                                 \
    X(last_name)                                                                                   \
    X(full_name)                                                                                   \
    X(prefix)                                                                                      \
    X(suffix)                                                                                      \
    X(birth_date)                                                                                  \
    X(gender)                                                                                      \
    X(loyalty_id)                                                                                  \
    X(customer_number)                                                                             \
    X(tax_id)                                                                                      \
    X(national_id)                                                                                 \
    X(account_status)                                                                              \
    X(segment)

/* Number of named fields (mdm_limits_fields). */
#define MDM_LIMITS_NFIELDS 32

/* The field names a "limits" section may set, in table order; "default" applies to any
 * other scalar field. */
extern const char *const mdm_limits_fields[MDM_LIMITS_NFIELDS];

typedef struct mdm_limits {
    size_t cap[MDM_LIMITS_NFIELDS]; /* bytes, per mdm_limits_fields entry */
    size_t other;                   /* "default": every field not in the table */
} mdm_limits;

/* The built-in defaults. */
void mdm_limits_default(mdm_limits *out);

/* Defaults overridden by section (NULL or an object of field -> positive integer up to
 * 1048576). MDM_EINVAL naming the key (/limits/KEY) on an unknown key or a bad value. */
mdm_status mdm_limits_load(const json_t *section, mdm_limits *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Limit of field: a table name ("phone", "address.city", "attribute"), else the default. */
size_t mdm_limits_of(const mdm_limits *l, const char *field);

#endif
