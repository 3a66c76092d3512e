/* Slow-client guard of mdm serve (see api/http.h, "Connection guard"). libmicrohttpd's
 * connection timeout is an inactivity timeout: a client that trickles one byte a second
 * never trips it and holds a connection (and its memory) forever. The guard gives every
 * request a deadline to arrive completely (headers and body), counted from the moment
 * the connection opened or its previous request completed; a reaper thread shuts down
 * the socket of a connection past its deadline, and libmicrohttpd then closes it as it
 * would any connection the peer dropped.
 *
 * Safety: entries are added and removed by libmicrohttpd's connection notifications
 * (started / closed) under the guard's mutex, and the reaper calls shutdown(2) under
 * the same mutex, so it never touches a descriptor that was already closed (and maybe
 * reused): libmicrohttpd reports a connection closed before it closes its socket. */
#include "api/http_guard.h"

#include "common/log.h"
#include "common/mem.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

typedef struct guard_conn {
    int fd;
    double since;  /* connection opened, or its previous request completed */
    bool received; /* the current request arrived whole: the handler's time is not limited */
    struct guard_conn *prev, *next;
} guard_conn;

struct mdm_http_guard {
    double timeout;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    guard_conn *head;
    bool stop;
    pthread_t thread;
    atomic_llong cut;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *reaper_main(void *arg)
{
    mdm_http_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        double now = now_mono();
        for (guard_conn *c = g->head; c; c = c->next) {
            if (!c->received && c->fd >= 0 && now - c->since > g->timeout) {
                shutdown(c->fd, SHUT_RDWR);
                c->fd = -1; /* once */
                atomic_fetch_add(&g->cut, 1);
                mdm_log(MDM_LOG_WARN, "event=http_slow_client_cut after_s=%.1f", now - c->since);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

mdm_http_guard *mdm_http_guard_new(double request_timeout)
{
    mdm_http_guard *g = mdm_xcalloc(1, sizeof *g);
    g->timeout = request_timeout;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    if (pthread_create(&g->thread, NULL, reaper_main, g) != 0) {
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->cond);
        free(g);
        return NULL;
    }
    return g;
}

void mdm_http_guard_free(mdm_http_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    while (g->head) {
        guard_conn *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
    free(g);
}

void mdm_http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code)
{
    mdm_http_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        guard_conn *c = mdm_xcalloc(1, sizeof *c);
        c->fd = ci ? (int)ci->connect_fd : -1;
        c->since = now_mono();
        pthread_mutex_lock(&g->lock);
        c->next = g->head;
        if (g->head)
            g->head->prev = c;
        g->head = c;
        pthread_mutex_unlock(&g->lock);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        guard_conn *c = *socket_context;
        if (!c)
            return;
        pthread_mutex_lock(&g->lock);
        if (c->prev)
            c->prev->next = c->next;
        else
            g->head = c->next;
        if (c->next)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&g->lock);
        free(c);
        *socket_context = NULL;
    }
}

static guard_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void mdm_http_guard_received(mdm_http_guard *g, struct MHD_Connection *conn)
{
    guard_conn *c = g ? conn_of(conn) : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    c->received = true;
    pthread_mutex_unlock(&g->lock);
}

void mdm_http_guard_completed(mdm_http_guard *g, struct MHD_Connection *conn)
{
    guard_conn *c = g ? conn_of(conn) : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    c->received = false;
    c->since = now_mono();
    pthread_mutex_unlock(&g->lock);
}

long long mdm_http_guard_cut(const mdm_http_guard *g)
{
    return g ? atomic_load(&((mdm_http_guard *)g)->cut) : 0;
}
