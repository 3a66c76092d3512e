/* Bit-parallel similarity kernels for short ASCII strings (see strsim.h). */
#include "matching/strsim.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t enabled_once = PTHREAD_ONCE_INIT;
static bool enabled = true;

static void read_switch(void)
{
    const char *v = getenv("MDM_REFERENCE_KERNELS");
    enabled = !(v && *v && strcmp(v, "0") != 0);
}

bool mdm_strsim_enabled(void)
{
    pthread_once(&enabled_once, read_switch);
    return enabled;
}

/* Positions of each byte in one of the strings, per thread. Invariant between calls:
 * all zero (a call sets the entries of its string's bytes and clears them before it
 * returns), so the entries of bytes absent from that string read as no position. 256
 * entries: a byte >= 0x80 is noticed while the table is built, not before. */
static _Thread_local uint64_t pos_mask[256];

static inline uint64_t low_bits(size_t n)
{
    return n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

bool mdm_strsim_jaro_winkler(const char *sa, const char *sb, double *out)
{
    if (!sa || !sb || !mdm_strsim_enabled()) /* NULL: compare.c reads it as "" */
        return false;
    size_t la = strlen(sa), lb = strlen(sb);
    if (la > MDM_STRSIM_MAX || lb > MDM_STRSIM_MAX)
        return false;
    const unsigned char *a = (const unsigned char *)sa, *b = (const unsigned char *)sb;
    /* compare.c orders the two (shorter first, then by code point: for ASCII, by byte) */
    if (la > lb || (la == lb && memcmp(a, b, la) > 0)) {
        const unsigned char *t = a;
        a = b;
        b = t;
        size_t tl = la;
        la = lb;
        lb = tl;
    }
    uint64_t *pm = pos_mask;
    unsigned high = 0; /* the bytes or'ed: bit 7 set when one is not ASCII */
    for (size_t j = 0; j < lb; j++) {
        pm[b[j]] |= (uint64_t)1 << j;
        high |= b[j];
    }
    for (size_t i = 0; i < la; i++)
        high |= a[i];
    if (high & 0x80) {
        for (size_t j = 0; j < lb; j++)
            pm[b[j]] = 0;
        return false;
    }
    if (la == 0) { /* a (the shorter) is empty */
        for (size_t j = 0; j < lb; j++)
            pm[b[j]] = 0;
        *out = lb == 0 ? 1.0 : 0.0;
        return true;
    }
    /* the window of a[i] in b is [i - win, i + win]: it grows by one bit while i < win,
     * then slides */
    size_t win = lb / 2; /* lb is the longer */
    win = win ? win - 1 : 0;
    uint64_t window = low_bits(win + 1), inside = low_bits(lb);
    uint64_t am = 0, bm = 0;
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        uint64_t cand = pm[a[i]] & ~bm & window & inside;
        if (cand) {
            bm |= cand & -cand; /* the first one, as the scan of compare.c takes */
            am |= (uint64_t)1 << i;
            m++;
        }
        window = i < win ? window << 1 | 1 : window << 1;
    }
    for (size_t j = 0; j < lb; j++)
        pm[b[j]] = 0;
    double j = 0.0;
    if (m) {
        size_t half = 0;
        for (; am; am &= am - 1, bm &= bm - 1)
            half += a[__builtin_ctzll(am)] != b[__builtin_ctzll(bm)];
        double md = (double)m; /* compare.c's jaro_formula, same operations */
        j = (md / (double)la + md / (double)lb + (md - (double)half / 2.0) / md) / 3.0;
    }
    if (j <= 0.7) {
        *out = j;
        return true;
    }
    size_t l = 0;
    while (l < 4 && l < la && l < lb && a[l] == b[l])
        l++;
    *out = j + (double)l * 0.1 * (1.0 - j);
    return true;
}

bool mdm_strsim_levenshtein(const char *sa, const char *sb, int *out)
{
    if (!sa || !sb || !mdm_strsim_enabled()) /* NULL: compare.c reads it as "" */
        return false;
    size_t la = strlen(sa), lb = strlen(sb);
    if (la > MDM_STRSIM_MAX || lb > MDM_STRSIM_MAX)
        return false;
    const unsigned char *a = (const unsigned char *)sa, *b = (const unsigned char *)sb;
    /* Hyyrö (2003): the pattern a in bit vectors, one column per character of b */
    uint64_t *peq = pos_mask;
    unsigned high = 0;
    for (size_t i = 0; i < la; i++) {
        peq[a[i]] |= (uint64_t)1 << i;
        high |= a[i];
    }
    for (size_t j = 0; j < lb; j++)
        high |= b[j];
    if ((high & 0x80) || la == 0 || lb == 0) {
        for (size_t i = 0; i < la; i++)
            peq[a[i]] = 0;
        if (high & 0x80)
            return false;
        *out = (int)(la + lb);
        return true;
    }
    uint64_t pv = ~(uint64_t)0, mv = 0, last = (uint64_t)1 << (la - 1);
    int score = (int)la;
    for (size_t j = 0; j < lb; j++) {
        uint64_t eq = peq[b[j]];
        uint64_t xv = eq | mv;
        uint64_t xh = (((eq & pv) + pv) ^ pv) | eq;
        uint64_t ph = mv | ~(xh | pv);
        uint64_t mh = pv & xh;
        if (ph & last)
            score++;
        else if (mh & last)
            score--;
        ph = (ph << 1) | 1;
        mh <<= 1;
        pv = mh | ~(xv | ph);
        mv = ph & xv;
    }
    for (size_t i = 0; i < la; i++)
        peq[a[i]] = 0;
    *out = score;
    return true;
}
