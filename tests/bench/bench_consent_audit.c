/* Consent audit export throughput and memory.
 *
 *   bench_consent_audit [EVENTS]      (default 5000000; MDM_DATABASE_URL: an empty database)
 *
 * Generates EVENTS consent events over EVENTS/10 source records in pairs of golden
 * records with set-based SQL (unless the database already holds exactly that many),
 * then streams the whole audit export as CSV through mdm_consent_audit_* into a sink,
 * sampling the process's resident memory as it goes. Prints key=value lines: rows,
 * seconds, rows_per_s, bytes, rss_kib at 10% and at the end (flat memory means the two
 * are about equal). */
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "mdm/consent_audit.h"
#include "mdm/db.h"
#include "mdm/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int run(mdm_db *db, const char *sql, int n, const char *const *params)
{
    mdm_err err = {0};
    if (mdm_db_exec_params(db, sql, n, params, NULL, &err) != MDM_OK) {
        fprintf(stderr, "bench_consent_audit: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int generate(mdm_db *db, long long events)
{
    char ev[24], recs[24];
    snprintf(ev, sizeof ev, "%lld", events);
    snprintf(recs, sizeof recs, "%lld", events / 10 > 0 ? events / 10 : 1);
    const char *p_recs[] = {recs}, *p_ev[] = {ev, recs};
    double t0 = mdm_clock_s();
    if (run(db,
            "INSERT INTO source_system (code, name, kind) VALUES ('crm', 'CRM', 'crm'), "
            "('shop', 'Shop', 'commerce') ON CONFLICT DO NOTHING",
            0, NULL) ||
        run(db,
            "INSERT INTO entity (id, golden) SELECT g, '{}' FROM generate_series(1, "
            "($1::bigint + 1) / 2) g",
            1, p_recs) ||
        run(db,
            "INSERT INTO source_record (id, source, source_key, raw, normalized, content_hash) "
            "SELECT g, CASE WHEN g % 2 = 0 THEN 'crm' ELSE 'shop' END, 'B' || g, '{}', '{}', "
            "'h' FROM generate_series(1, $1::bigint) g",
            1, p_recs) ||
        run(db,
            "INSERT INTO membership (record_id, entity_id) SELECT g, (g + 1) / 2 "
            "FROM generate_series(1, $1::bigint) g",
            1, p_recs) ||
        run(db,
            "INSERT INTO consent_event (record_id, source, source_key, purpose, channel, "
            "contact_point, status, captured_at, expires_at, received_at, lawful_basis, "
            "evidence, state_before, state_after, event_hash) "
            "SELECT r, CASE WHEN r % 2 = 0 THEN 'crm' ELSE 'shop' END, 'B' || r, "
            "(ARRAY['marketing', 'profiling', 'third_party'])[1 + g % 3], "
            "(ARRAY['email', 'sms', 'phone', 'post'])[1 + g % 4], "
            "CASE WHEN g % 5 = 0 THEN 'customer' || r || '@example.com' END, "
            "(ARRAY['granted', 'withdrawn', 'granted', 'denied'])[1 + g % 4 ], "
            "t - interval '1 hour', CASE WHEN g % 7 = 0 THEN t + interval '365 days' END, t, "
            "'consent', CASE WHEN g % 3 = 0 THEN 'form \"signup\", step ' || g % 10 ELSE "
            "'https://shop.example/consent/' || g END, "
            "(ARRAY['none', 'granted', 'withdrawn'])[1 + g % 3], "
            "(ARRAY['granted', 'withdrawn', 'granted', 'denied'])[1 + g % 4], 'bench-' || g "
            "FROM generate_series(1, $1::bigint) g, "
            "LATERAL (SELECT 1 + g % $2::bigint, timestamptz '2024-01-01' + g * interval "
            "'5 seconds') x(r, t)",
            2, p_ev) ||
        run(db, "ANALYZE", 0, NULL))
        return -1;
    printf("generated_events=%lld generate_seconds=%.1f\n", events, mdm_clock_s() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    long long events = argc > 1 ? atoll(argv[1]) : 5000000;
    const char *url = getenv("MDM_DATABASE_URL");
    const char *sql_dir = getenv("MDM_SQL_DIR");
    if (events <= 0 || !url) {
        fprintf(stderr, "usage: MDM_DATABASE_URL=... bench_consent_audit [EVENTS]\n");
        return 2;
    }
    mdm_log_threshold = MDM_LOG_WARN;
    mdm_err err = {0};
    mdm_db *db = mdm_db_connect(url, &err);
    if (!db) {
        fprintf(stderr, "bench_consent_audit: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    if (mdm_migrate_run(db, sql_dir ? sql_dir : "sql", false, NULL, NULL, &err) != MDM_OK) {
        fprintf(stderr, "bench_consent_audit: migrate: %s\n", err.msg);
        goto out;
    }
    PGresult *res = NULL;
    if (mdm_db_exec_params(db, "SELECT count(*) AS n FROM consent_event", 0, NULL, &res, &err) !=
        MDM_OK)
        goto out;
    long long have = mdm_db_get_ll(res, 0, "n", 0);
    PQclear(res);
    if (have != events && (have != 0 || generate(db, events) != 0)) {
        if (have)
            fprintf(stderr, "bench_consent_audit: the database holds %lld events, not %lld\n", have,
                    events);
        goto out;
    }
    mdm_consent_audit *a = NULL;
    double t0 = mdm_clock_s();
    if (mdm_consent_audit_open(db, NULL, NULL, MDM_CONSENT_CSV, &a, &err) != MDM_OK) {
        fprintf(stderr, "bench_consent_audit: %s\n", err.msg);
        goto out;
    }
    mdm_buf buf = {0};
    bool done = false;
    long long bytes = 0;
    long rss_start = rss_kib(), rss_10 = 0, rss_max = 0;
    while (!done) {
        mdm_buf_reset(&buf);
        if (mdm_consent_audit_next(a, &buf, &done, &err) != MDM_OK) {
            fprintf(stderr, "bench_consent_audit: %s\n", err.msg);
            break;
        }
        bytes += (long long)buf.len;
        long rss = rss_kib();
        if (rss > rss_max)
            rss_max = rss;
        if (!rss_10 && mdm_consent_audit_rows(a) >= events / 10)
            rss_10 = rss;
    }
    double secs = mdm_clock_s() - t0;
    long long rows = mdm_consent_audit_rows(a);
    mdm_consent_audit_close(a);
    mdm_buf_free(&buf);
    printf("bench=consent_audit format=csv rows=%lld seconds=%.2f rows_per_s=%.0f bytes=%lld "
           "rss_kib_start=%ld rss_kib_at_10pct=%ld rss_kib_end=%ld rss_kib_max=%ld\n",
           rows, secs, rows / secs, bytes, rss_start, rss_10, rss_kib(), rss_max);
    rc = rows == events && done ? 0 : 1;
out:
    mdm_db_close(db);
    return rc;
}
