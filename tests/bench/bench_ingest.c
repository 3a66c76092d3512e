/* Incremental ingest latency: W writer threads (default 2), each with its own
 * connection, ingest N synthetic customers (default 2000) one mdm_ingest call at a time
 * into the database of MDM_DATABASE_URL (typically already holding a loaded population,
 * see tests/bench/bench_core.sh). One record in four is a variant of an earlier customer
 * (so links and golden updates are measured, not only creations). Prints key=value
 * lines: records, writers, seconds, records_per_s, p50_ms, p90_ms, p99_ms, max_ms and the
 * decision counts.
 *
 *   bench_ingest [N [W]]     model: MDM_BENCH_MODEL (default $MDM_ROOT/demo/model.json) */
#include "common/clock.h"
#include "mdm/db.h"
#include "mdm/ingest.h"
#include "mdm/migrate.h"
#include "mdm/source.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const firsts[] = {
    "James",  "Mary",      "Robert",  "Patricia", "John",    "Jennifer", "Michael", "Linda",
    "David",  "Elizabeth", "William", "Barbara",  "Richard", "Susan",    "Joseph",  "Jessica",
    "Thomas", "Sarah",     "Charles", "Karen",    "Ana",     "Luis",     "Mei",     "Arjun"};
static const char *const lasts[] = {
    "Smith",     "Johnson",  "Williams",  "Brown",   "Jones",    "Garcia", "Miller",   "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez",   "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor",    "Moore",    "Jackson",   "Martin",  "Lee",      "Perez",  "Thompson", "White",
    "Harris",    "Sanchez",  "Clark",     "Ramirez", "Lewis"};

static mdm_engine *ctx;
static const char *url;
static int per_writer = 2000;
static double *lat_ms;
static atomic_long decisions[16];
static atomic_int failures;

/* Customer c's record (variant v changes the first name to a nickname-ish form and
 * drops the phone). */
static json_t *customer(long c, int variant, const char *key)
{
    unsigned s = (unsigned)c * 2654435761u;
    const char *f = firsts[s % 24], *l = lasts[(s / 24) % 29];
    char email[96], phone[32], dob[16], street[64], zip[8], first[32];
    snprintf(first, sizeof first, "%s", f);
    if (variant)
        first[3] = '\0';
    snprintf(email, sizeof email, "%c%s.%ld@bench.example", f[0] | 32, l, c);
    snprintf(phone, sizeof phone, "+1%03u%03u%04u", 201 + s % 700, 200 + (s / 7) % 700,
             (unsigned)(c % 10000));
    snprintf(dob, sizeof dob, "%04u-%02u-%02u", 1940 + s % 60, 1 + (s / 60) % 12,
             1 + (s / 720) % 28);
    snprintf(street, sizeof street, "%u %s Street", 1 + s % 999, lasts[(s / 7) % 29]);
    snprintf(zip, sizeof zip, "%05u", 10000 + s % 89999);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[{s:s, s:s, s:s}]}", "source_key", key,
                          "first_name", first, "last_name", l, "birth_date", dob, "emails", email,
                          "addresses", "line1", street, "postal_code", zip, "country", "US");
    if (!variant)
        json_object_set_new(r, "phones", json_pack("[s]", phone));
    return r;
}

typedef struct writer {
    int id;
} writer;

