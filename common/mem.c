/* Allocation helpers: abort on OOM, string buffer, bump arena. */
#include "common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "mdm: out of memory allocating %zu bytes\n", n);
    abort();
}

void *mdm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *mdm_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *mdm_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *mdm_xstrdup(const char *s)
{
    return mdm_xstrndup(s, strlen(s));
}

char *mdm_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = mdm_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *mdm_xasprintf(const char *fmt, ...)
{
    mdm_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    mdm_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return mdm_buf_steal(&b);
}

void mdm_buf_reserve(mdm_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = mdm_xrealloc(b->data, cap);
    b->cap = cap;
}

void mdm_buf_append(mdm_buf *b, const void *data, size_t n)
{
    mdm_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mdm_buf_puts(mdm_buf *b, const char *s)
{
    mdm_buf_append(b, s, strlen(s));
}

void mdm_buf_putc(mdm_buf *b, char c)
{
    mdm_buf_append(b, &c, 1);
}

void mdm_buf_json_str(mdm_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    mdm_buf_putc(b, '"');
    const char *run = s; /* bytes copied as they are, in runs */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        mdm_buf_append(b, run, (size_t)(s - run));
        run = s + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        char named = c == '"'    ? '"'
                     : c == '\\' ? '\\'
                     : c == '\b' ? 'b'
                     : c == '\f' ? 'f'
                     : c == '\n' ? 'n'
                     : c == '\r' ? 'r'
                     : c == '\t' ? 't'
                                 : 0;
        if (named) {
            esc[1] = named;
        } else {
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        mdm_buf_append(b, esc, n);
    }
    mdm_buf_append(b, run, (size_t)(s - run));
    mdm_buf_putc(b, '"');
}

void mdm_buf_vprintf(mdm_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    mdm_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void mdm_buf_printf(mdm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mdm_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void mdm_buf_reset(mdm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *mdm_buf_steal(mdm_buf *b)
{
    char *s = b->data ? b->data : mdm_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void mdm_buf_free(mdm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

typedef struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char mem[];
} arena_block;

struct mdm_arena {
    arena_block *head;
    size_t block_size;
};

mdm_arena *mdm_arena_new(size_t block_size)
{
    mdm_arena *a = mdm_xcalloc(1, sizeof *a);
    a->block_size = block_size ? block_size : 16384;
    return a;
}

void *mdm_arena_alloc(mdm_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > a->block_size ? need : a->block_size;
        b = mdm_xmalloc(sizeof *b + size);
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->mem + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

char *mdm_arena_strndup(mdm_arena *a, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = mdm_arena_alloc(a, len + 1);
    memcpy(p, s, len);
    return p;
}

char *mdm_arena_strdup(mdm_arena *a, const char *s)
{
    return mdm_arena_strndup(a, s, strlen(s));
}

void mdm_arena_free(mdm_arena *a)
{
    if (!a)
        return;
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}
