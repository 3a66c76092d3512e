/* Worst-case inputs for the normalizers (issue 17 item 1): every normalizer, fed
 * adversarial patterns filled up to the length limit of its field (matching/limits.h
 * defaults), and the phone parser also far beyond it (it bounds itself). Shared by
 * tests/bench/bench_normalize_caps.c (release timing, the 1 ms target) and
 * tests/unit/test_normalize_caps.c (sanitizer build, a looser bound that still catches a
 * quadratic blow-up). Header-only: static functions, include once per program. */
#ifndef MDM_TESTS_NORM_CAPS_H
#define MDM_TESTS_NORM_CAPS_H

#include "common/mem.h"
#include "matching/normalize.h"
#include "matching/phonetic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The normalizers; cap is the field's default limit in bytes (mdm_limits_default). */
typedef enum caps_fn {
    CAPS_TEXT,
    CAPS_NAME,
    CAPS_EMAIL,
    CAPS_PHONE,
    CAPS_PHONE_RAW, /* beyond any field limit: mdm_norm_phone's own bound */
    CAPS_ADDRESS,
    CAPS_POSTAL,
    CAPS_COUNTRY,
    CAPS_DATE,
    CAPS_NICKNAME,
    CAPS_PHONETIC,
    CAPS_N
} caps_fn;

static const struct {
    const char *name;
    size_t cap;
} caps_fns[CAPS_N] = {
    {"text", 256},
    {"name", 256},
    {"email", 254},
    {"phone", 64},
    {"phone_1MiB", 1u << 20},
    {"address", 256},
    {"postal_code", 32},
    {"country", 64},
    {"date", 64},
    {"nickname", 256},
    {"phonetic", 256},
};

/* Patterns repeated to fill the cap (whole UTF-8 characters only). */
static const char *const caps_patterns[] = {
    "9",   "1 ",   "+",      "(",      "-",         "a",        "a ",
    "ab.", "@",    "a@",     "é",      "e\xcc\x81", "王",       "\xf0\x9f\x98\x80",
    "ß",   ".",    "St ",    "Apt 4 ", "bob ",      "van der ", "x",
    "Mc",  "0/",   "3 Feb ", "ext ",   "#",         "\t",       "ÅÄÖ",
    "Ω",   "ﬁ",    "İ",      "'",      "王A",       "A(王",     "王、",
    "々",  "ー王",
};
#define CAPS_NPATTERNS (sizeof caps_patterns / sizeof caps_patterns[0])

/* Scripts ICU transliterates by rules, as random words (1-40 letters, one space apart):
 * new text on every run, so no cache of words helps (an attacker sends new words). */
static const struct {
    const char *name;
    unsigned lo, hi; /* code point block */
} caps_scripts[] = {
    {"~greek", 0x3B1, 0x3C9},      {"~han", 0x4E00, 0x9FFF},      {"~hebrew", 0x5B0, 0x5EA},
    {"~arabic", 0x621, 0x652},     {"~thai", 0xE01, 0xE4E},       {"~hiragana", 0x3041, 0x3096},
    {"~katakana", 0x30A1, 0x30FC}, {"~hangul", 0xAC00, 0xD7A3},   {"~devanagari", 0x901, 0x963},
    {"~armenian", 0x531, 0x586},   {"~georgian", 0x10D0, 0x10FA}, {"~ethiopic", 0x1200, 0x1248},
};
#define CAPS_NSCRIPTS (sizeof caps_scripts / sizeof caps_scripts[0])

/* A new string of random words of script s up to cap bytes. */
static char *caps_words(size_t s, size_t cap, unsigned *seed)
{
    char *out = mdm_xmalloc(cap + 1);
    size_t n = 0;
    unsigned word = 0;
    for (;;) {
        *seed = *seed * 1103515245u + 12345u;
        if (word == 0)
            word = 1 + (*seed >> 16) % 40;
        unsigned c =
            caps_scripts[s].lo + (*seed >> 8) % (caps_scripts[s].hi - caps_scripts[s].lo + 1);
        char u8[5];
        size_t l = c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (l == 2) {
            u8[0] = (char)(0xC0 | c >> 6);
            u8[1] = (char)(0x80 | (c & 0x3F));
        } else {
            u8[0] = (char)(0xE0 | c >> 12);
            u8[1] = (char)(0x80 | (c >> 6 & 0x3F));
            u8[2] = (char)(0x80 | (c & 0x3F));
        }
        if (--word == 0)
            u8[l++] = ' ';
        if (n + l > cap)
            break;
        memcpy(out + n, u8, l);
        n += l;
    }
    out[n] = '\0';
    return out;
}

