/* Status codes and error details shared by every layer.
 *
 * One X-macro table maps each status to its HTTP status, CLI exit code and problem
 * title; nothing else in the project makes that mapping. Actions return an mdm_status
 * and fill an optional mdm_err (always the last parameter, may be NULL). Messages are
 * short, factual, lower case, without a final period, and never contain customer data
 * above the detail field. */
#ifndef MDM_COMMON_ERR_H
#define MDM_COMMON_ERR_H

#include <stdbool.h>

/* name, HTTP status, CLI exit code, problem title */
#define MDM_STATUS_LIST(X)                                                                         \
    X(MDM_OK, 200, 0, "ok")                                                                        \
    X(MDM_EINVAL, 400, 2, "invalid input")                                                         \
    X(MDM_EAUTH, 401, 3, "unauthorized")                                                           \
    X(MDM_EFORBIDDEN, 403, 3, "forbidden")                                                         \
    X(MDM_ENOTFOUND, 404, 4, "not found")                                                          \
    X(MDM_EMETHOD, 405, 2, "method not allowed")                                                   \
    X(MDM_ECONFLICT, 409, 5, "conflict")                                                           \
    X(MDM_ESTALE, 409, 5, "stale version")                                                         \
    X(MDM_ETOOBIG, 413, 2, "content too large")                                                    \
    X(MDM_EMEDIA, 415, 2, "unsupported media type")                                                \
    X(MDM_EUNPROCESSABLE, 422, 2, "unprocessable content")                                         \
    X(MDM_ERATE, 429, 6, "too many requests")                                                      \
    X(MDM_ERETRY, 503, 6, "retry later")                                                           \
    X(MDM_EDB, 500, 7, "database error")                                                           \
    X(MDM_EIO, 500, 8, "i/o error")                                                                \
    X(MDM_EINTERNAL, 500, 1, "internal error")

typedef enum mdm_status {
#define MDM_X_ENUM(name, http, exitc, title) name,
    MDM_STATUS_LIST(MDM_X_ENUM)
#undef MDM_X_ENUM
        MDM_STATUS_COUNT
} mdm_status;

typedef struct mdm_err {
    mdm_status code;
    char sqlstate[6]; /* from PG_DIAG_SQLSTATE, "" if none */
    char field[128];  /* JSON pointer of the offending field, "" if none */
    char msg[256];    /* primary: short, factual, lower case, no final period */
    char detail[256]; /* optional; never customer data */
} mdm_err;

/* Sets err (when not NULL) to code and the formatted message, clearing the other
 * fields. Returns code, so actions can `return mdm_err_set(err, ...)`. */
mdm_status mdm_err_set(mdm_err *err, mdm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like mdm_err_set, and records the JSON pointer of the field at fault. */
mdm_status mdm_err_set_field(mdm_err *err, mdm_status code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the optional detail text of err (when not NULL). */
void mdm_err_detail(mdm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets err to MDM_OK with empty texts. */
void mdm_err_clear(mdm_err *err);

/* Table lookups; an out-of-range status answers as MDM_EINTERNAL. */
int mdm_status_http(mdm_status s);
int mdm_status_exit(mdm_status s);
const char *mdm_status_title(mdm_status s);
/* Stable machine-readable code, the enum name without the MDM_ prefix, lower case
 * ("einval"); used as the problem+json `code`. */
const char *mdm_status_name(mdm_status s);

#endif
