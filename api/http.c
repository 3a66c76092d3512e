/* The HTTP server: route table, routing, request pipeline, accessors, replies,
 * per-thread database connections and the server's lifecycle (graceful shutdown). Its
 * metrics are api/http_metrics.c, long polls api/http_wait.c (structs shared through
 * api/http_int.h).
 *
 * Invariants:
 * - every request gets exactly one reply, queued by on_request() from req->resp; the
 *   helpers only build it; a handler that forgets to reply answers 500;
 * - an mdm_http_req lives from the first access-handler call to the request-completed
 *   callback, which frees its arena, body and JSON (so handlers never free them);
 * - a worker thread's PGconn is used only by that thread (thread-local), and every
 *   connection ever opened is in srv->dbs so mdm_http_stop() can close them after the
 *   daemon's threads have ended. */
#include "api/http.h"

#include "api/handlers.h"
#include "api/http_int.h"
#include "common/io.h"
#include "common/log.h"
#include "mdm/consent.h"
#include "mdm/source.h"
#include "mdm/trace.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The route table ----------------------------------------------------------------------- */

#define ROUTE(method, pattern, roles, fn, max_body, flags)                                         \
    {                                                                                              \
        method, pattern, roles, fn, max_body, flags, fn##_doc                                      \
    }

const mdm_http_route mdm_http_routes[] = {
    /* operations */
    ROUTE("GET", "/healthz", MDM_ROLES_PUBLIC, mdm_h_healthz, 0, MDM_HTTP_NO_DB),
    ROUTE("GET", "/readyz", MDM_ROLES_PUBLIC, mdm_h_readyz, 0, MDM_HTTP_NO_DB),
    ROUTE("GET", "/metrics", MDM_ROLES_PUBLIC, mdm_h_metrics, 0, MDM_HTTP_NO_DB),
    ROUTE("GET", "/v1/openapi.json", MDM_ROLES_PUBLIC, mdm_h_openapi, 0, MDM_HTTP_NO_DB),
    /* source records */
    ROUTE("POST", "/v1/sources/{source}/records", MDM_ROLES_SOURCE_WRITE, mdm_h_record_upsert,
          MDM_HTTP_BODY_JSON, MDM_HTTP_OWN_SOURCE),
    ROUTE("POST", "/v1/sources/{source}/records:batch", MDM_ROLES_SOURCE_WRITE, mdm_h_record_batch,
          MDM_HTTP_BODY_BATCH, MDM_HTTP_OWN_SOURCE | MDM_HTTP_NDJSON),
    ROUTE("GET", "/v1/sources/{source}/records/{key}", MDM_ROLES_SOURCE_READ, mdm_h_record_get, 0,
          MDM_HTTP_OWN_SOURCE),
    ROUTE("DELETE", "/v1/sources/{source}/records/{key}", MDM_ROLES_SOURCE_WRITE,
          mdm_h_record_delete, 0, MDM_HTTP_OWN_SOURCE),
    /* golden records */
    ROUTE("GET", "/v1/entities", MDM_ROLES_READ, mdm_h_entity_search, 0, 0),
    ROUTE("GET", "/v1/entities/{id}", MDM_ROLES_READ, mdm_h_entity_get, 0, 0),
    ROUTE("GET", "/v1/entities/{id}/history", MDM_ROLES_READ, mdm_h_entity_history, 0, 0),
    ROUTE("POST", "/v1/match", MDM_ROLES_READ, mdm_h_match, MDM_HTTP_BODY_JSON, 0),
    ROUTE("GET", "/v1/quality", MDM_ROLES_READ, mdm_h_quality, 0, 0),
    /* households (api/h_households.c) */
    ROUTE("GET", "/v1/households", MDM_ROLES_READ, mdm_h_household_search, 0, 0),
    ROUTE("GET", "/v1/households/{id}", MDM_ROLES_READ, mdm_h_household_get, 0, 0),
    ROUTE("GET", "/v1/entities/{id}/household", MDM_ROLES_READ, mdm_h_entity_household, 0, 0),
    ROUTE("POST", "/v1/households/{id}/members", MDM_ROLE_STEWARD, mdm_h_household_move,
          MDM_HTTP_BODY_JSON, 0),
    ROUTE("POST", "/v1/households/{id}/split", MDM_ROLE_STEWARD, mdm_h_household_split,
          MDM_HTTP_BODY_JSON, 0),
    ROUTE("GET", "/v1/entities/{id}/related", MDM_ROLES_READ, mdm_h_entity_related, 0, 0),
    ROUTE("POST", "/v1/relationships", MDM_ROLE_STEWARD, mdm_h_entity_relate, MDM_HTTP_BODY_JSON,
          0),
    ROUTE("DELETE", "/v1/relationships/{id}/{other}", MDM_ROLE_STEWARD, mdm_h_entity_unrelate, 0,
          0),
    /* change feed */
    ROUTE("GET", "/v1/changes", MDM_ROLES_READ, mdm_h_changes, 0, 0),
    /* consent and compliance (api/h_consent.c, api/h_subjects.c) */
    ROUTE("POST", "/v1/consent-events", MDM_ROLES_SOURCE_WRITE, mdm_h_consent_events,
          MDM_HTTP_BODY_JSON, 0),
    ROUTE("GET", "/v1/entities/{id}/consent", MDM_ROLES_READ, mdm_h_entity_consent, 0, 0),
    ROUTE("GET", "/v1/entities/{id}/propagation", MDM_ROLES_READ, mdm_h_entity_propagation, 0, 0),
    ROUTE("GET", "/v1/consent/audit", MDM_ROLES_COMPLIANCE, mdm_h_consent_audit, 0, 0),
    ROUTE("GET", "/v1/subjects/{id}/export", MDM_ROLES_COMPLIANCE, mdm_h_subject_export, 0, 0),
    ROUTE("POST", "/v1/subjects/{id}/erase", MDM_ROLES_COMPLIANCE, mdm_h_subject_erase,
          MDM_HTTP_BODY_JSON, MDM_HTTP_IF_MATCH),
    /* stewardship (api/h_steward.c) */
    ROUTE("GET", "/v1/review", MDM_ROLE_STEWARD, mdm_h_review_list, 0, 0),
    ROUTE("POST", "/v1/review/decisions", MDM_ROLE_STEWARD, mdm_h_review_bulk, MDM_HTTP_BODY_JSON,
          0),
    ROUTE("GET", "/v1/review/{id}", MDM_ROLE_STEWARD, mdm_h_review_get, 0, 0),
    ROUTE("POST", "/v1/review/{id}/claim", MDM_ROLE_STEWARD, mdm_h_review_claim, MDM_HTTP_BODY_JSON,
          0),
    ROUTE("POST", "/v1/review/{id}/decision", MDM_ROLE_STEWARD, mdm_h_review_decide,
          MDM_HTTP_BODY_JSON, 0),
    ROUTE("POST", "/v1/review/{id}/reopen", MDM_ROLE_STEWARD, mdm_h_review_reopen,
          MDM_HTTP_BODY_JSON, 0),
    ROUTE("POST", "/v1/entities/{id}/merge", MDM_ROLE_STEWARD, mdm_h_entity_merge,
          MDM_HTTP_BODY_JSON, MDM_HTTP_IF_MATCH),
    ROUTE("GET", "/v1/entities/{id}/merge-preview", MDM_ROLE_STEWARD, mdm_h_entity_merge_preview, 0,
          0),
    ROUTE("POST", "/v1/entities/{id}/split", MDM_ROLE_STEWARD, mdm_h_entity_split,
          MDM_HTTP_BODY_JSON, MDM_HTTP_IF_MATCH),
    ROUTE("POST", "/v1/entities/{id}/unmerge", MDM_ROLE_STEWARD, mdm_h_entity_unmerge,
          MDM_HTTP_BODY_JSON, MDM_HTTP_IF_MATCH),
    ROUTE("POST", "/v1/entities/{id}/unsplit", MDM_ROLE_STEWARD, mdm_h_entity_unsplit,
          MDM_HTTP_BODY_JSON, MDM_HTTP_IF_MATCH),
    ROUTE("PUT", "/v1/entities/{id}/pins/{attr}", MDM_ROLE_STEWARD, mdm_h_entity_pin,
          MDM_HTTP_BODY_JSON, MDM_HTTP_IF_MATCH),
    ROUTE("DELETE", "/v1/entities/{id}/pins/{attr}", MDM_ROLE_STEWARD, mdm_h_entity_unpin, 0,
          MDM_HTTP_IF_MATCH),
    ROUTE("POST", "/v1/assertions", MDM_ROLE_STEWARD, mdm_h_assertion, MDM_HTTP_BODY_JSON, 0),
    ROUTE("GET", "/v1/assertions", MDM_ROLE_STEWARD, mdm_h_assertion_list, 0, 0),
    ROUTE("DELETE", "/v1/assertions/{id}", MDM_ROLE_STEWARD, mdm_h_assertion_delete, 0, 0),
    ROUTE("GET", "/v1/explain", MDM_ROLE_STEWARD, mdm_h_explain, 0, 0),
    ROUTE("GET", "/v1/audit", MDM_ROLES_COMPLIANCE, mdm_h_audit, 0, 0),
    ROUTE("GET", "/v1/rejects", MDM_ROLE_STEWARD, mdm_h_rejects, 0, 0),
    /* steward UI files (api/h_ui.c) */
    ROUTE("GET", "/ui", MDM_ROLES_PUBLIC, mdm_h_ui, 0, MDM_HTTP_NO_DB),
    ROUTE("GET", "/ui/", MDM_ROLES_PUBLIC, mdm_h_ui, 0, MDM_HTTP_NO_DB),
    ROUTE("GET", "/ui/{file}", MDM_ROLES_PUBLIC, mdm_h_ui, 0, MDM_HTTP_NO_DB),
    /* push delivery management */
    ROUTE("GET", "/v1/subscriptions", MDM_ROLE_ADMIN, mdm_h_sub_list, 0, 0),
    ROUTE("POST", "/v1/subscriptions", MDM_ROLE_ADMIN, mdm_h_sub_create, MDM_HTTP_BODY_JSON, 0),
    ROUTE("GET", "/v1/subscriptions/{id}", MDM_ROLE_ADMIN, mdm_h_sub_get, 0, 0),
    ROUTE("PUT", "/v1/subscriptions/{id}", MDM_ROLE_ADMIN, mdm_h_sub_update, MDM_HTTP_BODY_JSON, 0),
    ROUTE("DELETE", "/v1/subscriptions/{id}", MDM_ROLE_ADMIN, mdm_h_sub_delete, 0, 0),
    ROUTE("GET", "/v1/deliveries", MDM_ROLE_ADMIN, mdm_h_deliveries, 0, 0),
    ROUTE("POST", "/v1/deliveries/replay", MDM_ROLE_ADMIN, mdm_h_deliveries_replay,
          MDM_HTTP_BODY_JSON, 0),
};
const size_t mdm_http_nroutes = sizeof mdm_http_routes / sizeof mdm_http_routes[0];

