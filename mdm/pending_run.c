/* The pending-record driver: resolves what bulk loads and deletes left in record_pending,
 * set-based first (mdm/bulk.h) when enough records wait, then record by record
 * (mdm/resolve.h) on worker threads. It sits above both resolvers; the queue itself
 * (record_pending) is written only by mdm/pending.c, below them. See pending.h. */
#include "mdm/pending.h"

#include "common/log.h"
#include "mdm/bulk.h"
#include "mdm/counters.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/resolve.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const mdm_db_stmt stmt_pending = {
    "resolve_pending",
    "SELECT p.record_id AS id, sr.deleted FROM record_pending p "
    "JOIN source_record sr ON sr.id = p.record_id ORDER BY p.record_id LIMIT $1 "
    "FOR UPDATE OF p SKIP LOCKED",
    1};

typedef struct pending_job {
    const char *url;
    const mdm_engine *ctx;
    int batch;
    FILE *progress;
    atomic_long done;
    atomic_int failed;
    mdm_err err;
    pthread_mutex_t mu;
} pending_job;

typedef struct batch_ctx {
    pending_job *job;
    int size; /* records per transaction this time */
    long n;
} batch_ctx;

static mdm_status batch_tx(mdm_db *db, void *arg, mdm_err *err)
{
    batch_ctx *b = arg;
    b->n = 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", b->size);
    const char *p[1] = {lim};
    PGresult *res = NULL;
    mdm_status st = mdm_resolve_gate(db, err);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_pending, p, &res, err);
    if (st != MDM_OK)
        return st;
    int n = PQntuples(res);
    long by[MDM_DECISION_PENDING + 1] = {0};
    for (int i = 0; i < n && st == MDM_OK; i++) {
        int64_t id = mdm_db_get_ll(res, i, "id", 0);
        bool deleted = !strcmp(mdm_db_get(res, i, "deleted", "f"), "t");
        mdm_ingest_result r = {0};
        if (deleted) {
            st = mdm_resolve_forget(db, id, err);
            if (st == MDM_OK)
                st = mdm_golden_unlink(db, b->job->ctx, id, "system", "resolve", "source delete",
                                       NULL, err);
            /* a deleted record leaves the queue once its golden record is recomputed */
            if (st == MDM_OK)
                st = mdm_pending_remove(db, id, err);
            by[MDM_DECISION_DELETED]++;
        } else {
            st = mdm_resolve_record(db, b->job->ctx, id, "resolve", &r, err);
            if (st == MDM_OK && r.decision >= 0 && r.decision <= MDM_DECISION_PENDING)
                by[r.decision]++;
        }
        mdm_ingest_result_clear(&r);
    }
    PQclear(res);
    if (st == MDM_OK) { /* counted with the batch they count (mdm/counters.h) */
        mdm_count c[MDM_DECISION_PENDING + 1];
        for (int d = 0; d <= MDM_DECISION_PENDING; d++)
            c[d] = (mdm_count){mdm_decision_name((mdm_decision)d), by[d]};
        st = mdm_counters_add(db, "resolve", c, MDM_DECISION_PENDING + 1, err);
    }
    if (st == MDM_OK)
        b->n = n;
    return st;
}

/* One worker: batches of job->batch records per transaction. Parallel workers can
 * deadlock on each other's accumulated locks (PostgreSQL detects it and one batch rolls
 * back); the worker then goes on one record per transaction for a while, retrying a
 * record that still deadlocks after a short random pause. */
