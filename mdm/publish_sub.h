/* Push subscriptions (mdm/publish_sub.c), owner of the table subscription: which source
 * system receives which golden changes, where, signed with which secret, mapped how.
 * Subscriptions come from the "subscriptions" section of mdm.json (origin "config",
 * keyed by source and url) or from the API (origin "api"). Rows are never deleted:
 * deliveries refer to them; a removed one is deactivated. Every write has a
 * "subscription.create" / ".update" / ".delete" audit row in its transaction, holding
 * the subscription as mdm_publish_sub_get shows it: never the secret, only secret_set.
 * The functions take the caller's mdm_db and are as thread-safe as it is. */
#ifndef MDM_MDM_PUBLISH_SUB_H
#define MDM_MDM_PUBLISH_SUB_H

#include "common/err.h"
#include "mdm/audit.h"
#include "mdm/config.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdint.h>

/* Upserts the configured subscriptions (origin 'config', keyed by source and url) and
 * deactivates origin-'config' rows no longer configured; each row created, changed or
 * deactivated gets a "subscription.create" / ".update" / ".delete" audit row by actor
 * "config" (role system) in the same transaction, an unchanged one nothing. *count gets
 * the number configured. MDM_EINVAL as mdm_publish_validate_config; MDM_ECONFLICT when a
 * subscription names an unknown source system. */
mdm_status mdm_publish_sync_config(mdm_db *db, const mdm_config *cfg, int *count, mdm_err *err)
    __attribute__((warn_unused_result));

/* Subscriptions as JSON objects {id, source, url, event_types, mapping, active,
 * max_attempts, scope, max_delay_seconds, origin, created_at, updated_at, secret_set};
 * the secret is never returned. */
mdm_status mdm_publish_sub_list(mdm_db *db, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));
mdm_status mdm_publish_sub_get(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));
/* Creates from a JSON body {source, url, secret, event_types?, mapping?, active?,
 * max_attempts?, scope?, max_delay_seconds?}, read by the one JSON reader
 * (common/jsonin.h): MDM_EUNPROCESSABLE names the member (err->field), MDM_ECONFLICT
 * for a duplicate (source, url) or an unknown source. *out gets the created
 * subscription. Each of these three writes its audit row by who (target
 * "subscription:ID", before/after). */
mdm_status mdm_publish_sub_create(mdm_db *db, const json_t *body, const mdm_audit_actor *who,
                                  json_t **out, mdm_err *err) __attribute__((warn_unused_result));
/* Updates the given fields (same names; source cannot change). */
mdm_status mdm_publish_sub_update(mdm_db *db, int64_t id, const json_t *body,
                                  const mdm_audit_actor *who, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));
/* Deactivates it (rows are kept: deliveries refer to it). */
mdm_status mdm_publish_sub_delete(mdm_db *db, int64_t id, const mdm_audit_actor *who, mdm_err *err)
    __attribute__((warn_unused_result));

#endif
