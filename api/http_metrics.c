/* The HTTP server's own metrics: per-route request counts by status and latency
 * histograms (lock-free atomics indexed by route, written by the request-completed
 * callback), the named counters handlers add (a mutex: they are few), and their
 * Prometheus text with the server's gauges (in flight, long polls, database connections,
 * slow clients cut). See api/http_metrics.h. */
#include "api/http_metrics.h"

#include "api/http_int.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Route statistics and named counters ------------------------------------------------- */

static const int status_codes[] = {200, 201, 202, 204, 304, 400, 401, 403, 404,
                                   405, 409, 413, 415, 422, 429, 500, 503, 0 /* other */};
#define NSTATUS (sizeof status_codes / sizeof status_codes[0])
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBOUNDS (sizeof latency_bounds / sizeof latency_bounds[0])

typedef struct route_stats {
    atomic_ullong by_status[NSTATUS];
    atomic_ullong buckets[NBOUNDS + 1];
    atomic_ullong micros_sum;
} route_stats;

/* Index MDM_HTTP_MAX_ROUTES - 1 holds requests that matched no route. */
static route_stats stats[MDM_HTTP_MAX_ROUTES];

typedef struct counter {
    char *name, *labels;
    atomic_llong value;
} counter;

static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static counter *counters;
static size_t ncounters, capcounters;

/* Every counter the handlers add to, with its help text and every label set it takes:
 * /metrics shows them all from the start (at 0), each with HELP and TYPE, so a scraper
 * and `promtool check metrics` see the same names before and after the first event. */
static const struct known_counter {
    const char *name, *help;
    const char *labels[12];
} known_counters[] = {
    {"mdm_ingest_results_total",
     "Source records received over HTTP (upserts, deletes, batches), by outcome.",
     {"result=\"created\"", "result=\"linked\"", "result=\"merged\"", "result=\"review\"",
      "result=\"updated\"", "result=\"unchanged\"", "result=\"stale\"", "result=\"deleted\"",
      "result=\"rejected\"", "result=\"other\"", NULL}},
    {"mdm_consent_events_total",
     "Consent events received over HTTP: stored, or duplicates of stored ones.",
     {"result=\"stored\"", "result=\"duplicate\"", NULL}},
    {"mdm_subject_erasures_total", "Subjects erased over HTTP.", {"", NULL}},
};

void mdm_http_counter_add(const char *name, const char *labels, long long n)
{
    bool known = false; /* an unknown series would never be shown: a programming error */
    for (size_t k = 0; k < sizeof known_counters / sizeof known_counters[0] && !known; k++)
        for (const char *const *l = known_counters[k].labels; *l && !known; l++)
            known = strcmp(known_counters[k].name, name) == 0 && strcmp(*l, labels) == 0;
    assert(known);
    if (!known)
        return;
    pthread_mutex_lock(&counters_lock);
    size_t i = 0;
    while (i < ncounters &&
           (strcmp(counters[i].name, name) != 0 || strcmp(counters[i].labels, labels) != 0))
        i++;
    if (i == ncounters) {
        if (ncounters == capcounters) {
            capcounters = capcounters ? capcounters * 2 : 16;
            counters = mdm_xrealloc(counters, capcounters * sizeof *counters);
        }
        counters[i].name = mdm_xstrdup(name);
        counters[i].labels = mdm_xstrdup(labels);
        atomic_init(&counters[i].value, 0);
        ncounters++;
    }
    atomic_fetch_add(&counters[i].value, n);
    pthread_mutex_unlock(&counters_lock);
}

void mdm_http_stats_record(size_t route, int status, double seconds)
{
    route_stats *rs = &stats[route < MDM_HTTP_MAX_ROUTES - 1 ? route : MDM_HTTP_MAX_ROUTES - 1];
    size_t s = 0;
    while (status_codes[s] && status_codes[s] != status)
        s++;
    atomic_fetch_add(&rs->by_status[s], 1);
    size_t b = 0;
    while (b < NBOUNDS && seconds > latency_bounds[b])
        b++;
    atomic_fetch_add(&rs->buckets[b], 1);
    atomic_fetch_add(&rs->micros_sum, (unsigned long long)(seconds * 1e6));
}

/* Output ------------------------------------------------------------------------------- */

/* The statistics slot of line r of the output (0 .. mdm_http_nroutes: the routes, then
 * the requests no route matched) and its labels: the method and pattern, or "" and
 * "unmatched". */
