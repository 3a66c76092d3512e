/* Shared set-up of the service-core integration suites (test_ingest, test_resolve,
 * test_survive, test_concurrency, test_load): a migrated database, the demo-like source
 * configuration, and small helpers to ingest and to count rows. Header-only: each suite
 * is its own program. */
#ifndef MDM_TESTS_CORE_FIXTURE_H
#define MDM_TESTS_CORE_FIXTURE_H

#include "mdm/db.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/migrate.h"
#include "mdm/source.h"
#include "tests/test.h"

#include <stdlib.h>

static __attribute__((unused)) const char *fx_url;
static mdm_engine *fx_ctx;

/* Sources: crm in its own layout, web canonical; trust favours web for emails and crm
 * for names. */
static const char *const fx_config =
    "{\"sources\": ["
    " {\"code\": \"crm\", \"kind\": \"crm\", \"trust\": {\"*\": 70, \"email\": 40},"
    "  \"key\": \"Id\", \"updated_at\": \"Modified\", \"op\": \"Action\","
    "  \"mapping\": {\"First\": \"first_name\", \"Last\": \"last_name\", \"Mail\": \"email\","
    "   \"Tel\": \"phone:mobile\", \"Street\": \"address.line1\", \"Zip\": \"address.postal_code\","
    "   \"City\": \"address.city\", \"Born\": \"birth_date\", \"Card\": \"loyalty_id\","
    "   \"Tier\": \"attributes.tier\"}},"
    " {\"code\": \"web\", \"kind\": \"commerce\", \"trust\": {\"*\": 50, \"email\": 90}},"
    " {\"code\": \"pos\", \"kind\": \"pos\", \"trust\": {\"*\": 30}}"
    "],"
    " \"survivorship\": {\"attributes\": {\"segment\": \"longest\", \"gender\": "
    "\"most_frequent\"}}}";

static mdm_db *fx_connect(void)
{
    mdm_err err;
    mdm_db *db = mdm_db_connect(fx_url, &err);
    if (!db) {
        fprintf(stderr, "connect: %s\n", err.msg);
        exit(1);
    }
    return db;
}

/* Migrates, builds the context and synchronizes the sources; exits on failure. */
static __attribute__((unused)) void fx_setup(const char *config)
{
    fx_url = getenv("MDM_DATABASE_URL");
    const char *sql_dir = getenv("MDM_SQL_DIR");
    if (!fx_url || !sql_dir) {
        fprintf(stderr, "MDM_DATABASE_URL and MDM_SQL_DIR must be set\n");
        exit(1);
    }
    mdm_err err;
    json_error_t je;
    json_t *cfg = json_loads(config ? config : fx_config, 0, &je);
    if (!cfg) {
        fprintf(stderr, "fixture config: %s\n", je.text);
        exit(1);
    }
    fx_ctx = mdm_engine_new_json(json_object_get(cfg, "sources"), json_object_get(cfg, "resolve"),
                                 json_object_get(cfg, "survivorship"),
                                 json_object_get(cfg, "model"), "US", &err);
    json_decref(cfg);
    if (!fx_ctx) {
        fprintf(stderr, "context: %s (%s)\n", err.msg, err.field);
        exit(1);
    }
    mdm_db *db = fx_connect();
    if (mdm_migrate_run(db, sql_dir, false, NULL, NULL, &err) != MDM_OK ||
        mdm_sources_sync(db, mdm_engine_sources(fx_ctx), NULL, &err) != MDM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        exit(1);
    }
    mdm_db_close(db);
}

static __attribute__((unused)) void fx_teardown(void)
{
    mdm_engine_free(fx_ctx);
}

/* Ingests a JSON text; the result is returned (errors freed unless keep). */
static __attribute__((unused)) mdm_ingest_result fx_ingest(mdm_db *db, const char *source,
                                                           const char *json)
{
    mdm_ingest_result r = {0};
    json_error_t je;
    json_t *rec = json_loads(json, 0, &je);
    if (!rec) {
        fprintf(stderr, "bad test JSON: %s: %s\n", je.text, json);
        r.decision = (mdm_decision)-1;
        return r;
    }
    mdm_err err = {0};
    if (mdm_ingest(db, fx_ctx, source, rec, "test", &r, &err) != MDM_OK) {
        fprintf(stderr, "ingest failed: %s\n", err.msg);
        r.decision = (mdm_decision)-1;
    }
    json_decref(rec);
    return r;
}

/* Ingests a JSON text into source and stops the suite unless the resolver decided want:
 * a fixture built on the pipeline's decisions says so when they change. */
static __attribute__((unused)) mdm_ingest_result fx_put(mdm_db *db, const char *source,
                                                        const char *json, mdm_decision want)
{
    mdm_ingest_result r = fx_ingest(db, source, json);
    if (r.decision != want) {
        fprintf(stderr, "fixture %s: decision %s, want %s\n", json,
                (int)r.decision < 0 ? "failed" : mdm_decision_name(r.decision),
                mdm_decision_name(want));
        exit(1);
    }
    mdm_ingest_result_clear(&r);
    return r;
}

/* First column of the first row of a parameterless query, as a number (-1 on error). */
static __attribute__((unused)) long long fx_scalar(mdm_db *db, const char *sql)
{
    PGresult *res = NULL;
    mdm_err err;
    if (mdm_db_exec_params(db, sql, 0, NULL, &res, &err) != MDM_OK) {
        fprintf(stderr, "query failed: %s: %s\n", sql, err.msg);
        return -1;
    }
    long long v = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return v;
}

/* Text of the first column of the first row (static buffer); params may be NULL. */
static __attribute__((unused)) const char *fx_text_p(mdm_db *db, const char *sql, int n,
                                                     const char *const *params)
{
    static char buf[4096];
    PGresult *res = NULL;
    mdm_err err;
    buf[0] = '\0';
    if (mdm_db_exec_params(db, sql, n, params, &res, &err) != MDM_OK) {
        fprintf(stderr, "query failed: %s: %s\n", sql, err.msg);
        return "";
    }
    if (PQntuples(res) && !PQgetisnull(res, 0, 0))
        snprintf(buf, sizeof buf, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return buf;
}

static __attribute__((unused)) const char *fx_text(mdm_db *db, const char *sql)
{
    return fx_text_p(db, sql, 0, NULL);
}

/* Golden value of attr (text of entity.golden->>attr) of entity id. */
static __attribute__((unused)) const char *fx_golden(mdm_db *db, long long id, const char *attr)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *p[2] = {ids, attr};
    return fx_text_p(db, "SELECT golden->>$2 FROM entity WHERE id = $1::bigint", 2, p);
}

/* Number of rows of `sql` with one bigint parameter. */
static __attribute__((unused)) long long fx_count1(mdm_db *db, const char *sql, long long v)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", v);
    const char *p[1] = {s};
    const char *t = fx_text_p(db, sql, 1, p);
    return *t ? strtoll(t, NULL, 10) : -1;
}

#endif