/* Configuration ------------------------------------------------------------------------- */

typedef struct limit_key {
    const char *name;
    double min, max;
    size_t offset;
    char kind; /* 'z' size_t, 'i' int, 'd' double */
} limit_key;

static const limit_key limit_keys[] = {
    {"max_body_bytes", 1, 1 << 30, offsetof(mdm_http_limits, max_body_bytes), 'z'},
    {"max_batch_bytes", 1, 1 << 30, offsetof(mdm_http_limits, max_batch_bytes), 'z'},
    {"max_batch_lines", 1, 1000000, offsetof(mdm_http_limits, max_batch_lines), 'i'},
    {"connection_timeout", 1, 3600, offsetof(mdm_http_limits, connection_timeout), 'i'},
    {"max_connections", 1, 100000, offsetof(mdm_http_limits, max_connections), 'i'},
    {"auth_cache_seconds", 0, 3600, offsetof(mdm_http_limits, auth_cache_seconds), 'd'},
    {"burst_seconds", 0.001, 3600, offsetof(mdm_http_limits, burst_seconds), 'd'},
    {"max_wait_seconds", 0, 300, offsetof(mdm_http_limits, max_wait_seconds), 'i'},
    {"max_page_size", 1, 100000, offsetof(mdm_http_limits, max_page_size), 'i'},
    {"shutdown_timeout", 0, 3600, offsetof(mdm_http_limits, shutdown_timeout), 'i'},
    {"request_timeout", 1, 3600, offsetof(mdm_http_limits, request_timeout), 'i'},
    {"max_connections_per_ip", 0, 100000, offsetof(mdm_http_limits, max_connections_per_ip), 'i'},
    {"max_header_bytes", 4096, 1 << 24, offsetof(mdm_http_limits, max_header_bytes), 'z'},
    {"quality_metrics_seconds", 0, 86400, offsetof(mdm_http_limits, quality_metrics_seconds), 'i'},
};

