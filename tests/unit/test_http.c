/* api/http.c and api/auth.c pieces that need no network or database: route matching
 * (tests/data/http_routes.tsv), UTF-8 validation (tests/data/utf8.tsv), the http config
 * section, role names, token buckets, and the OpenAPI document covering every route. */
#include "api/auth.h"
#include "api/handlers.h"
#include "api/http.h"
#include "common/mem.h"
#include "mdm/config.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

/* Splits a TSV line in place into at most n fields. */
static int split_tsv(char *line, char **f, int n)
{
    int k = 0;
    line[strcspn(line, "\r\n")] = '\0';
    while (k < n) {
        f[k++] = line;
        char *tab = strchr(line, '\t');
        if (!tab)
            break;
        *tab = '\0';
        line = tab + 1;
    }
    return k;
}

static FILE *open_data(const char *name)
{
    char path[256];
    const char *root = getenv("MDM_ROOT");
    snprintf(path, sizeof path, "%s/tests/data/%s", root ? root : ".", name);
    FILE *f = fopen(path, "r");
    if (!f)
        fprintf(stderr, "cannot open %s\n", path);
    return f;
}

static void test_route_table_cases(void)
{
    FILE *f = open_data("http_routes.tsv");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *fld[4] = {0};
        int n = split_tsv(line, fld, 4);
        if (n < 3) {
            mdm_test_case(0, "malformed http_routes.tsv row");
            continue;
        }
        char *path = mdm_xstrdup(fld[1]);
        const char *names[8], *values[8];
        int np = 0;
        bool known = false;
        const mdm_http_route *rt = mdm_http_match(fld[0], path, names, values, &np, &known);
        char got[256] = "";
        if (rt)
            snprintf(got, sizeof got, "%s", rt->pattern);
        else
            snprintf(got, sizeof got, "%s", known ? "405" : "404");
        char params[256] = "";
        for (int i = 0; i < np; i++) {
            size_t nl = strcspn(names[i], "}");
            snprintf(params + strlen(params), sizeof params - strlen(params), "%s%.*s=%s",
                     i ? "," : "", (int)nl, names[i], values[i]);
        }
        const char *want_params = n > 3 ? fld[3] : "";
        char what[600];
        snprintf(what, sizeof what, "http_routes.tsv:%d %s %s -> %s [%s], want %s [%s]", lineno,
                 fld[0], fld[1], got, params, fld[2], want_params);
        mdm_test_case(strcmp(got, fld[2]) == 0 && strcmp(params, want_params) == 0, what);
        free(path);
    }
    fclose(f);
}

static void test_utf8_cases(void)
{
    FILE *f = open_data("utf8.tsv");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[256];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *fld[3] = {0};
        if (split_tsv(line, fld, 3) < 2)
            continue;
        char bytes[64];
        size_t len = 0;
        for (const char *h = fld[0]; h[0] && h[1] && len < sizeof bytes; h += 2) {
            unsigned v;
            sscanf(h, "%2x", &v);
            bytes[len++] = (char)v;
        }
        bool want = fld[1][0] == '1';
        char what[200];
        snprintf(what, sizeof what, "utf8.tsv:%d %s (%s)", lineno, fld[0], fld[2] ? fld[2] : "");
        mdm_test_case(mdm_http_utf8_valid(bytes, len) == want, what);
    }
    fclose(f);
}

/* Every route of the table appears in the OpenAPI document with its method, summary,
 * roles and the error responses its row implies. */
