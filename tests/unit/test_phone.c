/* Phones through libphonenumber (matching/phone.cc behind mdm_norm_phone): the layouts
 * of tests/data/normalize_phone.tsv, default countries by code or name, and errors. */
#include "matching/normalize.h"
#include "matching/phone.h"
#include "tests/test.h"
#include "tests/unit/norm_tsv.h"

static mdm_norm *N;

static void test_phone_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_phone.tsv")) {
        CHECK(0);
        return;
    }
    char what[400];
    while (tsv_next(&t) >= 0) {
        mdm_phone_norm p;
        mdm_err err = {0};
        mdm_status st = mdm_norm_phone(N, t.field[0], t.field[1], &p, &err);
        bool ok = st == MDM_OK && strcmp(p.e164, t.field[2]) == 0 &&
                  strcmp(p.ext, t.field[3]) == 0 && p.country_code == atoi(t.field[4]) &&
                  p.valid == (strcmp(t.field[5], "1") == 0);
        snprintf(what, sizeof what,
                 "normalize_phone.tsv:%d: got e164=%s ext=%s cc=%d valid=%d st=%d %s", t.lineno,
                 p.e164, p.ext, p.country_code, p.valid, (int)st, err.msg);
        mdm_test_case(ok, what);
    }
    tsv_close(&t);
}

static void test_phone_errors(void)
{
    mdm_phone_norm p;
    mdm_err err = {0};
    CHECK(mdm_norm_phone(N, "030 1234567", "Narnia", &p, &err) == MDM_EINVAL);
    CHECK(strstr(err.msg, "default country") != NULL);
    CHECK(mdm_norm_phone(N, "\xff", "US", &p, &err) == MDM_EINVAL);
    /* NULL and "" default to US */
    CHECK(mdm_norm_phone(N, "(415) 555-0132", NULL, &p, &err) == MDM_OK);
    CHECK_STR(p.e164, "+14155550132");
    CHECK(mdm_norm_phone(N, "(415) 555-0132", "", &p, &err) == MDM_OK);
    CHECK_STR(p.e164, "+14155550132");
    /* digits are kept for invalid numbers, truncated to fit */
    CHECK(mdm_norm_phone(N, "555-0132", "US", &p, &err) == MDM_OK);
    CHECK_STR(p.digits, "5550132");
    CHECK(!p.valid);
    char longnum[200];
    memset(longnum, '9', sizeof longnum - 1);
    longnum[sizeof longnum - 1] = '\0';
    CHECK(mdm_norm_phone(N, longnum, "US", &p, &err) == MDM_OK);
    CHECK(!p.valid);
    CHECK_INT(strlen(p.digits), sizeof p.digits - 1);
    /* the shim directly */
    CHECK(mdm_phone_region_known("DE"));
    CHECK(!mdm_phone_region_known("XX"));
    CHECK(mdm_phone_parse("030 1234567", "XX", &p, &err) == MDM_EINVAL);
}

/* The direct path for plain layouts agrees with libphonenumber's Parse on the table and
 * on random digit strings in many layouts and regions. */
static void test_fast_path_matches_parse(void)
{
    static const char *const regions[] = {"US", "CA", "GB", "DE", "FR", "AU", "JP", "IT"};
    static const char *const seps[] = {"", " ", "-", ".", "(", ")"};
    unsigned seed = 99;
    int bad = 0;
    for (int iter = 0; iter < 5000; iter++) {
        char buf[64];
        size_t o = 0;
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 9) % 2)
            buf[o++] = '+';
        int nd = 4 + (int)((seed >> 12) % 12);
        for (int i = 0; i < nd && o < 60; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[o++] = (char)('0' + (seed >> 8) % 10);
            if ((seed >> 16) % 4 == 0)
                buf[o++] = seps[(seed >> 20) % 6][0] ? seps[(seed >> 20) % 6][0] : ' ';
        }
        buf[o] = '\0';
        const char *region = regions[iter % 8];
        mdm_phone_norm a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        CHECK(mdm_phone_parse_ex(buf, region, true, &a, NULL) == MDM_OK);
        CHECK(mdm_phone_parse_ex(buf, region, false, &b, NULL) == MDM_OK);
        if (strcmp(a.e164, b.e164) != 0 || a.valid != b.valid || strcmp(a.ext, b.ext) != 0 ||
            (a.valid && a.country_code != b.country_code)) {
            if (bad++ < 5)
                fprintf(stderr, "[%s] %s: fast %s/%d/%d, parse %s/%d/%d\n", buf, region, a.e164,
                        a.country_code, a.valid, b.e164, b.country_code, b.valid);
        }
    }
    CHECK_INT(bad, 0);
}

/* Results are cached per handle by exact input and region; the cache never mixes
 * regions up. */
static void test_cache(void)
{
    mdm_phone_norm p;
    for (int i = 0; i < 3; i++) {
        CHECK(mdm_norm_phone(N, "030 1234567", "DE", &p, NULL) == MDM_OK);
        CHECK_STR(p.e164, "+49301234567");
        CHECK(mdm_norm_phone(N, "030 1234567", "US", &p, NULL) == MDM_OK);
        CHECK(!p.valid);
        CHECK_STR(p.e164, "");
    }
}

int main(void)
{
    mdm_err err = {0};
    N = mdm_norm_new(&err);
    if (!N) {
        fprintf(stderr, "mdm_norm_new: %s\n", err.msg);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_phone_table);
    RUN(test_phone_errors);
    RUN(test_fast_path_matches_parse);
    RUN(test_cache);
    mdm_norm_free(N);
    TEST_END();
}
