/* API keys as stored: the api_key table (salted SHA-256 of the key, its public prefix,
 * role, bound source system, rate, creation and revocation times). This module owns the
 * table; the key format, the hashing, verification with its cache and the rate buckets
 * are api/auth.c's, which calls these functions.
 *
 * Writes run in a transaction of their own that also appends their audit row
 * (apikey.create, apikey.revoke; mdm/audit.h), so a key never changes unrecorded. */
#ifndef MDM_MDM_APIKEY_H
#define MDM_MDM_APIKEY_H

#include "common/err.h"
#include "mdm/audit.h"
#include "mdm/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* A new key's row: hex of the salt and of SHA-256(salt || key), role name, source (NULL
 * unless the role is source), name (may be NULL), rate in requests per second. */
typedef struct mdm_apikey_new {
    const char *prefix;
    const char *salt_hex;
    const char *hash_hex;
    const char *role;
    const char *source;
    const char *name;
    double rate;
} mdm_apikey_new;

/* Stores k and its audit row (actor who) in one transaction; *id receives the key's id.
 * MDM_ECONFLICT when the prefix exists, MDM_ERETRY, MDM_EDB. */
mdm_status mdm_apikey_insert(mdm_db *db, const mdm_apikey_new *k, const mdm_audit_actor *who,
                             int64_t *id, mdm_err *err) __attribute__((warn_unused_result));

/* Every key, revoked ones included, by id: a new array of {"id", "prefix", "role",
 * "source", "name", "rate_per_sec", "created_at", "revoked_at"} (times RFC 3339 UTC, null
 * when absent). Never the hash or the salt. */
mdm_status mdm_apikey_list(mdm_db *db, json_t **out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Revokes the active key whose prefix or id (as text) is which, with its audit row, in
 * one transaction. MDM_ENOTFOUND when no active key has it. */
mdm_status mdm_apikey_revoke(mdm_db *db, const char *which, const mdm_audit_actor *who,
                             mdm_err *err) __attribute__((warn_unused_result));

/* The active key of a prefix, as stored. */
typedef struct mdm_apikey_row {
    int64_t id;
    char role[16];
    char source[64];
    char name[128];
    char salt_hex[65];
    char hash_hex[129];
    double rate;
} mdm_apikey_row;

/* Reads the active key of prefix into *row; *found is false (row untouched) when there
 * is none (unknown or revoked). */
mdm_status mdm_apikey_lookup(mdm_db *db, const char *prefix, mdm_apikey_row *row, bool *found,
                             mdm_err *err) __attribute__((warn_unused_result));

#endif
