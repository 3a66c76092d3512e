/* Connection guard of `mdm serve` (api/http_guard.c, used by api/http.c): a request must
 * arrive whole (line, headers and body) within request_timeout seconds of the connection
 * opening or of its previous request completing, else its socket is shut down (a client
 * trickling a byte a second never trips libmicrohttpd's inactivity timeout). Counted in
 * /metrics as mdm_http_slow_clients_cut_total. Thread-safe: libmicrohttpd's threads
 * report connections, one reaper thread of the guard's own cuts them. */
#ifndef MDM_API_HTTP_GUARD_H
#define MDM_API_HTTP_GUARD_H

#include <microhttpd.h>

typedef struct mdm_http_guard mdm_http_guard;

mdm_http_guard *mdm_http_guard_new(double request_timeout); /* NULL if no thread */
void mdm_http_guard_free(mdm_http_guard *g);                /* after the daemon stopped */
/* MHD_OPTION_NOTIFY_CONNECTION callback (cls = the guard). */
void mdm_http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code);
/* The connection's request arrived whole: its deadline stops. */
void mdm_http_guard_received(mdm_http_guard *g, struct MHD_Connection *conn);
/* The connection's request completed: the next request's deadline starts. */
void mdm_http_guard_completed(mdm_http_guard *g, struct MHD_Connection *conn);
/* Connections cut so far. */
long long mdm_http_guard_cut(const mdm_http_guard *g);

#endif
