/* Publishing's configuration: the "publish" section's options and the checks of a
 * subscription, shared by the "subscriptions" section and the API (mdm/publish_config.h).
 * No database. */
#include "mdm/publish_config.h"

#include "mdm/publish_int.h"

#include "common/jsonin.h"

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
    static const char *const known[] = {
        "enabled",    "allowed_networks",   "workers",         "batch",          "poll_ms",
        "timeout_ms", "connect_timeout_ms", "backoff_base_ms", "backoff_max_ms", "max_attempts",
        NULL};
    memset(o, 0, sizeof *o);
    o->enabled = true;
    for (size_t i = 0; i < N_INT_KEYS; i++)
        *(int *)((char *)o + publish_int_keys[i].offset) = publish_int_keys[i].def;
    mdm_jin in;
    const json_t *nets = NULL;
    if (!mdm_jin_open(&in, cfg ? mdm_config_section(cfg, "publish") : NULL, "publish", MDM_EINVAL,
                      err) ||
        !mdm_jin_known(&in, known) || !mdm_jin_bool(&in, "enabled", &o->enabled) ||
        !mdm_jin_array(&in, "allowed_networks", 0, MDM_EGRESS_MAX_NETS, &nets))
        return MDM_EINVAL;
    for (size_t i = 0; i < N_INT_KEYS; i++) {
        const int_key *k = &publish_int_keys[i];
        long long v = k->def;
        if (!mdm_jin_int(&in, k->name, k->min, k->max, &v))
            return MDM_EINVAL;
        *(int *)((char *)o + k->offset) = (int)v;
    }
    size_t i;
    const json_t *net;
    json_array_foreach(nets, i, net)
    {
        if (!json_is_string(net) ||
            !mdm_egress_parse_net(json_string_value(net), &o->egress.nets[o->egress.n]))
            return mdm_jin_fail_item(&in, "allowed_networks", i,
                                     "a network such as \"10.20.0.0/16\" or \"127.0.0.1/32\"");
        o->egress.n++;
    }
    if (o->backoff_max_ms < o->backoff_base_ms)
        return mdm_jin_fail(&in, "backoff_max_ms", "at least publish.backoff_base_ms (%d)",
                            o->backoff_base_ms);
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

/* Checks the mapping member of a subscription: {"TheirField": "canonical.path"}. */
static bool check_mapping(const mdm_jin *in)
{
    mdm_jin m;
    if (!mdm_jin_member(&m, in, "mapping"))
        return false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)m.obj, key, v)
    {
        const char *s = json_string_value(v);
        if (!*key || key[0] == '.' || key[strlen(key) - 1] == '.') {
            mdm_jin_fail(&m, key, "named by a field name (not empty, no \".\" at either end)");
            return false;
        }
        if (!s || !*s) {
            mdm_jin_fail(&m, key, "a non-empty string path");
            return false;
        }
        if (s[0] == '$' && strcmp(s, "$source_key") != 0 && strcmp(s, "$source_keys") != 0 &&
            strcmp(s, "$entity_id") != 0) {
            mdm_jin_fail(&m, key, "a canonical path, $source_key, $source_keys or $entity_id");
            return false;
        }
    }
    return true;
}

static bool check_event_types(const mdm_jin *in)
{
    const json_t *a = NULL;
    if (!mdm_jin_array(in, "event_types", 1, 64, &a))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || !is_event_type(json_string_value(v))) {
            mdm_jin_fail_item(in, "event_types", i,
                              "one of: created, updated, merged, split, consent_changed, "
                              "deleted, household.created, household.changed, "
                              "household.retired");
            return false;
        }
    }
    return true;
}

