/* /v1/openapi.json: the OpenAPI 3.1 document, generated from the route table.
 *
 * Each route row carries its Operation Object as JSON text (the handler file's *_doc);
 * this file adds what the row already says, so the document cannot drift from the
 * table: the path parameters, the security requirement and the roles (x-roles), the
 * NDJSON request body of batch routes (a JSON body must be described by the doc: the
 * document refuses to build otherwise), the canonical record schema (from the
 * canonicalizer's field list), and the error responses the pipeline can
 * produce (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503) as
 * application/problem+json. A doc may carry "x-components" (schemas it references),
 * merged into components. The document is built once and cached. */
#include "api/handlers.h"

#include "common/mem.h"
#include "matching/canonical.h"
#include "mdm/survive.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char mdm_h_openapi_doc[] =
    "{\"summary\": \"This OpenAPI document\", \"tags\": [\"operations\"], \"responses\":"
    " {\"200\": {\"description\": \"OpenAPI 3.1\", \"content\": {\"application/json\": {\"schema\":"
    " {\"type\": \"object\", \"required\": [\"openapi\", \"info\", \"paths\"], \"properties\":"
    " {\"openapi\": {\"type\": \"string\"}, \"info\": {\"type\": \"object\","
    " \"additionalProperties\": true}, \"servers\": {\"type\": \"array\"}, \"paths\":"
    " {\"type\": \"object\", \"additionalProperties\": true}, \"components\": {\"type\":"
    " \"object\", \"additionalProperties\": true}}}}}}}}";

static const char base_doc[] =
    "{\"openapi\": \"3.1.0\","
    " \"info\": {\"title\": \"mdm HTTP API\", \"version\": \"1.5.0\","
    " \"license\": {\"name\": \"Proprietary: all rights reserved (no license is granted yet)\","
    " \"identifier\": \"LicenseRef-Proprietary\"},"
    " \"description\":"
    " \"Customer master data and identity resolution. Every error is application/problem+json"
    " (RFC 9457) with a stable code. Authenticate with Authorization: Bearer KEY (mdm apikey"
    " create). Roles: source (bound to one source system), reader, steward, compliance, admin"
    " (admin may call every route). Versioning: /v1 only grows (new routes, new optional"
    " members, new headers); a route or member to be removed is first marked deprecated here"
    " and answers with Deprecation and Sunset headers; changes are listed in docs/API.md.\"},"
    " \"servers\": [{\"url\": \"/\", \"description\": \"the server that serves this"
    " document\"}],"
    " \"paths\": {},"
    " \"components\": {"
    "  \"securitySchemes\": {\"bearerAuth\": {\"type\": \"http\", \"scheme\": \"bearer\"}},"
    "  \"schemas\": {\"Problem\": {\"type\": \"object\", \"required\": [\"type\", \"title\","
    "   \"status\", \"code\"], \"properties\": {\"type\": {\"type\": \"string\", \"format\":"
    "   \"uri\"}, \"title\": {\"type\": \"string\"}, \"status\": {\"type\": \"integer\"},"
    "   \"detail\": {\"type\": \"string\"}, \"code\": {\"type\": \"string\", \"enum\": [\"einval\","
    "   \"eauth\", \"eforbidden\", \"enotfound\", \"emethod\", \"econflict\", \"estale\","
    "   \"etoobig\", \"emedia\", \"eunprocessable\", \"erate\", \"eretry\", \"edb\", \"eio\","
    "   \"einternal\"]},"
    "   \"request_id\": {\"type\": \"string\"}, \"errors\": {\"type\": \"array\", \"items\":"
    "   {\"type\": \"object\", \"properties\": {\"pointer\": {\"type\": \"string\","
    "   \"description\": \"JSON pointer (RFC 6901) of the field\"}, \"detail\": {\"type\":"
    "   \"string\"}}}}}}},"
    "  \"parameters\": {\"IfMatch\": {\"name\": \"If-Match\", \"in\": \"header\", \"required\":"
    "   false, \"schema\": {\"type\": \"string\"}, \"description\": \"Optimistic concurrency:"
    "   the entity's ETag from GET /v1/entities/{id} (its version, such as \\\"3\\\"; W/\\\"3\\\""
    "   and * accepted). When it is not the current version the write is refused with 409"
    "   (code estale) and changes nothing; a version member of the body must agree with"
    "   it.\"}},"
    "  \"responses\": {}}}";

typedef struct std_error {
    const char *code;
    const char *description;
} std_error;

