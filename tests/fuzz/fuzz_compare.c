/* libFuzzer target: the UTF-8 path of the comparators and the phonetic keys.
 *
 * The input is split at its first NUL byte (or in the middle) into two strings of
 * arbitrary bytes. Every string comparator runs on them both ways; a result outside
 * 0..1, an asymmetric result, or an identity that does not give 1 aborts, as does any
 * crash, leak or undefined behaviour (the build adds ASan and UBSan). The decoder's
 * code point count is checked against an independent count of lead bytes for valid
 * input. Phonetic keys must be upper-case letters and digits only, within the buffer. */
#include "matching/compare.h"
#include "matching/phonetic.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
    if (!ok)
        abort();
}

static void check_key(const char *k, size_t cap)
{
    size_t n = strlen(k);
    require(n < cap);
    for (size_t i = 0; i < n; i++)
        require((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9'));
}

static void phonetics(const char *s)
{
    char k[24], p[24], a[24];
    mdm_phon_soundex(s, k, sizeof k);
    check_key(k, sizeof k);
    require(k[0] == 0 || strlen(k) == 4);
    mdm_phon_nysiis(s, k, sizeof k);
    check_key(k, sizeof k);
    mdm_phon_metaphone(s, k, sizeof k);
    check_key(k, sizeof k);
    mdm_phon_double_metaphone(s, p, a, sizeof p);
    check_key(p, sizeof p);
    check_key(a, sizeof a);
    mdm_phon_double_metaphone(s, p, a, 3); /* truncation path */
    require(strlen(p) <= 2 && strlen(a) <= 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0; /* past the 256-code-point heap path, the quadratic comparators only
                     slow the search down (fuzz_compare.options sets -max_len) */
    const uint8_t *nul = memchr(data, 0, size);
    size_t la = nul ? (size_t)(nul - data) : size / 2;
    size_t rest = nul ? size - la - 1 : size - la;
    char *a = malloc(la + 1), *b = malloc(rest + 1);
    memcpy(a, data, la);
    a[la] = 0;
    memcpy(b, data + (size - rest), rest);
    b[rest] = 0;
    /* b may hold more NUL bytes: it ends at the first, like any C string */

    size_t bad;
    if (mdm_cmp_utf8_valid(a, &bad)) {
        size_t leads = 0;
        for (const char *p = a; *p; p++)
            leads += ((unsigned char)*p & 0xC0) != 0x80;
        require(mdm_cmp_decode(a, NULL, 0) == leads);
    } else {
        require(bad < la);
    }

    for (const char *const *name = mdm_cmp_names; *name; name++) {
        mdm_cmp_sim_fn fn = mdm_cmp_by_name(*name);
        double ab = fn(a, b), ba = fn(b, a);
        require(ab >= 0.0 && ab <= 1.0);
        require(ab == ba);
        require(fn(a, a) == 1.0);
    }
    int lev = mdm_cmp_levenshtein(a, b), osa = mdm_cmp_osa(a, b),
        dl = mdm_cmp_damerau_levenshtein(a, b);
    require(dl <= osa && osa <= lev && 2 * dl >= lev);
    require(mdm_cmp_damerau_levenshtein(b, a) == dl);
    double j3 = mdm_cmp_jaccard(a, b, 3);
    require(j3 >= 0.0 && j3 <= 1.0);

    int v[6] = {0};
    for (size_t i = 0; i < 6 && i < size; i++)
        v[i] = (int)data[i] * (i % 3 == 0 ? 16 : 1) - 8;
    mdm_date_level dl1 = mdm_cmp_date(v[0], v[1], v[2], v[3], v[4], v[5]);
    require(dl1 == mdm_cmp_date(v[3], v[4], v[5], v[0], v[1], v[2]));
    require(mdm_cmp_email(a, b) == mdm_cmp_email(b, a));
    double x = la ? strtod(a, NULL) : 0.0, y = rest ? strtod(b, NULL) : 0.0;
    double r = mdm_cmp_numeric(x, y);
    require(r >= 0.0 && r <= 1.0 && r == mdm_cmp_numeric(y, x));

    phonetics(a);
    phonetics(b);
    free(a);
    free(b);
    return 0;
}
