/* Comparators: UTF-8 decoding, edit distances, Jaro(-Winkler), q-gram and token sets,
 * dates, numbers, emails.
 *
 * Strings are decoded once into code point arrays held on the stack (MDM_CMP_MAX_STACK
 * code points each); only longer strings use heap scratch space, freed before return.
 * Functions that are not symmetric by construction (the greedy Jaro matching) order their
 * arguments first, so every similarity is exactly symmetric. */
#include "matching/compare.h"
#include "common/mem.h"
#include "matching/strsim.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT 0xFFFDu

/* ---- UTF-8 ---- */

/* Decodes one code point at s (not at the terminating NUL); stores it in *cp and
 * returns the number of bytes used. A byte that does not start a well-formed sequence
 * yields U+FFFD and consumes that byte only. */
static inline size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    unsigned lo = 0x80, hi = 0xBF;
    size_t len;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        *cp = REPLACEMENT;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned t = s[i]; /* a NUL stops here, since it is not a continuation byte */
        if (t < lo || t > hi) {
            *cp = REPLACEMENT;
            return 1;
        }
        lo = 0x80;
        hi = 0xBF;
        v = (v << 6) | (t & 0x3F);
    }
    *cp = v;
    return len;
}

size_t mdm_cmp_decode(const char *s, uint32_t *out, size_t max)
{
    if (!s)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        uint32_t cp;
        if (*p < 0x80) {
            cp = *p++;
        } else {
            p += utf8_next(p, &cp);
        }
        if (n < max)
            out[n] = cp;
        n++;
    }
    return n;
}

bool mdm_cmp_utf8_valid(const char *s, size_t *bad)
{
    if (!s)
        return true;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        size_t n = utf8_next(p, &cp);
        if (cp == REPLACEMENT && n == 1 && *p >= 0x80) {
            if (bad)
                *bad = (size_t)(p - (const unsigned char *)s);
            return false;
        }
        p += n;
    }
    return true;
}

/* A decoded string: on the stack when short, on the heap otherwise. */
typedef struct cpstr {
    const uint32_t *v;
    size_t n;
    uint32_t *heap;
    uint32_t stack[MDM_CMP_MAX_STACK];
} cpstr;

static void cp_load(cpstr *c, const char *s)
{
    c->heap = NULL;
    c->n = mdm_cmp_decode(s, c->stack, MDM_CMP_MAX_STACK);
    c->v = c->stack;
    if (c->n > MDM_CMP_MAX_STACK) {
        c->heap = mdm_xmalloc(c->n * sizeof *c->heap);
        mdm_cmp_decode(s, c->heap, c->n);
        c->v = c->heap;
    }
}

static void cp_free(cpstr *c)
{
    free(c->heap);
}

/* Scratch memory: buf (of cap bytes) when need fits, else fresh heap memory recorded in
 * *heap for the caller to free. */
static void *scratch(void *buf, size_t cap, size_t need, void **heap)
{
    if (need <= cap)
        return buf;
    *heap = mdm_xmalloc(need);
    return *heap;
}

static inline size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* ---- Jaro and Jaro-Winkler ---- */

/* Orders two code point arrays: shorter first, then lexicographically. */
static bool cp_after(const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
    if (la != lb)
        return la > lb;
    for (size_t i = 0; i < la; i++)
        if (a[i] != b[i])
            return a[i] > b[i];
    return false;
}

static double jaro_formula(size_t m, size_t half, size_t la, size_t lb)
{
    double md = (double)m;
    return (md / (double)la + md / (double)lb + (md - (double)half / 2.0) / md) / 3.0;
}

/* Jaro for strings of at most 64 code points (already ordered, non-empty): the matched
 * flags are bit masks, and the transposition count walks their set bits. */
