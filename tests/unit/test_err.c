/* The status table is the only map from errors to HTTP status, exit code and title. */
#include "common/err.h"
#include "tests/test.h"

static void test_table_rows(void)
{
    CHECK_INT(mdm_status_http(MDM_OK), 200);
    CHECK_INT(mdm_status_exit(MDM_OK), 0);
    CHECK_INT(mdm_status_http(MDM_EINVAL), 400);
    CHECK_INT(mdm_status_exit(MDM_EINVAL), 2);
    CHECK_INT(mdm_status_http(MDM_ENOTFOUND), 404);
    CHECK_INT(mdm_status_http(MDM_ECONFLICT), 409);
    CHECK_INT(mdm_status_exit(MDM_ECONFLICT), 5);
    CHECK_INT(mdm_status_http(MDM_EUNPROCESSABLE), 422);
    CHECK_INT(mdm_status_http(MDM_ERATE), 429);
    CHECK_INT(mdm_status_http(MDM_ERETRY), 503);
    CHECK_INT(mdm_status_exit(MDM_EDB), 7);
    CHECK_STR(mdm_status_title(MDM_ENOTFOUND), "not found");
    CHECK_STR(mdm_status_name(MDM_ECONFLICT), "econflict");
    CHECK_STR(mdm_status_name(MDM_EUNPROCESSABLE), "eunprocessable");
}

static void test_out_of_range_is_internal(void)
{
    CHECK_INT(mdm_status_http((mdm_status)999), 500);
    CHECK_INT(mdm_status_exit((mdm_status)-1), 1);
    CHECK_STR(mdm_status_title(MDM_STATUS_COUNT), "internal error");
}

static void test_every_status_has_distinct_name(void)
{
    for (int i = 0; i < MDM_STATUS_COUNT; i++)
        for (int j = i + 1; j < MDM_STATUS_COUNT; j++)
            CHECK(strcmp(mdm_status_name((mdm_status)i), mdm_status_name((mdm_status)j)) != 0);
}

static void test_err_set(void)
{
    mdm_err err;
    CHECK_INT(mdm_err_set(&err, MDM_EINVAL, "unknown source \"%s\"", "crm"), MDM_EINVAL);
    CHECK_INT(err.code, MDM_EINVAL);
    CHECK_STR(err.msg, "unknown source \"crm\"");
    CHECK_STR(err.field, "");
    CHECK_INT(mdm_err_set_field(&err, MDM_EUNPROCESSABLE, "/emails/0", "bad email"),
              MDM_EUNPROCESSABLE);
    CHECK_STR(err.field, "/emails/0");
    mdm_err_detail(&err, "at %d", 3);
    CHECK_STR(err.detail, "at 3");
    CHECK_INT(mdm_err_set(NULL, MDM_EDB, "x"), MDM_EDB); /* NULL err is allowed */
    mdm_err_clear(&err);
    CHECK_INT(err.code, MDM_OK);
    CHECK_STR(err.msg, "");
}

static void test_long_message_truncated(void)
{
    mdm_err err;
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mdm_err_set(&err, MDM_EINVAL, "%s", big);
    CHECK_INT(strlen(err.msg), sizeof err.msg - 1);
}

int main(void)
{
    RUN(test_table_rows);
    RUN(test_out_of_range_is_internal);
    RUN(test_every_status_has_distinct_name);
    RUN(test_err_set);
    RUN(test_long_message_truncated);
    TEST_END();
}
