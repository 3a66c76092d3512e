/* Configuration loading and validation. The key table below is the single list of
 * top-level keys; sections are passed through for their owning modules. */
#include "mdm/config.h"

#include "common/log.h"
#include "common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum key_type { KEY_STRING, KEY_INT, KEY_SECTION, KEY_ARRAY } key_type;

typedef struct config_key {
    const char *name;
    key_type type;
    const char *env; /* environment variable overriding it, or NULL */
} config_key;

static const config_key config_keys[] = {
    {"database_url", KEY_STRING, "MDM_DATABASE_URL"},
    {"listen", KEY_STRING, "MDM_LISTEN"},
    {"log_level", KEY_STRING, "MDM_LOG_LEVEL"},
    {"default_country", KEY_STRING, "MDM_DEFAULT_COUNTRY"},
    {"sql_dir", KEY_STRING, "MDM_SQL_DIR"},
    {"ui_dir", KEY_STRING, "MDM_UI_DIR"},
    {"threads", KEY_INT, "MDM_THREADS"},
    /* sections validated by their modules */
    {"sources", KEY_ARRAY, NULL},
    {"model", KEY_SECTION, NULL},
    {"resolve", KEY_SECTION, NULL},
    {"survivorship", KEY_SECTION, NULL},
    {"http", KEY_SECTION, NULL},
    {"consent", KEY_SECTION, NULL},
    {"publish", KEY_SECTION, NULL},
    {"limits", KEY_SECTION, NULL},
    {"subscriptions", KEY_ARRAY, NULL},
    {"households", KEY_SECTION, NULL},
};

static const config_key *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

static const char *type_name(key_type t)
{
    switch (t) {
    case KEY_STRING:
        return "a string";
    case KEY_INT:
        return "an integer";
    case KEY_SECTION:
        return "an object";
    case KEY_ARRAY:
        return "an array";
    }
    return "?";
}

static bool type_ok(key_type t, const json_t *v)
{
    switch (t) {
    case KEY_STRING:
        return json_is_string(v);
    case KEY_INT:
        return json_is_integer(v);
    case KEY_SECTION:
        return json_is_object(v);
    case KEY_ARRAY:
        return json_is_array(v);
    }
    return false;
}

/* Applies one string value (from the file or the environment) to its field. */
static mdm_status apply_value(mdm_config *cfg, const char *key, const char *val, const char *origin,
                              mdm_err *err)
{
    char pointer[64];
    snprintf(pointer, sizeof pointer, "/%s", key);
    char **slot = NULL;
    if (strcmp(key, "database_url") == 0)
        slot = &cfg->database_url;
    else if (strcmp(key, "listen") == 0) {
        const char *colon = strrchr(val, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == val || !end || *end || port < 0 || port > 65535)
            return mdm_err_set_field(err, MDM_EINVAL, pointer,
                                     "%s: listen must be ADDR:PORT, got \"%s\"", origin, val);
        slot = &cfg->listen;
    } else if (strcmp(key, "log_level") == 0) {
        int lvl = mdm_log_level_parse(val);
        if (lvl < 0)
            return mdm_err_set_field(err, MDM_EINVAL, pointer,
                                     "%s: log_level must be debug, info, warn, error or off, "
                                     "got \"%s\"",
                                     origin, val);
        cfg->log_level = lvl;
        cfg->log_level_set = true;
        return MDM_OK;
    } else if (strcmp(key, "default_country") == 0) {
        if (strlen(val) != 2 || !isupper((unsigned char)val[0]) || !isupper((unsigned char)val[1]))
            return mdm_err_set_field(err, MDM_EINVAL, pointer,
                                     "%s: default_country must be an ISO 3166-1 alpha-2 code "
                                     "such as US, got \"%s\"",
                                     origin, val);
        slot = &cfg->default_country;
    } else if (strcmp(key, "sql_dir") == 0)
        slot = &cfg->sql_dir;
    else if (strcmp(key, "ui_dir") == 0)
        slot = &cfg->ui_dir;
    else if (strcmp(key, "threads") == 0) {
        char *end = NULL;
        long n = strtol(val, &end, 10);
        if (!*val || *end || n < 0 || n > 1024)
            return mdm_err_set_field(err, MDM_EINVAL, pointer,
                                     "%s: threads must be an integer from 0 to 1024, got \"%s\"",
                                     origin, val);
        cfg->threads = (int)n;
        return MDM_OK;
    }
    if (slot) {
        free(*slot);
        *slot = mdm_xstrdup(val);
    }
    return MDM_OK;
}

static mdm_status apply_file(mdm_config *cfg, mdm_err *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(cfg->root, key, val)
    {
        char pointer[160];
        snprintf(pointer, sizeof pointer, "/%s", key);
        const config_key *k = find_key(key);
        if (!k)
            return mdm_err_set_field(err, MDM_EINVAL, pointer, "%s: unknown key \"%s\"", cfg->path,
                                     key);
        if (!type_ok(k->type, val))
            return mdm_err_set_field(err, MDM_EINVAL, pointer, "%s: \"%s\" must be %s", cfg->path,
                                     key, type_name(k->type));
        if (k->type == KEY_STRING) {
            const char *s = json_string_value(val);
            char *resolved = NULL;
            if (strcmp(key, "sql_dir") == 0 || strcmp(key, "ui_dir") == 0)
                s = resolved = mdm_config_resolve_path(cfg->path, s);
            mdm_status st = apply_value(cfg, key, s, cfg->path, err);
            free(resolved);
            if (st != MDM_OK)
                return st;
        } else if (k->type == KEY_INT) {
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
            mdm_status st = apply_value(cfg, key, num, cfg->path, err);
            if (st != MDM_OK)
                return st;
        }
    }
    return MDM_OK;
}