static double jaro_small(const uint32_t *a, size_t la, const uint32_t *b, size_t lb, size_t win)
{
    uint64_t am = 0, bm = 0;
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > win ? i - win : 0;
        size_t hi = i + win + 1 < lb ? i + win + 1 : lb;
        uint32_t c = a[i];
        for (size_t j = lo; j < hi; j++) {
            if (b[j] == c && !(bm >> j & 1)) {
                bm |= (uint64_t)1 << j;
                am |= (uint64_t)1 << i;
                m++;
                break;
            }
        }
    }
    if (!m)
        return 0.0;
    size_t half = 0;
    for (; am; am &= am - 1, bm &= bm - 1)
        half += a[__builtin_ctzll(am)] != b[__builtin_ctzll(bm)];
    return jaro_formula(m, half, la, lb);
}

static double jaro_cp(const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
    if (la == 0 && lb == 0)
        return 1.0;
    if (la == 0 || lb == 0)
        return 0.0;
    if (cp_after(a, la, b, lb)) { /* greedy matching depends on the order: fix it */
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tl = la;
        la = lb;
        lb = tl;
    }
    size_t win = max_sz(la, lb) / 2;
    win = win ? win - 1 : 0;
    if (lb <= 64) /* then la <= 64 too: the matched flags fit in two words */
        return jaro_small(a, la, b, lb, win);
    unsigned char buf[2 * MDM_CMP_MAX_STACK];
    void *heap = NULL;
    unsigned char *am = scratch(buf, sizeof buf, la + lb, &heap);
    unsigned char *bm = am + la;
    memset(am, 0, la + lb);
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > win ? i - win : 0;
        size_t hi = i + win + 1 < lb ? i + win + 1 : lb;
        for (size_t j = lo; j < hi; j++) {
            if (!bm[j] && a[i] == b[j]) {
                am[i] = bm[j] = 1;
                m++;
                break;
            }
        }
    }
    double r = 0.0;
    if (m) {
        size_t k = 0, half = 0;
        for (size_t i = 0; i < la; i++) {
            if (!am[i])
                continue;
            while (!bm[k])
                k++;
            if (a[i] != b[k])
                half++;
            k++;
        }
        r = jaro_formula(m, half, la, lb);
    }
    free(heap);
    return r;
}

static double jaro_winkler_cp(const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
    double j = jaro_cp(a, la, b, lb);
    if (j <= 0.7)
        return j;
    size_t l = 0;
    while (l < 4 && l < la && l < lb && a[l] == b[l])
        l++;
    return j + (double)l * 0.1 * (1.0 - j);
}

double mdm_cmp_jaro(const char *a, const char *b)
{
    cpstr x, y;
    cp_load(&x, a);
    cp_load(&y, b);
    double r = jaro_cp(x.v, x.n, y.v, y.n);
    cp_free(&x);
    cp_free(&y);
    return r;
}

double mdm_cmp_jaro_winkler(const char *a, const char *b)
{
    double r;
    if (mdm_strsim_jaro_winkler(a, b, &r)) /* short ASCII: same result, bit-parallel */
        return r;
    cpstr x, y;
    cp_load(&x, a);
    cp_load(&y, b);
    r = jaro_winkler_cp(x.v, x.n, y.v, y.n);
    cp_free(&x);
    cp_free(&y);
    return r;
}

/* ---- Edit distances ---- */

static inline unsigned min3(unsigned a, unsigned b, unsigned c)
{
    unsigned m = a < b ? a : b;
    return m < c ? m : c;
}

/* Strips the common prefix and suffix, which never change an edit distance. */
static void trim_common(const uint32_t **a, size_t *la, const uint32_t **b, size_t *lb)
{
    while (*la && *lb && (*a)[0] == (*b)[0]) {
        (*a)++;
        (*b)++;
        (*la)--;
        (*lb)--;
    }
    while (*la && *lb && (*a)[*la - 1] == (*b)[*lb - 1]) {
        (*la)--;
        (*lb)--;
    }
}

