/* Publishing's configuration: the "publish" section's options and the checks of a
 * subscription, shared by the "subscriptions" section and the API (mdm/publish_config.h).
 * No database. */
#include "mdm/publish_config.h"

#include "mdm/publish_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The event types a subscription may take (outbox types, mdm/outbox.h). */
static const char *const event_types[] = {
    "created",
    "updated",
    "merged",
    "split",
    "consent_changed",
    "deleted",
    "household.created",
    "household.changed",
    "household.retired", /* opt-in (048) */
};

static bool is_event_type(const char *t)
{
    for (size_t i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
        if (strcmp(t, event_types[i]) == 0)
            return true;
    return false;
}

typedef struct int_key {
    const char *name;
    size_t offset;
    int min, max, def;
} int_key;

static const int_key publish_int_keys[] = {
    {"workers", offsetof(mdm_publish_opts, workers), 1, 64, 2},
    {"batch", offsetof(mdm_publish_opts, batch), 1, 1000, 32},
    {"poll_ms", offsetof(mdm_publish_opts, poll_ms), 10, 60000, 200},
    {"timeout_ms", offsetof(mdm_publish_opts, timeout_ms), 50, 600000, 10000},
    {"connect_timeout_ms", offsetof(mdm_publish_opts, connect_timeout_ms), 50, 600000, 3000},
    {"backoff_base_ms", offsetof(mdm_publish_opts, backoff_base_ms), 1, 3600000, 1000},
    {"backoff_max_ms", offsetof(mdm_publish_opts, backoff_max_ms), 1, 86400000, 3600000},
    {"max_attempts", offsetof(mdm_publish_opts, max_attempts), 1, 100, 8},
};
#define N_INT_KEYS (sizeof publish_int_keys / sizeof publish_int_keys[0])

mdm_status mdm_publish_opts_load(const mdm_config *cfg, mdm_publish_opts *o, mdm_err *err)
{
    memset(o, 0, sizeof *o);
    o->enabled = true;
    for (size_t i = 0; i < N_INT_KEYS; i++)
        *(int *)((char *)o + publish_int_keys[i].offset) = publish_int_keys[i].def;
    json_t *sec = mdm_config_section(cfg, "publish");
    if (!sec)
        return MDM_OK;
    const char *where = cfg->path[0] ? cfg->path : "configuration";
    const char *key;
    json_t *v;
    json_object_foreach(sec, key, v)
    {
        char ptr[160];
        snprintf(ptr, sizeof ptr, "/publish/%s", key);
        if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v))
                return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                         "%s: publish.enabled must be "
                                         "true or false",
                                         where);
            o->enabled = json_is_true(v);
            continue;
        }
        if (strcmp(key, "allowed_networks") == 0) {
            mdm_status st = mdm_egress_load(v, ptr, &o->egress, err);
            if (st != MDM_OK)
                return st;
            continue;
        }
        const int_key *k = NULL;
        for (size_t i = 0; i < N_INT_KEYS; i++)
            if (strcmp(publish_int_keys[i].name, key) == 0)
                k = &publish_int_keys[i];
        if (!k)
            return mdm_err_set_field(err, MDM_EINVAL, ptr, "%s: unknown key \"publish.%s\"", where,
                                     key);
        if (!json_is_integer(v) || json_integer_value(v) < k->min || json_integer_value(v) > k->max)
            return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                     "%s: publish.%s must be an integer from %d to %d", where, key,
                                     k->min, k->max);
        *(int *)((char *)o + k->offset) = (int)json_integer_value(v);
    }
    if (o->backoff_max_ms < o->backoff_base_ms)
        return mdm_err_set_field(err, MDM_EINVAL, "/publish/backoff_max_ms",
                                 "%s: publish.backoff_max_ms must not be below "
                                 "publish.backoff_base_ms",
                                 where);
    return MDM_OK;
}

static bool valid_source_code(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Checks one mapping object; ptr is the JSON pointer of the mapping itself. */
static mdm_status check_mapping(const json_t *m, const char *ptr, const char *where, mdm_err *err)
{
    char p[256];
    if (!json_is_object(m)) {
        return mdm_err_set_field(
            err, MDM_EINVAL, ptr,
            "%s: mapping must be an object {\"TheirField\": \"canonical.path\"}", where);
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)m, key, v)
    {
        snprintf(p, sizeof p, "%.100s/%.120s", ptr, key);
        const char *s = json_string_value(v);
        if (!*key || key[0] == '.' || key[strlen(key) - 1] == '.')
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: mapping target \"%s\" is not a "
                                     "field name",
                                     where, key);
        if (!s || !*s)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: mapping of \"%s\" must be a non-empty string path", where,
                                     key);
        if (s[0] == '$' && strcmp(s, "$source_key") != 0 && strcmp(s, "$source_keys") != 0 &&
            strcmp(s, "$entity_id") != 0)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: mapping source \"%s\" is not $source_key, "
                                     "$source_keys or $entity_id",
                                     where, s);
    }
    return MDM_OK;
}

static mdm_status check_event_types(const json_t *a, const char *ptr, const char *where,
                                    mdm_err *err)
{
    if (!json_is_array(a) || json_array_size(a) == 0)
        return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                 "%s: event_types must be a non-empty array of event types", where);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || !is_event_type(json_string_value(v))) {
            char p[256];
            snprintf(p, sizeof p, "%.100s/%zu", ptr, i);
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: unknown event type; use created, updated, merged, "
                                     "split, consent_changed, deleted, household.created, "
                                     "household.changed or household.retired",
                                     where);
        }
    }
    return MDM_OK;
}

