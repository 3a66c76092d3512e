/* Comparators: reference values from tests/data/compare.tsv, then properties (symmetry,
 * bounds, identity, metric inequalities) on random Unicode strings, long inputs that take
 * the heap path, and invalid UTF-8. */
#include "matching/compare.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- table-driven cases ---- */

static const char *unempty(const char *s)
{
    return strcmp(s, "(empty)") == 0 ? "" : s;
}

static int parse_date(const char *s, int *y, int *m, int *d)
{
    return sscanf(s, "%d-%d-%d", y, m, d) == 3;
}

/* Runs one row; returns 1 when it passes. what receives a description for failures. */
static int run_row(char **f, int nf, char *what, size_t whatlen)
{
    const char *kind = f[0], *a = unempty(f[1]), *b = unempty(f[2]), *want = f[3];
    double tol = nf > 4 ? strtod(f[4], NULL) : 0.0005;
    double got = 0.0;
    const char *got_s = NULL;
    if (strcmp(kind, "jaro") == 0)
        got = mdm_cmp_jaro(a, b);
    else if (strcmp(kind, "jaro_winkler") == 0)
        got = mdm_cmp_jaro_winkler(a, b);
    else if (strcmp(kind, "levenshtein") == 0)
        got = mdm_cmp_levenshtein(a, b);
    else if (strcmp(kind, "damerau_levenshtein") == 0)
        got = mdm_cmp_damerau_levenshtein(a, b);
    else if (strcmp(kind, "osa") == 0)
        got = mdm_cmp_osa(a, b);
    else if (strcmp(kind, "lev_sim") == 0)
        got = mdm_cmp_lev_sim(a, b);
    else if (strcmp(kind, "jaccard") == 0)
        got = mdm_cmp_jaccard(a, b, 2);
    else if (strncmp(kind, "jaccard", 7) == 0 && kind[7] >= '0' && kind[7] <= '9')
        got = mdm_cmp_jaccard(a, b, atoi(kind + 7));
    else if (strcmp(kind, "token_set") == 0)
        got = mdm_cmp_token_set(a, b);
    else if (strncmp(kind, "by_name:", 8) == 0) {
        mdm_cmp_sim_fn fn = mdm_cmp_by_name(kind + 8);
        if (!fn) {
            snprintf(what, whatlen, "unknown comparator %s", kind + 8);
            return 0;
        }
        got = fn(a, b);
    } else if (strcmp(kind, "date") == 0) {
        int y1, m1, d1, y2, m2, d2;
        if (!parse_date(f[1], &y1, &m1, &d1) || !parse_date(f[2], &y2, &m2, &d2)) {
            snprintf(what, whatlen, "bad date row %s %s", f[1], f[2]);
            return 0;
        }
        got_s = mdm_cmp_date_level_name(mdm_cmp_date(y1, m1, d1, y2, m2, d2));
    } else if (strcmp(kind, "email") == 0) {
        got_s = mdm_cmp_email_level_name(mdm_cmp_email(a, b));
    } else if (strcmp(kind, "numeric") == 0) {
        got = mdm_cmp_numeric(strtod(a, NULL), strtod(b, NULL));
    } else {
        snprintf(what, whatlen, "unknown kind %s", kind);
        return 0;
    }
    if (got_s) {
        snprintf(what, whatlen, "%s(%s, %s) = %s, want %s", kind, a, b, got_s, want);
        return strcmp(got_s, want) == 0;
    }
    double w = strtod(want, NULL);
    snprintf(what, whatlen, "%s(%s, %s) = %.6f, want %s", kind, a, b, got, want);
    return fabs(got - w) <= tol + 1e-12;
}

static void test_table(void)
{
    const char *root = getenv("MDM_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/compare.tsv", root ? root : ".");
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    char line[1024];
    int rows = 0, lineno = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        char *f[6];
        int nf = 0;
        char *p = line;
        while (nf < 6) {
            f[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = 0;
            p = tab + 1;
        }
        char what[600], label[700];
        if (nf < 4) {
            snprintf(what, sizeof what, "too few fields");
            mdm_test_case(0, what);
            continue;
        }
        int ok = run_row(f, nf, what, sizeof what);
        snprintf(label, sizeof label, "compare.tsv:%d: %s", lineno, what);
        mdm_test_case(ok, label);
        rows++;
    }
    fclose(fp);
    CHECK(rows >= 100);
}

/* ---- properties on random strings ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A random string over a small alphabet mixing ASCII, Latin-1, Cyrillic, CJK, an emoji
 * and spaces, so matches, transpositions and multi-byte characters are common. */