mdm_status mdm_http_limits_load(const mdm_config *cfg, mdm_http_limits *out, mdm_err *err)
{
    *out = (mdm_http_limits){
        .max_body_bytes = 1 << 20,
        .max_batch_bytes = 16 << 20,
        .max_batch_lines = 10000,
        .connection_timeout = 30,
        .max_connections = 1024,
        .auth_cache_seconds = 10,
        .burst_seconds = 1,
        .max_wait_seconds = 30,
        .max_page_size = 1000,
        .shutdown_timeout = 30,
        .request_timeout = 60,
        .max_connections_per_ip = -1, /* unset: derived from max_connections below */
        .max_header_bytes = 32768,
        .quality_metrics_seconds = 300,
    };
    enum { NLIMITS = sizeof limit_keys / sizeof limit_keys[0] };
    const char *known[NLIMITS + 3] = {"tls_cert", "tls_key"};
    for (size_t i = 0; i < NLIMITS; i++)
        known[i + 2] = limit_keys[i].name;
    mdm_jin in;
    if (!mdm_jin_open(&in, mdm_config_section(cfg, "http"), "http", MDM_EINVAL, err) ||
        !mdm_jin_known(&in, known) || !mdm_jin_string(&in, "tls_cert", 0, &out->tls_cert) ||
        !mdm_jin_string(&in, "tls_key", 0, &out->tls_key))
        return MDM_EINVAL;
    if (out->tls_cert && !*out->tls_cert)
        return mdm_jin_fail(&in, "tls_cert", "the path of a PEM file");
    if (out->tls_key && !*out->tls_key)
        return mdm_jin_fail(&in, "tls_key", "the path of a PEM file");
    for (size_t i = 0; i < NLIMITS; i++) {
        const limit_key *lk = &limit_keys[i];
        char *slot = (char *)out + lk->offset;
        if (lk->kind == 'd') {
            if (!mdm_jin_number(&in, lk->name, lk->min, lk->max, (double *)(void *)slot))
                return MDM_EINVAL;
            continue;
        }
        long long n = lk->kind == 'z' ? (long long)*(size_t *)(void *)slot : *(int *)(void *)slot;
        if (!mdm_jin_int(&in, lk->name, (long long)lk->min, (long long)lk->max, &n))
            return MDM_EINVAL;
        if (lk->kind == 'z')
            *(size_t *)(void *)slot = (size_t)n;
        else
            *(int *)(void *)slot = (int)n;
    }
    /* One address may hold at most a part of the connections, so one client holding
     * idle connections leaves room for the others (health checks, other systems):
     * 64 by default, and never more than half of max_connections. */
    if (out->max_connections_per_ip < 0) {
        out->max_connections_per_ip = out->max_connections / 2 < 64 ? out->max_connections / 2 : 64;
        if (out->max_connections_per_ip < 1)
            out->max_connections_per_ip = 1;
    } else if (out->max_connections_per_ip >= out->max_connections) {
        return mdm_jin_fail(&in, "max_connections_per_ip",
                            "below http.max_connections (%d), or 0 for no per-address limit",
                            out->max_connections);
    }
    if (!out->tls_cert != !out->tls_key)
        return mdm_jin_fail(&in, out->tls_cert ? "tls_key" : "tls_cert",
                            "given with http.%s (HTTPS needs both)",
                            out->tls_cert ? "tls_cert" : "tls_key");
    return MDM_OK;
}

/* Routing ------------------------------------------------------------------------------- */

/* Matches one pattern against a path; fills params (pointing into segs). */
static bool pattern_match(const char *pattern, char **segs, int nsegs, const char **names,
                          const char **values, int *nparams)
{
    int np = 0, i = 0;
    const char *p = pattern;
    while (*p) {
        if (*p != '/')
            return false;
        p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= nsegs)
            return false;
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            if (!segs[i][0] || np >= 8)
                return false;
            names[np] = p + 1; /* NUL-less: compared with namelen in mdm_http_param */
            values[np] = segs[i];
            np++;
        } else if (strlen(segs[i]) != len || strncmp(segs[i], p, len) != 0) {
            return false;
        }
        i++;
        p += len;
    }
    if (i != nsegs)
        return false;
    *nparams = np;
    return true;
}

const mdm_http_route *mdm_http_match(const char *method, char *path_copy, const char **names,
                                     const char **values, int *nparams, bool *path_known)
{
    char *segs[32];
    int nsegs = 0;
    *path_known = false;
    *nparams = 0;
    if (path_copy[0] != '/')
        return NULL;
    char *s = path_copy + 1;
    /* "/" has no segments; "/a/b" has two; a trailing slash is an empty segment. The
     * path is split on its literal slashes first, then each segment is unescaped, so
     * that %2F is a slash inside a segment (a source key "a/b"), not a separator. */
    if (path_copy[1]) {
        for (;;) {
            if (nsegs == 32)
                return NULL;
            segs[nsegs++] = s;
            char *slash = strchr(s, '/');
            if (slash)
                *slash = '\0';
            MHD_http_unescape(s);
            if (!slash)
                break;
            s = slash + 1;
        }
    }
    /* HEAD is GET without the body (libmicrohttpd leaves the body out) */
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    const mdm_http_route *found = NULL;
    for (size_t r = 0; r < mdm_http_nroutes; r++) {
        const mdm_http_route *rt = &mdm_http_routes[r];
        const char *n[8], *v[8];
        int np = 0;
        if (!pattern_match(rt->pattern, segs, nsegs, n, v, &np))
            continue;
        if (strcmp(rt->method, method) == 0) {
            if (!found) {
                found = rt;
                memcpy(names, n, sizeof n);
                memcpy(values, v, sizeof v);
                *nparams = np;
            }
        } else {
            *path_known = true;
        }
    }
    if (found)
        *path_known = true;
    return found;
}

bool mdm_http_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        int n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + (size_t)n >= len)
            return false;
        for (int k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += (size_t)n + 1;
    }
    return true;
}

static _Thread_local mdm_db *tl_db;
static _Thread_local mdm_http_server *tl_db_srv;
static _Thread_local double tl_db_failed_at = -10;

double mdm_http_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The worker thread's connection, (re)connected as needed; NULL while the database is
 * unreachable (one attempt per second per thread at most). */
static mdm_db *thread_db(mdm_http_server *srv)
{
    double now = mdm_http_now();
    if (tl_db && tl_db_srv == srv) {
        if (mdm_db_alive(tl_db))
            return tl_db;
        if (now - tl_db_failed_at < 1.0)
            return NULL;
        if (mdm_db_ok(tl_db)) {
            atomic_fetch_add(&srv->db_connects, 1);
            mdm_log(MDM_LOG_INFO, "event=db_reconnected");
            return tl_db;
        }
        tl_db_failed_at = now;
        atomic_fetch_add(&srv->db_connect_failures, 1);
        return NULL;
    }
    if (now - tl_db_failed_at < 1.0)
        return NULL;
    mdm_err err = {0};
    mdm_db *db = mdm_db_connect(srv->cfg->database_url, &err);
    if (!db) {
        tl_db_failed_at = now;
        atomic_fetch_add(&srv->db_connect_failures, 1);
        mdm_log(MDM_LOG_WARN, "event=db_connect_failed msg=\"%s\"", err.msg);
        return NULL;
    }
    atomic_fetch_add(&srv->db_connects, 1);
    pthread_mutex_lock(&srv->dbs_lock);
    if (srv->ndbs == srv->capdbs) {
        srv->capdbs = srv->capdbs ? srv->capdbs * 2 : 8;
        srv->dbs = mdm_xrealloc(srv->dbs, srv->capdbs * sizeof(mdm_db *));
    }
    srv->dbs[srv->ndbs++] = db;
    pthread_mutex_unlock(&srv->dbs_lock);
    tl_db = db;
    tl_db_srv = srv;
    return db;
}

/* Accessors ----------------------------------------------------------------------------- */

