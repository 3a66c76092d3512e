/* Source systems from configuration, validated and synchronized into source_system. */
#include "mdm/source.h"

#include "common/mem.h"
#include "mdm/audit.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {"crm", "loyalty", "commerce", "erp", "pos", "other", NULL};

const char *const mdm_source_scalars[] = {"source_key",
                                          "source_updated_at",
                                          "op",
                                          "first_name",
                                          "middle_name",
                                          "last_name",
                                          "full_name",
                                          "prefix",
                                          "suffix",
                                          "birth_date",
                                          "gender",
                                          "loyalty_id",
                                          "customer_number",
                                          "tax_id",
                                          "national_id",
                                          "account_status",
                                          "segment",
                                          NULL};

static const char *const address_fields[] = {"line1",       "line2",   "city", "region",
                                             "postal_code", "country", "type", NULL};

static bool in_list(const char *const *list, const char *s, size_t len)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0)
            return true;
    return false;
}

/* True when target is a canonical field path (see source.h). */
static bool target_valid(const char *t)
{
    if (in_list(mdm_source_scalars, t, strlen(t)))
        return true;
    if (!strcmp(t, "email") || !strcmp(t, "phone"))
        return true;
    if (!strncmp(t, "email:", 6) || !strncmp(t, "phone:", 6))
        return t[6] != '\0' && strlen(t + 6) <= 32;
    if (!strncmp(t, "attributes.", 11))
        return t[11] != '\0' && strlen(t + 11) <= 64;
    if (!strncmp(t, "address", 7)) {
        const char *p = t + 7;
        if (*p >= '2' && *p <= '4')
            p++;
        if (*p != '.')
            return false;
        p++;
        return in_list(address_fields, p, strlen(p));
    }
    return false;
}

