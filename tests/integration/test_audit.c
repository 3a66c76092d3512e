/* Audit log on a real PostgreSQL: appends in the writer's transaction, the chain format
 * recomputed in C equals the one computed by the INSERT, filters and paging, the
 * append-only trigger, concurrent appenders, and verification catching an edited row, a
 * deleted row and rows cut from the end (each undone again to prove the check is exact). */
#include "common/mem.h"
#include "mdm/audit.h"
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "tests/integration/core_fixture.h"
#include "tests/test.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static const char *url;

static long long scalar(mdm_db *db, const char *sql)
{
    PGresult *res = NULL;
    mdm_err err;
    if (mdm_db_exec_params(db, sql, 0, NULL, &res, &err) != MDM_OK) {
        fprintf(stderr, "%s: %s\n", sql, err.msg);
        return -1;
    }
    long long n = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return n;
}

static mdm_status run(mdm_db *db, const char *sql)
{
    mdm_err err;
    mdm_status st = mdm_db_exec_params(db, sql, 0, NULL, NULL, &err);
    if (st != MDM_OK)
        fprintf(stderr, "%s: %s\n", sql, err.msg);
    return st;
}

typedef struct append_ctx {
    const char *actor, *action, *target, *reason;
    int n;
    int fail_after; /* return an error after the appends: they must vanish */
} append_ctx;

static mdm_status append_fn(mdm_db *db, void *arg, mdm_err *err)
{
    append_ctx *c = arg;
    for (int i = 0; i < c->n; i++) {
        json_t *before = json_pack("{s:i,s:s}", "version", i, "name", "Zoë \"Q\" O'Brien");
        json_t *after = json_pack("{s:i,s:[s,s]}", "version", i + 1, "emails", "a@x.org", "b");
        mdm_status st = mdm_audit_append(db, c->actor, "steward", c->action, c->target, c->reason,
                                         before, after, err);
        json_decref(before);
        json_decref(after);
        if (st != MDM_OK)
            return st;
    }
    if (c->fail_after)
        return mdm_err_set(err, MDM_EINVAL, "deliberate failure");
    return MDM_OK;
}

static mdm_audit_check verify(mdm_db *db)
{
    mdm_audit_check chk;
    mdm_err err;
    if (mdm_audit_verify(db, &chk, NULL, &err) != MDM_OK) {
        fprintf(stderr, "verify: %s\n", err.msg);
        memset(&chk, 0, sizeof chk);
    }
    return chk;
}

static void test_empty_chain(void)
{
    mdm_db *db = fx_connect();
    mdm_audit_check chk = verify(db);
    CHECK(chk.intact);
    CHECK_INT(chk.rows, 0);
    CHECK_STR(chk.head_hash, "0000000000000000000000000000000000000000000000000000000000000000");
    mdm_db_close(db);
}