static size_t levenshtein_cp(const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
    trim_common(&a, &la, &b, &lb);
    if (la == 0)
        return lb;
    if (lb == 0)
        return la;
    unsigned buf[MDM_CMP_MAX_STACK + 1];
    void *heap = NULL;
    unsigned *row = scratch(buf, sizeof buf, (lb + 1) * sizeof *row, &heap);
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            row[j] = min3(up + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1]));
            diag = up;
        }
    }
    size_t d = row[lb];
    free(heap);
    return d;
}

static size_t osa_cp(const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
    trim_common(&a, &la, &b, &lb);
    if (la == 0)
        return lb;
    if (lb == 0)
        return la;
    unsigned buf[3 * (MDM_CMP_MAX_STACK + 1)];
    void *heap = NULL;
    unsigned *mem = scratch(buf, sizeof buf, 3 * (lb + 1) * sizeof *mem, &heap);
    unsigned *pp = mem, *prev = mem + lb + 1, *cur = mem + 2 * (lb + 1);
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
        unsigned *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    size_t d = prev[lb];
    free(heap);
    return d;
}

/* The unrestricted Damerau-Levenshtein matrix for inputs up to MDM_CMP_MAX_STACK code
 * points: (n + 2) x (m + 2) cells of at most 2 * MDM_CMP_MAX_STACK + 1 each, so 16 bits.
 * It is too big for a thread stack, so each thread has its own. */
#define DL_DIM (MDM_CMP_MAX_STACK + 2)
static _Thread_local uint16_t dl_tls[DL_DIM * DL_DIM];

/* The Lowrance-Wagner recurrence over an (la + 2) x (lb + 2) matrix h of cell_t:
 * h[(i + 1) * cols + (j + 1)] is the distance between a[0..i) and b[0..j), row 0 and
 * column 0 hold the sentinel la + lb. ida/idb are the alphabet indices of a and b, da
 * (zeroed) the last row of each index. Instantiated for 16-bit cells (the per-thread
 * matrix) and 32-bit cells (heap, long inputs). */
/* NOLINTBEGIN(bugprone-macro-parentheses): cell_t is a type name */
#define DEFINE_DL_DP(name, cell_t)                                                                 \
    static size_t name(cell_t *h, const size_t *ida, size_t la, const size_t *idb, size_t lb,      \
                       size_t *da)                                                                 \
    {                                                                                              \
        const size_t cols = lb + 2;                                                                \
        const cell_t maxd = (cell_t)(la + lb);                                                     \
        h[0] = maxd;                                                                               \
        for (size_t i = 0; i <= la; i++) {                                                         \
            h[(i + 1) * cols] = maxd;                                                              \
            h[(i + 1) * cols + 1] = (cell_t)i;                                                     \
        }                                                                                          \
        for (size_t j = 0; j <= lb; j++) {                                                         \
            h[j + 1] = maxd;                                                                       \
            h[cols + j + 1] = (cell_t)j;                                                           \
        }                                                                                          \
        for (size_t i = 1; i <= la; i++) {                                                         \
            const cell_t *up = h + i * cols;                                                       \
            cell_t *row = h + (i + 1) * cols;                                                      \
            size_t db = 0, ai = ida[i - 1];                                                        \
            for (size_t j = 1; j <= lb; j++) {                                                     \
                size_t k = da[idb[j - 1]], l = db;                                                 \
                unsigned cost = 1;                                                                 \
                if (ai == idb[j - 1]) {                                                            \
                    cost = 0;                                                                      \
                    db = j;                                                                        \
                }                                                                                  \
                unsigned v = min3(up[j] + cost, row[j] + 1u, up[j + 1] + 1u);                      \
                unsigned t = h[k * cols + l] + (unsigned)((i - k - 1) + 1 + (j - l - 1));          \
                row[j + 1] = (cell_t)(t < v ? t : v);                                              \
            }                                                                                      \
            da[ai] = i;                                                                            \
        }                                                                                          \
        return h[(la + 1) * cols + lb + 1];                                                        \
    }

