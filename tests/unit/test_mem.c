/* Buffers and arenas: growth, formatting, alignment. */
#include "common/mem.h"
#include "tests/test.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_buf(void)
{
    mdm_buf b = {0};
    for (int i = 0; i < 1000; i++)
        mdm_buf_printf(&b, "%d,", i % 10);
    CHECK_INT(b.len, 2000);
    CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
    mdm_buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.data, "");
    mdm_buf_puts(&b, "ab");
    mdm_buf_putc(&b, 'c');
    char *s = mdm_buf_steal(&b);
    CHECK_STR(s, "abc");
    CHECK(b.data == NULL);
    free(s);
    s = mdm_buf_steal(&b); /* empty buffer gives an empty string, not NULL */
    CHECK_STR(s, "");
    free(s);
}

static void test_arena(void)
{
    mdm_arena *a = mdm_arena_new(64);
    char *p = NULL;
    for (int i = 0; i < 100; i++) {
        p = mdm_arena_alloc(a, (size_t)i + 1);
        CHECK(((uintptr_t)p & 15) == 0);
        CHECK(p[i] == 0);
        memset(p, 'z', (size_t)i + 1);
    }
    char *big = mdm_arena_alloc(a, 10000);
    big[9999] = 1;
    CHECK_STR(mdm_arena_strndup(a, "hello world", 5), "hello");
    mdm_arena_free(a);
    mdm_arena_free(NULL);
}

static void test_xasprintf(void)
{
    char *s = mdm_xasprintf("%s-%03d", "id", 7);
    CHECK_STR(s, "id-007");
    free(s);
}

/* mdm_buf_json_str: exact output for the escapes, and every byte from 1 to 127 plus
 * multi-byte UTF-8 read back unchanged by jansson. */
static void test_json_str(void)
{
    mdm_buf b = {0};
    mdm_buf_json_str(&b, "a\"b\\c/d\n\t\x01\x1f\xc3\xa9\xe2\x82\xac");
    CHECK_STR(b.data, "\"a\\\"b\\\\c/d\\n\\t\\u0001\\u001f\xc3\xa9\xe2\x82\xac\"");
    mdm_buf_reset(&b);
    mdm_buf_json_str(&b, "");
    CHECK_STR(b.data, "\"\"");
    char all[160];
    size_t n = 0;
    for (int c = 1; c < 128; c++)
        all[n++] = (char)c;
    memcpy(all + n, "\xf0\x9f\x98\x80\xc3\xbc", 7); /* with the NUL */
    mdm_buf_reset(&b);
    mdm_buf_json_str(&b, all);
    json_t *j = json_loads(b.data, JSON_DECODE_ANY, NULL);
    CHECK(json_is_string(j));
    CHECK_STR(json_string_value(j), all);
    json_decref(j);
    mdm_buf_free(&b);
}

int main(void)
{
    RUN(test_buf);
    RUN(test_arena);
    RUN(test_xasprintf);
    RUN(test_json_str);
    TEST_END();
}