static const std_error std_errors[] = {
    {"400", "malformed request: bad JSON, bad query argument or invalid UTF-8"},
    {"401", "missing, malformed, unknown or revoked API key"},
    {"403", "the key's role may not use this route, or a source key used another source"},
    {"404", "no such resource"},
    {"405", "method not allowed (see the Allow header)"},
    {"409", "conflict: a stale version (code estale: If-Match or version is not the current"
            " one; reload and retry) or a state that forbids the change (code econflict)"},
    {"413", "body larger than the configured limit"},
    {"415", "wrong Content-Type"},
    {"422", "invalid fields; errors[] holds a JSON pointer per field"},
    {"429", "rate limit of the key exceeded (see Retry-After)"},
    {"500", "internal or database error"},
    {"503", "the database is unreachable; retry later (see Retry-After)"},
};

static json_t *problem_ref(const char *code)
{
    char ref[64];
    snprintf(ref, sizeof ref, "#/components/responses/E%s", code);
    return json_pack("{s:s}", "$ref", ref);
}

/* Adds the responses and parameters the route row implies to op; false when the route
 * takes a JSON body that its doc does not describe. */
static bool decorate(json_t *op, const mdm_http_route *rt)
{
    json_t *responses = json_object_get(op, "responses");
    bool auth = rt->roles != MDM_ROLES_PUBLIC;
    bool body = rt->max_body != 0;
    const char *codes[16];
    int n = 0;
    codes[n++] = "400";
    if (auth) {
        codes[n++] = "401";
        codes[n++] = "403";
        codes[n++] = "429";
    }
    if (strchr(rt->pattern, '{'))
        codes[n++] = "404";
    codes[n++] = "405";
    if (body) {
        codes[n++] = "413";
        codes[n++] = "415";
        codes[n++] = "422";
    }
    if (strcmp(rt->method, "GET") != 0)
        codes[n++] = "409";
    codes[n++] = "500";
    if (!(rt->flags & MDM_HTTP_NO_DB) || strcmp(rt->pattern, "/readyz") == 0)
        codes[n++] = "503";
    for (int i = 0; i < n; i++)
        if (!json_object_get(responses, codes[i]))
            json_object_set_new(responses, codes[i], problem_ref(codes[i]));
    if (auth) {
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
        json_t *roles = json_array();
        for (int r = 1; r <= MDM_ROLE_ADMIN; r <<= 1)
            if ((rt->roles & (unsigned)r) || r == MDM_ROLE_ADMIN)
                json_array_append_new(roles, json_string(mdm_auth_role_name((mdm_role)r)));
        json_object_set_new(op, "x-roles", roles);
        if (rt->flags & MDM_HTTP_OWN_SOURCE)
            json_object_set_new(op, "x-source-bound", json_true());
    } else {
        json_object_set_new(op, "security", json_array());
    }
    json_t *params = json_object_get(op, "parameters");
    if (!params) {
        params = json_array();
        json_object_set_new(op, "parameters", params);
    }
    for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (!end)
            break;
        json_t *param = json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1, (size_t)(end - p - 1),
                                  "in", "path", "required", 1, "schema", "type", "string");
        json_array_append_new(params, param);
    }
    if (rt->flags & MDM_HTTP_IF_MATCH)
        json_array_append_new(params,
                              json_pack("{s:s}", "$ref", "#/components/parameters/IfMatch"));
    if (body && !json_object_get(op, "requestBody")) {
        if (!(rt->flags & MDM_HTTP_NDJSON))
            return false; /* a JSON body must be described by its route's doc */
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/x-ndjson", "schema", "type", "string"));
    }
    return true;
}

/* A method name a generated client can use: the method in lower case, then each word of
 * the path in camel case, a parameter as "By" + its name, the version prefix left out:
 * GET /v1/entities/{id}/history -> getEntitiesByIdHistory,
 * POST /v1/sources/{source}/records:batch -> postSourcesBySourceRecordsBatch, and
 * GET /ui/ -> getUiIndex. Unique over the route table (tests/e2e/http_server.sh). */
static void operation_id(const char *method, const char *pattern, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *m = method; *m && n + 1 < cap; m++)
        out[n++] = (char)(*m | 0x20);
    bool upper = true;
    const char *p = strncmp(pattern, "/v1/", 4) == 0 ? pattern + 3 : pattern;
    for (; *p && n + 3 < cap; p++) {
        char c = *p;
        if (c == '{') {
            out[n++] = 'B';
            out[n++] = 'y';
            upper = true;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            out[n++] = upper && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
            upper = false;
        } else {
            upper = true; /* '/', '}', '_', '-', ':', '.' separate words */
        }
    }
    size_t plen = strlen(pattern);
    if (plen > 1 && pattern[plen - 1] == '/' && n + 6 < cap) { /* "/ui/" is not "/ui" */
        memcpy(out + n, "Index", 5);
        n += 5;
    }
    out[n] = '\0';
}