static void test_openapi_covers_every_route(void)
{
    mdm_err err = {0};
    json_t *doc = mdm_http_openapi(&err);
    CHECK(doc != NULL);
    if (!doc) {
        fprintf(stderr, "openapi: %s\n", err.msg);
        return;
    }
    CHECK_STR(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < mdm_http_nroutes; i++) {
        const mdm_http_route *rt = &mdm_http_routes[i];
        char method[16];
        size_t k = 0;
        for (; rt->method[k]; k++)
            method[k] = (char)(rt->method[k] | 0x20);
        method[k] = '\0';
        json_t *op = json_object_get(json_object_get(paths, rt->pattern), method);
        char what[200];
        snprintf(what, sizeof what, "openapi has %s %s", rt->method, rt->pattern);
        if (!mdm_test_case(op != NULL, what))
            continue;
        json_t *responses = json_object_get(op, "responses");
        snprintf(what, sizeof what, "openapi %s %s has a summary, a 2xx and a 500", rt->method,
                 rt->pattern);
        bool has_2xx = json_object_get(responses, "200") || json_object_get(responses, "201") ||
                       json_object_get(responses, "202") || json_object_get(responses, "204");
        mdm_test_case(json_is_string(json_object_get(op, "summary")) && has_2xx &&
                          json_object_get(responses, "500"),
                      what);
        if (rt->roles != MDM_ROLES_PUBLIC) {
            snprintf(what, sizeof what, "openapi %s %s documents 401/403/429 and roles", rt->method,
                     rt->pattern);
            mdm_test_case(json_object_get(responses, "401") && json_object_get(responses, "403") &&
                              json_object_get(responses, "429") &&
                              json_array_size(json_object_get(op, "x-roles")) > 0,
                          what);
        }
        /* every path parameter is declared */
        for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
            size_t nl = strcspn(p + 1, "}");
            bool found = false;
            size_t j;
            json_t *param;
            json_array_foreach(json_object_get(op, "parameters"), j, param)
            {
                const char *nm = json_string_value(json_object_get(param, "name"));
                if (nm && strlen(nm) == nl && strncmp(nm, p + 1, nl) == 0)
                    found = true;
            }
            snprintf(what, sizeof what, "openapi %s %s declares {%.*s}", rt->method, rt->pattern,
                     (int)nl, p + 1);
            mdm_test_case(found, what);
        }
    }
    /* every route that writes an entity (a non-GET route under /v1/entities/{id}/, and
     * erasure) honours If-Match and documents it */
    for (size_t i = 0; i < mdm_http_nroutes; i++) {
        const mdm_http_route *rt = &mdm_http_routes[i];
        bool writes_entity = strcmp(rt->method, "GET") != 0 &&
                             (strncmp(rt->pattern, "/v1/entities/{id}/", 18) == 0 ||
                              strcmp(rt->pattern, "/v1/subjects/{id}/erase") == 0);
        char what[200];
        snprintf(what, sizeof what, "%s %s: If-Match flag %s", rt->method, rt->pattern,
                 writes_entity ? "set" : "not set");
        mdm_test_case(writes_entity == ((rt->flags & MDM_HTTP_IF_MATCH) != 0), what);
        if (!(rt->flags & MDM_HTTP_IF_MATCH))
            continue;
        char method[16];
        size_t k = 0;
        for (; rt->method[k]; k++)
            method[k] = (char)(rt->method[k] | 0x20);
        method[k] = '\0';
        json_t *op = json_object_get(json_object_get(paths, rt->pattern), method);
        bool has = false;
        size_t j;
        json_t *param;
        json_array_foreach(json_object_get(op, "parameters"), j, param)
        {
            const char *ref = json_string_value(json_object_get(param, "$ref"));
            if (ref && strcmp(ref, "#/components/parameters/IfMatch") == 0)
                has = true;
        }
        snprintf(what, sizeof what, "openapi %s %s documents If-Match and 409", rt->method,
                 rt->pattern);
        mdm_test_case(has && json_object_get(json_object_get(op, "responses"), "409"), what);
    }
    /* every $ref resolves */
    char *text = json_dumps(doc, JSON_COMPACT);
    const char *p = text;
    while ((p = strstr(p, "\"$ref\":\"#/components/")) != NULL) {
        p += strlen("\"$ref\":\"#/components/");
        char kind[32], name[64];
        if (sscanf(p, "%31[^/]/%63[^\"]", kind, name) == 2) {
            char what[160];
            snprintf(what, sizeof what, "openapi $ref %s/%s resolves", kind, name);
            mdm_test_case(json_object_get(json_object_get(json_object_get(doc, "components"), kind),
                                          name) != NULL,
                          what);
        }
    }
    free(text);
    json_decref(doc);
}

