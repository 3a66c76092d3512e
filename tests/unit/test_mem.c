/* Buffers and arenas: growth, formatting, alignment. */
#include "common/mem.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>

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

int main(void)
{
    RUN(test_buf);
    RUN(test_arena);
    RUN(test_xasprintf);
    TEST_END();
}