DEFINE_DL_DP(dl_dp16, uint16_t)
DEFINE_DL_DP(dl_dp32, uint32_t)
/* NOLINTEND(bugprone-macro-parentheses) */

/* Lowrance-Wagner with an alphabet restricted to the characters of a and b: each code
 * point is first mapped to a small index so the "last row where this character was
 * seen" table is an array. */
static size_t damerau_cp(const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
    trim_common(&a, &la, &b, &lb);
    if (la == 0)
        return lb;
    if (lb == 0)
        return la;
    /* alphabet indices of a's then b's characters, and the last-row table */
    size_t ids_small[2 * MDM_CMP_MAX_STACK], da_small[2 * MDM_CMP_MAX_STACK];
    uint32_t alpha_small[2 * MDM_CMP_MAX_STACK];
    void *heap_ids = NULL, *heap_da = NULL, *heap_alpha = NULL, *heap_h = NULL;
    size_t *ids = scratch(ids_small, sizeof ids_small, (la + lb) * sizeof *ids, &heap_ids);
    size_t *da = scratch(da_small, sizeof da_small, (la + lb) * sizeof *da, &heap_da);
    uint32_t *alpha =
        scratch(alpha_small, sizeof alpha_small, (la + lb) * sizeof *alpha, &heap_alpha);
    size_t nalpha = 0;
    for (size_t k = 0; k < la + lb; k++) {
        uint32_t c = k < la ? a[k] : b[k - la];
        size_t x = 0;
        while (x < nalpha && alpha[x] != c)
            x++;
        if (x == nalpha)
            alpha[nalpha++] = c;
        ids[k] = x;
    }
    memset(da, 0, nalpha * sizeof *da);
    const size_t *ida = ids, *idb = ids + la;

    size_t d;
    if (la <= MDM_CMP_MAX_STACK && lb <= MDM_CMP_MAX_STACK) {
        d = dl_dp16(dl_tls, ida, la, idb, lb, da);
    } else {
        uint32_t *h = heap_h = mdm_xmalloc((la + 2) * (lb + 2) * sizeof *h);
        d = dl_dp32(h, ida, la, idb, lb, da);
    }
    free(heap_ids);
    free(heap_da);
    free(heap_alpha);
    free(heap_h);
    return d;
}

typedef size_t (*dist_fn)(const uint32_t *, size_t, const uint32_t *, size_t);

static size_t dist_str(dist_fn fn, const char *a, const char *b, size_t *maxlen)
{
    cpstr x, y;
    cp_load(&x, a);
    cp_load(&y, b);
    size_t d = fn(x.v, x.n, y.v, y.n);
    if (maxlen)
        *maxlen = max_sz(x.n, y.n);
    cp_free(&x);
    cp_free(&y);
    return d;
}

static int clamp_int(size_t d)
{
    return d > (size_t)2147483647 ? 2147483647 : (int)d;
}

int mdm_cmp_levenshtein(const char *a, const char *b)
{
    int d;
    if (mdm_strsim_levenshtein(a, b, &d)) /* short ASCII: same result, bit-parallel */
        return d;
    return clamp_int(dist_str(levenshtein_cp, a, b, NULL));
}

int mdm_cmp_damerau_levenshtein(const char *a, const char *b)
{
    return clamp_int(dist_str(damerau_cp, a, b, NULL));
}

int mdm_cmp_osa(const char *a, const char *b)
{
    return clamp_int(dist_str(osa_cp, a, b, NULL));
}

static double dist_sim(dist_fn fn, const char *a, const char *b)
{
    size_t maxlen;
    size_t d = dist_str(fn, a, b, &maxlen);
    if (maxlen == 0)
        return 1.0;
    return 1.0 - (double)d / (double)maxlen;
}

double mdm_cmp_lev_sim(const char *a, const char *b)
{
    return dist_sim(levenshtein_cp, a, b);
}

static double sim_damerau(const char *a, const char *b)
{
    return dist_sim(damerau_cp, a, b);
}