mdm_arena *mdm_http_arena(mdm_http_req *req)
{
    return req->arena;
}

mdm_db *mdm_http_db(mdm_http_req *req)
{
    if (!req->db)
        req->db = thread_db(req->srv);
    return req->db;
}

const mdm_config *mdm_http_config(mdm_http_req *req)
{
    return req->srv->cfg;
}

const mdm_http_limits *mdm_http_limits_of(mdm_http_req *req)
{
    return &req->srv->limits;
}

const mdm_engine *mdm_http_ingest_ctx(mdm_http_req *req)
{
    return req->srv->ingest;
}

const char *mdm_http_actor(mdm_http_req *req)
{
    if (!req->has_key)
        return "api:anonymous";
    const char *who = req->key.name[0] ? req->key.name : req->key.prefix;
    size_t n = strlen(who) + 5;
    char *a = mdm_arena_alloc(req->arena, n);
    snprintf(a, n, "api:%s", who);
    return a;
}

const char *mdm_http_role(mdm_http_req *req)
{
    const char *r = req->has_key ? mdm_auth_role_name(req->key.role) : NULL;
    return r ? r : "system";
}

bool mdm_http_param_id(mdm_http_req *req, const char *name, const char *what, int64_t *out)
{
    const char *v = mdm_http_param(req, name);
    char *end = NULL;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || n <= 0 || v[0] == '+' || v[0] == ' ') {
        mdm_err e;
        mdm_err_set(&e, MDM_ENOTFOUND, "no %s with id \"%s\"", what, v ? v : "");
        mdm_http_reply_problem(req, &e);
        return false;
    }
    *out = n;
    return true;
}

const char *mdm_http_method(mdm_http_req *req)
{
    return req->method;
}

const mdm_http_route *mdm_http_route_of(mdm_http_req *req)
{
    return req->route;
}

const char *mdm_http_request_id(mdm_http_req *req)
{
    return req->rid;
}

const char *mdm_http_param(mdm_http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nparams; i++)
        if (strncmp(req->pnames[i], name, n) == 0 && req->pnames[i][n] == '}')
            return req->pvalues[i];
    return NULL;
}