/* A new string: pattern repeated up to cap bytes (never a partial pattern). */
static char *caps_fill(const char *pattern, size_t cap)
{
    size_t pl = strlen(pattern);
    size_t n = cap / pl * pl;
    char *s = mdm_xmalloc(n + 1);
    for (size_t i = 0; i < n; i += pl)
        memcpy(s + i, pattern, pl);
    s[n] = '\0';
    return s;
}

static double caps_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: meaningful on a loaded machine */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs normalizer fn once on in; returns the seconds it took. */
static double caps_run(mdm_norm *n, caps_fn fn, const char *in)
{
    mdm_arena *a = mdm_arena_new(4096);
    mdm_buf d = {0}, k = {0};
    mdm_status st = MDM_OK;
    double t0 = caps_now();
    switch (fn) {
    case CAPS_TEXT:
        st = mdm_norm_text(n, in, &d, &k, NULL);
        break;
    case CAPS_NAME: {
        mdm_name_parts p;
        st = mdm_norm_name(n, in, a, &p, NULL);
        break;
    }
    case CAPS_EMAIL: {
        mdm_email_norm e;
        st = mdm_norm_email(n, in, a, &e, NULL);
        break;
    }
    case CAPS_PHONE:
    case CAPS_PHONE_RAW: {
        mdm_phone_norm p;
        st = mdm_norm_phone(n, in, "US", &p, NULL);
        break;
    }
    case CAPS_ADDRESS: {
        mdm_address_norm o;
        st = mdm_norm_address(n, in, in, in, in, NULL, NULL, "US", a, &o, NULL);
        break;
    }
    case CAPS_POSTAL:
        st = mdm_norm_postal_code(in, "GB", &d, NULL);
        break;
    case CAPS_COUNTRY:
        (void)mdm_norm_country(in);
        break;
    case CAPS_DATE: {
        mdm_date dt;
        st = mdm_norm_date(in, 2026, &dt, NULL);
        break;
    }
    case CAPS_NICKNAME:
        (void)mdm_norm_nickname_canon(n, in);
        (void)mdm_norm_nickname_equiv(n, in, in);
        break;
    case CAPS_PHONETIC: {
        char p[64], alt[64];
        mdm_phon_soundex(in, p, sizeof p);
        mdm_phon_nysiis(in, p, sizeof p);
        mdm_phon_metaphone(in, p, sizeof p);
        mdm_phon_double_metaphone(in, p, alt, sizeof p);
        break;
    }
    case CAPS_N:
        break;
    }
    double t = caps_now() - t0;
    (void)st; /* invalid input is an answer too: only the time matters here */
    mdm_buf_free(&d);
    mdm_buf_free(&k);
    mdm_arena_free(a);
    return t;
}

static int caps_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* For normalizer fn: the slowest pattern's median time over reps runs (seconds), and
 * that pattern in *worst (a pattern repeated to the cap, or random words of a script). */
__attribute__((unused)) static double caps_worst(mdm_norm *n, caps_fn fn, int reps,
                                                 const char **worst)
{
    double max = 0;
    double *t = mdm_xmalloc((size_t)reps * sizeof *t);
    for (size_t p = 0; p < CAPS_NPATTERNS; p++) {
        char *in = caps_fill(caps_patterns[p], caps_fns[fn].cap);
        for (int r = 0; r < reps; r++)
            t[r] = caps_run(n, fn, in);
        qsort(t, (size_t)reps, sizeof *t, caps_cmp);
        if (t[reps / 2] > max) {
            max = t[reps / 2];
            *worst = caps_patterns[p];
        }
        free(in);
    }
    unsigned seed = 17;
    for (size_t s = 0; s < CAPS_NSCRIPTS; s++) {
        for (int r = 0; r < reps; r++) {
            char *in = caps_words(s, caps_fns[fn].cap, &seed);
            t[r] = caps_run(n, fn, in);
            free(in);
        }
        qsort(t, (size_t)reps, sizeof *t, caps_cmp);
        if (t[reps / 2] > max) {
            max = t[reps / 2];
            *worst = caps_scripts[s].name;
        }
    }
    free(t);
    return max;
}

#endif
