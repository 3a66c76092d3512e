/* Source systems from configuration, validated and synchronized into source_system. */
#include "mdm/source.h"

#include "common/mem.h"
#include "matching/record.h"
#include "mdm/audit.h"

#include <stdlib.h>
#include <string.h>

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
    mdm_source_map_clear(&s->def);
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

/* The one source-definition schema (matching/record.h) read for the service: a code is
 * required, the country defaults to the configuration's. */
static mdm_status parse_one(const json_t *obj, size_t i, const char *country, mdm_source *s,
                            mdm_err *err)
{
    mdm_source_map m;
    mdm_status st = mdm_source_map_parse(&m, (json_t *)obj, i, MDM_SOURCE_SERVICE, err);
    if (st != MDM_OK)
        return st;
    if (!m.default_country)
        m.default_country = mdm_xstrdup(country);
    s->def = m;
    s->code = mdm_xstrdup(m.code);
    s->name = mdm_xstrdup(m.name ? m.name : m.code);
    s->kind = mdm_xstrdup(m.kind ? m.kind : "other");
    s->default_country = mdm_xstrdup(m.default_country);
    s->key_column = m.key ? mdm_xstrdup(m.key) : NULL;
    s->updated_column = m.updated_at ? mdm_xstrdup(m.updated_at) : NULL;
    s->op_column = m.op ? mdm_xstrdup(m.op) : NULL;
    s->trust = m.trust ? json_deep_copy(m.trust) : json_object();
    s->family_first = m.family_first;
    s->month_first = mdm_source_month_first(&m, s->default_country);
    s->mapping = json_object();
    s->fields = mdm_xcalloc(m.ncols ? m.ncols : 1, sizeof *s->fields);
    for (size_t k = 0; k < m.ncols; k++) {
        json_object_set_new(s->mapping, m.cols[k].column, json_string(m.cols[k].field));
        s->fields[k].column = mdm_xstrdup(m.cols[k].column);
        s->fields[k].target = mdm_xstrdup(m.cols[k].field);
    }
    s->nfields = m.ncols;
    return MDM_OK;
}

static mdm_sources *sources_parse(const json_t *array, const char *country, mdm_err *err)
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
        if (parse_one(json_array_get(array, i), i, country, src, err) != MDM_OK)
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

mdm_sources *mdm_sources_parse(const json_t *array, const char *default_country, mdm_err *err)
{
    return sources_parse(array, default_country ? default_country : "US", err);
}

mdm_sources *mdm_sources_load(const mdm_config *cfg, mdm_err *err)
{
    return mdm_sources_parse(mdm_config_section(cfg, "sources"), cfg->default_country, err);
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

static const mdm_db_stmt stmt_registered = {"source_registered",
                                            "SELECT 1 FROM source_system WHERE code = $1", 1};

mdm_status mdm_source_registered(mdm_db *db, const char *code, bool *exists, mdm_err *err)
{
    const char *p[] = {code};
    PGresult *res = NULL;
    *exists = false;
    mdm_status st = mdm_db_exec(db, &stmt_registered, p, &res, err);
    if (st != MDM_OK)
        return st;
    *exists = PQntuples(res) > 0;
    PQclear(res);
    return MDM_OK;
}
