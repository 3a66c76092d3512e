/* CSV output: RFC 4180 quoting and spreadsheet formula neutralization (issue 17 item 3). */
#include "common/csvout.h"
#include "tests/test.h"

#include <stdlib.h>

static void test_fields(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {" padded ", "\" padded \""},
        {"ünïcödé ok", "ünïcödé ok"},
        /* OWASP: = + - @ tab CR start a formula */
        {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
        {"=1+2", "\"'=1+2\""},
        {"+1 415 555 0132", "\"'+1 415 555 0132\""},
        {"-2+3", "\"'-2+3\""},
        {"@SUM(A1)", "\"'@SUM(A1)\""},
        {"\t=1+2", "\"'\t=1+2\""},
        {"\r=1+2", "\"'\r=1+2\""},
        {"a=1", "a=1"},
        {"x@example.com", "x@example.com"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mdm_buf b = {0};
        mdm_buf_puts(&b, "");
        mdm_csvout_field(&b, cases[i].in);
        CHECK_STR(b.data, cases[i].out);
        mdm_buf_free(&b);
    }
    mdm_buf b = {0};
    mdm_buf_puts(&b, "x");
    mdm_csvout_field(&b, NULL);
    CHECK_STR(b.data, "x");
    mdm_buf_free(&b);
}

static void test_file(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    mdm_csvout_fput(f, "@cmd");
    fputc(',', f);
    mdm_csvout_fput(f, NULL);
    fputc(',', f);
    mdm_csvout_fput(f, "ok");
    fclose(f);
    CHECK_STR(text, "\"'@cmd\",,ok");
    free(text);
}

int main(void)
{
    RUN(test_fields);
    RUN(test_file);
    TEST_END();
}