mdm_status mdm_publish_check_subscription(const json_t *o, const char *ptr, const char *where,
                                          bool from_config, bool create, mdm_err *err)
{
    static const char *const keys[] = {
        "source",  "url",    "secret",       "secret_env", "event_types",
        "mapping", "active", "max_attempts", "scope",      "max_delay_seconds"};
    char p[256];
    if (!json_is_object(o))
        return mdm_err_set_field(err, MDM_EINVAL, ptr, "%s: a subscription must be an object",
                                 where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (strcmp(key, keys[i]) == 0)
                known = true;
        if (!from_config && strcmp(key, "secret_env") == 0)
            known = false;
        snprintf(p, sizeof p, "%.100s/%.120s", ptr, key);
        if (!known)
            return mdm_err_set_field(err, MDM_EINVAL, p, "%s: unknown subscription field \"%s\"",
                                     where, key);
    }
    const json_t *source = json_object_get(o, "source");
    snprintf(p, sizeof p, "%.100s/source", ptr);
    if (source && (!json_is_string(source) || !valid_source_code(json_string_value(source))))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: source must be a source system code such as \"crm\"", where);
    if (create && !source)
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: source is required", where);
    const json_t *url = json_object_get(o, "url");
    snprintf(p, sizeof p, "%.100s/url", ptr);
    char why[160];
    if (url && !json_is_string(url))
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: url must be an http:// or https:// URL",
                                 where);
    if (url && !mdm_egress_url_ok(json_string_value(url), why, sizeof why))
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: %s", where, why);
    if (create && !url)
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: url is required", where);
    const json_t *secret = json_object_get(o, "secret");
    const json_t *secret_env = json_object_get(o, "secret_env");
    snprintf(p, sizeof p, "%.100s/secret", ptr);
    if (secret && secret_env)
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: give secret or secret_env, not both",
                                 where);
    if (secret_env) {
        snprintf(p, sizeof p, "%.100s/secret_env", ptr);
        const char *name = json_string_value(secret_env);
        const char *val = name ? getenv(name) : NULL;
        if (!name)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: secret_env must be the name of "
                                     "an environment variable",
                                     where);
        if (!val || strlen(val) < 16)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: environment variable %s must hold a secret of at "
                                     "least 16 characters",
                                     where, name);
    } else if (secret) {
        if (!json_is_string(secret) || strlen(json_string_value(secret)) < 16)
            return mdm_err_set_field(
                err, MDM_EINVAL, p, "%s: secret must be a string of at least 16 characters", where);
    } else if (create) {
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: secret is required%s", where,
                                 from_config ? " (or secret_env)" : "");
    }
    const json_t *types = json_object_get(o, "event_types");
    snprintf(p, sizeof p, "%.100s/event_types", ptr);
    if (types && check_event_types(types, p, where, err) != MDM_OK)
        return MDM_EINVAL;
    const json_t *mapping = json_object_get(o, "mapping");
    snprintf(p, sizeof p, "%.100s/mapping", ptr);
    if (mapping && check_mapping(mapping, p, where, err) != MDM_OK)
        return MDM_EINVAL;
    const json_t *active = json_object_get(o, "active");
    snprintf(p, sizeof p, "%.100s/active", ptr);
    if (active && !json_is_boolean(active))
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: active must be true or false", where);
    const json_t *ma = json_object_get(o, "max_attempts");
    snprintf(p, sizeof p, "%.100s/max_attempts", ptr);
    if (ma && (!json_is_integer(ma) || json_integer_value(ma) < 1 || json_integer_value(ma) > 100))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: max_attempts must be an integer from 1 to 100", where);
    const json_t *md = json_object_get(o, "max_delay_seconds");
    snprintf(p, sizeof p, "%.100s/max_delay_seconds", ptr);
    if (md && !json_is_null(md) &&
        (!json_is_integer(md) || json_integer_value(md) < 1 || json_integer_value(md) > 2592000))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: max_delay_seconds must be an integer from 1 to 2592000 "
                                 "(30 days), or null for no limit",
                                 where);
    const json_t *scope = json_object_get(o, "scope");
    snprintf(p, sizeof p, "%.100s/scope", ptr);
    if (scope && (!json_is_string(scope) || (strcmp(json_string_value(scope), "source") != 0 &&
                                             strcmp(json_string_value(scope), "all") != 0)))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: scope must be \"source\" (customers with a record from the "
                                 "subscription's source) or \"all\"",
                                 where);
    return MDM_OK;
}

mdm_status mdm_publish_validate_config(const mdm_config *cfg, mdm_err *err)
{
    mdm_publish_opts o;
    mdm_status st = mdm_publish_opts_load(cfg, &o, err);
    if (st != MDM_OK)
        return st;
    json_t *subs = mdm_config_section(cfg, "subscriptions");
    if (!subs)
        return MDM_OK;
    const char *where = cfg->path[0] ? cfg->path : "configuration";
    size_t i;
    json_t *s;
    json_array_foreach(subs, i, s)
    {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/subscriptions/%zu", i);
        st = mdm_publish_check_subscription(s, ptr, where, true, true, err);
        if (st != MDM_OK)
            return st;
        for (size_t j = 0; j < i; j++) {
            json_t *t = json_array_get(subs, j);
            if (json_equal(json_object_get(t, "source"), json_object_get(s, "source")) &&
                json_equal(json_object_get(t, "url"), json_object_get(s, "url")))
                return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                         "%s: subscriptions %zu and %zu have the same source "
                                         "and url",
                                         where, j, i);
        }
    }
    return MDM_OK;
}

void mdm_publish_mask_secrets(json_t *config_json)
{
    size_t i;
    json_t *sub;
    json_array_foreach(json_object_get(config_json, "subscriptions"), i, sub)
    {
        if (json_is_object(sub) && json_object_get(sub, "secret"))
            json_object_set_new(sub, "secret", json_string("***"));
    }
}
