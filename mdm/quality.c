/* Data quality of golden records and source records (see quality.h). */
#include "mdm/quality.h"

#include "common/clock.h"
#include "common/csvout.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <stdio.h>
#include <string.h>

/* The scores are SQL functions (sql/056_quality_scores.sql): one definition for the
 * entity reply, the record reply, the report, the histograms, the filters, the golden
 * export and the change events. */

/* A record n agrees with its golden record gd: birth date, and last name ignoring case. */
#define AGREES                                                                                     \
    "(coalesce(n->>'birth_date' = gd->>'birth_date', true) AND "                                   \
    "coalesce(lower(n->>'last_name') = lower(gd->>'last_name'), true))"

/* The scores of a record (q, from mdm_quality_record), in the reply's order. */
#define RECORD_SCORES                                                                              \
    "'completeness', q->'completeness', 'validity', q->'validity', 'freshness', "                  \
    "q->'freshness', 'freshness_days', q->'freshness_days'"

static const mdm_db_stmt stmt_quality = {
    "quality_entity",
    "WITH mem AS (SELECT sr.id, sr.source, sr.source_key, sr.normalized AS n, "
    "COALESCE(sr.source_updated_at, sr.received_at) AS t FROM membership mb "
    "JOIN source_record sr ON sr.id = mb.record_id AND NOT sr.deleted "
    "WHERE mb.entity_id = $1::bigint AND mb.active), "
    "g AS (SELECT golden AS gd FROM entity WHERE id = $1::bigint) "
    "SELECT (SELECT coalesce(jsonb_agg(jsonb_build_object('record_id', mem.id, 'source', "
    "mem.source, 'source_key', mem.source_key) || i.v ORDER BY mem.id, i.k), '[]'::jsonb) "
    "FROM mem CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(n->'issues') = "
    "'array' THEN n->'issues' ELSE '[]'::jsonb END) WITH ORDINALITY AS i(v, k) "
    "WHERE jsonb_typeof(i.v) = 'object')::text AS issues, "
    "(SELECT json_build_object('completeness', q->'completeness', 'validity', q->'validity', "
    "'consistency', q->'consistency', 'freshness', q->'freshness', 'freshness_days', "
    "q->'freshness_days') FROM mdm_quality_entity($1::bigint) q)::text AS scores, "
    "(SELECT coalesce(json_agg(json_build_object('record_id', mem.id, 'source', mem.source, "
    "'source_key', mem.source_key, " RECORD_SCORES ", 'agrees_with_golden', " AGREES
    ") ORDER BY mem.id), '[]'::json) FROM mem CROSS JOIN g "
    "CROSS JOIN LATERAL mdm_quality_record(n, t) q)::text AS records",
    1};

static const mdm_db_stmt stmt_record = {
    "quality_record",
    "SELECT json_build_object(" RECORD_SCORES ", 'agrees_with_golden', (SELECT " AGREES
    " FROM membership mb JOIN entity e ON e.id = mb.entity_id "
    "CROSS JOIN LATERAL (SELECT e.golden AS gd) g WHERE mb.record_id = x.id AND mb.active))"
    "::text AS scores FROM (SELECT sr.id, sr.normalized AS n, "
    "COALESCE(sr.source_updated_at, sr.received_at) AS t FROM source_record sr "
    "WHERE sr.id = $1::bigint) x CROSS JOIN LATERAL mdm_quality_record(n, t) q",
    1};

/* One scan of the live records with their golden record. */
static const mdm_db_stmt stmt_report = {
    "quality_report",
    "SELECT coalesce(json_agg(r ORDER BY r.source), '[]')::text AS report FROM ("
    "SELECT x.source, count(*) AS records, round(avg(mdm_quality_completeness(n)), 3) "
    "AS completeness, round(avg(mdm_quality_validity(mdm_quality_sent(n), "
    "mdm_quality_flagged(n))), 3) AS validity, round(avg(mdm_quality_freshness(t)), 3) "
    "AS freshness, "
    "sum((SELECT count(*) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n->'issues') = "
    "'array' THEN n->'issues' ELSE '[]' END) i WHERE i->>'field' LIKE 'email%')) "
    "AS invalid_emails, "
    "sum((SELECT count(*) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n->'issues') = "
    "'array' THEN n->'issues' ELSE '[]' END) i WHERE i->>'field' LIKE 'phone%')) "
    "AS invalid_phones, "
    "sum((SELECT count(*) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n->'issues') = "
    "'array' THEN n->'issues' ELSE '[]' END) i WHERE i->>'dropped' = 'true')) "
    "AS dropped_values, "
    "count(*) FILTER (WHERE mdm_quality_days(t) > 365) AS stale_records, "
    "count(*) FILTER (WHERE gd IS NOT NULL AND NOT " AGREES ") AS disagreeing_records "
    "FROM (SELECT sr.source, sr.normalized AS n, COALESCE(sr.source_updated_at, sr.received_at) "
    "AS t, e.golden AS gd FROM source_record sr "
    "LEFT JOIN membership mb ON mb.record_id = sr.id AND mb.active "
    "LEFT JOIN entity e ON e.id = mb.entity_id WHERE NOT sr.deleted AND NOT sr.erased) x "
    "GROUP BY x.source) r",
    0};

