/* Push subscriptions (mdm/publish_sub.h): owner of the table subscription. The
 * configured ones are synced from mdm.json, the others are managed over the API; every
 * write has its audit row in its transaction. */
#include "mdm/publish_sub.h"

#include "common/mem.h"
#include "mdm/publish_config.h"
#include "mdm/publish_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* Configured subscriptions                                                            */

static const mdm_db_stmt st_sync_upsert = {
    "publish_sync_upsert",
    "INSERT INTO subscription (source, url, secret, event_types, mapping, active, max_attempts, "
    "scope, max_delay_seconds, origin) VALUES ($1, $2, $3, "
    "ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::jsonb, $6::boolean, $7::int, $8, "
    "$9::int, 'config') "
    "ON CONFLICT (source, url) DO UPDATE SET secret = EXCLUDED.secret, "
    "event_types = EXCLUDED.event_types, mapping = EXCLUDED.mapping, active = EXCLUDED.active, "
    "max_attempts = EXCLUDED.max_attempts, scope = EXCLUDED.scope, "
    "max_delay_seconds = EXCLUDED.max_delay_seconds, origin = 'config', updated_at = now() "
    "WHERE (subscription.secret, subscription.event_types, subscription.mapping, "
    "subscription.active, subscription.max_attempts, subscription.scope, "
    "subscription.max_delay_seconds, subscription.origin) "
    "IS DISTINCT FROM (EXCLUDED.secret, EXCLUDED.event_types, EXCLUDED.mapping, "
    "EXCLUDED.active, EXCLUDED.max_attempts, EXCLUDED.scope, EXCLUDED.max_delay_seconds, "
    "'config') "
    "RETURNING id, (xmax = 0) AS created",
    9};
static const mdm_db_stmt st_sync_retire = {
    "publish_sync_retire",
    "UPDATE subscription SET active = false, updated_at = now() WHERE origin = 'config' AND "
    "active AND (source, url) NOT IN (SELECT x.source, x.url FROM "
    "jsonb_to_recordset($1::jsonb) AS x(source text, url text)) RETURNING id",
    1};

/* One audit row for a subscription the configuration created, changed or retired
 * (actor "config"): the subscription as mdm_publish_sub_get shows it (no secret). */
static mdm_status audit_config_sub(mdm_db *db, int64_t id, const char *action, mdm_err *err)
{
    json_t *after = NULL;
    mdm_status st = mdm_publish_sub_get(db, id, &after, err);
    if (st != MDM_OK)
        return st;
    char target[48];
    snprintf(target, sizeof target, "subscription:%lld", (long long)id);
    st = mdm_audit_append(db, "config", "system", action, target, "configuration applied", NULL,
                          after, err);
    json_decref(after);
    return st;
}

typedef struct sync_ctx {
    const mdm_config *cfg;
    int max_attempts;
    int count;
} sync_ctx;

static mdm_status sync_tx(mdm_db *db, void *arg, mdm_err *err)
{
    sync_ctx *c = arg;
    json_t *subs = mdm_config_section(c->cfg, "subscriptions");
    json_t *keys = json_array();
    mdm_status st = MDM_OK;
    size_t i;
    json_t *s;
    c->count = 0;
    json_array_foreach(subs, i, s)
    {
        const char *secret = json_string_value(json_object_get(s, "secret"));
        if (!secret)
            secret = getenv(json_string_value(json_object_get(s, "secret_env")));
        json_t *types = json_object_get(s, "event_types");
        char *types_s = types ? json_dumps(types, JSON_COMPACT) : NULL;
        json_t *mapping = json_object_get(s, "mapping");
        char *mapping_s = mapping ? json_dumps(mapping, JSON_COMPACT) : NULL;
        json_t *ma = json_object_get(s, "max_attempts");
        char ma_s[16];
        snprintf(ma_s, sizeof ma_s, "%d", ma ? (int)json_integer_value(ma) : c->max_attempts);
        json_t *active = json_object_get(s, "active");
        json_t *md = json_object_get(s, "max_delay_seconds");
        char md_s[16] = "";
        if (json_is_integer(md))
            snprintf(md_s, sizeof md_s, "%d", (int)json_integer_value(md));
        const char *params[] = {
            json_string_value(json_object_get(s, "source")),
            json_string_value(json_object_get(s, "url")),
            secret,
            types_s ? types_s
                    : "[\"created\",\"updated\",\"merged\",\"split\",\"consent_changed\","
                      "\"deleted\"]",
            mapping_s ? mapping_s : "{}",
            active && json_is_false(active) ? "false" : "true",
            ma_s,
            json_object_get(s, "scope") ? json_string_value(json_object_get(s, "scope")) : "source",
            md_s[0] ? md_s : NULL};
        PGresult *res = NULL;
        st = mdm_db_exec(db, &st_sync_upsert, params, &res, err);
        free(types_s);
        free(mapping_s);
        if (st == MDM_OK && PQntuples(res) == 1)
            st = audit_config_sub(db, mdm_db_get_ll(res, 0, "id", 0),
                                  strcmp(mdm_db_get(res, 0, "created", "f"), "t")
                                      ? "subscription.update"
                                      : "subscription.create",
                                  err);
        PQclear(res);
        if (st != MDM_OK) {
            if (st == MDM_ECONFLICT)
                mdm_err_set_field(err, MDM_ECONFLICT, "/subscriptions",
                                  "subscription %zu names source \"%s\", which is not a known "
                                  "source system",
                                  i, params[0]);
            goto out_free;
        }
        json_array_append_new(keys, json_pack("{s:O,s:O}", "source", json_object_get(s, "source"),
                                              "url", json_object_get(s, "url")));
        c->count++;
    }
    char *keys_s = json_dumps(keys, JSON_COMPACT);
    const char *p2[] = {keys_s};
    PGresult *gone = NULL;
    st = mdm_db_exec(db, &st_sync_retire, p2, &gone, err);
    free(keys_s);
    for (int r = 0; st == MDM_OK && r < PQntuples(gone); r++)
        st = audit_config_sub(db, mdm_db_get_ll(gone, r, "id", 0), "subscription.delete", err);
    PQclear(gone);
out_free:
    json_decref(keys);
    return st;
}