const char *mdm_http_query(mdm_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *mdm_http_header(mdm_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const mdm_auth_key *mdm_http_key(mdm_http_req *req)
{
    return req->has_key ? &req->key : NULL;
}

json_t *mdm_http_json(mdm_http_req *req)
{
    return req->json;
}

bool mdm_http_body_reader(mdm_http_req *req, mdm_jin *in, mdm_err *err)
{
    if (!mdm_jin_open(in, req->json, "", MDM_EUNPROCESSABLE, err))
        return false;
    if (!in->obj) {
        mdm_jin_fail(in, NULL, "a JSON object");
        return false;
    }
    return true;
}

const char *mdm_http_body(mdm_http_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

bool mdm_http_shutting_down(mdm_http_req *req)
{
    return atomic_load(&req->srv->shutting_down);
}

double mdm_http_started(mdm_http_req *req)
{
    return req->t0;
}

/* Replies ------------------------------------------------------------------------------- */

void mdm_http_set_header(mdm_http_req *req, const char *name, const char *value)
{
    mdm_http_header_line *h = mdm_arena_alloc(req->arena, sizeof *h);
    h->name = mdm_arena_strdup(req->arena, name);
    h->value = mdm_arena_strdup(req->arena, value);
    h->next = req->headers;
    req->headers = h;
}

/* The reply's ETag (set by the handler), or NULL. */
static const char *reply_etag(const mdm_http_req *req)
{
    for (const mdm_http_header_line *h = req->headers; h; h = h->next)
        if (strcasecmp(h->name, "ETag") == 0)
            return h->value;
    return NULL;
}

/* If-None-Match names etag: "*", or a list holding it, weak or strong (RFC 9110 13.1.2
 * compares weakly: W/"3" matches "3"). */
static bool none_match(const char *inm, const char *etag)
{
    const char *tag = strncmp(etag, "W/", 2) == 0 ? etag + 2 : etag;
    size_t n = strlen(tag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, tag, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

void mdm_http_reply_raw(mdm_http_req *req, int status, const char *content_type, char *body,
                        size_t len)
{
    if (req->replied) {
        free(body);
        return;
    }
    /* conditional GET: a client holding the current representation gets 304, no body */
    const char *etag = reply_etag(req), *inm = mdm_http_header(req, "If-None-Match");
    if (status == MHD_HTTP_OK && etag && inm &&
        (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) &&
        none_match(inm, etag)) {
        free(body);
        body = NULL;
        len = 0;
        status = MHD_HTTP_NOT_MODIFIED;
        content_type = NULL;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        mdm_log(MDM_LOG_ERROR, "event=http_response_failed rid=%s", req->rid);
        return; /* on_request answers with 500 */
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (mdm_http_header_line *h = req->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    req->resp = resp;
    req->resp_len = len;
    req->status = status;
    req->replied = true;
}

void mdm_http_reply_stream(mdm_http_req *req, int status, const char *content_type,
                           mdm_http_stream_fn read, void *ctx, void (*free_fn)(void *ctx))
{
    if (req->replied) {
        if (free_fn)
            free_fn(ctx);
        return;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read, ctx, free_fn);
    if (!resp) {
        if (free_fn)
            free_fn(ctx);
        mdm_log(MDM_LOG_ERROR, "event=http_response_failed rid=%s", req->rid);
        return; /* on_request answers with 500 */
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (mdm_http_header_line *h = req->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    req->resp = resp;
    req->resp_len = 0;
    req->status = status;
    req->replied = true;
}

void mdm_http_reply_json(mdm_http_req *req, int status, json_t *body)
{
    char *text = NULL;
    size_t len = 0;
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(body);
        if (!text) {
            mdm_err e;
            mdm_err_set(&e, MDM_EINTERNAL, "cannot serialize the response");
            mdm_http_reply_problem(req, &e);
            return;
        }
        len = strlen(text);
    }
    mdm_http_reply_raw(req, status, "application/json", text, len);
}

void mdm_http_reply_problem_fields(mdm_http_req *req, const mdm_err *err, json_t *errors)
{
    mdm_status code = err ? err->code : MDM_EINTERNAL;
    if (code == MDM_OK)
        code = MDM_EINTERNAL;
    int status = mdm_status_http(code);
    const char *msg = err && err->msg[0] ? err->msg : mdm_status_title(code);
    json_t *p = json_object();
    char type[96];
    snprintf(type, sizeof type, "urn:mdm:problem:%s", mdm_status_name(code));
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(mdm_status_title(code)));
    json_object_set_new(p, "status", json_integer(status));
    char *detail;
    if (err && err->sqlstate[0]) {
        /* PostgreSQL's text names tables and quotes input: it goes to the log, the client
         * gets the request id to quote */
        mdm_log(MDM_LOG_ERROR, "event=http_db_error rid=%s status=%d sqlstate=%s", req->rid, status,
                err->sqlstate);
        mdm_log(MDM_LOG_DEBUG, "event=http_db_error rid=%s msg=\"%s\" detail=\"%s\"", req->rid,
                err->msg, err->detail);
        detail = mdm_xasprintf("the database refused the request; quote request id %s to the "
                               "operator",
                               req->rid);
    } else {
        detail =
            err && err->detail[0] ? mdm_xasprintf("%s: %s", msg, err->detail) : mdm_xstrdup(msg);
    }
    /* messages may quote input: keep the document valid JSON whatever the bytes */
    json_t *d = json_string(detail);
    if (!d)
        d = json_string("(detail is not valid UTF-8)");
    json_object_set_new(p, "detail", d);
    json_object_set_new(p, "code", json_string(mdm_status_name(code)));
    json_object_set_new(p, "request_id", json_string(req->rid));
    if (!errors && err && err->field[0] && !err->sqlstate[0]) {
        errors = json_array();
        json_t *m = json_string(msg);
        json_array_append_new(errors, json_pack("{s:s, s:o}", "pointer", err->field, "detail",
                                                m ? m : json_string("invalid value")));
    }
    if (errors)
        json_object_set_new(p, "errors", errors);
    if (status >= 500 && !(err && err->sqlstate[0]))
        mdm_log(MDM_LOG_ERROR, "event=http_error rid=%s status=%d code=%s msg=\"%s\"", req->rid,
                status, mdm_status_name(code), detail);
    free(detail);
    if (status == 401)
        mdm_http_set_header(req, "WWW-Authenticate", "Bearer");
    if (status == 503)
        mdm_http_set_header(req, "Retry-After", "1");
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    mdm_http_reply_raw(req, status, "application/problem+json", text, text ? strlen(text) : 0);
}

void mdm_http_reply_problem(mdm_http_req *req, const mdm_err *err)
{
    mdm_http_reply_problem_fields(req, err, NULL);
}

bool mdm_http_query_int(mdm_http_req *req, const char *name, long long def, long long min,
                        long long max, long long *out)
{
    const char *v = mdm_http_query(req, name);
    *out = def;
    if (!v)
        return true;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        mdm_err e;
        char ptr[96];
        snprintf(ptr, sizeof ptr, "/query/%s", name);
        mdm_err_set_field(&e, MDM_EINVAL, ptr,
                          "query argument %s must be an integer from %lld to %lld", name, min, max);
        mdm_http_reply_problem(req, &e);
        return false;
    }
    *out = n;
    return true;
}

bool mdm_http_query_time(mdm_http_req *req, const char *name)
{
    const char *v = mdm_http_query(req, name);
    int64_t us;
    if (!v || mdm_consent_parse_time(v, &us, NULL))
        return true;
    mdm_err e;
    char ptr[96];
    snprintf(ptr, sizeof ptr, "/query/%s", name);
    mdm_err_set_field(&e, MDM_EINVAL, ptr,
                      "must be an ISO 8601 time such as 2026-01-01 or 2026-01-01T00:00:00Z");
    mdm_http_reply_problem(req, &e);
    return false;
}

bool mdm_http_if_match(mdm_http_req *req, int *version, bool *bad)
{
    *bad = false;
    const char *h = mdm_http_header(req, MHD_HTTP_HEADER_IF_MATCH);
    if (!h)
        return false;
    const char *p = h;
    if (strcmp(p, "*") == 0) {
        *version = 0;
        return true;
    }
    if (strncmp(p, "W/", 2) == 0)
        p += 2;
    bool quoted = *p == '"';
    if (quoted)
        p++;
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || v < 1 || v > 2147483647L || (quoted && *end++ != '"') || *end) {
        mdm_err e;
        mdm_err_set_field(&e, MDM_EINVAL, "/headers/If-Match",
                          "If-Match must be the entity version as an ETag, such as \"3\", or *");
        mdm_http_reply_problem(req, &e);
        *bad = true;
        return false;
    }
    *version = (int)v;
    return true;
}

/* The request pipeline ------------------------------------------------------------------ */

static void fail(mdm_http_req *req, mdm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(mdm_http_req *req, mdm_status code, const char *fmt, ...)
{
    mdm_err e = {0};
    e.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    mdm_http_reply_problem(req, &e);
}

static bool valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return n >= 1 && n <= 64;
}

typedef struct arg_check {
    const char *bad;
} arg_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    arg_check *ac = cls;
    if (!mdm_http_utf8_valid(key, strlen(key)) ||
        (value && !mdm_http_utf8_valid(value, strlen(value)))) {
        ac->bad = key;
        return MHD_NO;
    }
    return MHD_YES;
}

/* True when the parameters of a media type (after its ';') name no charset but UTF-8:
 * JSON is UTF-8 (RFC 8259), and a body declared latin1 would be read as something else. */
static bool charset_ok(const char *params)
{
    for (const char *p = params; (p = strchr(p, ';')) != NULL;) {
        p++;
        p += strspn(p, " \t");
        if (strncasecmp(p, "charset", 7) != 0)
            continue;
        const char *v = p + 7 + strspn(p + 7, " \t");
        if (*v != '=')
            continue;
        v++;
        v += strspn(v, " \t");
        bool quoted = *v == '"';
        v += quoted;
        size_t n = strcspn(v, "\"; \t");
        if (!((n == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
              (n == 4 && strncasecmp(v, "utf8", 4) == 0)))
            return false;
    }
    return true;
}

static bool content_type_ok(const char *ct, bool ndjson)
{
    if (!ct)
        return false;
    size_t n = strcspn(ct, "; \t");
    if (!charset_ok(ct + n))
        return false;
    if (ndjson)
        return (n == 20 && strncasecmp(ct, "application/x-ndjson", n) == 0) ||
               (n == 18 && strncasecmp(ct, "application/ndjson", n) == 0);
    return n == 16 && strncasecmp(ct, "application/json", n) == 0;
}

typedef struct length_check {
    const char *first;
    int n;
    bool differ;
} length_check;

static enum MHD_Result check_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    length_check *lc = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
        return MHD_YES;
    if (lc->n++ == 0)
        lc->first = value ? value : "";
    else if (strcmp(lc->first, value ? value : "") != 0)
        lc->differ = true;
    return MHD_YES;
}

/* Everything before the body: route, key, role, rate, size and type. Replies on failure.
 * url is the raw (still %-escaped) path: segments are unescaped one by one when matched. */
static void begin(mdm_http_req *req, const char *url)
{
    mdm_http_server *srv = req->srv;
    size_t urllen = strlen(url);
    char *decoded = mdm_arena_strndup(req->arena, url, urllen);
    if (!mdm_http_utf8_valid(decoded, MHD_http_unescape(decoded))) {
        req->route_index = MDM_HTTP_MAX_ROUTES - 1;
        fail(req, MDM_EINVAL, "the request path is not valid UTF-8 (or holds %%00)");
        return;
    }
    char *path = mdm_arena_strndup(req->arena, url, urllen);
    bool known = false;
    const mdm_http_route *rt =
        mdm_http_match(req->method, path, req->pnames, req->pvalues, &req->nparams, &known);
    if (!rt) {
        req->route_index = MDM_HTTP_MAX_ROUTES - 1;
        if (!known) {
            fail(req, MDM_ENOTFOUND, "no such resource");
            return;
        }
        char allow[128] = "";
        char *tmp = mdm_arena_strndup(req->arena, url, urllen);
        for (size_t r = 0; r < mdm_http_nroutes; r++) {
            const char *n[8], *v[8];
            int np;
            bool k2;
            memcpy(tmp, url, urllen + 1);
            if (mdm_http_match(mdm_http_routes[r].method, tmp, n, v, &np, &k2) &&
                !strstr(allow, mdm_http_routes[r].method)) {
                if (allow[0])
                    strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
                strncat(allow, mdm_http_routes[r].method, sizeof allow - strlen(allow) - 1);
            }
        }
        if (strstr(allow, "GET"))
            strncat(allow, ", HEAD", sizeof allow - strlen(allow) - 1);
        mdm_http_set_header(req, "Allow", allow);
        fail(req, MDM_EMETHOD, "method %s is not allowed here; allowed: %s", req->method, allow);
        return;
    }
    req->route = rt;
    req->route_index = (size_t)(rt - mdm_http_routes);
    /* two different lengths: the body's end is ambiguous (request smuggling behind a
     * proxy that reads the other one), so the request is refused whatever the route */
    length_check lc = {0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, check_length, &lc);
    if (lc.differ) {
        fail(req, MDM_EINVAL, "the request has several different Content-Length headers");
        return;
    }
    arg_check ac = {NULL};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_arg, &ac);
    if (ac.bad) {
        fail(req, MDM_EINVAL, "a query argument is not valid UTF-8");
        return;
    }
    if (rt->roles != MDM_ROLES_PUBLIC) {
        mdm_err err = {0};
        mdm_status st =
            mdm_auth_verify(srv->auth, mdm_http_db(req),
                            mdm_http_header(req, MHD_HTTP_HEADER_AUTHORIZATION), &req->key, &err);
        if (st == MDM_ERETRY && !req->db)
            mdm_err_set(&err, MDM_ERETRY, "the database is unreachable");
        if (st != MDM_OK) {
            mdm_http_reply_problem(req, &err);
            return;
        }
        req->has_key = true;
        if (req->key.role != MDM_ROLE_ADMIN && !(rt->roles & (unsigned)req->key.role)) {
            fail(req, MDM_EFORBIDDEN, "role %s may not use %s %s",
                 mdm_auth_role_name(req->key.role), rt->method, rt->pattern);
            return;
        }
        if ((rt->flags & MDM_HTTP_OWN_SOURCE) && req->key.role == MDM_ROLE_SOURCE) {
            const char *src = mdm_http_param(req, "source");
            if (!src || strcmp(src, req->key.source) != 0) {
                fail(req, MDM_EFORBIDDEN, "this key belongs to source %s and may not use another",
                     req->key.source);
                return;
            }
        }
        /* every keyed reply says where the key's bucket stands (IETF RateLimit fields) */
        mdm_rate_state rate;
        bool allowed = mdm_auth_rate_take(srv->auth, &req->key, mdm_http_now(), &rate);
        char num[16];
        snprintf(num, sizeof num, "%d", rate.limit);
        mdm_http_set_header(req, "RateLimit-Limit", num);
        snprintf(num, sizeof num, "%d", rate.remaining);
        mdm_http_set_header(req, "RateLimit-Remaining", num);
        if (!allowed) {
            snprintf(num, sizeof num, "%d", rate.retry_after);
            mdm_http_set_header(req, "Retry-After", num);
            fail(req, MDM_ERATE, "rate limit of %g requests per second exceeded", req->key.rate);
            return;
        }
    }
    req->max_body = rt->max_body == MDM_HTTP_BODY_JSON    ? srv->limits.max_body_bytes
                    : rt->max_body == MDM_HTTP_BODY_BATCH ? srv->limits.max_batch_bytes
                                                          : rt->max_body;
    if (req->max_body) {
        const char *cl = mdm_http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > req->max_body) {
            fail(req, MDM_ETOOBIG, "the body is larger than the limit of %zu bytes", req->max_body);
            return;
        }
        bool ndjson = (rt->flags & MDM_HTTP_NDJSON) != 0;
        if (!content_type_ok(mdm_http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE), ndjson)) {
            fail(req, MDM_EMEDIA, "the body must be %s (UTF-8)",
                 ndjson ? "application/x-ndjson" : "application/json");
            return;
        }
    }
}

/* Runs the handler once the body is complete. */
static void run_handler(mdm_http_req *req)
{
    const mdm_http_route *rt = req->route;
    if (req->resumed) {
        rt->handler(req);
        goto out_check;
    }
    if (req->body_too_big) {
        fail(req, MDM_ETOOBIG, "the body is larger than the limit of %zu bytes", req->max_body);
        return;
    }
    if (req->max_body && !(rt->flags & MDM_HTTP_NDJSON)) {
        if (req->body.len == 0) {
            fail(req, MDM_EINVAL, "the request body is empty; a JSON object is expected");
            return;
        }
        json_error_t jerr;
        req->json = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!req->json) {
            mdm_err e;
            mdm_err_set(&e, MDM_EINVAL, "malformed JSON at line %d, column %d", jerr.line,
                        jerr.column);
            mdm_err_detail(&e, "%s", jerr.text);
            mdm_http_reply_problem(req, &e);
            return;
        }
    }
    if (!(rt->flags & MDM_HTTP_NO_DB) && !mdm_http_db(req)) {
        fail(req, MDM_ERETRY, "the database is unreachable");
        return;
    }
    rt->handler(req);
out_check:
    if (!req->replied && !req->suspended)
        fail(req, MDM_EINTERNAL, "the handler did not reply");
}

