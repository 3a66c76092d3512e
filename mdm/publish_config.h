/* Publishing's configuration (mdm/publish_config.c): the "publish" section of mdm.json
 * (delivery workers, timeouts, backoff, egress policy) and the checks of the
 * "subscriptions" section, the same rules a subscription created over the API meets
 * (mdm/publish_sub.h). No database. Thread-safe. */
#ifndef MDM_MDM_PUBLISH_CONFIG_H
#define MDM_MDM_PUBLISH_CONFIG_H

#include "common/err.h"
#include "mdm/config.h"
#include "mdm/egress.h"

#include <jansson.h>
#include <stdbool.h>

/* Configuration: the "publish" section of mdm.json (all optional). */
typedef struct mdm_publish_opts {
    bool enabled;           /* start delivery workers in mdm serve; default true */
    int workers;            /* delivery threads per mdm serve process; default 2 */
    int batch;              /* deliveries claimed per transaction; default 32 */
    int poll_ms;            /* idle wait between polls; default 200 */
    int timeout_ms;         /* whole HTTP exchange; default 10000 */
    int connect_timeout_ms; /* TCP/TLS connect; default 3000 */
    int backoff_base_ms;    /* first retry delay; default 1000 */
    int backoff_max_ms;     /* retry delay cap; default 3600000 (1 h) */
    int max_attempts;       /* default for subscriptions that set none; default 8 */
    mdm_egress egress;      /* allowed_networks: private addresses deliveries may reach */
} mdm_publish_opts;

/* Fills o with the defaults, then the "publish" section of cfg (cfg may be NULL).
 * MDM_EINVAL names the offending key (err->field = "/publish/KEY"). */
mdm_status mdm_publish_opts_load(const mdm_config *cfg, mdm_publish_opts *o, mdm_err *err)
    __attribute__((warn_unused_result));

/* Validates the "publish" and "subscriptions" sections without a database: every
 * subscription needs source, url (http/https), secret (>= 16 characters, or secret_env
 * naming a set environment variable); event_types, mapping, active, max_attempts are
 * optional and checked. MDM_EINVAL with err->field set, e.g. "/subscriptions/1/url". */
mdm_status mdm_publish_validate_config(const mdm_config *cfg, mdm_err *err)
    __attribute__((warn_unused_result));

/* Replaces every subscriptions[].secret of a configuration JSON (mdm_config_to_json's
 * output) with "***", for printing. */
void mdm_publish_mask_secrets(json_t *config_json);

#endif