mdm_status mdm_publish_sync_config(mdm_db *db, const mdm_config *cfg, int *count, mdm_err *err)
{
    mdm_status st = mdm_publish_validate_config(cfg, err);
    if (st != MDM_OK)
        return st;
    mdm_publish_opts o;
    st = mdm_publish_opts_load(cfg, &o, err);
    if (st != MDM_OK)
        return st;
    sync_ctx c = {cfg, o.max_attempts, 0};
    st = mdm_db_run_tx(db, "publish_sync", sync_tx, &c, err);
    if (st == MDM_OK && count)
        *count = c.count;
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Subscriptions over the API                                                          */

/* clang-format off */
#define SUB_COLS                                                                                   \
    "id, source, url, event_types::text[] AS event_types, mapping::text AS mapping, active, "     \
    "max_attempts, scope, max_delay_seconds, origin, mdm_ts(created_at) AS created_at, "          \
    "mdm_ts(updated_at) AS updated_at, secret <> '' AS secret_set, "                               \
    "array_to_json(event_types)::text AS types_json"

static const mdm_db_stmt st_sub_list = {
    "publish_sub_list", "SELECT " SUB_COLS " FROM subscription ORDER BY id", 0};
static const mdm_db_stmt st_sub_get = {
    "publish_sub_get", "SELECT " SUB_COLS " FROM subscription WHERE id = $1", 1};
/* clang-format on */
static const mdm_db_stmt st_sub_insert = {
    "publish_sub_insert",
    "INSERT INTO subscription (source, url, secret, event_types, mapping, active, max_attempts, "
    "scope, max_delay_seconds, origin) VALUES ($1, $2, $3, CASE WHEN $4::jsonb IS NULL THEN "
    "'{created,updated,merged,split,consent_changed,deleted}'::text[] "
    "ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END, coalesce($5::jsonb, '{}'), "
    "coalesce($6::boolean, true), coalesce($7::int, 8), coalesce($8, 'source'), "
    "nullif($9::text, '')::int, 'api') RETURNING id",
    9};
static const mdm_db_stmt st_sub_update = {
    "publish_sub_update",
    "UPDATE subscription SET url = coalesce($2, url), secret = coalesce($3, secret), "
    "event_types = CASE WHEN $4::jsonb IS NULL THEN event_types "
    "ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END, "
    "mapping = coalesce($5::jsonb, mapping), active = coalesce($6::boolean, active), "
    "max_attempts = coalesce($7::int, max_attempts), scope = coalesce($8, scope), "
    "max_delay_seconds = CASE WHEN $9::text IS NULL THEN max_delay_seconds "
    "ELSE nullif($9::text, '')::int END, "
    "updated_at = now() WHERE id = $1 RETURNING id",
    9};
static const mdm_db_stmt st_sub_deactivate = {
    "publish_sub_deactivate",
    "UPDATE subscription SET active = false, updated_at = now() WHERE id = $1 RETURNING id", 1};

static json_t *sub_row(const PGresult *res, int r)
{
    json_t *o = json_object();
    mdm_publish_set_int(o, "id", res, r);
    mdm_publish_set_str(o, "source", res, r);
    /* a URL stored before userinfo was refused shows its credentials masked */
    const char *u = mdm_db_get(res, r, "url", "");
    const char *auth = strstr(u, "://");
    size_t alen = auth ? strcspn(auth + 3, "/?#") : 0;
    const char *at = auth ? memchr(auth + 3, '@', alen) : NULL;
    if (at) {
        char *masked = mdm_xasprintf("%.*s***%s", (int)(auth + 3 - u), u, at);
        json_object_set_new(o, "url", json_string(masked));
        free(masked);
    } else {
        mdm_publish_set_str(o, "url", res, r);
    }
    json_t *types = json_loads(mdm_db_get(res, r, "types_json", "[]"), 0, NULL);
    json_object_set_new(o, "event_types", types ? types : json_array());
    json_t *mapping = json_loads(mdm_db_get(res, r, "mapping", "{}"), 0, NULL);
    json_object_set_new(o, "mapping", mapping ? mapping : json_object());
    json_object_set_new(o, "active",
                        json_boolean(strcmp(mdm_db_get(res, r, "active", "f"), "t") == 0));
    mdm_publish_set_int(o, "max_attempts", res, r);
    mdm_publish_set_str(o, "scope", res, r);
    mdm_publish_set_int(o, "max_delay_seconds", res, r);
    mdm_publish_set_str(o, "origin", res, r);
    mdm_publish_set_str(o, "created_at", res, r);
    mdm_publish_set_str(o, "updated_at", res, r);
    json_object_set_new(o, "secret_set",
                        json_boolean(strcmp(mdm_db_get(res, r, "secret_set", "f"), "t") == 0));
    return o;
}

mdm_status mdm_publish_sub_list(mdm_db *db, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_sub_list, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *arr = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(arr, sub_row(res, r));
    PQclear(res);
    *out = arr;
    return MDM_OK;
}

mdm_status mdm_publish_sub_get(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char s[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(s, id)};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_sub_get, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no subscription %lld", (long long)id);
    }
    *out = sub_row(res, 0);
    PQclear(res);
    return MDM_OK;
}

