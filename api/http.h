/* The HTTP server of `mdm serve`: a libmicrohttpd daemon, the one route table, the
 * request context and the reply helpers every handler uses.
 *
 * Routing uses the raw request target (MHD_OPTION_URI_LOG_CALLBACK): the path is split
 * on '/' first and each segment percent-decoded afterwards, so %2F is a '/' inside a
 * path parameter (a source key "a/b"), never a separator.
 *
 * Request pipeline (api/http.c), in this order, before any handler runs:
 *   route match (404; 405 with Allow) -> API key (401) -> role and own-source check (403)
 *   -> per-key rate limit (429 with Retry-After) -> body size (413) and content type (415)
 *   -> body read, JSON parsed (400) -> the worker thread's database connection (503)
 *   -> handler.
 * Every reply carries X-Request-Id; every error is application/problem+json (RFC 9457:
 * type, title, status, detail, code, request_id, and errors[] with a JSON pointer per
 * field for 422), built from common/err.h's status table, the only map from mdm_status
 * to HTTP status. One access-log line per request (route pattern, not the raw path:
 * paths and queries can hold customer data, which is logged only at DEBUG).
 *
 * Threads: a pool sized from the cores (config `threads`, 0 = cores); each worker thread
 * owns one PostgreSQL connection, opened lazily and reopened after the database
 * restarts. A handler runs on one worker thread and must not block it for long
 * (long polls suspend the connection instead: api/http_wait.h).
 *
 * The server is split along its seams: this file's functions live in api/http.c
 * (routing, pipeline, accessors, replies, lifecycle); the server's own metrics in
 * api/http_metrics.c (api/http_metrics.h), long polls in api/http_wait.c
 * (api/http_wait.h), the slow-client guard in api/http_guard.c (api/http_guard.h); the
 * parts share the server and request structs through api/http_int.h.
 *
 * Adding a route: one row in the table in api/http.c
 *     ROUTE("GET", "/v1/things/{id}", MDM_ROLES_READ, mdm_h_thing_get, 0, 0),
 * plus the handler and its OpenAPI text in api/h_<resource>.c, declared in
 * api/handlers.h with MDM_HTTP_HANDLER(mdm_h_thing_get). The OpenAPI document
 * (/v1/openapi.json) is generated from the table, so a route cannot be missing from it. */
#ifndef MDM_API_HTTP_H
#define MDM_API_HTTP_H

#include "api/auth.h"
#include "common/err.h"
#include "common/jsonin.h"
#include "common/mem.h"
#include "mdm/config.h"
#include "mdm/db.h"
#include "mdm/ingest.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct mdm_http_req mdm_http_req;
typedef struct mdm_http_server mdm_http_server;

/* A handler reads the request through the accessors below and ends with exactly one
 * reply (mdm_http_reply_*), or with mdm_http_wait_outbox (api/http_wait.h). Replying twice keeps
 * the first reply; not replying at all answers 500. */
typedef void (*mdm_http_handler)(mdm_http_req *req);

/* Role sets for the route table. Admin passes every role check. 0 = public (no key). */
#define MDM_ROLES_PUBLIC       0u
#define MDM_ROLES_READ         (MDM_ROLE_READER | MDM_ROLE_STEWARD | MDM_ROLE_COMPLIANCE | MDM_ROLE_ADMIN)
#define MDM_ROLES_SOURCE_WRITE (MDM_ROLE_SOURCE | MDM_ROLE_ADMIN)
#define MDM_ROLES_SOURCE_READ  (MDM_ROLE_SOURCE | MDM_ROLES_READ)
#define MDM_ROLES_COMPLIANCE   (MDM_ROLE_COMPLIANCE | MDM_ROLE_ADMIN)

/* Body limits (route column max_body): 0 = the route takes no body (a body is ignored);
 * a number = that many bytes; or one of these, resolved from the http config section. */
#define MDM_HTTP_BODY_JSON  ((size_t)-1) /* http.max_body_bytes, default 1 MiB */
#define MDM_HTTP_BODY_BATCH ((size_t)-2) /* http.max_batch_bytes, default 16 MiB */

/* Route flags */
#define MDM_HTTP_NDJSON     1u /* body is application/x-ndjson (raw), not JSON */
#define MDM_HTTP_OWN_SOURCE 2u /* a source key may only use its own {source} path param */
#define MDM_HTTP_NO_DB      4u /* the handler needs no database connection */
#define MDM_HTTP_IF_MATCH   8u /* writes the entity {id}: takes If-Match (its ETag), stale = 409 */