/* Per source and score, the live records' scores in cumulative buckets (upper bounds
 * quality_bounds), their count and sum: one scan of the live source records. */
static const char *const quality_bounds[] = {"0.1", "0.25", "0.5", "0.75", "0.9", "1"};
#define BUCKET(le) "count(*) FILTER (WHERE s.v <= " le ")::text || ',' || "
static const mdm_db_stmt stmt_histograms = {
    "quality_histograms",
    "SELECT x.source, s.score, " BUCKET("0.1") BUCKET("0.25") BUCKET("0.5") BUCKET("0.75")
        BUCKET("0.9") "count(*) FILTER (WHERE s.v <= 1)::text AS buckets, "
                      "count(*) AS n, coalesce(sum(s.v), 0) AS total, "
                      "extract(epoch FROM now())::bigint AS at "
                      "FROM (SELECT sr.source, mdm_quality_record(sr.normalized, "
                      "COALESCE(sr.source_updated_at, sr.received_at)) AS q FROM source_record sr "
                      "WHERE NOT sr.deleted AND NOT sr.erased) x "
                      "CROSS JOIN LATERAL (VALUES ('completeness', (q->>'completeness')::numeric), "
                      "('validity', (q->>'validity')::numeric), "
                      "('freshness', (q->>'freshness')::numeric)) s(score, v) "
                      "GROUP BY x.source, s.score ORDER BY x.source, s.score",
    0};
#undef BUCKET

mdm_status mdm_quality_histograms_text(mdm_db *db, mdm_buf *out, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_histograms, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    size_t nb = sizeof quality_bounds / sizeof quality_bounds[0];
    mdm_buf_puts(out, "# HELP mdm_record_quality Data-quality scores of the live source records,"
                      " by source and score (docs/QUALITY.md), as of "
                      "mdm_record_quality_computed_timestamp_seconds.\n"
                      "# TYPE mdm_record_quality histogram\n");
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *src = mdm_db_get(res, r, "source", "");
        const char *score = mdm_db_get(res, r, "score", "");
        const char *b = mdm_db_get(res, r, "buckets", "");
        for (size_t i = 0; i < nb; i++) {
            size_t len = strcspn(b, ",");
            mdm_buf_printf(out,
                           "mdm_record_quality_bucket{source=\"%s\",score=\"%s\",le=\"%s\"} %.*s\n",
                           src, score, quality_bounds[i], (int)len, b);
            b += len + (b[len] == ',');
        }
        mdm_buf_printf(out,
                       "mdm_record_quality_bucket{source=\"%s\",score=\"%s\",le=\"+Inf\"} %s\n"
                       "mdm_record_quality_sum{source=\"%s\",score=\"%s\"} %s\n"
                       "mdm_record_quality_count{source=\"%s\",score=\"%s\"} %s\n",
                       src, score, mdm_db_get(res, r, "n", "0"), src, score,
                       mdm_db_get(res, r, "total", "0"), src, score, mdm_db_get(res, r, "n", "0"));
    }
    if (rows > 0)
        mdm_buf_printf(out,
                       "# HELP mdm_record_quality_computed_timestamp_seconds When "
                       "mdm_record_quality was computed.\n"
                       "# TYPE mdm_record_quality_computed_timestamp_seconds gauge\n"
                       "mdm_record_quality_computed_timestamp_seconds %s\n",
                       mdm_db_get(res, 0, "at", "0"));
    PQclear(res);
    return MDM_OK;
}

/* Background snapshot of the histograms ------------------------------------------------ */

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t snap_wake = PTHREAD_COND_INITIALIZER;
static struct {
    pthread_t thread;
    bool running, stopping;
    char *url;
    int interval_s;
    char *text;      /* the last snapshot's text (NULL: none yet) */
    double at;       /* mdm_clock_s() when it was computed, or when the thread started */
    long long scans; /* successful computations */
} snap;              /* under snap_lock */

/* Waits on snap_wake until deadline (mdm_clock_s() time) or stop; called with snap_lock held. */
static void snap_wait(double deadline)
{
    while (!snap.stopping) {
        double left = deadline - mdm_clock_s();
        if (left <= 0)
            return;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = (long long)until.tv_nsec + (long long)(left * 1e9);
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
        if (pthread_cond_timedwait(&snap_wake, &snap_lock, &until) == ETIMEDOUT)
            return;
    }
}

