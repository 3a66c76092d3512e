/* Long polls of `mdm serve` (api/http_wait.c): a handler with nothing to answer yet
 * suspends its request instead of holding a worker thread; one thread of the server's,
 * with a database connection of its own, polls the outbox head every 100 ms while
 * anyone waits and resumes the requests whose cursor it passed, whose deadline passed,
 * or all of them at shutdown. The route's handler then runs again for the same request.
 * Used by GET /v1/changes?wait= (api/h_changes.c). */
#ifndef MDM_API_HTTP_WAIT_H
#define MDM_API_HTTP_WAIT_H

#include "api/http.h"

#include <stdbool.h>
#include <stdint.h>

/* Suspends the request (the worker thread moves on) until the outbox holds an event with
 * seq > after, the monotonic deadline (seconds, mdm_http_now) passes or the server shuts
 * down; then the handler runs again and mdm_http_resumed(req) is true. Ends the
 * handler's work like a reply; during a shutdown it does nothing (the handler checks
 * mdm_http_shutting_down first and replies). */
void mdm_http_wait_outbox(mdm_http_req *req, int64_t after, double deadline);
/* True when the handler runs again after mdm_http_wait_outbox. */
bool mdm_http_resumed(mdm_http_req *req);

#endif