static void random_string(char *out, size_t cap, unsigned maxlen)
{
    static const char *const alphabet[] = {"a", "b", "c", "d", "e",  " ",
                                           "ü", "é", "И", "в", "王", "😀"};
    unsigned n = rnd(maxlen + 1);
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *c = alphabet[rnd(sizeof alphabet / sizeof alphabet[0])];
        size_t cl = strlen(c);
        if (len + cl + 1 > cap)
            break;
        memcpy(out + len, c, cl);
        len += cl;
    }
    out[len] = 0;
}

static void test_properties(void)
{
    char a[256], b[256], c[256];
    int bad_sym = 0, bad_bounds = 0, bad_ident = 0, bad_order = 0, bad_triangle = 0;
    for (int iter = 0; iter < 3000; iter++) {
        random_string(a, sizeof a, 12);
        random_string(b, sizeof b, 12);
        random_string(c, sizeof c, 12);
        for (const char *const *name = mdm_cmp_names; *name; name++) {
            mdm_cmp_sim_fn fn = mdm_cmp_by_name(*name);
            double ab = fn(a, b), ba = fn(b, a);
            if (ab != ba) {
                if (bad_sym++ < 5)
                    fprintf(stderr, "%s not symmetric on \"%s\" \"%s\": %f %f\n", *name, a, b, ab,
                            ba);
            }
            if (!(ab >= 0.0 && ab <= 1.0))
                bad_bounds++;
            if (fn(a, a) != 1.0) {
                if (bad_ident++ < 5)
                    fprintf(stderr, "%s(\"%s\", itself) = %f\n", *name, a, fn(a, a));
            }
        }
        for (int q = 0; q <= 5; q++) { /* packed grams up to 3, compared ones above */
            double ab = mdm_cmp_jaccard(a, b, q);
            if (ab != mdm_cmp_jaccard(b, a, q) || !(ab >= 0.0 && ab <= 1.0) ||
                mdm_cmp_jaccard(a, a, q) != 1.0)
                bad_sym++;
        }
        int lev = mdm_cmp_levenshtein(a, b), osa = mdm_cmp_osa(a, b),
            dl = mdm_cmp_damerau_levenshtein(a, b);
        if (!(dl <= osa && osa <= lev && 2 * dl >= lev))
            bad_order++;
        if (mdm_cmp_damerau_levenshtein(b, a) != dl || mdm_cmp_osa(b, a) != osa ||
            mdm_cmp_levenshtein(b, a) != lev)
            bad_sym++;
        /* Levenshtein and unrestricted Damerau-Levenshtein are metrics */
        if (lev > mdm_cmp_levenshtein(a, c) + mdm_cmp_levenshtein(c, b) ||
            dl > mdm_cmp_damerau_levenshtein(a, c) + mdm_cmp_damerau_levenshtein(c, b)) {
            if (bad_triangle++ < 5)
                fprintf(stderr, "triangle fails on \"%s\" \"%s\" \"%s\"\n", a, b, c);
        }
        if ((lev == 0) != (strcmp(a, b) == 0))
            bad_order++;
        if (mdm_cmp_jaro_winkler(a, b) < mdm_cmp_jaro(a, b))
            bad_order++;
    }
    CHECK_INT(bad_sym, 0);
    CHECK_INT(bad_bounds, 0);
    CHECK_INT(bad_ident, 0);
    CHECK_INT(bad_order, 0);
    CHECK_INT(bad_triangle, 0);
}

/* ---- long inputs (heap path) and the exact boundary ---- */

static char *repeat(const char *unit, size_t times, const char *prefix, const char *suffix)
{
    size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + ul * times + sl + 1);
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + pl + i * ul, unit, ul);
    memcpy(s + pl + ul * times, suffix, sl + 1);
    return s;
}