static size_t route_label(size_t r, const char **method, const char **pattern)
{
    bool route = r < mdm_http_nroutes;
    *method = route ? mdm_http_routes[r].method : "";
    *pattern = route ? mdm_http_routes[r].pattern : "unmatched";
    return route ? r : MDM_HTTP_MAX_ROUTES - 1;
}

void mdm_http_metrics_write(mdm_http_req *req, mdm_buf *out)
{
    mdm_http_server *srv = req->srv;
    int nwaiters = mdm_http_wait_count(srv);
    mdm_buf_puts(out, "# HELP mdm_http_requests_total HTTP requests by route and status.\n"
                      "# TYPE mdm_http_requests_total counter\n");
    for (size_t r = 0; r <= mdm_http_nroutes; r++) {
        const char *m, *p;
        size_t idx = route_label(r, &m, &p);
        for (size_t s = 0; s < NSTATUS; s++) {
            unsigned long long n = atomic_load(&stats[idx].by_status[s]);
            if (!n)
                continue;
            char code[8];
            snprintf(code, sizeof code, "%d", status_codes[s]);
            mdm_buf_printf(
                out, "mdm_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n", m,
                p, status_codes[s] ? code : "other", n);
        }
    }
    mdm_buf_puts(out, "# HELP mdm_http_request_duration_seconds Request latency by route.\n"
                      "# TYPE mdm_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= mdm_http_nroutes; r++) {
        const char *m, *p;
        size_t idx = route_label(r, &m, &p);
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            cum += atomic_load(&stats[idx].buckets[b]);
            if (b < NBOUNDS)
                mdm_buf_printf(
                    out,
                    "mdm_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                    "le=\"%g\"} %llu\n",
                    m, p, latency_bounds[b], cum);
            else
                mdm_buf_printf(
                    out,
                    "mdm_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                    "le=\"+Inf\"} %llu\n",
                    m, p, cum);
        }
        mdm_buf_printf(out,
                       "mdm_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
                       m, p, (double)atomic_load(&stats[idx].micros_sum) / 1e6);
        mdm_buf_printf(out,
                       "mdm_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
                       m, p, cum);
    }
    mdm_buf_printf(out,
                   "# HELP mdm_http_requests_in_flight Requests being served.\n"
                   "# TYPE mdm_http_requests_in_flight gauge\nmdm_http_requests_in_flight %d\n"
                   "# HELP mdm_http_long_polls Change-feed requests waiting for events.\n"
                   "# TYPE mdm_http_long_polls gauge\nmdm_http_long_polls %d\n",
                   atomic_load(&srv->inflight), nwaiters);
    pthread_mutex_lock(&srv->dbs_lock);
    size_t ndbs = srv->ndbs;
    pthread_mutex_unlock(&srv->dbs_lock);
    mdm_buf_printf(out,
                   "# HELP mdm_db_pool_connections Database connections of the worker threads.\n"
                   "# TYPE mdm_db_pool_connections gauge\nmdm_db_pool_connections %zu\n"
                   "# HELP mdm_db_connects_total Successful database (re)connections.\n"
                   "# TYPE mdm_db_connects_total counter\nmdm_db_connects_total %lld\n"
                   "# HELP mdm_db_connect_failures_total Failed database connection attempts.\n"
                   "# TYPE mdm_db_connect_failures_total counter\n"
                   "mdm_db_connect_failures_total %lld\n"
                   "# HELP mdm_http_slow_clients_cut_total Connections shut down because a request"
                   " did not arrive within http.request_timeout.\n"
                   "# TYPE mdm_http_slow_clients_cut_total counter\n"
                   "mdm_http_slow_clients_cut_total %lld\n",
                   ndbs, atomic_load(&srv->db_connects), atomic_load(&srv->db_connect_failures),
                   mdm_http_guard_cut(srv->guard));
    /* every known counter with each of its series, 0 until counted */
    pthread_mutex_lock(&counters_lock);
    for (size_t k = 0; k < sizeof known_counters / sizeof known_counters[0]; k++) {
        const struct known_counter *kc = &known_counters[k];
        mdm_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", kc->name, kc->help, kc->name);
        for (const char *const *l = kc->labels; *l; l++) {
            long long v = 0;
            for (size_t j = 0; j < ncounters; j++)
                if (strcmp(counters[j].name, kc->name) == 0 && strcmp(counters[j].labels, *l) == 0)
                    v = atomic_load(&counters[j].value);
            mdm_buf_printf(out, "%s%s%s%s %lld\n", kc->name, **l ? "{" : "", *l, **l ? "}" : "", v);
        }
    }
    pthread_mutex_unlock(&counters_lock);
}