typedef struct mdm_http_route {
    const char *method;  /* GET, POST, PUT, DELETE */
    const char *pattern; /* "/v1/entities/{id}": {name} matches one path segment */
    unsigned roles;      /* mask of mdm_role; MDM_ROLES_PUBLIC = no key needed */
    mdm_http_handler handler;
    size_t max_body;
    unsigned flags;
    const char *doc; /* OpenAPI 3.1 Operation Object as JSON text (see api/h_openapi.c) */
} mdm_http_route;

/* The route table, in match order, and its length. */
extern const mdm_http_route mdm_http_routes[];
extern const size_t mdm_http_nroutes;

/* The http config section, validated (defaults in api/http.c and README.md). */
typedef struct mdm_http_limits {
    size_t max_body_bytes;       /* JSON bodies, 1 MiB */
    size_t max_batch_bytes;      /* NDJSON batch bodies, 16 MiB */
    int max_batch_lines;         /* lines per batch, 10000 */
    int connection_timeout;      /* seconds of client inactivity, 30 */
    int max_connections;         /* concurrent connections, 1024 */
    double auth_cache_seconds;   /* how long a verified key row is reused, 10 */
    double burst_seconds;        /* token bucket capacity in seconds of rate, 1 */
    int max_wait_seconds;        /* longest long poll (/v1/changes?wait=), 30 */
    int max_page_size;           /* largest limit= of a list or feed, 1000 */
    int shutdown_timeout;        /* seconds to finish in-flight requests on SIGTERM, 30 */
    int request_timeout;         /* seconds for a request to arrive whole (slow clients), 60 */
    int max_connections_per_ip;  /* from one address, 0 = no limit; 64 (at most half) */
    size_t max_header_bytes;     /* request line + headers (431 above), 32 KiB */
    int quality_metrics_seconds; /* how often mdm serve recomputes the quality histograms of
                                    /metrics in the background, 300; 0 = no histograms */
    const char *tls_cert;        /* PEM certificate (chain) file: serve HTTPS; NULL = HTTP */
    const char *tls_key;         /* PEM private key file, required with tls_cert */
} mdm_http_limits;

/* Validates cfg's http section into *out (defaults for absent keys). An unknown key or a
 * bad value is MDM_EINVAL naming it (err->field = "/http/<key>"). */
mdm_status mdm_http_limits_load(const mdm_config *cfg, mdm_http_limits *out, mdm_err *err)
    __attribute__((warn_unused_result));

/* Server lifecycle (api/cli_serve.c) */

/* Starts listening on listen ("ADDR:PORT"; port 0 picks a free port). cfg is borrowed
 * and must outlive the server. NULL with err set when the address is bad or in use. */
mdm_http_server *mdm_http_start(const mdm_config *cfg, const char *listen, mdm_err *err);
/* The port actually bound. */
int mdm_http_port(const mdm_http_server *srv);
/* True when the server speaks HTTPS (http.tls_cert and http.tls_key). */
bool mdm_http_tls(const mdm_http_server *srv);
/* Graceful stop: no new connections, suspended long polls answered, requests in flight
 * finished (up to shutdown_timeout), then the daemon and the database connections are
 * closed and srv freed. */
void mdm_http_stop(mdm_http_server *srv);

/* Request accessors (valid until the handler's reply has been sent) */

/* Scratch memory freed when the request completes; handlers never free it. */
mdm_arena *mdm_http_arena(mdm_http_req *req);
/* The worker thread's database connection; never NULL unless the route has
 * MDM_HTTP_NO_DB. Use it only on the handler's thread, only during the request. */
mdm_db *mdm_http_db(mdm_http_req *req);
const mdm_config *mdm_http_config(mdm_http_req *req);
const mdm_http_limits *mdm_http_limits_of(mdm_http_req *req);
/* The server's ingest context (sources, thresholds, survivorship, model), built at start;
 * shared read-only by all threads. */
const mdm_engine *mdm_http_ingest_ctx(mdm_http_req *req);
/* Who acts, for link events and audit rows: "api:<key name>" or "api:<key prefix>". */
const char *mdm_http_actor(mdm_http_req *req);
/* The role name of the request's key ("steward", "admin", ...); "system" without a key. */
const char *mdm_http_role(mdm_http_req *req);
const char *mdm_http_method(mdm_http_req *req);
const mdm_http_route *mdm_http_route_of(mdm_http_req *req);
const char *mdm_http_request_id(mdm_http_req *req);
/* Path parameter {name} of the route pattern (percent-decoded, valid UTF-8), or NULL. */
const char *mdm_http_param(mdm_http_req *req, const char *name);
/* Query argument (decoded, valid UTF-8), or NULL when absent. */
const char *mdm_http_query(mdm_http_req *req, const char *name);
/* Request header (case-insensitive name), or NULL. */
const char *mdm_http_header(mdm_http_req *req, const char *name);
/* The authenticated key, or NULL on a public route. */
const mdm_auth_key *mdm_http_key(mdm_http_req *req);
/* The parsed JSON body (borrowed; NULL when the route takes no JSON body). */
json_t *mdm_http_json(mdm_http_req *req);

