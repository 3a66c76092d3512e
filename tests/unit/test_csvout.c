/* CSV output: RFC 4180 quoting and spreadsheet formula neutralization (issue 17 item 3). */
#include "common/csvout.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

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
        {"cr\rhere", "\"cr\rhere\""},
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
        /* a value starting with the quote a reader strips gets one more */
        {"'+1", "\"''+1\""},
        {"''", "\"'''\""},
        {"'a", "'a"},
        {"'", "'"},
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

/* One field as a reader gets it back: RFC 4180 unquoting, then the documented rule (strip
 * the first character of a cell that starts with "'" and one of = + - @ tab CR '). */
static char *read_back(const char *cell)
{
    size_t n = strlen(cell);
    char *out = malloc(n + 1), *o = out;
    if (n >= 2 && cell[0] == '"') {
        for (size_t i = 1; i + 1 < n; i++) {
            if (cell[i] == '"')
                i++; /* a doubled quote */
            *o++ = cell[i];
        }
    } else {
        memcpy(o, cell, n);
        o += n;
    }
    *o = '\0';
    if (out[0] == '\'' && out[1] && strchr("=+-@\t\r'", out[1]))
        memmove(out, out + 1, strlen(out));
    return out;
}

static void test_reversible(void)
{
    static const char *const values[] = {
        "plain", "",   "=1+2",   "'=1+2",   "''=1",     "'", "''",
        "'''",   "'a", "+44 20", "'+44 20", "-",        "@", "a \"quoted\", b",
        " x ",   "\t", "'\t",    "O'Brien", "'t Hooft", "x'"};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        mdm_buf b = {0};
        mdm_buf_puts(&b, "");
        mdm_csvout_field(&b, values[i]);
        char *back = read_back(b.data);
        CHECK_STR(back, values[i]);
        free(back);
        mdm_buf_free(&b);
    }
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
    RUN(test_reversible);
    RUN(test_file);
    TEST_END();
}
