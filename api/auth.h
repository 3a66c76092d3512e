/* API keys, roles and per-key rate limits.
 *
 * A key looks like `mdm_<prefix>_<secret>`: the 12 hex digits of prefix identify the row
 * of table api_key, the 64 hex digits of secret are the credential. Only a salted
 * SHA-256 of the whole key is stored (hash = SHA-256(salt || key), salt 16 bytes from
 * RAND_bytes); the key itself is printed once by `mdm apikey create`. Verification
 * compares hashes with CRYPTO_memcmp (constant time).
 *
 * Roles: source (bound to one source system, which it may write and read), reader,
 * steward, compliance and admin. Routes name the roles they accept; admin passes every
 * role check (see api/http.h).
 *
 * mdm_auth is the in-process part: a cache of verified key rows (so most requests cost
 * a hash, not a query; a revoked key stops working within cache_seconds) and one token
 * bucket per key (capacity rate * burst_seconds, refilled at rate per second). With
 * several `mdm serve` processes each has its own buckets. An mdm_auth is thread-safe. */
#ifndef MDM_API_AUTH_H
#define MDM_API_AUTH_H

#include "common/err.h"
#include "mdm/audit.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum mdm_role {
    MDM_ROLE_SOURCE = 1,
    MDM_ROLE_READER = 2,
    MDM_ROLE_STEWARD = 4,
    MDM_ROLE_COMPLIANCE = 8,
    MDM_ROLE_ADMIN = 16
} mdm_role;

/* An authenticated key as handlers see it. */
typedef struct mdm_auth_key {
    int64_t id;
    mdm_role role;
    char prefix[16]; /* public part, safe to log */
    char source[64]; /* bound source system code; "" unless role is source */
    char name[128];  /* free label given at creation */
    double rate;     /* requests per second */
} mdm_auth_key;

/* "source", "reader", ...; NULL for a value that is not exactly one role. */
const char *mdm_auth_role_name(mdm_role role);
/* Parses a role name; returns 0 when unknown. */
mdm_role mdm_auth_role_parse(const char *name);

/* Key management (the `mdm apikey` commands) */

/* Creates a key. source is required for role source and refused otherwise; it must be a
 * registered source system (MDM_EINVAL otherwise). rate > 0 requests per second. name
 * may be NULL. who (required) is recorded with an "apikey.create" audit row (target
 * "api_key:ID"; prefix, role, source, name and rate, never the secret) in the same
 * transaction. *key_out receives the key text (the only time it exists; caller frees),
 * *id_out (when not NULL) the row id. */
mdm_status mdm_auth_key_create(mdm_db *db, mdm_role role, const char *source, double rate,
                               const char *name, const mdm_audit_actor *who, char **key_out,
                               int64_t *id_out, mdm_err *err) __attribute__((warn_unused_result));

/* Lists every key (revoked ones too) as a new JSON array of {id, prefix, role, source,
 * name, rate_per_sec, created_at, revoked_at}; never the hash. */
mdm_status mdm_auth_key_list(mdm_db *db, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Revokes the key whose id or prefix is `which`, with an "apikey.revoke" audit row by
 * who in the same transaction. MDM_ENOTFOUND when no active key matches. */
mdm_status mdm_auth_key_revoke(mdm_db *db, const char *which, const mdm_audit_actor *who,
                               mdm_err *err) __attribute__((warn_unused_result));

/* Request-time verification and rate limiting */

typedef struct mdm_auth mdm_auth;

/* cache_seconds 0 disables the cache (every request reads api_key); burst_seconds > 0. */
mdm_auth *mdm_auth_new(double cache_seconds, double burst_seconds);
void mdm_auth_free(mdm_auth *auth); /* NULL is a no-op */

/* Checks an Authorization header value ("Bearer KEY"; NULL when absent). Returns MDM_OK
 * and fills *key, MDM_EAUTH for a missing, malformed, unknown or revoked key (the
 * message says which without echoing the key), or the database error (MDM_ERETRY when
 * the database is unreachable). */
mdm_status mdm_auth_verify(mdm_auth *auth, mdm_db *db, const char *authorization, mdm_auth_key *key,
                           mdm_err *err) __attribute__((warn_unused_result));

/* A key's bucket after a request, for the RateLimit-* and Retry-After headers. */
typedef struct mdm_rate_state {
    int limit;       /* the bucket's capacity: requests a burst may hold */
    int remaining;   /* whole tokens left after this request */
    int retry_after; /* refused: whole seconds (at least 1) until a token is available */
} mdm_rate_state;

/* Takes one token from key's bucket at time now (seconds, monotonic). Returns true when
 * the request may proceed, false when refused; *st describes the bucket either way. */
bool mdm_auth_rate_take(mdm_auth *auth, const mdm_auth_key *key, double now, mdm_rate_state *st);

#endif