/* The canonical record as a request body (POST /v1/match, and the canonical layout of a
 * record upsert), built from the canonicalizer's own field list so the two cannot drift.
 * Scalars are strings (numbers are accepted and read as text); the longest value of each
 * field is the "limits" configuration (docs/SECURITY.md), not stated here because a
 * deployment may change it. */
static json_t *canonical_record_schema(void)
{
    json_t *props = json_object();
    for (size_t i = 0; mdm_canon_scalars[i]; i++)
        json_object_set_new(props, mdm_canon_scalars[i],
                            json_pack("{s:[s,s,s]}", "type", "string", "number", "null"));
    json_t *contact =
        json_pack("{s:[{s:s}, {s:s, s:[s], s:{s:{s:[s,s]}, s:{s:s}}}]}", "oneOf", "type", "string",
                  "type", "object", "required", "value", "properties", "value", "type", "string",
                  "number", "type", "type", "string");
    json_object_set_new(props, "emails",
                        json_pack("{s:s, s:O}", "type", "array", "items", contact));
    json_object_set_new(props, "phones",
                        json_pack("{s:s, s:o}", "type", "array", "items", contact));
    json_t *addr = json_object();
    for (size_t i = 0; mdm_canon_address_fields[i]; i++)
        json_object_set_new(addr, mdm_canon_address_fields[i],
                            json_pack("{s:[s,s,s]}", "type", "string", "number", "null"));
    json_object_set_new(props, "addresses",
                        json_pack("{s:s, s:i, s:{s:s, s:o, s:b}}", "type", "array", "maxItems", 4,
                                  "items", "type", "object", "properties", addr,
                                  "additionalProperties", 0));
    json_object_set_new(props, "attributes",
                        json_pack("{s:s, s:{s:[s,s,s]}, s:s}", "type", "object",
                                  "additionalProperties", "type", "string", "number", "null",
                                  "description", "mapped attributes (attributes.X of a source)"));
    json_object_set_new(props, "consents",
                        json_pack("{s:s, s:{s:s}}", "type", "array", "items", "$ref",
                                  "#/components/schemas/ConsentInput"));
    return json_pack("{s:s, s:s, s:o, s:b}", "type", "object", "description",
                     "a customer record in canonical field names; each value is held to the"
                     " field's length limit (the limits configuration section)",
                     "properties", props, "additionalProperties", 0);
}

/* A golden record's values (Entity.golden): the canonical scalars a person can have, and
 * the survived lists, from the same field list as the canonical record. */
static json_t *golden_record_schema(void)
{
    json_t *props = json_object();
    for (size_t i = 0; mdm_survive_scalars[i]; i++)
        json_object_set_new(props, mdm_survive_scalars[i], json_pack("{s:s}", "type", "string"));
    json_t *contact =
        json_pack("{s:s, s:[s], s:{s:{s:s}, s:{s:s}, s:{s:s, s:s}}, s:b}", "type", "object",
                  "required", "value", "properties", "value", "type", "string", "type", "type",
                  "string", "valid", "type", "boolean", "description",
                  "false: kept as the source sent it, not matched", "additionalProperties", 0);
    json_object_set_new(props, "emails",
                        json_pack("{s:s, s:O}", "type", "array", "items", contact));
    json_object_set_new(props, "phones",
                        json_pack("{s:s, s:o}", "type", "array", "items", contact));
    json_object_set_new(props, "addresses",
                        json_pack("{s:s, s:{s:s, s:{s:s}}}", "type", "array", "items", "type",
                                  "object", "additionalProperties", "type", "string"));
    json_object_set_new(
        props, "attributes",
        json_pack("{s:s, s:{s:s}}", "type", "object", "additionalProperties", "type", "string"));
    return json_pack("{s:s, s:s, s:o, s:b}", "type", "object", "description",
                     "the surviving value of each attribute (survivorship, pins)", "properties",
                     props, "additionalProperties", 0);
}

/* Converts "/v1/x/{id}" (already OpenAPI syntax) and merges x-components. */
/* A timestamp member: named at, since or *_at (the API's naming rule, docs/API.md). */
static bool timestamp_name(const char *name)
{
    size_t n = strlen(name);
    return !strcmp(name, "at") || !strcmp(name, "since") || (n > 3 && !strcmp(name + n - 3, "_at"));
}