/* Text parameters of a create/update body; dumped JSON is owned by the struct. */
typedef struct sub_params {
    char *types, *mapping;
    char max_attempts[16], max_delay[16];
    const char *v[9];
} sub_params;

static void sub_params_fill(sub_params *sp, const json_t *body)
{
    memset(sp, 0, sizeof *sp);
    const json_t *t = json_object_get(body, "event_types");
    const json_t *m = json_object_get(body, "mapping");
    const json_t *a = json_object_get(body, "active");
    const json_t *ma = json_object_get(body, "max_attempts");
    sp->types = t ? json_dumps(t, JSON_COMPACT) : NULL;
    sp->mapping = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (ma)
        snprintf(sp->max_attempts, sizeof sp->max_attempts, "%d", (int)json_integer_value(ma));
    sp->v[0] = json_string_value(json_object_get(body, "source"));
    sp->v[1] = json_string_value(json_object_get(body, "url"));
    sp->v[2] = json_string_value(json_object_get(body, "secret"));
    sp->v[3] = sp->types;
    sp->v[4] = sp->mapping;
    sp->v[5] = a ? (json_is_true(a) ? "true" : "false") : NULL;
    sp->v[6] = ma ? sp->max_attempts : NULL;
    sp->v[7] = json_string_value(json_object_get(body, "scope"));
    /* max_delay_seconds: absent keeps it, null clears it ("" below), a number sets it */
    const json_t *md = json_object_get(body, "max_delay_seconds");
    if (json_is_integer(md))
        snprintf(sp->max_delay, sizeof sp->max_delay, "%d", (int)json_integer_value(md));
    sp->v[8] = md ? sp->max_delay : NULL;
}

static void sub_params_free(sub_params *sp)
{
    free(sp->types);
    free(sp->mapping);
}

static mdm_status sub_create(mdm_db *db, const json_t *body, json_t **out, mdm_err *err)
{
    *out = NULL;
    mdm_jin in;
    if (!mdm_jin_open(&in, body, "", MDM_EUNPROCESSABLE, err))
        return in.code;
    mdm_status st = mdm_publish_check_subscription(&in, false, true);
    if (st != MDM_OK)
        return st;
    sub_params sp;
    sub_params_fill(&sp, body);
    PGresult *res = NULL;
    st = mdm_db_exec(db, &st_sub_insert, sp.v, &res, err);
    sub_params_free(&sp);
    if (st == MDM_ECONFLICT)
        return mdm_err_set(err, MDM_ECONFLICT,
                           "a subscription for this source and url exists already, or the "
                           "source system is unknown");
    if (st != MDM_OK)
        return st;
    int64_t id = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    return mdm_publish_sub_get(db, id, out, err);
}

/* Consumes the result of an UPDATE ... RETURNING of subscription id: MDM_ENOTFOUND when
 * it changed no row. */