static void test_long_inputs(void)
{
    /* differences at both ends defeat prefix/suffix trimming; 300 > MDM_CMP_MAX_STACK */
    for (size_t n = 250; n <= 400; n += 50) {
        char *x = repeat("é", n, "b", "c"), *y = repeat("é", n, "c", "b");
        char *z = repeat("é", n, "bc", "");
        CHECK_INT(mdm_cmp_levenshtein(x, y), 2);
        CHECK_INT(mdm_cmp_osa(x, y), 2);
        CHECK_INT(mdm_cmp_damerau_levenshtein(x, y), 2);
        CHECK_INT(mdm_cmp_levenshtein(x, z), 2);
        CHECK_INT(mdm_cmp_damerau_levenshtein(x, z), 2);
        CHECK_NEAR(mdm_cmp_jaro(x, x), 1.0, 1e-12);
        CHECK(mdm_cmp_jaro_winkler(x, y) > 0.9);
        CHECK_NEAR(mdm_cmp_jaccard(x, x, 2), 1.0, 1e-12);
        CHECK_NEAR(mdm_cmp_lev_sim(x, y), 1.0 - 2.0 / (double)(n + 2), 1e-12);
        free(x);
        free(y);
        free(z);
    }
    /* a transposition in the middle of a long string: DL 1, Levenshtein 2 */
    char *p = repeat("ab", 200, "x", "yz"), *q = repeat("ab", 200, "x", "zy");
    p[150] = 'Q';
    q[150] = 'Q';
    q[0] = 'w';
    CHECK_INT(mdm_cmp_damerau_levenshtein(p, q), 2);
    CHECK_INT(mdm_cmp_levenshtein(p, q), 3);
    free(p);
    free(q);
    /* many tokens */
    char *t1 = repeat("ab ", 200, "", ""), *t2 = repeat("ab  ", 100, "", "cd");
    CHECK(mdm_cmp_token_set(t1, t2) > 0.5);
    free(t1);
    free(t2);
}

/* ---- UTF-8 decoding ---- */

static void test_decode(void)
{
    uint32_t cp[16];
    CHECK_INT(mdm_cmp_decode("Müller", cp, 16), 6);
    CHECK_INT(cp[1], 0xFC);
    CHECK_INT(mdm_cmp_decode("王😀", cp, 16), 2);
    CHECK_INT(cp[0], 0x738B);
    CHECK_INT(cp[1], 0x1F600);
    /* stray continuation, overlong, surrogate, above U+10FFFF, truncated: each bad byte
     * is one U+FFFD */
    CHECK_INT(mdm_cmp_decode("\x80", cp, 16), 1);
    CHECK_INT(cp[0], 0xFFFD);
    CHECK_INT(mdm_cmp_decode("\xC0\xAF", cp, 16), 2);
    CHECK_INT(cp[0], 0xFFFD);
    CHECK_INT(mdm_cmp_decode("\xED\xA0\x80", cp, 16), 3);
    CHECK_INT(mdm_cmp_decode("\xF4\x90\x80\x80", cp, 16), 4);
    CHECK_INT(mdm_cmp_decode("a\xE2\x82", cp, 16), 3);
    CHECK_INT(cp[0], 'a');
    CHECK_INT(cp[1], 0xFFFD);
    CHECK_INT(mdm_cmp_decode("\xE2\x82\xAC", cp, 16), 1);
    CHECK_INT(cp[0], 0x20AC);
    CHECK_INT(mdm_cmp_decode("abcdef", cp, 2), 6); /* counts past max */
    CHECK_INT(mdm_cmp_decode(NULL, cp, 2), 0);
    size_t bad = 99;
    CHECK(mdm_cmp_utf8_valid("Müller 王 😀 \xEF\xBF\xBD", NULL)); /* a real U+FFFD is fine */
    CHECK(mdm_cmp_utf8_valid(NULL, NULL));
    CHECK(!mdm_cmp_utf8_valid("ab\xC3", &bad));
    CHECK_INT(bad, 2);
    CHECK(!mdm_cmp_utf8_valid("a\xC0\xAF", &bad));
    CHECK_INT(bad, 1);
    CHECK(!mdm_cmp_utf8_valid("\xED\xA0\x80", &bad));
    CHECK_INT(bad, 0);
    CHECK(!mdm_cmp_utf8_valid("ok\xF4\x90\x80\x80", &bad));
    CHECK_INT(bad, 2);
    CHECK(!mdm_cmp_utf8_valid("\xFF", NULL));
    /* comparators survive invalid input and NULL */
    CHECK_INT(mdm_cmp_levenshtein("\xFF\xFE", "\xFE\xFF"), 0); /* both U+FFFD U+FFFD */
    CHECK_INT(mdm_cmp_levenshtein(NULL, "ab"), 2);
    CHECK_NEAR(mdm_cmp_jaro_winkler(NULL, NULL), 1.0, 1e-12);
    CHECK(mdm_cmp_by_name("nope") == NULL);
    CHECK(mdm_cmp_by_name(NULL) == NULL);
}

int main(void)
{
    RUN(test_table);
    RUN(test_properties);
    RUN(test_long_inputs);
    RUN(test_decode);
    TEST_END();
}
