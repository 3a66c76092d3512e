/* COPY text-format escaping (mdm/db.h mdm_db_copy_field): what PostgreSQL's COPY reads
 * back as the original value. */
#include "common/mem.h"
#include "mdm/db.h"
#include "tests/test.h"

static void check(const char *in, const char *want)
{
    mdm_buf b = {0};
    mdm_db_copy_field(&b, in);
    mdm_buf_putc(&b, '\0');
    CHECK_STR(b.data, want);
    mdm_buf_free(&b);
}

static void test_escapes(void)
{
    check(NULL, "\\N");
    check("", "");
    check("plain text, commas; \"quotes\"", "plain text, commas; \"quotes\"");
    check("a\tb", "a\\tb");
    check("line1\nline2\r\n", "line1\\nline2\\r\\n");
    check("back\\slash", "back\\\\slash");
    check("\\N", "\\\\N"); /* a literal backslash-N is not NULL */
    check("{\"k\": \"v\\\"w\"}", "{\"k\": \"v\\\\\"w\"}");
    check("\t\t", "\\t\\t");
    check("ünïcödé ✓", "ünïcödé ✓");
}

int main(void)
{
    RUN(test_escapes);
    TEST_END();
}
