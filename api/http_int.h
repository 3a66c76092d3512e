/* Internals shared by the parts of the HTTP server; handlers never include this file
 * (they use api/http.h and the parts' own headers).
 *
 *   api/http.c          the route table, routing, the request pipeline, the request
 *                       context and its accessors, replies, and the server's lifecycle
 *   api/http_metrics.c  per-route statistics, the counters handlers add, and the
 *                       server's own /metrics series (api/http_metrics.h)
 *   api/http_wait.c     long polls: suspended requests and the thread that resumes them
 *                       (api/http_wait.h)
 *   api/http_guard.c    the slow-client guard (api/http_guard.h)
 *
 * The server and request structs are defined here so the parts can read them; each
 * field is written by the part named in its comment (http.c when none is named). */
#ifndef MDM_API_HTTP_INT_H
#define MDM_API_HTTP_INT_H

#include "api/http.h"
#include "api/http_guard.h"
#include "mdm/trace.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Route statistics slots; index MDM_HTTP_MAX_ROUTES - 1 holds requests that matched no
 * route, so the table holds fewer routes (checked at start). */
#define MDM_HTTP_MAX_ROUTES 128

/* One suspended long poll (api/http_wait.c). */
typedef struct mdm_http_waiter mdm_http_waiter;

/* Long-poll state (api/http_wait.c), guarded by lock. */
typedef struct mdm_http_waits {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    mdm_http_waiter *list;
    int n;
    bool stop;
    pthread_t thread;
    bool started;
} mdm_http_waits;

struct mdm_http_server {
    struct MHD_Daemon *daemon;
    const mdm_config *cfg;
    mdm_http_limits limits;
    mdm_auth *auth;
    mdm_engine *ingest;
    int port;
    atomic_bool shutting_down;
    atomic_int inflight;
    atomic_uint rid_counter;
    unsigned rid_base;
    /* every database connection opened by a worker thread */
    pthread_mutex_t dbs_lock;
    mdm_db **dbs;
    size_t ndbs, capdbs;
    atomic_llong db_connects, db_connect_failures;
    mdm_http_waits waits; /* api/http_wait.c */
    /* slow-client guard and HTTPS material (PEM text, kept for the daemon's life) */
    mdm_http_guard *guard;
    char *tls_cert_pem, *tls_key_pem;
};

typedef struct mdm_http_header_line {
    const char *name, *value;
    struct mdm_http_header_line *next;
} mdm_http_header_line;

struct mdm_http_req {
    mdm_http_server *srv;
    struct MHD_Connection *conn;
    const mdm_http_route *route;
    size_t route_index;
    mdm_arena *arena;
    char rid[72];
    mdm_trace trace; /* this request's span: the caller's traceparent continued, or a new trace */
    double t0;
    const char *method;
    const char *url;      /* as libmicrohttpd unescaped it (DEBUG log only) */
    const char *raw_path; /* the request target's path as sent, still %-escaped */
    bool begun;           /* the access handler has seen the request */
    int nparams;
    const char *pnames[8], *pvalues[8];
    mdm_auth_key key;
    bool has_key;
    size_t max_body;
    mdm_buf body;
    bool body_too_big;
    json_t *json;
    mdm_db *db;
    /* reply */
    bool replied;
    int status;
    struct MHD_Response *resp;
    size_t resp_len;
    mdm_http_header_line *headers;
    /* long poll (api/http_wait.c suspends; the pipeline resumes) */
    bool suspended, resumed;
};

/* api/http_metrics.c */

/* Counts one completed request of route index route (MDM_HTTP_MAX_ROUTES - 1: no route)
 * with its status and duration. Lock-free; any thread. */
void mdm_http_stats_record(size_t route, int status, double seconds);

/* api/http_wait.c, in the server's lifecycle order */

/* Before the daemon starts: the lock and condition (requests may wait from the first). */
void mdm_http_wait_init(mdm_http_server *srv);
/* After the daemon started: the thread that resumes waiters. False when it cannot start. */
bool mdm_http_wait_start(mdm_http_server *srv);
/* Shutdown begins: every waiter is resumed (and answers with what it has). */
void mdm_http_wait_wake(mdm_http_server *srv);
/* After the requests in flight ended: the thread stops (resuming any waiter left) and is
 * joined; then the lock and condition are destroyed. Also after a failed start. */
void mdm_http_wait_stop(mdm_http_server *srv);
/* Requests waiting now (the mdm_http_long_polls gauge). */
int mdm_http_wait_count(mdm_http_server *srv);

#endif
