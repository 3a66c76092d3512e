/* Bit-parallel kernels (matching/strsim.c) against the textbook algorithms compare.c
 * used before them (copied below: flag arrays and a window scan for Jaro, the dynamic
 * programming row for Levenshtein): on every input they accept the result must be bit for
 * bit the same, so they are checked differentially on random strings over small alphabets
 * (many matches and transpositions), every length up to the limit, real names with typos,
 * and the inputs they refuse; compare.h's functions (which now take the kernels for short
 * ASCII) are checked against the same references. */
#include "matching/compare.h"
#include "matching/strsim.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void random_string(char *out, size_t len, const char *alphabet)
{
    size_t n = strlen(alphabet);
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[rnd() % n];
    out[len] = 0;
}

/* A copy of s with one to three random edits (the typos of record linkage). */
static void mutate(const char *s, char *out, size_t cap, const char *alphabet)
{
    strcpy(out, s);
    int edits = 1 + (int)(rnd() % 3);
    for (int e = 0; e < edits; e++) {
        size_t n = strlen(out), an = strlen(alphabet);
        size_t i = n ? rnd() % n : 0;
        switch (rnd() % 4) {
        case 0: /* insert */
            if (n + 1 < cap) {
                memmove(out + i + 1, out + i, n - i + 1);
                out[i] = alphabet[rnd() % an];
            }
            break;
        case 1: /* delete */
            if (n)
                memmove(out + i, out + i + 1, n - i);
            break;
        case 2: /* substitute */
            if (n)
                out[i] = alphabet[rnd() % an];
            break;
        default: /* transpose */
            if (n >= 2 && i + 1 < n) {
                char t = out[i];
                out[i] = out[i + 1];
                out[i + 1] = t;
            }
        }
    }
}

/* compare.c's Jaro-Winkler before the kernels: order the two (shorter first, then
 * lexicographically), greedy matching with flag arrays inside the window, transpositions,
 * the same floating-point expressions. */
static double ref_jaro_winkler(const char *sa, const char *sb)
{
    const unsigned char *a = (const unsigned char *)sa, *b = (const unsigned char *)sb;
    size_t la = strlen(sa), lb = strlen(sb);
    if (la == 0 && lb == 0)
        return 1.0;
    if (la == 0 || lb == 0)
        return 0.0;
    if (la > lb || (la == lb && strcmp(sa, sb) > 0)) {
        const unsigned char *t = a;
        a = b;
        b = t;
        size_t tl = la;
        la = lb;
        lb = tl;
    }
    size_t win = (la > lb ? la : lb) / 2;
    win = win ? win - 1 : 0;
    unsigned char am[256] = {0}, bm[256] = {0};
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
    double jaro = 0.0;
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
        double md = (double)m;
        jaro = (md / (double)la + md / (double)lb + (md - (double)half / 2.0) / md) / 3.0;
    }
    if (jaro <= 0.7)
        return jaro;
    size_t l = 0;
    while (l < 4 && l < la && l < lb && a[l] == b[l])
        l++;
    return jaro + (double)l * 0.1 * (1.0 - jaro);
}

static int ref_levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j], best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (diag + (a[i - 1] != b[j - 1]) < best)
                best = diag + (a[i - 1] != b[j - 1]);
            row[j] = best;
            diag = up;
        }
    }
    return (int)row[lb];
}

static int jw_same(const char *a, const char *b)
{
    double got, want = ref_jaro_winkler(a, b), api = mdm_cmp_jaro_winkler(a, b);
    if (!mdm_strsim_jaro_winkler(a, b, &got))
        return 0;
    if (memcmp(&got, &want, sizeof got) != 0 || memcmp(&api, &want, sizeof api) != 0) {
        fprintf(stderr, "jaro_winkler(\"%s\", \"%s\") = %.17g (compare.h %.17g), want %.17g\n", a,
                b, got, api, want);
        return 0;
    }
    return 1;
}

static int lev_same(const char *a, const char *b)
{
    int got, want = ref_levenshtein(a, b), api = mdm_cmp_levenshtein(a, b);
    if (!mdm_strsim_levenshtein(a, b, &got))
        return 0;
    if (got != want || api != want) {
        fprintf(stderr, "levenshtein(\"%s\", \"%s\") = %d (compare.h %d), want %d\n", a, b, got,
                api, want);
        return 0;
    }
    return 1;
}