static bool code_valid(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n > 32 || !(c[0] >= 'a' && c[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_'))
            return false;
    return true;
}

static void source_clear(mdm_source *s)
{
    free(s->code);
    free(s->name);
    free(s->kind);
    free(s->default_country);
    free(s->key_column);
    free(s->updated_column);
    free(s->op_column);
    json_decref(s->trust);
    json_decref(s->mapping);
    for (size_t i = 0; i < s->nfields; i++) {
        free(s->fields[i].column);
        free(s->fields[i].target);
    }
    free(s->fields);
}

void mdm_sources_free(mdm_sources *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        source_clear(&s->items[i]);
    free(s->items);
    free(s);
}

/* Optional string member; MDM_EINVAL when present but not a non-empty string. */
static mdm_status opt_string(const json_t *obj, const char *key, size_t i, char **out, mdm_err *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return MDM_OK;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        char ptr[96];
        snprintf(ptr, sizeof ptr, "/sources/%zu/%s", i, key);
        return mdm_err_set_field(err, MDM_EINVAL, ptr, "sources[%zu].%s must be a non-empty string",
                                 i, key);
    }
    *out = mdm_xstrdup(json_string_value(v));
    return MDM_OK;
}

static mdm_status parse_one(const json_t *obj, size_t i, mdm_source *s, mdm_err *err)
{
    char ptr[160];
    static const char *const known[] = {"code",  "name",       "kind", "default_country",
                                        "trust", "mapping",    "key",  "updated_at",
                                        "op",    "name_order", NULL};
    if (!json_is_object(obj)) {
        snprintf(ptr, sizeof ptr, "/sources/%zu", i);
        return mdm_err_set_field(err, MDM_EINVAL, ptr, "sources[%zu] must be an object", i);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!in_list(known, k, strlen(k))) {
            snprintf(ptr, sizeof ptr, "/sources/%zu/%s", i, k);
            return mdm_err_set_field(err, MDM_EINVAL, ptr, "unknown key sources[%zu].%s", i, k);
        }
    }
    mdm_status st;
    if ((st = opt_string(obj, "code", i, &s->code, err)) != MDM_OK)
        return st;
    if (!s->code || !code_valid(s->code)) {
        snprintf(ptr, sizeof ptr, "/sources/%zu/code", i);
        return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                 "sources[%zu].code must match ^[a-z][a-z0-9_]{0,31}$", i);
    }
    if ((st = opt_string(obj, "name", i, &s->name, err)) != MDM_OK)
        return st;
    if (!s->name)
        s->name = mdm_xstrdup(s->code);
    if ((st = opt_string(obj, "kind", i, &s->kind, err)) != MDM_OK)
        return st;
    if (!s->kind)
        s->kind = mdm_xstrdup("other");
    if (!in_list(kinds, s->kind, strlen(s->kind))) {
        snprintf(ptr, sizeof ptr, "/sources/%zu/kind", i);
        return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                 "sources[%zu].kind must be crm, loyalty, commerce, erp, pos or "
                                 "other",
                                 i);
    }
    if ((st = opt_string(obj, "default_country", i, &s->default_country, err)) != MDM_OK)
        return st;
    if (!s->default_country)
        s->default_country = mdm_xstrdup("US");
    if (strlen(s->default_country) != 2 || !isupper((unsigned char)s->default_country[0]) ||
        !isupper((unsigned char)s->default_country[1])) {
        snprintf(ptr, sizeof ptr, "/sources/%zu/default_country", i);
        return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                 "sources[%zu].default_country must be an ISO 3166-1 alpha-2 code",
                                 i);
    }
    const json_t *order = json_object_get(obj, "name_order");
    if (order && (!json_is_string(order) || (strcmp(json_string_value(order), "family_first") &&
                                             strcmp(json_string_value(order), "given_first")))) {
        snprintf(ptr, sizeof ptr, "/sources/%zu/name_order", i);
        return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                 "sources[%zu].name_order must be \"given_first\" or "
                                 "\"family_first\"",
                                 i);
    }
    s->family_first = order && !strcmp(json_string_value(order), "family_first");
    if ((st = opt_string(obj, "key", i, &s->key_column, err)) != MDM_OK ||
        (st = opt_string(obj, "updated_at", i, &s->updated_column, err)) != MDM_OK ||
        (st = opt_string(obj, "op", i, &s->op_column, err)) != MDM_OK)
        return st;

    const json_t *trust = json_object_get(obj, "trust");
    if (trust && !json_is_object(trust)) {
        snprintf(ptr, sizeof ptr, "/sources/%zu/trust", i);
        return mdm_err_set_field(err, MDM_EINVAL, ptr, "sources[%zu].trust must be an object", i);
    }
    s->trust = trust ? json_deep_copy(trust) : json_object();
    json_object_foreach(s->trust, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100) {
            snprintf(ptr, sizeof ptr, "/sources/%zu/trust/%s", i, k);
            return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                     "sources[%zu].trust.%s must be an integer 0..100", i, k);
        }
    }

    const json_t *mapping = json_object_get(obj, "mapping");
    if (mapping && !json_is_object(mapping)) {
        snprintf(ptr, sizeof ptr, "/sources/%zu/mapping", i);
        return mdm_err_set_field(err, MDM_EINVAL, ptr, "sources[%zu].mapping must be an object", i);
    }
    s->mapping = mapping ? json_deep_copy(mapping) : json_object();
    size_t n = json_object_size(s->mapping);
    s->fields = mdm_xcalloc(n ? n : 1, sizeof *s->fields);
    json_object_foreach(s->mapping, k, v)
    {
        if (!json_is_string(v) || !target_valid(json_string_value(v))) {
            snprintf(ptr, sizeof ptr, "/sources/%zu/mapping/%s", i, k);
            return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                     "sources[%zu].mapping.%s: not a canonical field path", i, k);
        }
        if (k[0] == '\0') {
            snprintf(ptr, sizeof ptr, "/sources/%zu/mapping", i);
            return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                     "sources[%zu].mapping has an empty column name", i);
        }
        s->fields[s->nfields].column = mdm_xstrdup(k);
        s->fields[s->nfields].target = mdm_xstrdup(json_string_value(v));
        s->nfields++;
    }
    return MDM_OK;
}

