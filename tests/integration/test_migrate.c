/* mdm migrate against a real PostgreSQL (MDM_DATABASE_URL, a fresh database per run):
 * concurrent first run, repeat is a no-op, a changed or missing applied file is refused. */
#include "common/mem.h"
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "tests/test.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *url;
static char dir[256];

static void write_file(const char *name, const char *content)
{
    char *path = mdm_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    free(path);
}

static long long count(mdm_db *db, const char *sql)
{
    PGresult *res = NULL;
    mdm_err err;
    if (mdm_db_exec_params(db, sql, 0, NULL, &res, &err) != MDM_OK)
        return -1;
    long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

typedef struct run_result {
    mdm_status st;
    int applied;
} run_result;

static void *migrate_thread(void *arg)
{
    run_result *r = arg;
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    if (!db) {
        r->st = err.code;
        return NULL;
    }
    r->st = mdm_migrate_run(db, dir, false, NULL, &r->applied, &err);
    mdm_db_close(db);
    return NULL;
}

static void test_concurrent_first_run(void)
{
    run_result r[4] = {{0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, migrate_thread, &r[i]);
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(r[i].st, MDM_OK);
        total += r[i].applied;
    }
    CHECK_INT(total, 2); /* each migration applied exactly once across the runs */
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations"), 2);
    CHECK_INT(count(db, "SELECT count(*) FROM t_one"), 2); /* rows 1 and 2 */
    mdm_db_close(db);
}

static void test_repeat_is_noop(void)
{
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    CHECK(db != NULL);
    if (!db)
        return;
    int applied = -1;
    CHECK_INT(mdm_migrate_run(db, dir, false, NULL, &applied, &err), MDM_OK);
    CHECK_INT(applied, 0);
    CHECK_INT(count(db, "SELECT count(*) FROM t_one"), 2); /* rows 1 and 2 */
    mdm_db_close(db);
}

static void test_new_file_applied_in_order(void)
{
    write_file("003_three.sql", "INSERT INTO t_one VALUES (3);");
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    CHECK(db != NULL);
    if (!db)
        return;
    int applied = 0;
    CHECK_INT(mdm_migrate_run(db, dir, false, NULL, &applied, &err), MDM_OK);
    CHECK_INT(applied, 1);
    CHECK_INT(count(db, "SELECT max(version) FROM schema_migrations"), 3);
    mdm_db_close(db);
}

static void test_failing_file_rolls_back(void)
{
    write_file("004_bad.sql", "INSERT INTO t_one VALUES (4); SELECT no_such_function();");
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK(mdm_migrate_run(db, dir, false, NULL, NULL, &err) != MDM_OK);
    CHECK(strstr(err.detail, "004_bad.sql") != NULL);
    CHECK_INT(count(db, "SELECT count(*) FROM t_one WHERE x = 4"), 0);
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations WHERE version = 4"), 0);
    char *path = mdm_xasprintf("%s/004_bad.sql", dir);
    unlink(path);
    free(path);
    mdm_db_close(db);
}

static void test_changed_file_refused(void)
{
    write_file("002_two.sql", "INSERT INTO t_one VALUES (22);"); /* was VALUES (2) */
    write_file("005_five.sql", "INSERT INTO t_one VALUES (5);");
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK_INT(mdm_migrate_run(db, dir, false, NULL, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "002_two.sql") != NULL);
    /* nothing was applied: the check happens before any migration runs */
    CHECK_INT(count(db, "SELECT count(*) FROM schema_migrations WHERE version = 5"), 0);
    write_file("002_two.sql", "INSERT INTO t_one VALUES (2);");
    char *path = mdm_xasprintf("%s/003_three.sql", dir);
    unlink(path);
    free(path);
    CHECK_INT(mdm_migrate_run(db, dir, false, NULL, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "missing") != NULL);
    mdm_db_close(db);
}

static void test_unreachable_database(void)
{
    mdm_err err;
    mdm_db *db = mdm_db_connect("postgresql:///nodb?host=/nonexistent&connect_timeout=2", &err);
    CHECK(db == NULL);
    CHECK_INT(err.code, MDM_EDB);
    CHECK(strstr(err.msg, "cannot connect") != NULL);
}

static void test_real_schema_applies(void)
{
    /* The project's own migrations apply cleanly in a separate schema namespace. */
    const char *sql_dir = getenv("MDM_SQL_DIR");
    mdm_err err;
    mdm_db *db = mdm_db_connect(url, &err);
    CHECK(db != NULL);
    if (!db || !sql_dir)
        return;
    CHECK_INT(mdm_db_command(db, "CREATE SCHEMA real_schema; SET search_path = real_schema", &err),
              MDM_OK);
    int applied = 0;
    CHECK_INT(mdm_migrate_run(db, sql_dir, false, NULL, &applied, &err), MDM_OK);
    CHECK(applied >= 1);
    CHECK(count(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'real_schema'") >= 20);
    /* every table carries a comment */
    CHECK_INT(count(db, "SELECT count(*) FROM pg_tables t WHERE schemaname = 'real_schema' AND "
                        "tablename <> 'schema_migrations' AND obj_description(format('%I.%I', "
                        "schemaname, tablename)::regclass) IS NULL"),
              0);
    mdm_db_close(db);
}

int main(void)
{
    url = getenv("MDM_DATABASE_URL");
    if (!url) {
        fprintf(stderr, "MDM_DATABASE_URL is not set\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "/tmp/mdm-migrate-test-%d", (int)getpid());
    mkdir(dir, 0700);
    write_file("001_one.sql",
               "CREATE TABLE t_one (x int PRIMARY KEY);\nINSERT INTO t_one VALUES (1);");
    write_file("002_two.sql", "INSERT INTO t_one VALUES (2);");
    write_file("README.txt", "not a migration");
    RUN(test_concurrent_first_run);
    RUN(test_repeat_is_noop);
    RUN(test_new_file_applied_in_order);
    RUN(test_failing_file_rolls_back);
    RUN(test_changed_file_refused);
    RUN(test_unreachable_database);
    RUN(test_real_schema_applies);
    char *cmd = mdm_xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
    free(cmd);
    TEST_END();
}