/* The handler runs with the request's span as the thread's current one, so the outbox
 * events it writes carry it to their deliveries (mdm/trace.h). */
static void run(mdm_http_req *req)
{
    mdm_trace_set_current(&req->trace);
    run_handler(req);
    mdm_trace_set_current(NULL);
}

static enum MHD_Result queue(mdm_http_req *req)
{
    if (!req->replied || !req->resp)
        return MHD_NO; /* cannot build any response: drop the connection */
    MHD_add_response_header(req->resp, "X-Request-Id", req->rid);
    if (atomic_load(&req->srv->shutting_down))
        MHD_add_response_header(req->resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    return r;
}

static mdm_http_req *req_alloc(mdm_http_server *srv, struct MHD_Connection *conn)
{
    mdm_http_req *req = mdm_xcalloc(1, sizeof *req);
    req->srv = srv;
    req->conn = conn;
    req->arena = mdm_arena_new(8192);
    req->t0 = mdm_http_now();
    req->route_index = MDM_HTTP_MAX_ROUTES - 1;
    return req;
}

/* MHD_OPTION_URI_LOG_CALLBACK: runs once the request line is parsed, before the headers
 * and before libmicrohttpd unescapes the target (it would turn %2F into a separator).
 * The request context starts here with the raw path; on_request completes it. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    mdm_http_req *req = req_alloc(cls, conn);
    req->raw_path = mdm_arena_strndup(req->arena, uri, strcspn(uri, "?#"));
    return req;
}

/* Completes the request context once the headers are there (method, request id). */
static void req_begin(mdm_http_req *req, const char *method)
{
    mdm_http_server *srv = req->srv;
    struct MHD_Connection *conn = req->conn;
    req->begun = true;
    req->method = mdm_arena_strdup(req->arena, method);
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given && valid_request_id(given))
        snprintf(req->rid, sizeof req->rid, "%s", given);
    else
        snprintf(req->rid, sizeof req->rid, "%08x%08x", srv->rid_base,
                 atomic_fetch_add(&srv->rid_counter, 1));
    mdm_trace caller;
    if (mdm_trace_parse(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"), &caller))
        mdm_trace_child(&caller, &req->trace);
    else /* none, or not valid: the specification says to start a new trace */
        mdm_trace_start(&req->trace);
    atomic_fetch_add(&srv->inflight, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    mdm_http_server *srv = cls;
    mdm_http_req *req = *con_cls;
    if (!req || !req->begun) {
        if (!req) /* no URI callback ran: route on what libmicrohttpd unescaped */
            req = req_alloc(srv, conn);
        req_begin(req, method);
        req->url = mdm_arena_strdup(req->arena, url);
        *con_cls = req;
        begin(req, req->raw_path ? req->raw_path : url);
        /* libmicrohttpd 0.9.75 closes the connection after a response queued on this
         * first call, so replies wait for the next call (keep-alive), except an early
         * error on a request that carries a body we do not want to read. */
        if (req->replied &&
            (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) ||
             MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING)))
            return queue(req);
        return MHD_YES;
    }
    if (req->suspended) {
        /* resumed by wait_main: run the handler again */
        req->suspended = false;
        req->resumed = true;
        run(req);
        return req->suspended ? MHD_YES : queue(req);
    }
    if (*upload_data_size) {
        if (!req->max_body)
            ; /* the route takes no body: ignore it */
        else if (req->body.len + *upload_data_size > req->max_body)
            req->body_too_big = true;
        else if (!req->replied)
            mdm_buf_append(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    mdm_http_guard_received(srv->guard, conn); /* arrived whole: the deadline stops */
    if (req->replied)
        return queue(req);
    run(req);
    return req->suspended ? MHD_YES : queue(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    mdm_http_server *srv = cls;
    mdm_http_guard_completed(srv->guard, conn); /* the next request's deadline starts */
    mdm_http_req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    if (!req->begun) { /* libmicrohttpd answered it itself (bad request line, headers) */
        mdm_arena_free(req->arena);
        free(req);
        return;
    }
    double secs = mdm_http_now() - req->t0;
    int status = req->status ? req->status : 499;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && req->status)
        mdm_log(MDM_LOG_INFO, "event=http_aborted rid=%s toe=%d", req->rid, (int)toe);
    mdm_http_stats_record(req->route_index, status, secs);
    mdm_log(MDM_LOG_INFO,
            "event=http_request rid=%s method=%s route=%s status=%d ms=%.3f bytes=%zu key=%s "
            "trace_id=%s span_id=%s",
            req->rid, req->method, req->route ? req->route->pattern : "-", status, secs * 1e3,
            req->resp_len, req->has_key ? req->key.prefix : "-", req->trace.trace_id,
            req->trace.span_id);
    mdm_log(MDM_LOG_DEBUG, "event=http_request_url rid=%s url=%s", req->rid,
            req->url ? req->url : "");
    if (req->resp)
        MHD_destroy_response(req->resp);
    json_decref(req->json);
    mdm_buf_free(&req->body);
    mdm_arena_free(req->arena);
    free(req);
    atomic_fetch_sub(&srv->inflight, 1);
}

/* Lifecycle ----------------------------------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

void mdm_http_redact_log(const char *in, char *out, size_t cap)
{
    size_t len = strlen(in), start = len;
    for (size_t i = 0; i < len; i++)
        if (in[i] == '/' && (i == 0 || strchr(" `'\"(", in[i - 1]))) {
            start = i;
            break;
        }
    if (start == len) {
        snprintf(out, cap, "%s", in);
        return;
    }
    /* the path runs to the closing quote of "`PATH'" (the last one: a path may hold
     * quotes), else to a final period ("request for PATH."), else to the end */
    size_t end = len;
    if (start > 0 && in[start - 1] == '`') {
        const char *q = strrchr(in + start, '\'');
        if (q)
            end = (size_t)(q - in);
    } else if (in[len - 1] == '.') {
        end = len - 1;
    }
    snprintf(out, cap, "%.*s<path redacted>%s", (int)start, in, in + end);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    /* libmicrohttpd's messages quote the request path, and paths hold record keys such
     * as e-mail addresses: customer data, which is logged only at DEBUG (STYLE C12) */
    char safe[600];
    mdm_http_redact_log(line, safe, sizeof safe);
    mdm_log(MDM_LOG_WARN, "event=mhd msg=\"%s\"", safe);
    if (strcmp(safe, line) != 0)
        mdm_log(MDM_LOG_DEBUG, "event=mhd_full msg=\"%s\"", line);
}

/* Registers the configured sources in source_system and loads the active match model.
 * A database that is down at start is not fatal: the server starts, /readyz says 503,
 * and ingest refuses unknown sources until a restart syncs them. */
static void prepare_database(mdm_http_server *srv)
{
    mdm_err err = {0};
    mdm_db *db = mdm_db_connect(srv->cfg->database_url, &err);
    if (!db) {
        mdm_log(MDM_LOG_WARN, "event=http_start_without_db msg=\"%s\"", err.msg);
        return;
    }
    int nsynced = 0, model = 0;
    if (mdm_sources_sync(db, mdm_engine_sources(srv->ingest), &nsynced, &err) != MDM_OK)
        mdm_log(MDM_LOG_WARN, "event=sources_sync_failed msg=\"%s\"", err.msg);
    else if (mdm_engine_use_db_model(srv->ingest, db, &model, &err) != MDM_OK)
        mdm_log(MDM_LOG_WARN, "event=model_load_failed msg=\"%s\"", err.msg);
    else
        mdm_log(MDM_LOG_INFO, "event=http_ready sources=%d model_version=%d", nsynced, model);
    mdm_db_close(db);
}

static int default_threads(const mdm_config *cfg)
{
    if (cfg->threads > 0)
        return cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 2;
    /* With PostgreSQL on the same machine a handler's wait is PostgreSQL working on the
     * same cores: one worker per core (tests/bench/bench_http.sh at load 5-6, alternated
     * with two per core: wrk p99 of reads 9-15 ms against 11-1,790 ms, of upserts 70-165
     * ms against 120-840 ms, the same throughput). A remote database leaves the cores idle
     * while a handler waits for it: two workers per core. */
    return (int)n * (mdm_db_url_is_local(cfg->database_url) ? 1 : 2);
}

/* Reads a PEM file whole (NUL-terminated, for MHD_OPTION_HTTPS_MEM_*); NULL with err
 * naming the configuration key when it cannot be read. */
static char *read_pem(const char *path, const char *field, mdm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mdm_err_set_field(err, MDM_EINVAL, field, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0;
    char *data = mdm_io_read_all(f, 1u << 20, &len);
    fclose(f);
    if (!data || len == 0 || !strstr(data, "-----BEGIN ")) {
        free(data);
        mdm_err_set_field(err, MDM_EINVAL, field, "%s is not a PEM file", path);
        return NULL;
    }
    return data;
}

mdm_http_server *mdm_http_start(const mdm_config *cfg, const char *listen, mdm_err *err)
{
    mdm_http_server *srv = mdm_xcalloc(1, sizeof *srv);
    srv->cfg = cfg;
    if (mdm_http_limits_load(cfg, &srv->limits, err) != MDM_OK)
        goto out_free;
    if (mdm_http_nroutes >= MDM_HTTP_MAX_ROUTES) {
        mdm_err_set(err, MDM_EINTERNAL, "too many routes (%zu)", mdm_http_nroutes);
        goto out_free;
    }
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) {
        mdm_err_set_field(err, MDM_EINVAL, "/listen", "listen must be ADDR:PORT, got \"%s\"",
                          listen);
        goto out_free;
    }
    char host[256];
    size_t hlen = (size_t)(colon - listen);
    if (listen[0] == '[' && hlen >= 2 && listen[hlen - 1] == ']')
        snprintf(host, sizeof host, "%.*s", (int)(hlen - 2), listen + 1);
    else
        snprintf(host, sizeof host, "%.*s", (int)hlen, listen);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0 || !ai) {
        mdm_err_set_field(err, MDM_EINVAL, "/listen", "cannot resolve listen address \"%s\": %s",
                          listen, gai_strerror(gai));
        goto out_free;
    }
    if (mdm_consent_configure(mdm_config_section(cfg, "consent"), err) != MDM_OK) {
        freeaddrinfo(ai);
        goto out_free;
    }
    srv->ingest = mdm_engine_new(cfg, err);
    if (!srv->ingest) {
        freeaddrinfo(ai);
        goto out_free;
    }
    prepare_database(srv);
    srv->auth = mdm_auth_new(srv->limits.auth_cache_seconds, srv->limits.burst_seconds);
    pthread_mutex_init(&srv->dbs_lock, NULL);
    mdm_http_wait_init(srv);
    srv->rid_base = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[16];
    size_t no = 0;
#define OPT(o, v, p) (opts[no++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
    OPT(MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr);
    OPT(MHD_OPTION_THREAD_POOL_SIZE, default_threads(cfg), NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, srv->limits.connection_timeout, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, srv->limits.max_connections, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->limits.max_header_bytes, NULL);
    OPT(MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL);
    if (srv->limits.max_connections_per_ip > 0)
        OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->limits.max_connections_per_ip, NULL);
    srv->guard = mdm_http_guard_new(srv->limits.request_timeout);
    if (srv->guard)
        OPT(MHD_OPTION_NOTIFY_CONNECTION, mdm_http_guard_notify, srv->guard);
    if (srv->limits.tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            mdm_err_set_field(err, MDM_EINVAL, "/http/tls_cert",
                              "this libmicrohttpd was built without TLS support");
            freeaddrinfo(ai);
            goto out_free_sync;
        }
        srv->tls_cert_pem = read_pem(srv->limits.tls_cert, "/http/tls_cert", err);
        srv->tls_key_pem =
            srv->tls_cert_pem ? read_pem(srv->limits.tls_key, "/http/tls_key", err) : NULL;
        if (!srv->tls_key_pem) {
            freeaddrinfo(ai);
            goto out_free_sync;
        }
        flags |= MHD_USE_TLS;
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert_pem);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key_pem);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    /* the external logger goes first, or libmicrohttpd warns that it may log elsewhere */
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        if (srv->tls_cert_pem)
            mdm_err_set(err, MDM_EIO,
                        "cannot listen on %s (address in use, or http.tls_cert / http.tls_key "
                        "is not a valid PEM certificate and matching key)",
                        listen);
        else
            mdm_err_set(err, MDM_EIO, "cannot listen on %s (address in use or not available)",
                        listen);
        goto out_free_sync;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    if (!mdm_http_wait_start(srv)) {
        mdm_err_set(err, MDM_EINTERNAL, "cannot start the long-poll thread");
        MHD_stop_daemon(srv->daemon);
        goto out_free_sync;
    }
    mdm_log(MDM_LOG_INFO, "event=http_listening listen=%s port=%d threads=%d", listen, srv->port,
            default_threads(cfg));
    return srv;
