/* The api_key table: insert, list, revoke (each write with its audit row) and the lookup
 * of verification. See apikey.h. */
#include "mdm/apikey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mdm_db_stmt stmt_insert = {
    "auth_insert",
    "INSERT INTO api_key (prefix, salt, hash, role, source, name, rate_per_sec) "
    "VALUES ($1, decode($2, 'hex'), decode($3, 'hex'), $4, $5, $6, $7) RETURNING id",
    7};
static const mdm_db_stmt stmt_list = {"auth_list",
                                      "SELECT id, prefix, role, source, name, rate_per_sec, "
                                      "mdm_ts(created_at) AS created_at, "
                                      "mdm_ts(revoked_at) AS revoked_at "
                                      "FROM api_key ORDER BY id",
                                      0};
static const mdm_db_stmt stmt_revoke = {
    "auth_revoke",
    "UPDATE api_key SET revoked_at = now() "
    "WHERE (prefix = $1 OR id::text = $1) AND revoked_at IS NULL RETURNING id, prefix, role, "
    "source",
    1};
static const mdm_db_stmt stmt_lookup = {
    "auth_lookup",
    "SELECT id, encode(salt, 'hex') AS salt, encode(hash, 'hex') AS hash, role, source, name, "
    "rate_per_sec FROM api_key WHERE prefix = $1 AND revoked_at IS NULL",
    1};

typedef struct insert_tx {
    const mdm_apikey_new *k;
    const mdm_audit_actor *who;
    int64_t id;
} insert_tx;

static mdm_status insert_fn(mdm_db *db, void *arg, mdm_err *err)
{
    insert_tx *c = arg;
    const mdm_apikey_new *k = c->k;
    char rate_s[32];
    snprintf(rate_s, sizeof rate_s, "%.17g", k->rate);
    const char *params[] = {k->prefix, k->salt_hex, k->hash_hex, k->role,
                            k->source, k->name,     rate_s};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_insert, params, &res, err);
    if (st != MDM_OK)
        return st;
    c->id = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    char target[48];
    snprintf(target, sizeof target, "api_key:%lld", (long long)c->id);
    json_t *after = json_pack("{s:s,s:s,s:s?,s:s?,s:f}", "prefix", k->prefix, "role", k->role,
                              "source", k->source, "name", k->name, "rate_per_sec", k->rate);
    st = mdm_audit_append(db, c->who->name, c->who->role, "apikey.create", target, NULL, NULL,
                          after, err);
    json_decref(after);
    return st;
}

mdm_status mdm_apikey_insert(mdm_db *db, const mdm_apikey_new *k, const mdm_audit_actor *who,
                             int64_t *id, mdm_err *err)
{
    insert_tx c = {k, who, 0};
    mdm_status st = mdm_db_run_tx(db, "apikey_create", insert_fn, &c, err);
    if (st == MDM_OK && id)
        *id = c.id;
    return st;
}

mdm_status mdm_apikey_list(mdm_db *db, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_list, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *arr = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        const char *src = mdm_db_get(res, r, "source", NULL);
        const char *name = mdm_db_get(res, r, "name", NULL);
        const char *revoked = mdm_db_get(res, r, "revoked_at", NULL);
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:o, s:o, s:f, s:s, s:o}", "id",
                           (json_int_t)mdm_db_get_ll(res, r, "id", 0), "prefix",
                           mdm_db_get(res, r, "prefix", ""), "role", mdm_db_get(res, r, "role", ""),
                           "source", src ? json_string(src) : json_null(), "name",
                           name ? json_string(name) : json_null(), "rate_per_sec",
                           strtod(mdm_db_get(res, r, "rate_per_sec", "0"), NULL), "created_at",
                           mdm_db_get(res, r, "created_at", ""), "revoked_at",
                           revoked ? json_string(revoked) : json_null()));
    }
    PQclear(res);
    *out = arr;
    return MDM_OK;
}

typedef struct revoke_tx {
    const char *which;
    const mdm_audit_actor *who;
} revoke_tx;

static mdm_status revoke_fn(mdm_db *db, void *arg, mdm_err *err)
{
    revoke_tx *c = arg;
    const char *p[] = {c->which};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_revoke, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no active key with id or prefix \"%s\"", c->which);
    }
    char target[48];
    snprintf(target, sizeof target, "api_key:%s", mdm_db_get(res, 0, "id", "?"));
    json_t *before = json_pack("{s:s,s:s,s:s?,s:b}", "prefix", mdm_db_get(res, 0, "prefix", ""),
                               "role", mdm_db_get(res, 0, "role", ""), "source",
                               mdm_db_get(res, 0, "source", NULL), "revoked", 0);
    json_t *after = json_pack("{s:b}", "revoked", 1);
    PQclear(res);
    st = mdm_audit_append(db, c->who->name, c->who->role, "apikey.revoke", target, NULL, before,
                          after, err);
    json_decref(before);
    json_decref(after);
    return st;
}

mdm_status mdm_apikey_revoke(mdm_db *db, const char *which, const mdm_audit_actor *who,
                             mdm_err *err)
{
    revoke_tx c = {which, who};
    return mdm_db_run_tx(db, "apikey_revoke", revoke_fn, &c, err);
}

mdm_status mdm_apikey_lookup(mdm_db *db, const char *prefix, mdm_apikey_row *row, bool *found,
                             mdm_err *err)
{
    *found = false;
    const char *p[] = {prefix};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_lookup, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 1) {
        memset(row, 0, sizeof *row);
        row->id = mdm_db_get_ll(res, 0, "id", 0);
        snprintf(row->role, sizeof row->role, "%s", mdm_db_get(res, 0, "role", ""));
        snprintf(row->source, sizeof row->source, "%s", mdm_db_get(res, 0, "source", ""));
        snprintf(row->name, sizeof row->name, "%s", mdm_db_get(res, 0, "name", ""));
        snprintf(row->salt_hex, sizeof row->salt_hex, "%s", mdm_db_get(res, 0, "salt", ""));
        snprintf(row->hash_hex, sizeof row->hash_hex, "%s", mdm_db_get(res, 0, "hash", ""));
        row->rate = strtod(mdm_db_get(res, 0, "rate_per_sec", "1"), NULL);
        *found = true;
    }
    PQclear(res);
    return MDM_OK;
}
