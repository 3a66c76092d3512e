/* Internals shared by the files of the publishing module (publish_config.c,
 * publish_sub.c, publish_delivery.c, publish.c); not for other modules. */
#ifndef MDM_MDM_PUBLISH_INT_H
#define MDM_MDM_PUBLISH_INT_H

#include "common/err.h"
#include "common/jsonin.h"
#include "mdm/audit.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

/* Validates a subscription object read by in (common/jsonin.h: an item of the
 * subscriptions section, or a request body), in the reader's one message form and status
 * (in->code, err->field the JSON pointer). from_config allows secret_env and requires
 * secret (or secret_env); create requires source, url, secret; an update requires
 * nothing. */
mdm_status mdm_publish_check_subscription(const mdm_jin *in, bool from_config, bool create)
    __attribute__((warn_unused_result));

/* A management change (subscription write, replay) needs its actor for the audit log. */
static inline mdm_status mdm_publish_check_who(const mdm_audit_actor *who, mdm_err *err)
{
    if (!who || !who->name || !*who->name || !who->role || !*who->role)
        return mdm_err_set_field(err, MDM_EINVAL, "/actor",
                                 "this change needs the acting user and role for the audit log");
    return MDM_OK;
}

/* Sets o[key] to column key of row r as a string, or null. */
static inline void mdm_publish_set_str(json_t *o, const char *key, const PGresult *res, int r)
{
    const char *v = mdm_db_get(res, r, key, NULL);
    json_object_set_new(o, key, v ? json_string(v) : json_null());
}

/* Sets o[key] to column key of row r as an integer, or null. */
static inline void mdm_publish_set_int(json_t *o, const char *key, const PGresult *res, int r)
{
    const char *v = mdm_db_get(res, r, key, NULL);
    json_object_set_new(o, key, v ? json_integer(strtoll(v, NULL, 10)) : json_null());
}

#endif