mdm_status mdm_publish_check_subscription(const mdm_jin *in, bool from_config, bool create)
{
    static const char *const config_keys[] = {
        "source", "url",          "secret", "secret_env",        "event_types", "mapping",
        "active", "max_attempts", "scope",  "max_delay_seconds", NULL};
    static const char *const api_keys[] = {
        "source", "url",          "secret", "event_types",       "mapping",
        "active", "max_attempts", "scope",  "max_delay_seconds", NULL};
    if (!in->obj)
        return mdm_jin_fail(in, NULL, "an object");
    const char *source = NULL, *url = NULL, *secret = NULL, *secret_env = NULL;
    bool active = true;
    long long attempts = 0;
    int scope = 0;
    static const char *const scopes[] = {"source", "all", NULL};
    if (!mdm_jin_known(in, from_config ? config_keys : api_keys) ||
        !mdm_jin_string(in, "source", 0, &source) || !mdm_jin_string(in, "url", 0, &url) ||
        !mdm_jin_string(in, "secret", 0, &secret) ||
        !mdm_jin_string(in, "secret_env", 0, &secret_env))
        return in->code;
    if (source && !valid_source_code(source))
        return mdm_jin_fail(in, "source", "a source system code such as \"crm\"");
    if (create && !mdm_jin_need(in, "source", "a source system code such as \"crm\""))
        return in->code;
    char why[160];
    if (url && !mdm_egress_url_ok(url, why, sizeof why))
        return mdm_jin_fail(in, "url",
                            "an http:// or https:// URL with a host, without userinfo, spaces or "
                            "control characters (%s)",
                            why);
    if (create && !mdm_jin_need(in, "url", "an http:// or https:// URL"))
        return in->code;
    if (secret && secret_env)
        return mdm_jin_fail(in, "secret", "left out when secret_env is given (one of them)");
    if (secret_env) {
        const char *val = getenv(secret_env);
        if (!val || strlen(val) < 16)
            return mdm_jin_fail(in, "secret_env",
                                "the name of an environment variable that holds a secret of at "
                                "least 16 characters (%.64s does not)",
                                secret_env);
    } else if (secret) {
        if (strlen(secret) < 16)
            return mdm_jin_fail(in, "secret", "a string of at least 16 characters");
    } else if (create &&
               !mdm_jin_need(in, "secret",
                             from_config ? "a string of at least 16 characters (or secret_env)"
                                         : "a string of at least 16 characters")) {
        return in->code;
    }
    if (!check_event_types(in) || !check_mapping(in) || !mdm_jin_bool(in, "active", &active) ||
        !mdm_jin_int(in, "max_attempts", 1, 100, &attempts) ||
        !mdm_jin_choice(in, "scope", scopes, &scope))
        return in->code;
    long long delay = 0;
    if (!mdm_jin_int(in, "max_delay_seconds", 1, 2592000, &delay))
        return mdm_jin_fail(in, "max_delay_seconds",
                            "an integer from 1 to 2592000 (30 days), or null for no limit");
    return MDM_OK;
}

mdm_status mdm_publish_validate_config(const mdm_config *cfg, mdm_err *err)
{
    mdm_publish_opts o;
    mdm_status st = mdm_publish_opts_load(cfg, &o, err);
    if (st != MDM_OK)
        return st;
    /* the section's type is mdm/config.c's (a top-level key): an array here */
    const json_t *subs = mdm_config_section(cfg, "subscriptions");
    size_t i;
    const json_t *s;
    json_array_foreach(subs, i, s)
    {
        char name[48];
        snprintf(name, sizeof name, "subscriptions[%zu]", i);
        mdm_jin in;
        if (!mdm_jin_open(&in, s, name, MDM_EINVAL, err))
            return MDM_EINVAL;
        if ((st = mdm_publish_check_subscription(&in, true, true)) != MDM_OK)
            return st;
        for (size_t j = 0; j < i; j++) {
            const json_t *t = json_array_get(subs, j);
            if (json_equal(json_object_get(t, "source"), json_object_get(s, "source")) &&
                json_equal(json_object_get(t, "url"), json_object_get(s, "url")))
                return mdm_jin_fail(&in, NULL,
                                    "unique by source and url (subscriptions[%zu] has the same "
                                    "source and url)",
                                    j);
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
