/* The consent audit export's helpers without a database: RFC 4180 field quoting and the
 * format names. The export itself runs against PostgreSQL in
 * tests/integration/test_consent.c. */
#include "common/mem.h"
#include "mdm/consent_audit.h"
#include "tests/test.h"

static void test_csv_field(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\rhere", "\"cr\rhere\""},
        {"ünïcödé ok", "ünïcödé ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mdm_buf b = {0};
        mdm_buf_puts(&b, "");
        mdm_consent_csv_field(&b, cases[i].in);
        CHECK_STR(b.data, cases[i].out);
        mdm_buf_free(&b);
    }
    mdm_buf b = {0};
    mdm_buf_puts(&b, "x");
    mdm_consent_csv_field(&b, NULL);
    CHECK_STR(b.data, "x");
    mdm_buf_free(&b);
}

static void test_format_parse(void)
{
    mdm_consent_format f;
    CHECK(mdm_consent_format_parse("csv", &f) && f == MDM_CONSENT_CSV);
    CHECK(mdm_consent_format_parse("ndjson", &f) && f == MDM_CONSENT_NDJSON);
    CHECK(!mdm_consent_format_parse("xml", &f));
    CHECK(!mdm_consent_format_parse(NULL, &f));
}

int main(void)
{
    RUN(test_csv_field);
    RUN(test_format_parse);
    TEST_END();
}