static double sim_osa(const char *a, const char *b)
{
    return dist_sim(osa_cp, a, b);
}

/* ---- q-gram Jaccard ---- */

/* Number of distinct q-grams among the first n grams starting at s (each gram g is
 * s[g .. g + q)); grams[] receives the start offsets of the distinct ones. */
static size_t distinct_grams(const uint32_t *s, size_t ngrams, size_t q, size_t *grams)
{
    size_t nd = 0;
    for (size_t g = 0; g < ngrams; g++) {
        size_t k = 0;
        while (k < nd && memcmp(s + grams[k], s + g, q * sizeof *s) != 0)
            k++;
        if (k == nd)
            grams[nd++] = g;
    }
    return nd;
}

/* Distinct q-grams (q <= 3) of the first n grams at s, each packed into a word, written
 * to out; returns how many. */
static size_t packed_grams(const uint32_t *s, size_t ngrams, size_t q, uint64_t *out)
{
    size_t nd = 0;
    for (size_t g = 0; g < ngrams; g++) {
        uint64_t v = 0;
        for (size_t t = 0; t < q; t++)
            v = v << 21 | s[g + t];
        size_t k = 0;
        while (k < nd && out[k] != v)
            k++;
        if (k == nd)
            out[nd++] = v;
    }
    return nd;
}

double mdm_cmp_jaccard(const char *a, const char *b, int q)
{
    if (q < 1)
        q = 2;
    cpstr x, y;
    cp_load(&x, a);
    cp_load(&y, b);
    double r;
    if (x.n == 0 || y.n == 0) {
        r = x.n == y.n ? 1.0 : 0.0;
        goto out_free;
    }
    /* a string shorter than q is one gram: itself */
    size_t qa = x.n < (size_t)q ? x.n : (size_t)q, qb = y.n < (size_t)q ? y.n : (size_t)q;
    if (qa != qb) { /* a gram of length qa never equals one of length qb */
        r = 0.0;
        goto out_free;
    }
    size_t na = x.n - qa + 1, nb = y.n - qb + 1;
    if (qa <= 3) { /* up to 3 code points of 21 bits pack into one word */
        uint64_t pbuf[2 * MDM_CMP_MAX_STACK];
        void *pheap = NULL;
        uint64_t *pa = scratch(pbuf, sizeof pbuf, (na + nb) * sizeof *pa, &pheap);
        size_t da = packed_grams(x.v, na, qa, pa), db = packed_grams(y.v, nb, qb, pa + da);
        size_t common = 0;
        for (size_t i = 0; i < da; i++)
            for (size_t j = da; j < da + db; j++)
                if (pa[i] == pa[j]) {
                    common++;
                    break;
                }
        r = (double)common / (double)(da + db - common);
        free(pheap);
        goto out_free;
    }
    size_t buf[2 * MDM_CMP_MAX_STACK];
    void *heap = NULL;
    size_t *ga = scratch(buf, sizeof buf, (na + nb) * sizeof *ga, &heap);
    size_t *gb = ga + na;
    size_t da = distinct_grams(x.v, na, qa, ga);
    size_t db = distinct_grams(y.v, nb, qb, gb);
    size_t common = 0;
    for (size_t i = 0; i < da; i++)
        for (size_t j = 0; j < db; j++)
            if (memcmp(x.v + ga[i], y.v + gb[j], qa * sizeof *x.v) == 0) {
                common++;
                break;
            }
    r = (double)common / (double)(da + db - common);
    free(heap);
out_free:
    cp_free(&x);
    cp_free(&y);
    return r;
}

static double sim_jaccard2(const char *a, const char *b)
{
    return mdm_cmp_jaccard(a, b, 2);
}

/* ---- token set ---- */

#define MAX_TOKENS 128

typedef struct token {
    size_t off, len;
} token;