static void test_known_values(void)
{
    double s = 0;
    CHECK(mdm_strsim_jaro_winkler("martha", "marhta", &s));
    CHECK_NEAR(s, 0.9611, 0.0001);
    CHECK(mdm_strsim_jaro_winkler("dwayne", "duane", &s));
    CHECK_NEAR(s, 0.84, 0.0001);
    CHECK(mdm_strsim_jaro_winkler("", "", &s));
    CHECK_NEAR(s, 1.0, 0);
    CHECK(mdm_strsim_jaro_winkler("", "a", &s));
    CHECK_NEAR(s, 0.0, 0);
    int d = -1;
    CHECK(mdm_strsim_levenshtein("kitten", "sitting", &d));
    CHECK_INT(d, 3);
    CHECK(mdm_strsim_levenshtein("", "abc", &d));
    CHECK_INT(d, 3);
    CHECK(mdm_strsim_levenshtein("flaw", "lawn", &d));
    CHECK_INT(d, 2);
    static const char *const names[][2] = {{"jonathan", "johnathan"},
                                           {"catherine", "kathryn"},
                                           {"mueller", "muller"},
                                           {"smith", "smyth"},
                                           {"kirkanov", "kirkanow"},
                                           {"abcd", "dcba"},
                                           {"aaaa", "aaab"},
                                           {"ab", "ba"},
                                           {"a", "a"},
                                           {"crumwell", "cromwell"},
                                           {"oconnor", "o'connor"},
                                           {"x", "y"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(jw_same(names[i][0], names[i][1]));
        CHECK(jw_same(names[i][1], names[i][0]));
        CHECK(lev_same(names[i][0], names[i][1]));
    }
}

/* Random pairs: independent strings and edited copies, alphabets of 2, 4 and 27 bytes,
 * every length from 0 to the limit. */
static void test_random_differential(void)
{
    static const char *const alphabets[] = {"ab", "acgt", "abcdefghijklmnopqrstuvwxyz ",
                                            "0123456789"};
    char a[MDM_STRSIM_MAX + 8], b[MDM_STRSIM_MAX + 8];
    long bad_jw = 0, bad_lev = 0, n = 0;
    for (int round = 0; round < 60000; round++) {
        const char *al = alphabets[rnd() % 4];
        size_t la = rnd() % (MDM_STRSIM_MAX + 1);
        if (round % 3)
            la = rnd() % 16; /* names and ids mostly */
        random_string(a, la, al);
        if (round % 2) {
            mutate(a, b, MDM_STRSIM_MAX + 1, al);
        } else {
            size_t lb = round % 3 ? rnd() % 16 : rnd() % (MDM_STRSIM_MAX + 1);
            random_string(b, lb, al);
        }
        if (strlen(b) > MDM_STRSIM_MAX)
            continue;
        n++;
        bad_jw += !jw_same(a, b);
        bad_lev += !lev_same(a, b);
    }
    CHECK(n > 50000);
    CHECK_INT(bad_jw, 0);
    CHECK_INT(bad_lev, 0);
}

/* Not ASCII or too long: refused, so the caller uses compare.h. */
static void test_refused(void)
{
    char longer[MDM_STRSIM_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    char limit[MDM_STRSIM_MAX + 1];
    memset(limit, 'a', sizeof limit - 1);
    limit[sizeof limit - 1] = 0;
    double s;
    int d;
    CHECK(!mdm_strsim_jaro_winkler(NULL, "muller", &s)); /* compare.h reads NULL as "" */
    CHECK(!mdm_strsim_levenshtein("muller", NULL, &d));
    CHECK_INT(mdm_cmp_levenshtein(NULL, "abc"), 3);
    CHECK_NEAR(mdm_cmp_jaro_winkler("abc", NULL), 0.0, 0);
    CHECK(!mdm_strsim_jaro_winkler("m\xc3\xbcller", "muller", &s));
    CHECK(!mdm_strsim_levenshtein("muller", "m\xc3\xbcller", &d));
    CHECK(!mdm_strsim_jaro_winkler(longer, "a", &s));
    CHECK(!mdm_strsim_levenshtein("a", longer, &d));
    CHECK(jw_same(limit, "a"));
    CHECK(lev_same(limit, "aaab"));
    CHECK(jw_same(limit, limit));
}

int main(void)
{
    RUN(test_known_values);
    RUN(test_random_differential);
    RUN(test_refused);
    TEST_END();
}
