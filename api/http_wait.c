/* Long polls: suspended requests and the thread that resumes them. See api/http_wait.h.
 *
 * Invariants: a waiter is on the list from its suspension until the thread takes it off
 * (under the lock) and resumes its connection, exactly once; the thread ends only when
 * asked to stop and the list is empty, so no suspended request is left behind at
 * shutdown. */
#include "api/http_wait.h"

#include "api/http_int.h"
#include "common/mem.h"
#include "mdm/outbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct mdm_http_waiter {
    mdm_http_req *req;
    int64_t after;
    double deadline;
    struct mdm_http_waiter *next;
};

bool mdm_http_resumed(mdm_http_req *req)
{
    return req->resumed;
}

void mdm_http_wait_outbox(mdm_http_req *req, int64_t after, double deadline)
{
    mdm_http_server *srv = req->srv;
    if (atomic_load(&srv->shutting_down) || req->replied)
        return; /* the handler's caller sees no reply and answers 500; handlers check first */
    mdm_http_waiter *w = mdm_xcalloc(1, sizeof *w);
    w->req = req;
    w->after = after;
    w->deadline = deadline;
    req->suspended = true;
    MHD_suspend_connection(req->conn);
    mdm_http_waits *ws = &srv->waits;
    pthread_mutex_lock(&ws->lock);
    w->next = ws->list;
    ws->list = w;
    ws->n++;
    pthread_cond_signal(&ws->cond);
    pthread_mutex_unlock(&ws->lock);
}

/* Wakes waiters whose condition holds: an outbox seq beyond their cursor, the deadline,
 * or shutdown. One own connection polls max(seq) (an index lookup) every 100 ms while
 * anyone waits. */
static void *wait_main(void *arg)
{
    mdm_http_server *srv = arg;
    mdm_http_waits *ws = &srv->waits;
    mdm_db *db = NULL;
    double db_failed_at = -10;
    pthread_mutex_lock(&ws->lock);
    while (!ws->stop || ws->list) {
        if (!ws->list) {
            pthread_cond_wait(&ws->cond, &ws->lock);
            continue;
        }
        pthread_mutex_unlock(&ws->lock);
        long long max_seq = -1;
        double now = mdm_http_now();
        if (!db && now - db_failed_at > 1) {
            db = mdm_db_connect(srv->cfg->database_url, NULL);
            if (!db)
                db_failed_at = now;
        }
        if (db) {
            mdm_err err;
            int64_t head = 0;
            if (mdm_outbox_head(db, &head, &err) == MDM_OK) {
                max_seq = head;
            } else if (!mdm_db_ok(db)) {
                mdm_db_close(db);
                db = NULL;
                db_failed_at = now;
            }
        }
        bool stopping = atomic_load(&srv->shutting_down);
        pthread_mutex_lock(&ws->lock);
        mdm_http_waiter *ready = NULL;
        for (mdm_http_waiter **pw = &ws->list; *pw;) {
            mdm_http_waiter *w = *pw;
            if (stopping || ws->stop || max_seq > w->after || now >= w->deadline) {
                *pw = w->next;
                ws->n--;
                w->next = ready;
                ready = w;
            } else {
                pw = &w->next;
            }
        }
        pthread_mutex_unlock(&ws->lock);
        while (ready) {
            mdm_http_waiter *w = ready;
            ready = w->next;
            MHD_resume_connection(w->req->conn);
            free(w);
        }
        pthread_mutex_lock(&ws->lock);
        if (ws->list && !ws->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100L * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&ws->cond, &ws->lock, &ts);
        }
    }
    pthread_mutex_unlock(&ws->lock);
    mdm_db_close(db);
    return NULL;
}

void mdm_http_wait_init(mdm_http_server *srv)
{
    pthread_mutex_init(&srv->waits.lock, NULL);
    pthread_cond_init(&srv->waits.cond, NULL);
}

bool mdm_http_wait_start(mdm_http_server *srv)
{
    srv->waits.started = pthread_create(&srv->waits.thread, NULL, wait_main, srv) == 0;
    return srv->waits.started;
}

void mdm_http_wait_wake(mdm_http_server *srv)
{
    pthread_mutex_lock(&srv->waits.lock);
    pthread_cond_signal(&srv->waits.cond);
    pthread_mutex_unlock(&srv->waits.lock);
}

void mdm_http_wait_stop(mdm_http_server *srv)
{
    mdm_http_waits *ws = &srv->waits;
    pthread_mutex_lock(&ws->lock);
    ws->stop = true;
    pthread_cond_signal(&ws->cond);
    pthread_mutex_unlock(&ws->lock);
    if (ws->started)
        pthread_join(ws->thread, NULL);
    pthread_mutex_destroy(&ws->lock);
    pthread_cond_destroy(&ws->cond);
}

int mdm_http_wait_count(mdm_http_server *srv)
{
    pthread_mutex_lock(&srv->waits.lock);
    int n = srv->waits.n;
    pthread_mutex_unlock(&srv->waits.lock);
    return n;
}