/* The request's JSON body as a reader (common/jsonin.h) whose complaints are 422 with the
 * member's pointer. False, err filled, when the body is not a JSON object. */
bool mdm_http_body_reader(mdm_http_req *req, mdm_jin *in, mdm_err *err);
/* The raw body (NUL-terminated) and its length; "" when there is none. */
const char *mdm_http_body(mdm_http_req *req, size_t *len);

/* Argument helpers: on a bad value they reply 400 naming the argument (err->field is
 * "/query/NAME") and return false; an absent argument gives def. */
bool mdm_http_query_int(mdm_http_req *req, const char *name, long long def, long long min,
                        long long max, long long *out);
/* Argument `name`, when present, must be an ISO 8601 time (as consent events take). */
bool mdm_http_query_time(mdm_http_req *req, const char *name);
/* Path parameter `name` as a positive 64-bit id; otherwise replies 404 naming `what`
 * and returns false. */
bool mdm_http_param_id(mdm_http_req *req, const char *name, const char *what, int64_t *out);
/* Parses the version of an If-Match header ("3", "\"3\"" or W/"3"; "*" matches any
 * version: true with *version 0); false when absent. A malformed header replies 400
 * and sets *bad. */
bool mdm_http_if_match(mdm_http_req *req, int *version, bool *bad);

/* Replies (each ends the handler's work) */

/* Adds a response header to the coming reply (name and value are copied). */
void mdm_http_set_header(mdm_http_req *req, const char *name, const char *value);
/* Replies with status and body as application/json; consumes body (may be NULL: empty). */
void mdm_http_reply_json(mdm_http_req *req, int status, json_t *body);
/* Replies with a body the caller allocated with malloc; consumes body. A 200 to GET or
 * HEAD whose ETag (set before) the request's If-None-Match names becomes 304 without the
 * body, for every route. */
void mdm_http_reply_raw(mdm_http_req *req, int status, const char *content_type, char *body,
                        size_t len);
/* Streams a reply of unknown length (HTTP/1.1 chunked). read is libmicrohttpd's content
 * reader: it fills up to max bytes of buf and returns how many, or -1
 * (MHD_CONTENT_READER_END_OF_STREAM) at the end, or -2 (MHD_CONTENT_READER_END_WITH_ERROR)
 * to abort, which the client sees as a chunked body without its last chunk. It runs on
 * the connection's worker thread after the handler has returned, interleaved with the
 * other requests of that thread, so it must not use mdm_http_db(req): a stream that
 * reads the database opens a connection of its own. free_fn(ctx) (may be NULL) runs
 * exactly once: when the response is destroyed (completed or aborted), or at once when
 * this call cannot reply. The access log counts 0 bytes for a stream. */
typedef ssize_t (*mdm_http_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
void mdm_http_reply_stream(mdm_http_req *req, int status, const char *content_type,
                           mdm_http_stream_fn read, void *ctx, void (*free_fn)(void *ctx));
/* Replies application/problem+json from err: status, title and code from the status
 * table, detail from err->msg (and err->detail), errors[{pointer, detail}] when
 * err->field is set. 5xx are logged at ERROR with the request id. */
void mdm_http_reply_problem(mdm_http_req *req, const mdm_err *err);
/* Like mdm_http_reply_problem with several field errors: errors is an array of
 * {pointer, detail} objects (consumed). */
void mdm_http_reply_problem_fields(mdm_http_req *req, const mdm_err *err, json_t *errors);

/* When the request arrived (monotonic seconds). */
double mdm_http_started(mdm_http_req *req);
/* Monotonic clock in seconds (deadlines). */
double mdm_http_now(void);
/* True once a shutdown has begun. */
bool mdm_http_shutting_down(mdm_http_req *req);

/* Tests and tools */

/* Matches method and the raw (still %-escaped) path against the table: the route (and
 * its path parameters in names/values, up to 8, pointing into path_copy, which the
 * function splits on '/' and percent-decodes segment by segment in place), or NULL;
 * *path_known says whether some other method matches the path (405). */
const mdm_http_route *mdm_http_match(const char *method, char *path_copy, const char **names,
                                     const char **values, int *nparams, bool *path_known);
/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, no NUL). */
bool mdm_http_utf8_valid(const char *s, size_t len);
/* Copies a libmicrohttpd log message to out (cap bytes, truncated) with the request
 * path it quotes replaced by "<path redacted>": paths hold record keys such as e-mail
 * addresses. */
void mdm_http_redact_log(const char *in, char *out, size_t cap);

#endif