static mdm_config *config_with(const char *json, mdm_err *err)
{
    char path[] = "/tmp/mdm_test_http_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    fputs(json, f);
    fclose(f);
    unsetenv("MDM_CONFIG");
    mdm_config *cfg = mdm_config_load(path, err);
    remove(path);
    return cfg;
}

static void test_limits(void)
{
    mdm_err err = {0};
    mdm_config *cfg =
        config_with("{\"http\": {\"max_body_bytes\": 2048, \"burst_seconds\": 2.5}}", &err);
    CHECK(cfg != NULL);
    mdm_http_limits lim;
    CHECK_INT(mdm_http_limits_load(cfg, &lim, &err), MDM_OK);
    CHECK_INT(lim.max_body_bytes, 2048);
    CHECK_INT(lim.max_batch_bytes, 16 << 20);
    CHECK_NEAR(lim.burst_seconds, 2.5, 1e-9);
    /* a per-address limit by default, leaving room for other clients */
    CHECK_INT(lim.max_connections, 1024);
    CHECK_INT(lim.max_connections_per_ip, 64);
    mdm_config_free(cfg);
    cfg = config_with("{\"http\": {\"max_connections\": 10}}", &err);
    CHECK_INT(mdm_http_limits_load(cfg, &lim, &err), MDM_OK);
    CHECK_INT(lim.max_connections_per_ip, 5);
    mdm_config_free(cfg);
    cfg = config_with("{\"http\": {\"max_connections_per_ip\": 0}}", &err);
    CHECK_INT(mdm_http_limits_load(cfg, &lim, &err), MDM_OK);
    CHECK_INT(lim.max_connections_per_ip, 0);
    mdm_config_free(cfg);

    static const struct {
        const char *json, *field, *msg;
    } bad[] = {
        {"{\"http\": {\"max_body\": 1}}", "/http/max_body", "unknown key \"http.max_body\""},
        {"{\"http\": {\"max_body_bytes\": 0}}", "/http/max_body_bytes",
         "must be an integer from 1"},
        {"{\"http\": {\"max_body_bytes\": \"1M\"}}", "/http/max_body_bytes", "must be an integer"},
        {"{\"http\": {\"max_wait_seconds\": 1.5}}", "/http/max_wait_seconds", "must be an integer"},
        {"{\"http\": {\"burst_seconds\": -1}}", "/http/burst_seconds", "must be a number from"},
        {"{\"http\": {\"max_connections\": 100, \"max_connections_per_ip\": 100}}",
         "/http/max_connections_per_ip", "must be below"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = config_with(bad[i].json, &err);
        CHECK(cfg != NULL);
        if (!cfg)
            continue;
        mdm_err e = {0};
        char what[200];
        snprintf(what, sizeof what, "http config %s is refused naming %s", bad[i].json,
                 bad[i].field);
        mdm_test_case(mdm_http_limits_load(cfg, &lim, &e) == MDM_EINVAL &&
                          strcmp(e.field, bad[i].field) == 0 && strstr(e.msg, bad[i].msg),
                      what);
        mdm_config_free(cfg);
    }
}

/* libmicrohttpd's warnings quote the request path, which holds record keys (issue 17
 * item 4): the path never reaches the log above DEBUG. */
static void test_redact_log(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Failed to send the response headers for the request for "
         "`/v1/sources/crm/records/jane.doe@example.com'. Error: Broken pipe",
         "Failed to send the response headers for the request for `<path redacted>'. Error: "
         "Broken pipe"},
        {"Failed to send data in request for /v1/sources/crm/records/jane.doe@example.com.",
         "Failed to send data in request for <path redacted>."},
        {"Failed to send the response body for the request for `/v1/x/it's'. Error: x",
         "Failed to send the response body for the request for `<path redacted>'. Error: x"},
        {"Error during poll: `Interrupted system call'",
         "Error during poll: `Interrupted system call'"},
        {"Server reached connection limit. Closing inbound connection.",
         "Server reached connection limit. Closing inbound connection."},
        {"/v1/entities?email=a@b.example", "<path redacted>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[600];
        mdm_http_redact_log(cases[i].in, out, sizeof out);
        CHECK_STR(out, cases[i].out);
        CHECK(!strstr(out, "@example.com"));
    }
}