static void *pending_worker(void *arg)
{
    pending_job *job = arg;
    mdm_err err = {0};
    mdm_db *db = mdm_db_connect(job->url, &err);
    unsigned seed = (unsigned)(uintptr_t)&err;
    long small_until = 0; /* records to process one by one */
    int retries = 0;
    if (!db)
        goto out_fail;
    for (;;) {
        if (atomic_load(&job->failed))
            break;
        batch_ctx b = {job, small_until > 0 ? 1 : job->batch, 0};
        mdm_status st = mdm_db_run_tx(db, "resolve_batch", batch_tx, &b, &err);
        if (st == MDM_ERETRY && retries < 20) {
            retries++;
            small_until = 4L * job->batch;
            usleep((useconds_t)(1000 + rand_r(&seed) % 20000));
            continue;
        }
        if (st != MDM_OK) {
            mdm_db_close(db);
            goto out_fail;
        }
        retries = 0;
        if (b.n == 0)
            break;
        if (small_until > 0)
            small_until -= b.n;
        long total = atomic_fetch_add(&job->done, b.n) + b.n;
        if (job->progress && (total / 10000) != ((total - b.n) / 10000)) {
            fprintf(job->progress, "resolve: %ld records\n", total);
            fflush(job->progress);
        }
    }
    mdm_db_close(db);
    return NULL;
out_fail:
    pthread_mutex_lock(&job->mu);
    if (!atomic_load(&job->failed))
        job->err = err;
    atomic_store(&job->failed, 1);
    pthread_mutex_unlock(&job->mu);
    return NULL;
}

static const mdm_db_stmt stmt_pending_count = {
    "resolve_pending_count",
    "SELECT count(*) AS n FROM record_pending p JOIN source_record sr ON sr.id = p.record_id "
    "WHERE NOT sr.deleted",
    0};

/* The bulk path first when enough records wait (and a trained model is in use). */
static mdm_status bulk_first(const char *url, const mdm_engine *ctx, FILE *progress, long *done,
                             mdm_err *err)
{
    const mdm_resolve_settings *rs = mdm_engine_settings(ctx);
    *done = 0;
    if (rs->bulk_min <= 0 || !mdm_engine_model(ctx))
        return MDM_OK;
    mdm_db *db = mdm_db_connect(url, err);
    if (!db)
        return err ? err->code : MDM_EDB;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_pending_count, NULL, &res, err);
    if (st == MDM_OK) {
        long n = (long)mdm_db_get_ll(res, 0, "n", 0);
        PQclear(res);
        if (n >= rs->bulk_min) {
            mdm_bulk_stats bs;
            /* on all CPUs (MDM_THREADS): threads counts connections, and bulk uses one */
            st = mdm_bulk_resolve(db, ctx, 0, 0, progress, &bs, err);
            *done = bs.created + bs.linked;
            /* records in new golden records, records that joined one, review items */
            const mdm_count c[] = {
                {"created", bs.created}, {"linked", bs.linked}, {"review", bs.review}};
            if (st == MDM_OK)
                st = mdm_counters_add(db, "resolve", c, sizeof c / sizeof *c, err);
        }
    }
    mdm_db_close(db);
    return st;
}

mdm_status mdm_pending_resolve(const char *url, const mdm_engine *ctx, int batch, int threads,
                               FILE *progress, long *resolved, mdm_err *err)
{
    pending_job job;
    memset(&job, 0, sizeof job);
    job.url = url;
    job.ctx = ctx;
    job.batch = batch > 0 ? batch : 200;
    job.progress = progress;
    pthread_mutex_init(&job.mu, NULL);
    if (threads < 1)
        threads = 1;
    if (threads > 32)
        threads = 32;
    long bulk_done = 0;
    mdm_status bst = bulk_first(url, ctx, progress, &bulk_done, err);
    if (bst != MDM_OK) {
        pthread_mutex_destroy(&job.mu);
        return bst;
    }
    atomic_store(&job.done, bulk_done);
    pthread_t t[32];
    int started = 0;
    if (threads == 1) {
        pending_worker(&job);
    } else {
        for (int i = 0; i < threads; i++)
            if (pthread_create(&t[i], NULL, pending_worker, &job) == 0)
                started++;
        for (int i = 0; i < started; i++)
            pthread_join(t[i], NULL);
    }
    pthread_mutex_destroy(&job.mu);
    if (resolved)
        *resolved = atomic_load(&job.done);
    if (atomic_load(&job.failed)) {
        if (err)
            *err = job.err;
        return job.err.code ? job.err.code : MDM_EDB;
    }
    return MDM_OK;
}