static void *snap_run(void *arg)
{
    (void)arg;
    mdm_db *db = NULL;
    pthread_mutex_lock(&snap_lock);
    while (!snap.stopping) {
        pthread_mutex_unlock(&snap_lock);
        mdm_err err = {0};
        mdm_buf text = {0};
        double t0 = mdm_clock_s();
        if (!db)
            db = mdm_db_connect(snap.url, &err);
        bool ok = db && mdm_quality_histograms_text(db, &text, &err) == MDM_OK;
        double t1 = mdm_clock_s();
        if (ok) {
            mdm_log(MDM_LOG_INFO, "event=quality_histograms seconds=%.3f", t1 - t0);
        } else {
            mdm_log(MDM_LOG_WARN, "event=quality_histograms_failed code=%s msg=\"%s\"",
                    mdm_status_name(err.code), err.msg);
            if (db && !mdm_db_ok(db)) {
                mdm_db_close(db);
                db = NULL;
            }
        }
        pthread_mutex_lock(&snap_lock);
        if (ok) {
            free(snap.text);
            snap.text = mdm_buf_steal(&text);
            snap.at = t0; /* the snapshot is as old as the scan's start */
            snap.scans++;
        }
        mdm_buf_free(&text);
        /* the next scan one interval after this one started (at once when it took longer) */
        snap_wait(t0 + snap.interval_s);
    }
    pthread_mutex_unlock(&snap_lock);
    mdm_db_close(db);
    return NULL;
}

mdm_status mdm_quality_snapshot_start(const char *url, int interval_s, mdm_err *err)
{
    if (interval_s <= 0)
        return mdm_err_set(err, MDM_EINVAL, "the quality histograms' interval must be positive");
    pthread_mutex_lock(&snap_lock);
    if (snap.running) {
        pthread_mutex_unlock(&snap_lock);
        return mdm_err_set(err, MDM_ECONFLICT, "the quality histograms are already computed");
    }
    snap.url = mdm_xstrdup(url);
    snap.interval_s = interval_s;
    snap.stopping = false;
    snap.at = mdm_clock_s();
    snap.scans = 0;
    if (pthread_create(&snap.thread, NULL, snap_run, NULL) != 0) {
        free(snap.url);
        snap.url = NULL;
        pthread_mutex_unlock(&snap_lock);
        return mdm_err_set(err, MDM_EINTERNAL, "cannot start the quality histograms' thread");
    }
    snap.running = true;
    pthread_mutex_unlock(&snap_lock);
    return MDM_OK;
}

void mdm_quality_snapshot_stop(void)
{
    pthread_mutex_lock(&snap_lock);
    if (!snap.running) {
        pthread_mutex_unlock(&snap_lock);
        return;
    }
    snap.stopping = true;
    pthread_cond_broadcast(&snap_wake);
    pthread_mutex_unlock(&snap_lock);
    pthread_join(snap.thread, NULL);
    pthread_mutex_lock(&snap_lock);
    snap.running = false;
    free(snap.url);
    snap.url = NULL;
    free(snap.text);
    snap.text = NULL;
    pthread_mutex_unlock(&snap_lock);
}

void mdm_quality_snapshot_text(mdm_buf *out)
{
    pthread_mutex_lock(&snap_lock);
    if (snap.running) {
        if (snap.text)
            mdm_buf_puts(out, snap.text);
        mdm_buf_printf(out,
                       "# HELP mdm_record_quality_age_seconds Age of the mdm_record_quality"
                       " snapshot this process serves (before the first one: time since the"
                       " process started computing it).\n"
                       "# TYPE mdm_record_quality_age_seconds gauge\n"
                       "mdm_record_quality_age_seconds %.3f\n"
                       "# HELP mdm_record_quality_snapshots_total Snapshots of mdm_record_quality"
                       " this process has computed.\n"
                       "# TYPE mdm_record_quality_snapshots_total counter\n"
                       "mdm_record_quality_snapshots_total %lld\n",
                       mdm_clock_s() - snap.at, snap.scans);
    }
    pthread_mutex_unlock(&snap_lock);
}

const char *const mdm_quality_filter_names[MDM_QUALITY_NFILTERS] = {
    "min_completeness", "max_completeness", "min_validity",  "max_validity",
    "min_consistency",  "max_consistency",  "min_freshness", "max_freshness"};

