/* Push delivery speed against a local mdm-test-receiver (release build):
 *
 *   1. throughput: N outbox events (default 20000, over 2000 entities) already waiting;
 *      delivery workers fan them out and deliver them all; deliveries per second.
 *   2. lag: a writer commits golden changes at 500/s (one mdm_outbox_emit transaction
 *      each) for SECONDS (default 10) while workers run; the receiver measures, for every
 *      event, the time from the outbox row's commit-time clock (created_at) to arrival:
 *      p50, p99 and max.
 *
 * usage: bench_publish [SECONDS] [EVENTS]   (MDM_DATABASE_URL: an empty database;
 *        MDM_SQL_DIR, MDM_ROOT from scripts/bench.sh). Prints key=value lines. */
#include "common/clock.h"
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "mdm/outbox.h"
#include "mdm/publish.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET "bench-receiver-secret-0123"

static const char *url;
static char receiver_bin[512];

static mdm_db *connect_or_die(void)
{
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    if (!db) {
        fprintf(stderr, "bench_publish: %s\n", err.msg);
        exit(1);
    }
    return db;
}

static void sql(mdm_db *db, const char *q, int n, const char *const *p)
{
    mdm_err err;
    PGresult *res = NULL;
    if (mdm_db_exec_params(db, q, n, p, &res, &err) != MDM_OK) {
        fprintf(stderr, "bench_publish: %s: %s\n", q, err.msg);
        exit(1);
    }
    PQclear(res);
}

typedef struct receiver {
    pid_t pid;
    int port, out_fd;
} receiver;