static void test_append_and_verify(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    append_ctx a = {"alice", "review.decide", "review_item:1", "same person, same loyalty card", 3,
                    0};
    append_ctx b = {"bob", "entity.merge", "entity:7", NULL, 2, 0};
    append_ctx bad = {"mallory", "entity.merge", "entity:8", "x", 2, 1};
    CHECK_INT(mdm_db_run_tx(db, "t", append_fn, &a, &err), MDM_OK);
    CHECK_INT(mdm_db_run_tx(db, "t", append_fn, &bad, &err), MDM_EINVAL);
    CHECK_INT(mdm_db_run_tx(db, "t", append_fn, &b, &err), MDM_OK);
    CHECK_INT(scalar(db, "SELECT count(*) FROM audit_log"), 5);
    CHECK_INT(scalar(db, "SELECT count(*) FROM audit_log WHERE actor = 'mallory'"), 0);
    /* the rolled-back appends burned ids: gaps are fine, the chain links by hash */
    CHECK_INT(
        scalar(db, "SELECT count(*) FROM audit_log a JOIN audit_log b ON b.prev_hash = a.hash"), 4);
    mdm_audit_check chk = verify(db);
    CHECK(chk.intact);
    CHECK_INT(chk.rows, 5);
    CHECK_INT(chk.problems, 0);
    PGresult *res = NULL;
    CHECK_INT(mdm_db_exec_params(db, "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1", 0, NULL,
                                 &res, &err),
              MDM_OK);
    if (res) {
        CHECK_STR(chk.head_hash, PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    mdm_db_close(db);
}

/* The C canonical text equals an independent SHA-256 of the documented text. */
static void test_row_hash_format(void)
{
    mdm_db *db = fx_connect();
    const char *fields[10] = {"12",         "2026-11-27T05:00:00.000001Z",
                              "alice",      "steward",
                              "entity.pin", "entity:1",
                              NULL,         "{\"a\": 1}",
                              "ü",          "00"};
    char got[65];
    mdm_audit_row_hash(fields, got);
    const char *text = "mdm-audit-v1\n2:12\n27:2026-11-27T05:00:00.000001Z\n5:alice\n7:steward\n"
                       "10:entity.pin\n8:entity:1\n-\n8:{\"a\": 1}\n2:ü\n2:00";
    const char *params[] = {text};
    PGresult *res = NULL;
    mdm_err err;
    CHECK_INT(mdm_db_exec_params(db, "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", 1,
                                 params, &res, &err),
              MDM_OK);
    if (res) {
        CHECK_STR(got, PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    mdm_db_close(db);
}

static void test_validation(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    append_ctx no_actor = {"", "entity.merge", "entity:1", NULL, 1, 0};
    CHECK_INT(mdm_db_run_tx(db, "t", append_fn, &no_actor, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/actor");
    append_ctx no_target = {"a", "entity.merge", NULL, NULL, 1, 0};
    CHECK_INT(mdm_db_run_tx(db, "t", append_fn, &no_target, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/target");
    char *long_reason = mdm_xmalloc(MDM_AUDIT_MAX_REASON + 2);
    memset(long_reason, 'r', MDM_AUDIT_MAX_REASON + 1);
    long_reason[MDM_AUDIT_MAX_REASON + 1] = '\0';
    append_ctx too_long = {"a", "entity.merge", "entity:1", long_reason, 1, 0};
    CHECK_INT(mdm_db_run_tx(db, "t", append_fn, &too_long, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/reason");
    free(long_reason);
    mdm_db_close(db);
}

static void test_list_filters_and_paging(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    json_t *rows = NULL;
    int64_t next = -1;
    mdm_audit_filter f = {.actor = "alice"};
    CHECK_INT(mdm_audit_list(db, &f, &rows, &next, &err), MDM_OK);
    CHECK_INT(json_array_size(rows), 3);
    CHECK_INT(next, 0);
    json_t *r0 = json_array_get(rows, 0);
    CHECK_STR(json_string_value(json_object_get(r0, "action")), "review.decide");
    CHECK_STR(json_string_value(json_object_get(r0, "reason")), "same person, same loyalty card");
    CHECK_STR(json_string_value(json_object_get(json_object_get(r0, "before"), "name")),
              "Zoë \"Q\" O'Brien");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r0, "after"), "version")), 3);
    /* newest first */
    CHECK(json_integer_value(json_object_get(r0, "id")) >
          json_integer_value(json_object_get(json_array_get(rows, 1), "id")));
    json_decref(rows);

    mdm_audit_filter g = {.action = "entity."};
    CHECK_INT(mdm_audit_list(db, &g, &rows, NULL, &err), MDM_OK);
    CHECK_INT(json_array_size(rows), 2);
    CHECK(json_is_null(json_object_get(json_array_get(rows, 0), "reason")));
    json_decref(rows);

    mdm_audit_filter t = {.target = "entity:7", .role = "steward"};
    CHECK_INT(mdm_audit_list(db, &t, &rows, NULL, &err), MDM_OK);
    CHECK_INT(json_array_size(rows), 2);
    json_decref(rows);

    mdm_audit_filter none = {.action = "review", .from = "2000-01-01", .to = "2000-01-02"};
    CHECK_INT(mdm_audit_list(db, &none, &rows, NULL, &err), MDM_OK);
    CHECK_INT(json_array_size(rows), 0);
    json_decref(rows);

    /* pages of 2 cover all 5 rows once, newest first */
    mdm_audit_filter p = {.limit = 2};
    int seen = 0, pages = 0;
    long long last = 0;
    int ordered = 1;
    do {
        CHECK_INT(mdm_audit_list(db, &p, &rows, &next, &err), MDM_OK);
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r)
        {
            long long id = json_integer_value(json_object_get(r, "id"));
            if (last && id >= last)
                ordered = 0;
            last = id;
            seen++;
        }
        json_decref(rows);
        p.before_id = next;
        pages++;
    } while (next && pages < 10);
    CHECK_INT(seen, 5);
    CHECK_INT(pages, 3);
    CHECK(ordered);

    mdm_audit_filter bad = {.limit = 5000};
    CHECK_INT(mdm_audit_list(db, &bad, &rows, NULL, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/limit");
    mdm_audit_filter badtime = {.from = "yesterday-ish"};
    CHECK_INT(mdm_audit_list(db, &badtime, &rows, NULL, &err), MDM_EINVAL);
    mdm_db_close(db);
}

static void test_append_only_trigger(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    CHECK(mdm_db_exec_params(db, "UPDATE audit_log SET reason = 'x'", 0, NULL, NULL, &err) !=
          MDM_OK);
    CHECK(strstr(err.msg, "append-only") != NULL);
    CHECK(mdm_db_exec_params(db, "DELETE FROM audit_log", 0, NULL, NULL, &err) != MDM_OK);
    CHECK(mdm_db_exec_params(db, "TRUNCATE audit_log", 0, NULL, NULL, &err) != MDM_OK);
    CHECK_INT(scalar(db, "SELECT count(*) FROM audit_log"), 5);
    mdm_db_close(db);
}

#define THREADS    4
#define PER_THREAD 15

static void *appender(void *arg)
{
    char actor[16];
    snprintf(actor, sizeof actor, "worker%d", (int)(long)arg);
    mdm_db *db = fx_connect();
    mdm_err err;
    append_ctx c = {actor, "record.upsert", "record:crm:1", NULL, 1, 0};
    for (int i = 0; i < PER_THREAD; i++) {
        if (mdm_db_run_tx(db, "t", append_fn, &c, &err) != MDM_OK)
            fprintf(stderr, "append: %s\n", err.msg);
        usleep((useconds_t)(rand() % 500));
    }
    mdm_db_close(db);
    return NULL;
}

static void test_concurrent_appends(void)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, appender, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    mdm_db *db = fx_connect();
    CHECK_INT(scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'record.upsert'"),
              THREADS * PER_THREAD);
    mdm_audit_check chk = verify(db);
    CHECK(chk.intact);
    CHECK_INT(chk.rows, 5 + THREADS * PER_THREAD);
    mdm_db_close(db);
}

/* Tampering needs the table owner to switch the trigger off first; the check still
 * catches what was done, names the row, and passes again once it is undone. */
static void test_tamper_detection(void)
{
    mdm_db *db = fx_connect();
    mdm_err err;
    long long total = scalar(db, "SELECT count(*) FROM audit_log");
    long long mid = scalar(db, "SELECT id FROM audit_log ORDER BY id OFFSET 10 LIMIT 1");
    long long last = scalar(db, "SELECT max(id) FROM audit_log");
    CHECK(run(db, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only") == MDM_OK);
    CHECK(run(db, "CREATE TEMP TABLE saved AS SELECT * FROM audit_log") == MDM_OK);
    char sql[256];

    /* an edited reason */
    snprintf(sql, sizeof sql, "UPDATE audit_log SET reason = 'edited' WHERE id = %lld", mid);
    CHECK(run(db, sql) == MDM_OK);
    json_t *problems = NULL;
    mdm_audit_check chk;
    CHECK_INT(mdm_audit_verify(db, &chk, &problems, &err), MDM_OK);
    CHECK(!chk.intact);
    CHECK_INT(chk.problems, 1);
    CHECK_INT(chk.first_bad, mid);
    CHECK(strstr(chk.first, "edited") != NULL);
    CHECK_INT(json_array_size(problems), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(problems, 0), "id")), mid);
    json_decref(problems);
    snprintf(
        sql, sizeof sql,
        "UPDATE audit_log a SET reason = s.reason FROM saved s WHERE a.id = s.id AND a.id = %lld",
        mid);
    CHECK(run(db, sql) == MDM_OK);
    CHECK(verify(db).intact);

    /* an edited jsonb value, even one that keeps the same keys */
    snprintf(sql, sizeof sql,
             "UPDATE audit_log SET after = jsonb_set(after, '{version}', '99') WHERE id = %lld",
             mid);
    CHECK(run(db, sql) == MDM_OK);
    chk = verify(db);
    CHECK(!chk.intact);
    CHECK_INT(chk.first_bad, mid);
    snprintf(
        sql, sizeof sql,
        "UPDATE audit_log a SET after = s.after FROM saved s WHERE a.id = s.id AND a.id = %lld",
        mid);
    CHECK(run(db, sql) == MDM_OK);
    CHECK(verify(db).intact);

    /* an edited row whose hash was recomputed by the attacker still breaks the next link */
    snprintf(sql, sizeof sql,
             "UPDATE audit_log SET actor = 'eve', hash = repeat('a', 64) WHERE id = %lld", mid);
    CHECK(run(db, sql) == MDM_OK);
    chk = verify(db);
    CHECK(!chk.intact);
    CHECK(chk.problems >= 2);
    snprintf(sql, sizeof sql,
             "UPDATE audit_log a SET actor = s.actor, hash = s.hash FROM saved s"
             " WHERE a.id = s.id AND a.id = %lld",
             mid);
    CHECK(run(db, sql) == MDM_OK);
    CHECK(verify(db).intact);

    /* a deleted row in the middle */
    snprintf(sql, sizeof sql, "DELETE FROM audit_log WHERE id = %lld", mid);
    CHECK(run(db, sql) == MDM_OK);
    chk = verify(db);
    CHECK(!chk.intact);
    CHECK_INT(chk.rows, total - 1);
    CHECK(chk.first_bad > mid);
    CHECK(strstr(chk.first, "does not link") != NULL);
    snprintf(sql, sizeof sql, "INSERT INTO audit_log SELECT * FROM saved WHERE id = %lld", mid);
    CHECK(run(db, sql) == MDM_OK);
    CHECK(verify(db).intact);

    /* the first row deleted */
    CHECK(run(db, "DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log)") == MDM_OK);
    chk = verify(db);
    CHECK(!chk.intact);
    CHECK(strstr(chk.first, "does not start the chain") != NULL);
    CHECK(run(db,
              "INSERT INTO audit_log SELECT * FROM saved WHERE id = (SELECT min(id) FROM saved)") ==
          MDM_OK);
    CHECK(verify(db).intact);

    /* the last row deleted: the chain alone is still consistent, the head is not */
    snprintf(sql, sizeof sql, "DELETE FROM audit_log WHERE id = %lld", last);
    CHECK(run(db, sql) == MDM_OK);
    chk = verify(db);
    CHECK(!chk.intact);
    CHECK_INT(chk.problems, 1);
    CHECK(strstr(chk.first, "rows at the end were deleted") != NULL);
    snprintf(sql, sizeof sql, "INSERT INTO audit_log SELECT * FROM saved WHERE id = %lld", last);
    CHECK(run(db, sql) == MDM_OK);
    chk = verify(db);
    CHECK(chk.intact);
    CHECK_INT(chk.rows, total);

    CHECK(run(db, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only") == MDM_OK);
    mdm_db_close(db);
}

int main(void)
{
    url = getenv("MDM_DATABASE_URL");
    fx_url = url;
    const char *sql_dir = getenv("MDM_SQL_DIR");
    if (!url || !sql_dir)
        return 1;
    mdm_db *db = fx_connect();
    mdm_err err;
    if (mdm_migrate_run(db, sql_dir, false, NULL, NULL, &err) != MDM_OK) {
        fprintf(stderr, "migrate: %s\n", err.msg);
        return 1;
    }
    mdm_db_close(db);
    RUN(test_empty_chain);
    RUN(test_append_and_verify);
    RUN(test_row_hash_format);
    RUN(test_validation);
    RUN(test_list_filters_and_paging);
    RUN(test_append_only_trigger);
    RUN(test_concurrent_appends);
    RUN(test_tamper_detection);
    TEST_END();
}