static mdm_status changed_one(PGresult *res, int64_t id, mdm_err *err)
{
    int n = PQntuples(res);
    PQclear(res);
    return n ? MDM_OK : mdm_err_set(err, MDM_ENOTFOUND, "no subscription %lld", (long long)id);
}

static mdm_status sub_update(mdm_db *db, int64_t id, const json_t *body, json_t **out, mdm_err *err)
{
    *out = NULL;
    mdm_jin in;
    if (!mdm_jin_open(&in, body, "", MDM_EUNPROCESSABLE, err))
        return in.code;
    mdm_status st = mdm_publish_check_subscription(&in, false, false);
    if (st != MDM_OK)
        return st;
    if (mdm_jin_has(&in, "source"))
        return mdm_jin_fail(&in, "source",
                            "left out: the source of a subscription cannot change (create "
                            "another)");
    sub_params sp;
    sub_params_fill(&sp, body);
    char s[MDM_DB_ID_LEN];
    sp.v[0] = mdm_db_id(s, id);
    PGresult *res = NULL;
    st = mdm_db_exec(db, &st_sub_update, sp.v, &res, err);
    sub_params_free(&sp);
    if (st == MDM_ECONFLICT)
        return mdm_err_set(err, MDM_ECONFLICT,
                           "a subscription for this source and url exists already");
    if (st != MDM_OK)
        return st;
    st = changed_one(res, id, err);
    return st == MDM_OK ? mdm_publish_sub_get(db, id, out, err) : st;
}

static mdm_status sub_delete(mdm_db *db, int64_t id, mdm_err *err)
{
    char s[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(s, id)};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_sub_deactivate, params, &res, err);
    if (st != MDM_OK)
        return st;
    return changed_one(res, id, err);
}

/* Subscription writes with their audit row, in one transaction: the row holds the
 * subscription as mdm_publish_sub_get shows it (never the secret, only secret_set). */
typedef struct sub_tx {
    char op; /* 'c'reate, 'u'pdate, 'd'elete */
    int64_t id;
    const json_t *body;
    const mdm_audit_actor *who;
    json_t *out;
} sub_tx;

static mdm_status sub_tx_fn(mdm_db *db, void *arg, mdm_err *err)
{
    sub_tx *c = arg;
    json_decref(c->out);
    c->out = NULL;
    json_t *before = NULL, *after = NULL;
    mdm_status st = MDM_OK;
    if (c->op != 'c' && (st = mdm_publish_sub_get(db, c->id, &before, err)) != MDM_OK)
        return st;
    const char *action = "subscription.create";
    if (c->op == 'c') {
        st = sub_create(db, c->body, &c->out, err);
        if (st == MDM_OK)
            c->id = json_integer_value(json_object_get(c->out, "id"));
    } else if (c->op == 'u') {
        action = "subscription.update";
        st = sub_update(db, c->id, c->body, &c->out, err);
    } else {
        action = "subscription.delete";
        st = sub_delete(db, c->id, err);
    }
    if (st == MDM_OK && c->op == 'd')
        st = mdm_publish_sub_get(db, c->id, &after, err);
    if (st == MDM_OK) {
        char target[48];
        snprintf(target, sizeof target, "subscription:%lld", (long long)c->id);
        st = mdm_audit_append(db, c->who->name, c->who->role, action, target, NULL, before,
                              c->op == 'd' ? after : c->out, err);
    }
    json_decref(before);
    json_decref(after);
    return st;
}

static mdm_status sub_write(mdm_db *db, char op, int64_t id, const json_t *body,
                            const mdm_audit_actor *who, json_t **out, mdm_err *err)
{
    if (out)
        *out = NULL;
    mdm_status st0 = mdm_publish_check_who(who, err);
    if (st0 != MDM_OK)
        return st0;
    sub_tx c = {op, id, body, who, NULL};
    mdm_status st = mdm_db_run_tx(db, "subscription_write", sub_tx_fn, &c, err);
    if (st == MDM_OK && out)
        *out = c.out;
    else
        json_decref(c.out);
    return st;
}

mdm_status mdm_publish_sub_create(mdm_db *db, const json_t *body, const mdm_audit_actor *who,
                                  json_t **out, mdm_err *err)
{
    return sub_write(db, 'c', 0, body, who, out, err);
}

mdm_status mdm_publish_sub_update(mdm_db *db, int64_t id, const json_t *body,
                                  const mdm_audit_actor *who, json_t **out, mdm_err *err)
{
    return sub_write(db, 'u', id, body, who, out, err);
}

mdm_status mdm_publish_sub_delete(mdm_db *db, int64_t id, const mdm_audit_actor *who, mdm_err *err)
{
    return sub_write(db, 'd', id, NULL, who, NULL, err);
}