static void receiver_start(receiver *r)
{
    int fds[2];
    if (pipe(fds) != 0)
        exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(receiver_bin, receiver_bin, "--secret", SECRET, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    r->pid = pid;
    r->out_fd = fds[0];
    char line[64];
    size_t len = 0;
    while (len < sizeof line - 1 && read(fds[0], line + len, 1) == 1 && line[len] != '\n')
        len++;
    line[len] = '\0';
    if (sscanf(line, "ready %d", &r->port) != 1) {
        fprintf(stderr, "bench_publish: receiver did not start (%s)\n", receiver_bin);
        exit(1);
    }
}

/* Stops the receiver and returns its summary line (static buffer). */
static const char *receiver_stop(receiver *r)
{
    static char buf[1024];
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = read(r->out_fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)k;
    buf[len] = '\0';
    close(r->out_fd);
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static long long summary_value(const char *summary, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(summary, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static double summary_double(const char *summary, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(summary, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

static void subscribe(mdm_db *db, int port)
{
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/hook", port);
    const char *p[] = {u, SECRET};
    sql(db, "UPDATE subscription SET active = false", 0, NULL);
    sql(db,
        "INSERT INTO subscription (source, url, secret, scope, mapping) VALUES ('crm', $1, $2, "
        "'all', "
        "'{\"Id\": \"$source_key\", \"First\": \"first_name\", \"Last\": \"last_name\", "
        "\"Mail\": \"emails.0\", \"Zip\": \"addresses.0.postal_code\"}')",
        2, p);
}

#define GOLDEN                                                                                     \
    "{\"golden\": {\"first_name\": \"Robert\", \"last_name\": \"Smith\", \"birth_date\": "         \
    "\"1980-03-04\", \"emails\": [\"bob.smith@example.com\"], \"phones\": [{\"type\": "            \
    "\"mobile\", \"number\": \"+14155550132\"}], \"addresses\": [{\"line1\": \"1 Main Street\", "  \
    "\"city\": \"Springfield\", \"postal_code\": \"12345\", \"country\": \"US\"}], "               \
    "\"loyalty_id\": \"L123\", \"segment\": \"gold\"}}"

/* Workers that loop until stop (as mdm serve runs them). */
static atomic_int stop;
static mdm_publish_opts opts;

static void *worker(void *arg)
{
    (void)arg;
    mdm_err err;
    mdm_publisher *p = mdm_publisher_new(url, &opts, &err);
    if (!p) {
        fprintf(stderr, "bench_publish: %s\n", err.msg);
        return NULL;
    }
    while (!atomic_load(&stop)) {
        int n = 0;
        if (mdm_publisher_step(p, &n, &err) != MDM_OK)
            fprintf(stderr, "bench_publish: step: %s\n", err.msg);
        if (n == 0)
            usleep((useconds_t)opts.poll_ms * 1000);
    }
    mdm_publisher_free(p);
    return NULL;
}

typedef struct emit_ctx {
    long long entity;
} emit_ctx;

static mdm_status emit_fn(mdm_db *db, void *arg, mdm_err *err)
{
    emit_ctx *c = arg;
    json_t *payload = json_loads(GOLDEN, 0, NULL);
    mdm_status st = mdm_outbox_emit(db, "updated", c->entity, 2, payload, NULL, err);
    json_decref(payload);
    return st;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    long events = argc > 2 ? atol(argv[2]) : 20000;
    if (seconds <= 0)
        seconds = 10;
    if (events <= 0)
        events = 20000;
    url = getenv("MDM_DATABASE_URL");
    const char *sql_dir = getenv("MDM_SQL_DIR");
    const char *root = getenv("MDM_ROOT");
    if (!url || !sql_dir || !root) {
        fprintf(stderr, "bench_publish: needs MDM_DATABASE_URL, MDM_SQL_DIR, MDM_ROOT\n");
        return 2;
    }
    snprintf(receiver_bin, sizeof receiver_bin, "%s/build/rel/mdm-test-receiver", root);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mdm_db *db = connect_or_die();
    mdm_err err;
    if (mdm_migrate_run(db, sql_dir, false, NULL, NULL, &err) != MDM_OK) {
        fprintf(stderr, "bench_publish: migrate: %s\n", err.msg);
        return 1;
    }
    sql(db, "INSERT INTO source_system (code, name, kind) VALUES ('crm', 'CRM', 'crm')", 0, NULL);
    sql(db, "INSERT INTO entity (id) SELECT g FROM generate_series(1, 2000) g", 0, NULL);
    sql(db,
        "INSERT INTO source_record (source, source_key, raw, normalized, content_hash) "
        "SELECT 'crm', 'C-' || g, '{}', '{}', 'h' || g FROM generate_series(1, 2000) g",
        0, NULL);
    sql(db, "INSERT INTO membership (record_id, entity_id) SELECT r.id, r.id FROM source_record r",
        0, NULL);
    if (mdm_publish_opts_load(NULL, &opts, &err) != MDM_OK)
        return 1;
    /* the receiver listens on loopback, which deliveries refuse by default */
    json_t *nets = json_pack("[s]", "127.0.0.1/32");
    if (mdm_egress_load(nets, "/publish/allowed_networks", &opts.egress, &err) != MDM_OK)
        exit(1);
    json_decref(nets);
    opts.batch = 64;
    opts.poll_ms = 20;
    opts.timeout_ms = 5000;
    int threads = 4;
    printf("publish_workers=%d batch=%d\n", threads, opts.batch);

    /* 1. throughput */
    receiver r;
    receiver_start(&r);
    subscribe(db, r.port);
    char n_s[24];
    snprintf(n_s, sizeof n_s, "%ld", events);
    const char *p1[] = {n_s, GOLDEN};
    sql(db,
        "INSERT INTO outbox (type, entity_id, entity_version, payload) "
        "SELECT 'updated', 1 + g % 2000, 2 + g / 2000, $2::jsonb FROM generate_series(0, $1::int - "
        "1) g",
        2, p1);
    sql(db, "ANALYZE", 0, NULL); /* as a database in service would have statistics */
    double t0 = mdm_clock_s();
    long processed = 0;
    mdm_status st = mdm_publish_run(url, &opts, threads, true, 300000, &processed, &err);
    double t1 = mdm_clock_s();
    const char *sum = receiver_stop(&r);
    if (st != MDM_OK) {
        fprintf(stderr, "bench_publish: %s\n", err.msg);
        return 1;
    }
    printf("publish_events=%ld publish_seconds=%.2f publish_deliveries_per_s=%.0f\n", events,
           t1 - t0, (double)events / (t1 - t0));
    printf("publish_received_unique=%lld publish_duplicates=%lld publish_bad_signatures=%lld\n",
           summary_value(sum, "unique"), summary_value(sum, "duplicates"),
           summary_value(sum, "bad_signatures"));
    int failed = summary_value(sum, "unique") != events;

    /* 2. lag at 500 changes/s */
    receiver_start(&r);
    subscribe(db, r.port);
    opts.poll_ms = 50;
    atomic_store(&stop, 0);
    pthread_t w[8];
    int nw = 2;
    for (int i = 0; i < nw; i++)
        pthread_create(&w[i], NULL, worker, NULL);
    long n = (long)(seconds * 500);
    double start = mdm_clock_s();
    for (long i = 0; i < n; i++) {
        double due = start + (double)i / 500.0;
        double wait = due - mdm_clock_s();
        if (wait > 0)
            usleep((useconds_t)(wait * 1e6));
        emit_ctx c = {1 + i % 2000};
        if (mdm_db_run_tx(db, "bench_emit", emit_fn, &c, &err) != MDM_OK) {
            fprintf(stderr, "bench_publish: emit: %s\n", err.msg);
            return 1;
        }
    }
    double wrote = mdm_clock_s() - start;
    /* wait until everything arrived */
    for (int i = 0; i < 600; i++) {
        PGresult *res = NULL;
        if (mdm_db_exec_params(db,
                               "SELECT count(*) FROM delivery d JOIN subscription s ON "
                               "s.id = d.subscription_id AND s.active WHERE d.state = 'pending'",
                               0, NULL, &res, &err) != MDM_OK)
            break;
        long pending = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (pending == 0 && mdm_clock_s() - start > wrote + 0.5)
            break;
        usleep(100000);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nw; i++)
        pthread_join(w[i], NULL);
    sum = receiver_stop(&r);
    printf("lag_changes=%ld lag_write_rate_per_s=%.0f lag_workers=%d\n", n, (double)n / wrote, nw);
    printf("lag_ms_p50=%.1f lag_ms_p99=%.1f lag_ms_max=%.1f lag_received_unique=%lld\n",
           summary_double(sum, "lag_ms_p50"), summary_double(sum, "lag_ms_p99"),
           summary_double(sum, "lag_ms_max"), summary_value(sum, "unique"));
    failed |= summary_value(sum, "unique") != n;
    mdm_db_close(db);
    curl_global_cleanup();
    return failed;
}
