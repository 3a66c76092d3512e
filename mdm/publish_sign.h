/* Signatures of the messages push delivery sends (mdm/publish_sign.c): HMAC-SHA256 via
 * libcrypto, in mdm's own header form and in the Standard Webhooks form. Pure, no
 * database. Thread-safe.
 *
 * X-MDM-Timestamp: UNIX seconds; X-MDM-Signature: "v1=" + lower-case hex of
 * HMAC-SHA256(secret, timestamp + "." + body). webhook-signature: see
 * mdm_publish_sign_standard. */
#ifndef MDM_MDM_PUBLISH_SIGN_H
#define MDM_MDM_PUBLISH_SIGN_H

#include <stddef.h>

/* Writes "v1=" + hex HMAC-SHA256(secret, timestamp "." body) into out (68 bytes). */
void mdm_publish_sign(const char *secret, long long timestamp, const char *body, size_t len,
                      char out[68]);

/* Standard Webhooks (www.standardwebhooks.com): writes "v1," + base64
 * HMAC-SHA256(key, msg_id "." timestamp "." body) into out (48 bytes). The key is the
 * bytes a "whsec_<base64>" secret encodes, else the secret's own bytes (a receiver
 * passes such a secret to its library as raw). */
void mdm_publish_sign_standard(const char *secret, const char *msg_id, long long timestamp,
                               const char *body, size_t len, char out[48]);

#endif