out_free_sync:
    mdm_http_guard_free(srv->guard);
    free(srv->tls_cert_pem);
    free(srv->tls_key_pem);
    mdm_auth_free(srv->auth);
    mdm_engine_free(srv->ingest);
    srv->ingest = NULL; /* out_free frees it too */
    pthread_mutex_destroy(&srv->dbs_lock);
    mdm_http_wait_stop(srv);
out_free:
    mdm_engine_free(srv->ingest);
    free(srv);
    return NULL;
}

int mdm_http_port(const mdm_http_server *srv)
{
    return srv->port;
}

bool mdm_http_tls(const mdm_http_server *srv)
{
    return srv->tls_cert_pem != NULL;
}

void mdm_http_stop(mdm_http_server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->shutting_down, true);
    MHD_socket lsock = MHD_quiesce_daemon(srv->daemon);
    int inflight = atomic_load(&srv->inflight);
    mdm_log(MDM_LOG_INFO, "event=http_stopping in_flight=%d", inflight);
    /* wake the long polls, which answer with what they have */
    mdm_http_wait_wake(srv);
    double until = mdm_http_now() + srv->limits.shutdown_timeout;
    while (atomic_load(&srv->inflight) > 0 && mdm_http_now() < until) {
        struct timespec ts = {0, 10L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&srv->inflight) > 0)
        mdm_log(MDM_LOG_WARN, "event=http_stop_timeout in_flight=%d", atomic_load(&srv->inflight));
    mdm_http_wait_stop(srv);
    MHD_stop_daemon(srv->daemon);
    mdm_http_guard_free(srv->guard);
    free(srv->tls_cert_pem);
    free(srv->tls_key_pem);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    for (size_t i = 0; i < srv->ndbs; i++)
        mdm_db_close(srv->dbs[i]);
    free(srv->dbs);
    mdm_auth_free(srv->auth);
    mdm_engine_free(srv->ingest);
    pthread_mutex_destroy(&srv->dbs_lock);
    mdm_log(MDM_LOG_INFO, "event=http_stopped");
    free(srv);
}