static bool is_separator(uint32_t c)
{
    if (c <= ' ')
        return true;
    if (c < 0x80)
        return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
               (c >= '{' && c <= '~');
    /* NO-BREAK SPACE, OGHAM SPACE, EN QUAD .. HAIR SPACE, LINE/PARAGRAPH SEPARATOR, NARROW
     * NBSP, MEDIUM MATHEMATICAL SPACE, IDEOGRAPHIC SPACE */
    return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Splits s into at most MAX_TOKENS distinct tokens. */
static size_t tokenize(const uint32_t *s, size_t n, token *out)
{
    size_t nt = 0, i = 0;
    while (i < n && nt < MAX_TOKENS) {
        while (i < n && is_separator(s[i]))
            i++;
        size_t start = i;
        while (i < n && !is_separator(s[i]))
            i++;
        if (i == start)
            break;
        token t = {start, i - start};
        size_t k = 0;
        while (k < nt &&
               !(out[k].len == t.len && memcmp(s + out[k].off, s + t.off, t.len * sizeof *s) == 0))
            k++;
        if (k == nt)
            out[nt++] = t;
    }
    return nt;
}

/* Sum over the tokens of x of their best Jaro-Winkler similarity among the tokens of y. */
static double best_sum(const uint32_t *xs, const token *xt, size_t nx, const uint32_t *ys,
                       const token *yt, size_t ny)
{
    double sum = 0.0;
    for (size_t i = 0; i < nx; i++) {
        double best = 0.0;
        for (size_t j = 0; j < ny && best < 1.0; j++) {
            double s = jaro_winkler_cp(xs + xt[i].off, xt[i].len, ys + yt[j].off, yt[j].len);
            if (s > best)
                best = s;
        }
        sum += best;
    }
    return sum;
}

double mdm_cmp_token_set(const char *a, const char *b)
{
    cpstr x, y;
    cp_load(&x, a);
    cp_load(&y, b);
    token ta[MAX_TOKENS], tb[MAX_TOKENS];
    size_t na = tokenize(x.v, x.n, ta), nb = tokenize(y.v, y.n, tb);
    double r;
    if (na == 0 || nb == 0)
        r = na == nb ? 1.0 : 0.0;
    else
        r = (best_sum(x.v, ta, na, y.v, tb, nb) + best_sum(y.v, tb, nb, x.v, ta, na)) /
            (double)(na + nb);
    if (r > 1.0)
        r = 1.0;
    cp_free(&x);
    cp_free(&y);
    return r;
}

/* ---- dates ---- */

/* True when two years differ by a typo: one decimal digit changed, or two adjacent
 * digits swapped. */
static bool year_typo(int y1, int y2)
{
    if (y1 <= 0 || y2 <= 0 || y1 > 9999 || y2 > 9999)
        return false;
    int d1[4], d2[4], diff = 0, first = -1, second = -1;
    for (int k = 3; k >= 0; k--) {
        d1[k] = y1 % 10;
        d2[k] = y2 % 10;
        y1 /= 10;
        y2 /= 10;
    }
    for (int k = 0; k < 4; k++) {
        if (d1[k] != d2[k]) {
            diff++;
            if (first < 0)
                first = k;
            else
                second = k;
        }
    }
    if (diff == 1)
        return true;
    return diff == 2 && second == first + 1 && d1[first] == d2[second] && d1[second] == d2[first];
}

mdm_date_level mdm_cmp_date(int y1, int m1, int d1, int y2, int m2, int d2)
{
    if ((y1 == 0 && m1 == 0 && d1 == 0) || (y2 == 0 && m2 == 0 && d2 == 0))
        return MDM_DATE_NULL;
    bool hy = y1 && y2, hm = m1 && m2, hd = d1 && d2;
    if (!hy && !hm && !hd)
        return MDM_DATE_NULL;
    bool ey = hy && y1 != y2, em = hm && m1 != m2, ed = hd && d1 != d2;
    int ndiff = ey + em + ed;
    if (ndiff == 0)
        return MDM_DATE_EXACT;
    if (!ey && hm && hd && m1 == d2 && d1 == m2)
        return MDM_DATE_TRANSPOSED;
    if (ndiff == 1 && (em || ed))
        return MDM_DATE_ONE_FIELD_OFF;
    if (ndiff == 1 && ey) {
        if (year_typo(y1, y2))
            return MDM_DATE_ONE_FIELD_OFF;
        if (hm && hd)
            return MDM_DATE_YEARS_APART;
    }
    return MDM_DATE_DIFFERENT;
}

const char *mdm_cmp_date_level_name(mdm_date_level level)
{
    switch (level) {
    case MDM_DATE_EXACT:
        return "exact";
    case MDM_DATE_TRANSPOSED:
        return "transposed";
    case MDM_DATE_ONE_FIELD_OFF:
        return "one_field_off";
    case MDM_DATE_YEARS_APART:
        return "years_apart";
    case MDM_DATE_DIFFERENT:
        return "different";
    case MDM_DATE_NULL:
        return "null";
    }
    return "null";
}

/* ---- numbers ---- */

double mdm_cmp_numeric(double a, double b)
{
    if (a == b)
        return 0.0;
    if (isnan(a) || isnan(b) || isinf(a) || isinf(b))
        return 1.0;
    if ((a < 0) != (b < 0) && a != 0 && b != 0)
        return 1.0;
    double m = fmax(fabs(a), fabs(b));
    double r = fabs(a - b) / m;
    return r > 1.0 ? 1.0 : r;
}

/* ---- emails ---- */

mdm_email_level mdm_cmp_email(const char *key_a, const char *key_b)
{
    if (!key_a || !key_b || !*key_a || !*key_b)
        return MDM_EMAIL_NULL;
    if (strcmp(key_a, key_b) == 0)
        return MDM_EMAIL_SAME_KEY;
    const char *at_a = strrchr(key_a, '@'), *at_b = strrchr(key_b, '@');
    size_t la = at_a ? (size_t)(at_a - key_a) : strlen(key_a);
    size_t lb = at_b ? (size_t)(at_b - key_b) : strlen(key_b);
    if (la == lb && la > 0 && memcmp(key_a, key_b, la) == 0)
        return MDM_EMAIL_SAME_LOCAL;
    if (at_a && at_b && at_a[1] && strcmp(at_a + 1, at_b + 1) == 0)
        return MDM_EMAIL_SAME_DOMAIN;
    return MDM_EMAIL_DIFFERENT;
}

const char *mdm_cmp_email_level_name(mdm_email_level level)
{
    switch (level) {
    case MDM_EMAIL_SAME_KEY:
        return "same_key";
    case MDM_EMAIL_SAME_LOCAL:
        return "same_local";
    case MDM_EMAIL_SAME_DOMAIN:
        return "same_domain";
    case MDM_EMAIL_DIFFERENT:
        return "different";
    case MDM_EMAIL_NULL:
        return "null";
    }
    return "null";
}

/* ---- lookup by name ---- */

static double sim_levenshtein(const char *a, const char *b)
{
    return mdm_cmp_lev_sim(a, b);
}

static const struct {
    const char *name;
    mdm_cmp_sim_fn fn;
} sim_table[] = {
    {"jaro", mdm_cmp_jaro},
    {"jaro_winkler", mdm_cmp_jaro_winkler},
    {"levenshtein", sim_levenshtein},
    {"damerau_levenshtein", sim_damerau},
    {"osa", sim_osa},
    {"jaccard", sim_jaccard2},
    {"token_set", mdm_cmp_token_set},
};

const char *const mdm_cmp_names[] = {
    "jaro", "jaro_winkler", "levenshtein", "damerau_levenshtein",
    "osa",  "jaccard",      "token_set",   NULL,
};

mdm_cmp_sim_fn mdm_cmp_by_name(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof sim_table / sizeof sim_table[0]; i++)
        if (strcmp(sim_table[i].name, name) == 0)
            return sim_table[i].fn;
    return NULL;
}
