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
        snprintf(what, sizeof what, "normalize_phone.tsv:%d: got e164=%s ext=%s cc=%d valid=%d st=%d %s",
                 t.lineno, p.e164, p.ext, p.country_code, p.valid, (int)st, err.msg);
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
    mdm_norm_free(N);
    TEST_END();
}
