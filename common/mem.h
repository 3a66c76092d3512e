/* Allocation helpers, a growable string buffer and a bump arena.
 *
 * Out of memory aborts: mdm_xmalloc and friends print the size and call abort(), so
 * their results are never checked. mdm_buf is a NUL-terminated growable string;
 * mdm_arena hands out memory that lives until mdm_arena_free (request scratch space).
 * None of these objects is thread-safe; give each thread its own. */
#ifndef MDM_COMMON_MEM_H
#define MDM_COMMON_MEM_H

#include <stdarg.h>
#include <stddef.h>

void *mdm_xmalloc(size_t n);
void *mdm_xcalloc(size_t count, size_t size);
void *mdm_xrealloc(void *p, size_t n);
char *mdm_xstrdup(const char *s);
char *mdm_xstrndup(const char *s, size_t n);
/* Formatted string in fresh memory; the caller frees it. */
char *mdm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable string. Zero-initialise (mdm_buf b = {0};) before use; data is always
 * NUL-terminated once anything was appended; free with mdm_buf_free. */
typedef struct mdm_buf {
    char *data;
    size_t len;
    size_t cap;
} mdm_buf;

void mdm_buf_reserve(mdm_buf *b, size_t extra);
void mdm_buf_append(mdm_buf *b, const void *data, size_t n);
void mdm_buf_puts(mdm_buf *b, const char *s);
void mdm_buf_putc(mdm_buf *b, char c);
void mdm_buf_printf(mdm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mdm_buf_vprintf(mdm_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void mdm_buf_reset(mdm_buf *b); /* length 0, keeps the memory */
/* Appends s (valid UTF-8) as a JSON string literal: quoted, with '"', '\\' and control
 * characters escaped (\n, \t, ... or \u00xx), everything else as is (jansson's
 * escaping). For replies written as text without building a JSON tree. */
void mdm_buf_json_str(mdm_buf *b, const char *s);
/* Hands the string to the caller (never NULL) and empties b. */
char *mdm_buf_steal(mdm_buf *b);
void mdm_buf_free(mdm_buf *b);

/* Bump allocator: many small allocations, one free. */
typedef struct mdm_arena mdm_arena;

mdm_arena *mdm_arena_new(size_t block_size);
void *mdm_arena_alloc(mdm_arena *a, size_t n); /* 16-byte aligned, zeroed */
char *mdm_arena_strdup(mdm_arena *a, const char *s);
char *mdm_arena_strndup(mdm_arena *a, const char *s, size_t n);
void mdm_arena_free(mdm_arena *a); /* NULL is a no-op */

#endif