static void test_roles(void)
{
    CHECK_INT(mdm_auth_role_parse("steward"), MDM_ROLE_STEWARD);
    CHECK_INT(mdm_auth_role_parse("Steward"), 0);
    CHECK_INT(mdm_auth_role_parse(""), 0);
    CHECK_STR(mdm_auth_role_name(MDM_ROLE_COMPLIANCE), "compliance");
    CHECK(mdm_auth_role_name((mdm_role)3) == NULL);
}

static void test_token_bucket(void)
{
    mdm_auth *a = mdm_auth_new(0, 1);
    mdm_auth_key k = {.id = 7, .role = MDM_ROLE_READER, .rate = 5};
    mdm_rate_state st;
    int ok = 0;
    CHECK(mdm_auth_rate_take(a, &k, 100.0, &st));
    CHECK_INT(st.limit, 5); /* capacity: rate x burst_seconds */
    CHECK_INT(st.remaining, 4);
    ok = 1;
    for (int i = 1; i < 10; i++)
        ok += mdm_auth_rate_take(a, &k, 100.0, &st);
    CHECK_INT(ok, 5);
    CHECK_INT(st.retry_after, 1);
    CHECK_INT(st.remaining, 0);
    CHECK(mdm_auth_rate_take(a, &k, 100.25, &st)); /* 0.25 s x 5/s = 1.25 tokens */
    CHECK(!mdm_auth_rate_take(a, &k, 100.25, &st));
    mdm_auth_key slow = {.id = 8, .role = MDM_ROLE_READER, .rate = 0.1};
    CHECK(mdm_auth_rate_take(a, &slow, 0, &st));
    CHECK(!mdm_auth_rate_take(a, &slow, 1, &st));
    CHECK_INT(st.retry_after, 9); /* 0.9 token missing at 0.1/s */
    mdm_auth_free(a);
}

static void test_verify_rejects_without_database(void)
{
    mdm_auth *a = mdm_auth_new(10, 1);
    mdm_auth_key k;
    mdm_err err = {0};
    CHECK_INT(mdm_auth_verify(a, NULL, NULL, &k, &err), MDM_EAUTH);
    CHECK_INT(mdm_auth_verify(a, NULL, "Basic abc", &k, &err), MDM_EAUTH);
    CHECK_INT(mdm_auth_verify(a, NULL, "Bearer mdm_short", &k, &err), MDM_EAUTH);
    CHECK(strstr(err.msg, "malformed") != NULL);
    CHECK_INT(
        mdm_auth_verify(
            a, NULL,
            "Bearer "
            "mdm_zzzzzzzzzzzz_00000000000000000000000000000000000000000000000000000000000000000",
            &k, &err),
        MDM_EAUTH);
    /* well-formed but unknown, and no database to ask: retry later, not 401 */
    CHECK_INT(mdm_auth_verify(a, NULL,
                              "Bearer mdm_0123456789ab_"
                              "0000000000000000000000000000000000000000000000000000000000000000",
                              &k, &err),
              MDM_ERETRY);
    mdm_auth_free(a);
}

int main(void)
{
    RUN(test_route_table_cases);
    RUN(test_utf8_cases);
    RUN(test_openapi_covers_every_route);
    RUN(test_limits);
    RUN(test_redact_log);
    RUN(test_roles);
    RUN(test_token_bucket);
    RUN(test_verify_rejects_without_database);
    TEST_END();
}