mdm_sources *mdm_sources_parse(const json_t *array, mdm_err *err)
{
    mdm_sources *s = mdm_xcalloc(1, sizeof *s);
    if (!array)
        return s;
    if (!json_is_array(array)) {
        mdm_err_set_field(err, MDM_EINVAL, "/sources", "sources must be an array");
        goto out_free;
    }
    size_t n = json_array_size(array);
    s->items = mdm_xcalloc(n ? n : 1, sizeof *s->items);
    for (size_t i = 0; i < n; i++) {
        mdm_source *src = &s->items[s->n++];
        if (parse_one(json_array_get(array, i), i, src, err) != MDM_OK)
            goto out_free;
        for (size_t j = 0; j + 1 < s->n; j++) {
            if (s->items[j].code && src->code && strcmp(s->items[j].code, src->code) == 0) {
                char ptr[64];
                snprintf(ptr, sizeof ptr, "/sources/%zu/code", i);
                mdm_err_set_field(err, MDM_EINVAL, ptr, "sources[%zu].code \"%s\" is a duplicate",
                                  i, src->code);
                goto out_free;
            }
        }
    }
    return s;
out_free:
    mdm_sources_free(s);
    return NULL;
}

mdm_sources *mdm_sources_load(const mdm_config *cfg, mdm_err *err)
{
    return mdm_sources_parse(mdm_config_section(cfg, "sources"), err);
}

const mdm_source *mdm_sources_find(const mdm_sources *s, const char *code)
{
    if (!s || !code)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i].code, code) == 0)
            return &s->items[i];
    return NULL;
}

int mdm_source_trust(const mdm_source *src, const char *attr)
{
    if (!src || !src->trust)
        return 50;
    const json_t *v = json_object_get(src->trust, attr);
    if (!v)
        v = json_object_get(src->trust, "*");
    return v ? (int)json_integer_value(v) : 50;
}

static const mdm_db_stmt stmt_sync = {
    "source_sync",
    "INSERT INTO source_system (code, name, kind, trust, mapping, default_country) "
    "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6) "
    "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
    "trust = EXCLUDED.trust, mapping = EXCLUDED.mapping, "
    "default_country = EXCLUDED.default_country, updated_at = now() "
    "WHERE (source_system.name, source_system.kind, source_system.trust, source_system.mapping, "
    "source_system.default_country) IS DISTINCT FROM "
    "(EXCLUDED.name, EXCLUDED.kind, EXCLUDED.trust, EXCLUDED.mapping, EXCLUDED.default_country) "
    "RETURNING (xmax = 0) AS created",
    6};

static mdm_status sync_tx(mdm_db *db, void *arg, mdm_err *err)
{
    const mdm_sources *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        const mdm_source *src = &s->items[i];
        json_t *mapping = json_deep_copy(src->mapping);
        if (src->key_column)
            json_object_set_new(mapping, "$key", json_string(src->key_column));
        if (src->updated_column)
            json_object_set_new(mapping, "$updated_at", json_string(src->updated_column));
        if (src->op_column)
            json_object_set_new(mapping, "$op", json_string(src->op_column));
        char *trust = json_dumps(src->trust, JSON_COMPACT | JSON_SORT_KEYS);
        char *map = json_dumps(mapping, JSON_COMPACT | JSON_SORT_KEYS);
        const char *p[6] = {src->code, src->name, src->kind, trust, map, src->default_country};
        PGresult *res = NULL;
        mdm_status st = mdm_db_exec(db, &stmt_sync, p, &res, err);
        if (st == MDM_OK && PQntuples(res) == 1) {
            /* the configuration changed this source system: an audit row (configuration,
             * not customer data: names, trust levels, column mapping) */
            bool created = !strcmp(mdm_db_get(res, 0, "created", "f"), "t");
            char target[128];
            snprintf(target, sizeof target, "source_system:%.100s", src->code);
            json_t *after = json_pack("{s:s,s:s?,s:s?,s:O?,s:O,s:s?}", "code", src->code, "name",
                                      src->name, "kind", src->kind, "trust", src->trust, "mapping",
                                      mapping, "default_country", src->default_country);
            st = mdm_audit_append(db, "config", "system",
                                  created ? "source.create" : "source.update", target,
                                  "configuration applied", NULL, after, err);
            json_decref(after);
        }
        PQclear(res);
        json_decref(mapping);
        free(trust);
        free(map);
        if (st != MDM_OK)
            return st;
    }
    return MDM_OK;
}

mdm_status mdm_sources_sync(mdm_db *db, const mdm_sources *s, int *nsynced, mdm_err *err)
{
    mdm_status st = mdm_db_run_tx(db, "source_sync", sync_tx, (void *)s, err);
    if (st == MDM_OK && nsynced)
        *nsynced = (int)s->n;
    return st;
}