char *mdm_config_resolve_path(const char *file, const char *value)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (!slash || value[0] == '/' || !value[0])
        return mdm_xstrdup(value);
    return mdm_xasprintf("%.*s/%s", (int)(slash - file), file, value);
}

/* Section paths that name files: rewritten relative to the configuration file. */
static void resolve_section_paths(mdm_config *cfg)
{
    static const char *const paths[][2] = {
        {"model", "path"}, {"http", "tls_cert"}, {"http", "tls_key"}};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        json_t *sec = json_object_get(cfg->root, paths[i][0]);
        const char *v = json_string_value(json_object_get(sec, paths[i][1]));
        if (!v)
            continue; /* absent, or not a string: its module reports that */
        char *p = mdm_config_resolve_path(cfg->path, v);
        json_object_set_new(sec, paths[i][1], json_string(p));
        free(p);
    }
}

/* The default of sql_dir or ui_dir: the source tree's folder when it exists here, else
 * the installed copy under PREFIX/share/mdm/ beside the executable's PREFIX/bin/. */
static char *default_dir(const char *tree, const char *installed)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (access(tree, F_OK) == 0 || n <= 0)
        return mdm_xstrdup(tree);
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    char *dir = mdm_xasprintf("%s/../share/mdm/%s", exe, installed);
    if (access(dir, F_OK) == 0)
        return dir;
    free(dir);
    return mdm_xstrdup(tree);
}

static mdm_status apply_env(mdm_config *cfg, mdm_err *err)
{
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
        const config_key *k = &config_keys[i];
        const char *v = k->env ? getenv(k->env) : NULL;
        if (!v || !*v)
            continue;
        mdm_status st = apply_value(cfg, k->name, v, k->env, err);
        if (st != MDM_OK)
            return st;
    }
    return MDM_OK;
}

mdm_config *mdm_config_load(const char *path, mdm_err *err)
{
    mdm_config *cfg = mdm_xcalloc(1, sizeof *cfg);
    cfg->database_url = mdm_xstrdup("");
    cfg->listen = mdm_xstrdup("127.0.0.1:8080");
    cfg->default_country = mdm_xstrdup("US");
    cfg->sql_dir = default_dir("sql", "sql");
    cfg->ui_dir = default_dir("api/ui", "ui");
    cfg->log_level = 1;
    bool explicit_path = true;
    if (!path || !*path)
        path = getenv("MDM_CONFIG");
    if (!path || !*path) {
        explicit_path = false;
        path = access("mdm.json", F_OK) == 0 ? "mdm.json" : NULL;
    }
    cfg->path = mdm_xstrdup(path ? path : "");
    if (path) {
        json_error_t jerr;
        cfg->root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!cfg->root) {
            if (access(path, R_OK) != 0) {
                mdm_err_set(err, explicit_path ? MDM_EIO : MDM_EINVAL,
                            "cannot read configuration file %s", path);
            } else {
                mdm_err_set(err, MDM_EINVAL, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
                            jerr.column, jerr.text);
            }
            goto out_free;
        }
        if (!json_is_object(cfg->root)) {
            mdm_err_set(err, MDM_EINVAL, "%s: the configuration must be a JSON object", path);
            goto out_free;
        }
        if (apply_file(cfg, err) != MDM_OK)
            goto out_free;
        resolve_section_paths(cfg);
    } else {
        cfg->root = json_object();
    }
    if (apply_env(cfg, err) != MDM_OK)
        goto out_free;
    return cfg;
out_free:
    mdm_config_free(cfg);
    return NULL;
}

void mdm_config_free(mdm_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->database_url);
    free(cfg->listen);
    free(cfg->default_country);
    free(cfg->sql_dir);
    free(cfg->ui_dir);
    free(cfg->path);
    json_decref(cfg->root);
    free(cfg);
}

json_t *mdm_config_section(const mdm_config *cfg, const char *name)
{
    return cfg && cfg->root ? json_object_get(cfg->root, name) : NULL;
}

/* Masks a password in a URI (user:secret@) or key=value form (password=secret). */
static char *mask_url(const char *url)
{
    char *out = mdm_xstrdup(url);
    char *scheme = strstr(out, "://");
    if (scheme) {
        char *at = strchr(scheme + 3, '@');
        char *colon = strchr(scheme + 3, ':');
        if (at && colon && colon < at) {
            char *masked = mdm_xasprintf("%.*s:***%s", (int)(colon - out), out, at);
            free(out);
            return masked;
        }
    }
    char *pw = strstr(out, "password=");
    if (pw) {
        char *end = pw + 9;
        while (*end && *end != ' ' && *end != '&')
            end++;
        char *masked = mdm_xasprintf("%.*s***%s", (int)(pw + 9 - out), out, end);
        free(out);
        return masked;
    }
    return out;
}

json_t *mdm_config_to_json(const mdm_config *cfg)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", "off"};
    json_t *o = json_deep_copy(cfg->root);
    char *masked = mask_url(cfg->database_url);
    json_object_set_new(o, "database_url", json_string(masked));
    free(masked);
    json_object_set_new(o, "listen", json_string(cfg->listen));
    json_object_set_new(o, "log_level", json_string(levels[cfg->log_level]));
    json_object_set_new(o, "default_country", json_string(cfg->default_country));
    json_object_set_new(o, "sql_dir", json_string(cfg->sql_dir));
    json_object_set_new(o, "ui_dir", json_string(cfg->ui_dir));
    json_object_set_new(o, "threads", json_integer(cfg->threads));
    return o;
}
