/* API key verification against the database (issue 17 item 10): an unknown key prefix
 * is remembered, so guessing costs no database query per request, and it takes the
 * same hash-and-compare path as a known prefix with a wrong secret. */
#include "api/auth.h"
#include "common/clock.h"
#include "common/mem.h"
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "tests/integration/core_fixture.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url;
static const mdm_audit_actor tester = {"cli:test", "admin"};

static char *new_key(mdm_db *db)
{
    char *key = NULL;
    int64_t id = 0;
    mdm_err err;
    if (mdm_auth_key_create(db, MDM_ROLE_READER, NULL, 100, "probe", &tester, &key, &id, &err) !=
        MDM_OK) {
        fprintf(stderr, "key: %s\n", err.msg);
        exit(1);
    }
    return key;
}

/* "Bearer " + key with its prefix or its secret changed (first hex digit flipped). */
static char *bearer(const char *key, int flip_at)
{
    char *b = mdm_xasprintf("Bearer %s", key);
    if (flip_at >= 0) {
        char *c = b + 7 + flip_at;
        *c = *c == '0' ? '1' : '0';
    }
    return b;
}

static void test_unknown_prefix_is_remembered(void)
{
    mdm_db *db = fx_connect();
    char *key = new_key(db);
    mdm_auth *auth = mdm_auth_new(0, 1); /* no positive cache: every known key is read */
    mdm_auth_key k;
    mdm_err err;
    char *good = bearer(key, -1), *unknown = bearer(key, 4); /* "mdm_" then the prefix */
    CHECK_INT(mdm_auth_verify(auth, db, good, &k, &err), MDM_OK);
    CHECK_INT(mdm_auth_verify(auth, db, unknown, &k, &err), MDM_EAUTH);
    /* the second time the database is not asked: without one it is still "unknown" */
    CHECK_INT(mdm_auth_verify(auth, NULL, unknown, &k, &err), MDM_EAUTH);
    CHECK(strstr(err.msg, "unknown or revoked") != NULL);
    /* a known key still needs the database when nothing is cached */
    CHECK_INT(mdm_auth_verify(auth, NULL, good, &k, &err), MDM_ERETRY);
    /* many different unknown prefixes: one query each, then all remembered */
    char *many[64];
    for (int i = 0; i < 64; i++) {
        many[i] = mdm_xasprintf("Bearer mdm_%012x_%s", 0xabc000 + i, key + 4 + 12 + 1);
        CHECK_INT(mdm_auth_verify(auth, db, many[i], &k, &err), MDM_EAUTH);
    }
    int remembered = 0;
    for (int i = 0; i < 64; i++) {
        remembered += mdm_auth_verify(auth, NULL, many[i], &k, &err) == MDM_EAUTH;
        free(many[i]);
    }
    CHECK(remembered >= 60); /* 64 keys in 4096 slots: a collision or two at most */
    free(good);
    free(unknown);
    free(key);
    mdm_auth_free(auth);
    mdm_db_close(db);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median time of n verifications of authz (database not asked). */
static double median_us(mdm_auth *auth, const char *authz, int n)
{
    double *t = mdm_xmalloc((size_t)n * sizeof *t);
    mdm_auth_key k;
    mdm_err err;
    int refused = 0;
    for (int i = 0; i < n; i++) {
        double t0 = mdm_clock_s();
        refused += mdm_auth_verify(auth, NULL, authz, &k, &err) == MDM_EAUTH;
        t[i] = (mdm_clock_s() - t0) * 1e6;
    }
    CHECK_INT(refused, n);
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double m = t[n / 2];
    free(t);
    return m;
}

static void test_same_time_known_or_not(void)
{
    mdm_db *db = fx_connect();
    char *key = new_key(db);
    mdm_auth *auth = mdm_auth_new(60, 1);
    mdm_auth_key k;
    mdm_err err;
    char *good = bearer(key, -1), *wrong_secret = bearer(key, 4 + 12 + 1),
         *unknown = bearer(key, 5);
    CHECK_INT(mdm_auth_verify(auth, db, good, &k, &err), MDM_OK); /* cached */
    CHECK_INT(mdm_auth_verify(auth, db, unknown, &k, &err), MDM_EAUTH);
    CHECK_INT(mdm_auth_verify(auth, NULL, wrong_secret, &k, &err), MDM_EAUTH);
    double known = median_us(auth, wrong_secret, 3000);
    double not_known = median_us(auth, unknown, 3000);
    fprintf(stderr, "verify: known prefix, wrong secret %.2f us; unknown prefix %.2f us\n", known,
            not_known);
    /* both hash and compare; an answer without the hash would be several times faster */
    CHECK(not_known > known / 2.5 && not_known < known * 2.5);
    free(good);
    free(wrong_secret);
    free(unknown);
    free(key);
    mdm_auth_free(auth);
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
    RUN(test_unknown_prefix_is_remembered);
    RUN(test_same_time_known_or_not);
    TEST_END();
}