static bool string_typed(const json_t *schema)
{
    const json_t *type = json_object_get(schema, "type");
    if (json_is_string(type))
        return !strcmp(json_string_value(type), "string");
    size_t i;
    const json_t *t;
    json_array_foreach(type, i, t)
    {
        if (json_is_string(t) && !strcmp(json_string_value(t), "string"))
            return true;
    }
    return false;
}

/* Every timestamp member of every schema says format date-time, so the document tells
 * typed clients what the server writes in all of them (RFC 3339 UTC: mdm_ts, sql/036_rfc3339.sql),
 * without each route's doc repeating it. */
static void mark_timestamps(json_t *node)
{
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) mark_timestamps(v);
        return;
    }
    if (!json_is_object(node))
        return;
    json_t *props = json_object_get(node, "properties");
    const char *name;
    json_t *v;
    json_object_foreach(props, name, v)
    {
        if (timestamp_name(name) && string_typed(v) && !json_object_get(v, "format"))
            json_object_set_new(v, "format", json_string("date-time"));
    }
    json_object_foreach(node, name, v) mark_timestamps(v);
}

json_t *mdm_http_openapi(mdm_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(base_doc, 0, &jerr);
    if (!doc) {
        mdm_err_set(err, MDM_EINTERNAL, "base OpenAPI text: %s", jerr.text);
        return NULL;
    }
    json_t *paths = json_object_get(doc, "paths");
    json_t *components = json_object_get(doc, "components");
    json_t *schemas = json_object_get(components, "schemas");
    json_t *responses = json_object_get(components, "responses");
    json_object_set_new(schemas, "CanonicalRecord", canonical_record_schema());
    json_object_set_new(schemas, "GoldenRecord", golden_record_schema());
    for (size_t i = 0; i < sizeof std_errors / sizeof std_errors[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "E%s", std_errors[i].code);
        json_object_set_new(responses, name,
                            json_pack("{s:s, s:{s:{s:{s:s}}}}", "description",
                                      std_errors[i].description, "content",
                                      "application/problem+json", "schema", "$ref",
                                      "#/components/schemas/Problem"));
    }
    for (size_t r = 0; r < mdm_http_nroutes; r++) {
        const mdm_http_route *rt = &mdm_http_routes[r];
        json_t *op = rt->doc ? json_loads(rt->doc, 0, &jerr) : NULL;
        if (!op || !json_is_object(op) || !json_is_string(json_object_get(op, "summary")) ||
            !json_is_object(json_object_get(op, "responses"))) {
            mdm_err_set(err, MDM_EINTERNAL,
                        "route %s %s: its doc must be a JSON object with summary and responses%s%s",
                        rt->method, rt->pattern, op ? "" : ": ", op ? "" : jerr.text);
            json_decref(op);
            json_decref(doc);
            return NULL;
        }
        json_t *xc = json_object_get(op, "x-components");
        if (xc) {
            json_object_update_missing(schemas, json_object_get(xc, "schemas"));
            json_object_del(op, "x-components");
        }
        if (!decorate(op, rt)) {
            mdm_err_set(err, MDM_EINTERNAL,
                        "route %s %s takes a JSON body: its doc needs a"
                        " requestBody with a schema",
                        rt->method, rt->pattern);
            json_decref(op);
            json_decref(doc);
            return NULL;
        }
        if (!json_object_get(op, "operationId")) { /* a route's doc may name it itself */
            char opid[160];
            operation_id(rt->method, rt->pattern, opid, sizeof opid);
            json_object_set_new(op, "operationId", json_string(opid));
        }
        json_t *item = json_object_get(paths, rt->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, rt->pattern, item);
        }
        char method[16];
        size_t k = 0;
        for (; k < sizeof method - 1 && rt->method[k]; k++)
            method[k] = (char)(rt->method[k] | 0x20);
        method[k] = '\0';
        json_object_set_new(item, method, op);
    }
    mark_timestamps(doc);
    return doc;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *cached;
static size_t cached_len;

static void build_once(void)
{
    mdm_err err = {0};
    json_t *doc = mdm_http_openapi(&err);
    if (doc) {
        cached = json_dumps(doc, JSON_COMPACT);
        cached_len = cached ? strlen(cached) : 0;
        json_decref(doc);
    }
}

void mdm_h_openapi(mdm_http_req *req)
{
    pthread_once(&once, build_once);
    if (!cached) {
        mdm_err err = {0};
        json_decref(mdm_http_openapi(&err));
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_raw(req, MHD_HTTP_OK, "application/json", mdm_xstrndup(cached, cached_len),
                       cached_len);
}
