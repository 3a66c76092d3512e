/* The HTTP server's own metrics (api/http_metrics.c): requests by route and status,
 * latency histograms by route, requests in flight, long polls, the worker threads'
 * database connections, slow clients cut, and the named counters handlers add (ingest
 * results, consent events, erasures). All in the process's memory: each `mdm serve`
 * process shows its own; the deployment's record counters live in the database
 * (mdm/counters.h). Route statistics are lock-free atomics indexed by route; the named
 * counters take a mutex. Thread-safe. */
#ifndef MDM_API_HTTP_METRICS_H
#define MDM_API_HTTP_METRICS_H

#include "api/http.h"
#include "common/mem.h"

/* Adds n to the counter name{labels} (labels is Prometheus label text such as
 * result="linked", or ""). Every name and label set must be in http_metrics.c's
 * known_counters (with its HELP text), which /metrics shows from the start at 0. */
void mdm_http_counter_add(const char *name, const char *labels, long long n);

/* Appends the server's own series (above) to out in Prometheus text format
 * (api/h_metrics.c adds the database's). */
void mdm_http_metrics_write(mdm_http_req *req, mdm_buf *out);

#endif