mdm_status mdm_quality_bounds(const char *const values[MDM_QUALITY_NFILTERS], char **out,
                              mdm_err *err)
{
    *out = NULL;
    double v[MDM_QUALITY_NFILTERS];
    bool set[MDM_QUALITY_NFILTERS] = {false}, any = false;
    for (size_t i = 0; i < MDM_QUALITY_NFILTERS; i++) {
        const char *s = values[i];
        if (!s || !*s)
            continue;
        char *end;
        v[i] = strtod(s, &end);
        if (*end || !(v[i] >= 0 && v[i] <= 1)) {
            char field[32];
            snprintf(field, sizeof field, "/%s", mdm_quality_filter_names[i]);
            return mdm_err_set_field(err, MDM_EINVAL, field, "%s must be a number between 0 and 1",
                                     mdm_quality_filter_names[i]);
        }
        set[i] = any = true;
    }
    for (size_t i = 0; i + 1 < MDM_QUALITY_NFILTERS; i += 2)
        if (set[i] && set[i + 1] && v[i] > v[i + 1]) {
            char field[32];
            snprintf(field, sizeof field, "/%s", mdm_quality_filter_names[i]);
            return mdm_err_set_field(err, MDM_EINVAL, field, "%s is above %s",
                                     mdm_quality_filter_names[i], mdm_quality_filter_names[i + 1]);
        }
    if (!any)
        return MDM_OK;
    mdm_buf b = {0};
    mdm_buf_putc(&b, '{');
    /* 15 significant digits: a bound typed as 0.1 is 0.1 to PostgreSQL's numeric, not
     * 0.10000000000000001 (which a score of 0.100 would not reach) */
    for (size_t i = 0; i < MDM_QUALITY_NFILTERS; i++)
        if (set[i])
            mdm_buf_printf(&b, "%s\"%s\":%.15g", b.len > 1 ? "," : "", mdm_quality_filter_names[i],
                           v[i]);
    mdm_buf_putc(&b, '}');
    *out = mdm_buf_steal(&b);
    return MDM_OK;
}

void mdm_quality_call(int64_t entity_id, mdm_db_call *call)
{
    mdm_db_call_id(call, &stmt_quality, entity_id);
}

void mdm_quality_text(PGresult *res, mdm_buf *out)
{
    bool ok = res && PQntuples(res) == 1;
    mdm_buf_puts(out, "{\"issues\":");
    mdm_buf_puts(out, ok ? mdm_db_get(res, 0, "issues", "[]") : "[]");
    mdm_buf_puts(out, ",\"scores\":");
    mdm_buf_puts(out, ok ? mdm_db_get(res, 0, "scores", "{}") : "{}");
    mdm_buf_puts(out, ",\"records\":");
    mdm_buf_puts(out, ok ? mdm_db_get(res, 0, "records", "[]") : "[]");
    mdm_buf_putc(out, '}');
    PQclear(res);
}

mdm_status mdm_quality_record(mdm_db *db, int64_t record_id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char id[MDM_DB_ID_LEN];
    mdm_db_id(id, record_id);
    const char *params[] = {id};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_record, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no such source record");
    }
    *out = json_loads(mdm_db_get(res, 0, "scores", "{}"), 0, NULL);
    PQclear(res);
    return *out ? MDM_OK : mdm_err_set(err, MDM_EINTERNAL, "quality scores unreadable");
}

mdm_status mdm_quality_report(mdm_db *db, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_report, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *out = json_loads(mdm_db_get(res, 0, "report", "[]"), 0, NULL);
    PQclear(res);
    return *out ? MDM_OK : mdm_err_set(err, MDM_EINTERNAL, "quality report unreadable");
}

static const char *const report_columns[] = {
    "source",         "records",        "completeness",   "validity",      "freshness",
    "invalid_emails", "invalid_phones", "dropped_values", "stale_records", "disagreeing_records"};

mdm_status mdm_quality_report_write(const json_t *report, const char *format, FILE *f, mdm_err *err)
{
    bool csv = format && !strcmp(format, "csv");
    if (!csv && !(format && !strcmp(format, "ndjson")))
        return mdm_err_set_field(err, MDM_EINVAL, "/format", "format must be csv or ndjson");
    size_t ncol = sizeof report_columns / sizeof report_columns[0];
    if (csv) {
        for (size_t c = 0; c < ncol; c++)
            fprintf(f, "%s%s", c ? "," : "", report_columns[c]);
        fputc('\n', f);
    }
    size_t i;
    const json_t *row;
    json_array_foreach(report, i, row)
    {
        if (!csv) {
            char *line = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (line)
                fprintf(f, "%s\n", line);
            free(line);
            continue;
        }
        for (size_t c = 0; c < ncol; c++) {
            const json_t *v = json_object_get(row, report_columns[c]);
            if (c)
                fputc(',', f);
            if (json_is_string(v))
                mdm_csvout_fput(f, json_string_value(v));
            else if (json_is_integer(v))
                fprintf(f, "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v))
                fprintf(f, "%.3f", json_real_value(v));
        }
        fputc('\n', f);
    }
    return ferror(f) ? mdm_err_set(err, MDM_EIO, "cannot write the report") : MDM_OK;
}