static void *run_writer(void *arg)
{
    writer *w = arg;
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    if (!db) {
        fprintf(stderr, "connect: %s\n", err.msg);
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    unsigned seed = 99u + (unsigned)w->id;
    long base = (long)time(NULL) * 100000L + (long)w->id * 10000000L;
    for (int i = 0; i < per_writer; i++) {
        int variant = i > 10 && rand_r(&seed) % 4 == 0;
        long c = variant ? base + rand_r(&seed) % i : base + i;
        char key[64];
        snprintf(key, sizeof key, "w%d-%d-%ld", w->id, i, base);
        json_t *rec = customer(c, variant, key);
        mdm_ingest_result r;
        double t0 = mdm_clock_s();
        mdm_status st = mdm_ingest(db, ctx, "bench", rec, "bench", &r, &err);
        lat_ms[w->id * per_writer + i] = (mdm_clock_s() - t0) * 1000.0;
        if (st != MDM_OK) {
            fprintf(stderr, "ingest: %s\n", err.msg);
            atomic_fetch_add(&failures, 1);
        } else {
            atomic_fetch_add(&decisions[r.decision & 15], 1);
        }
        mdm_ingest_result_clear(&r);
        json_decref(rec);
    }
    mdm_db_close(db);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int writers = 2;
    if (argc > 1)
        per_writer = atoi(argv[1]);
    if (argc > 2)
        writers = atoi(argv[2]);
    if (per_writer < 1 || writers < 1 || writers > 64) {
        fprintf(stderr, "usage: bench_ingest [N [W]]\n");
        return 2;
    }
    url = getenv("MDM_DATABASE_URL");
    if (!url) {
        fprintf(stderr, "bench_ingest: MDM_DATABASE_URL is not set\n");
        return 2;
    }
    char model[4096];
    const char *mp = getenv("MDM_BENCH_MODEL");
    snprintf(model, sizeof model, "%s/demo/model.json",
             getenv("MDM_ROOT") ? getenv("MDM_ROOT") : ".");
    json_t *sources = json_pack("[{s:s, s:s}]", "code", "bench", "kind", "other");
    json_t *msec = json_pack("{s:s}", "path", mp ? mp : model);
    mdm_err err = {0};
    ctx = mdm_engine_new_json(sources, NULL, NULL, msec, "US", &err);
    json_decref(sources);
    json_decref(msec);
    if (!ctx) {
        fprintf(stderr, "bench_ingest: %s\n", err.msg);
        return 1;
    }
    mdm_db *db = mdm_db_connect(url, &err);
    const char *sql_dir = getenv("MDM_SQL_DIR");
    if (!db || (sql_dir && mdm_migrate_run(db, sql_dir, false, NULL, NULL, &err) != MDM_OK) ||
        mdm_sources_sync(db, mdm_engine_sources(ctx), NULL, &err) != MDM_OK) {
        fprintf(stderr, "bench_ingest: %s\n", err.msg);
        return 1;
    }
    PGresult *res = NULL;
    long entities = 0;
    if (mdm_db_exec_params(db, "SELECT count(*) FROM entity WHERE status = 'active'", 0, NULL, &res,
                           &err) == MDM_OK) {
        entities = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    mdm_db_close(db);
    size_t n = (size_t)per_writer * (size_t)writers;
    lat_ms = calloc(n, sizeof *lat_ms);
    pthread_t t[64];
    writer w[64];
    double t0 = mdm_clock_s();
    for (int i = 0; i < writers; i++) {
        w[i].id = i;
        pthread_create(&t[i], NULL, run_writer, &w[i]);
    }
    for (int i = 0; i < writers; i++)
        pthread_join(t[i], NULL);
    double secs = mdm_clock_s() - t0;
    qsort(lat_ms, n, sizeof *lat_ms, cmp_d);
    printf("entities_before=%ld\nrecords=%zu\nwriters=%d\nseconds=%.2f\nrecords_per_s=%.0f\n",
           entities, n, writers, secs, (double)n / secs);
    printf("p50_ms=%.2f\np90_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\n", lat_ms[n / 2],
           lat_ms[n * 9 / 10], lat_ms[n * 99 / 100], lat_ms[n - 1]);
    for (int d = 0; d <= MDM_DECISION_PENDING; d++)
        if (atomic_load(&decisions[d]))
            printf("decision_%s=%ld\n", mdm_decision_name((mdm_decision)d),
                   atomic_load(&decisions[d]));
    printf("failures=%d\n", atomic_load(&failures));
    free(lat_ms);
    mdm_engine_free(ctx);
    return atomic_load(&failures) ? 1 : 0;
}
