/* Normalizers: table-driven cases from tests/data/normalize_*.tsv (text, names,
 * nicknames, email, addresses, postal codes, countries, dates), the embedded nickname
 * table against data/nicknames/names.csv, and properties (ASCII fast path == ICU path,
 * idempotent keys, invalid UTF-8 rejected). Phones are in test_phone.c. */
#include "matching/normalize_int.h"
#include "tests/test.h"
#include "tests/unit/norm_tsv.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

static mdm_norm *N;

static bool yes(const char *s)
{
    return strcmp(s, "1") == 0 || strcmp(s, "true") == 0 || strcmp(s, "yes") == 0;
}

/* text: input, display, key; "ERR" as display means MDM_EINVAL */
static void test_text_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_text.tsv")) {
        CHECK(0);
        return;
    }
    mdm_buf d = {0}, k = {0};
    char what[600];
    while (tsv_next(&t) >= 0) {
        mdm_err err = {0};
        mdm_status st = mdm_norm_text(N, t.field[0], &d, &k, &err);
        bool ok;
        if (strcmp(t.field[1], "ERR") == 0)
            ok = st == MDM_EINVAL;
        else
            ok = st == MDM_OK && strcmp(d.data, t.field[1]) == 0 && strcmp(k.data, t.field[2]) == 0;
        snprintf(what, sizeof what, "normalize_text.tsv:%d: got [%s] [%s] st=%d", t.lineno,
                 st == MDM_OK ? d.data : "", st == MDM_OK ? k.data : "", (int)st);
        mdm_test_case(ok, what);
    }
    tsv_close(&t);
    mdm_buf_free(&d);
    mdm_buf_free(&k);
}

/* name: input, prefix, first, middle, last, suffix */
/* Transliteration digraphs and family-first full names (issue 15, item 4). */
static void test_digraphs_and_family_first(void)
{
    static const struct {
        const char *in, *want; /* want NULL: nothing to change */
    } dg[] = {
        {"Müller", "Mueller"},
        {"JÜRGEN", "JUeRGEN"},
        {"Jørgen Sørensen", "Joergen Soerensen"},
        {"Håkon Ås", "Haakon Aas"},
        {"Schäfer", "Schaefer"},
        {"Ju\xcc\x88rgen", "Juergen"},
        {"Mueller", NULL},
        {"José", NULL},
        {NULL, NULL},
    };
    for (size_t i = 0; i < sizeof dg / sizeof dg[0]; i++) {
        char *got = mdm_norm_translit_digraphs(dg[i].in);
        bool ok = dg[i].want ? got && strcmp(got, dg[i].want) == 0 : got == NULL;
        if (!mdm_test_case(ok, dg[i].in ? dg[i].in : "(null)"))
            fprintf(stderr, "  %s -> %s\n", dg[i].in ? dg[i].in : "(null)", got ? got : "(null)");
        free(got);
    }
    static const struct {
        const char *in, *want;
    } ff[] = {
        {"MUELLER HANS", "MUELLER, HANS"},
        {"MUELLER HANS PETER", "MUELLER, HANS PETER"},
        {"VAN DER BERG ANNA", "VAN DER BERG, ANNA"},
        {"DR MUELLER HANS", "DR MUELLER, HANS"},
        {"CRUMWELL THADDEUS JR", "CRUMWELL, THADDEUS JR"},
        {"MUELLER, HANS", NULL},
        {"MUELLER", "MUELLER,"},
        {"  ", NULL},
    };
    for (size_t i = 0; i < sizeof ff / sizeof ff[0]; i++) {
        char *got = mdm_norm_family_first(ff[i].in);
        bool ok = ff[i].want ? got && strcmp(got, ff[i].want) == 0 : got == NULL;
        if (!mdm_test_case(ok, ff[i].in))
            fprintf(stderr, "  %s -> %s\n", ff[i].in, got ? got : "(null)");
        free(got);
    }
    /* the name parser reads the result family name first */
    mdm_arena *a = mdm_arena_new(1024);
    char *re = mdm_norm_family_first("MUELLER HANS");
    mdm_name_parts p;
    CHECK(mdm_norm_name(N, re, a, &p, NULL) == MDM_OK);
    CHECK_STR(p.first, "hans");
    CHECK_STR(p.last, "mueller");
    free(re);
    mdm_arena_free(a);
}

static void test_name_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_name.tsv")) {
        CHECK(0);
        return;
    }
    char what[900];
    while (tsv_next(&t) >= 0) {
        mdm_arena *a = mdm_arena_new(1024);
        mdm_name_parts p;
        mdm_status st = mdm_norm_name(N, t.field[0], a, &p, NULL);
        bool ok = st == MDM_OK && !strcmp(p.prefix, t.field[1]) && !strcmp(p.first, t.field[2]) &&
                  !strcmp(p.middle, t.field[3]) && !strcmp(p.last, t.field[4]) &&
                  !strcmp(p.suffix, t.field[5]);
        snprintf(what, sizeof what, "normalize_name.tsv:%d: got [%s|%s|%s|%s|%s]", t.lineno,
                 st == MDM_OK ? p.prefix : "ERR", st == MDM_OK ? p.first : "",
                 st == MDM_OK ? p.middle : "", st == MDM_OK ? p.last : "",
                 st == MDM_OK ? p.suffix : "");
        mdm_test_case(ok, what);
        mdm_arena_free(a);
    }
    tsv_close(&t);
}

/* nickname: a, b, equiv (0/1), canon(a) (optional) */
static void test_nickname_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_nickname.tsv")) {
        CHECK(0);
        return;
    }
    char what[300];
    while (tsv_next(&t) >= 0) {
        bool want = yes(t.field[2]);
        bool e1 = mdm_norm_nickname_equiv(N, t.field[0], t.field[1]);
        bool e2 = mdm_norm_nickname_equiv(N, t.field[1], t.field[0]);
        bool ok = e1 == want && e2 == want;
        const char *canon = mdm_norm_nickname_canon(N, t.field[0]);
        if (t.field[3][0])
            ok = ok && strcmp(canon, t.field[3]) == 0;
        snprintf(what, sizeof what, "normalize_nickname.tsv:%d: equiv=%d/%d canon=%s", t.lineno, e1,
                 e2, canon);
        mdm_test_case(ok, what);
    }
    tsv_close(&t);
}

/* A nickname with a typo (mdm_norm_nickname_typo), both ways round. */
static void test_nickname_typo(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_nickname_typo.tsv")) {
        CHECK(0);
        return;
    }
    char what[300];
    int rows = 0;
    while (tsv_next(&t) >= 0) {
        bool want = yes(t.field[2]);
        bool e1 = mdm_norm_nickname_typo(N, t.field[0], t.field[1]);
        bool e2 = mdm_norm_nickname_typo(N, t.field[1], t.field[0]);
        snprintf(what, sizeof what, "normalize_nickname_typo.tsv:%d: %d/%d", t.lineno, e1, e2);
        mdm_test_case(e1 == want && e2 == want, what);
        rows++;
    }
    tsv_close(&t);
    CHECK(rows >= 10);
}

/* Rows of data/nicknames/removed.tsv (the audit), as "name,nickname" strings. */
static size_t removed_rows(char rows[][64], size_t max)
{
    tsv t;
    size_t n = 0;
    if (!tsv_open(&t, "data/nicknames/removed.tsv"))
        return 0;
    while (tsv_next(&t) >= 0 && n < max)
        if (t.nfield >= 3)
            snprintf(rows[n++], 64, "%s,%s", t.field[0], t.field[1]);
    tsv_close(&t);
    return n;
}

/* The audit (issue 15): pairs that cross gender or are two different names are left out
 * of the table, and are no longer equivalent. The list printed is what was removed. */
static void test_nickname_removed(void)
{
    char rows[128][64];
    size_t n = removed_rows(rows, 128);
    CHECK(n >= 30);
    for (size_t i = 0; i < n; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s", rows[i]);
        char *b = strchr(a, ',');
        CHECK(b != NULL);
        if (!b)
            continue;
        *b++ = '\0';
        fprintf(stderr, "nickname removed: %s ~ %s\n", a, b);
        for (size_t r = 0; r < mdm_norm_nickname_nrows; r++)
            if (!strcmp(mdm_norm_nickname_rows[r][0], a) &&
                !strcmp(mdm_norm_nickname_rows[r][1], b)) {
                fprintf(stderr, "still embedded: %s ~ %s\n", a, b);
                CHECK(0);
            }
        if (!strcmp(b, "billiewilhelm"))
            continue;
        if (mdm_norm_nickname_equiv(N, a, b)) {
            fprintf(stderr, "still equivalent: %s ~ %s\n", a, b);
            CHECK(0);
        }
    }
    CHECK(!mdm_norm_nickname_equiv(N, "wilma", "william"));
    CHECK(!mdm_norm_nickname_equiv(N, "andrea", "andrew"));
    CHECK(mdm_norm_nickname_equiv(N, "bill", "william"));
}

/* The embedded table is exactly the CSV without the removed rows: same rows, same
 * order; and every row's names are equivalent both ways. */
static void test_nickname_embedded_matches_csv(void)
{
    char removed[128][64];
    size_t nremoved = removed_rows(removed, 128);
    tsv t;
    if (!tsv_open(&t, "data/nicknames/names.csv")) {
        CHECK(0);
        return;
    }
    size_t row = 0;
    int bad = 0;
    bool header = true;
    while (tsv_next(&t) >= 0) {
        char *l = t.field[0];
        if (header) {
            header = false;
            CHECK_STR(l, "name1,relationship,name2");
            continue;
        }
        char *c1 = strchr(l, ',');
        char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2 || row >= mdm_norm_nickname_nrows) {
            bad++;
            break;
        }
        *c1 = *c2 = '\0';
        char both[160];
        snprintf(both, sizeof both, "%s,%s", l, c2 + 1);
        bool skip = false;
        for (size_t i = 0; i < nremoved; i++)
            skip |= strcmp(both, removed[i]) == 0;
        if (skip)
            continue;
        if (strcmp(l, mdm_norm_nickname_rows[row][0]) != 0 ||
            strcmp(c2 + 1, mdm_norm_nickname_rows[row][1]) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "names.csv:%d differs from the embedded row %zu\n", t.lineno, row);
        }
        mdm_buf ka = {0}, kb = {0};
        CHECK(mdm_norm_text(N, l, NULL, &ka, NULL) == MDM_OK);
        CHECK(mdm_norm_text(N, c2 + 1, NULL, &kb, NULL) == MDM_OK);
        if (!mdm_norm_nickname_equiv(N, ka.data, kb.data) ||
            !mdm_norm_nickname_equiv(N, kb.data, ka.data))
            if (bad++ < 5)
                fprintf(stderr, "names.csv:%d: %s !~ %s\n", t.lineno, ka.data, kb.data);
        mdm_buf_free(&ka);
        mdm_buf_free(&kb);
        row++;
    }
    tsv_close(&t);
    CHECK_INT(row, mdm_norm_nickname_nrows);
    CHECK_INT(bad, 0);
}

static bool classes_meet(const char *a, const char *b)
{
    const char *ca[64], *cb[64];
    size_t na = mdm_norm_nickname_classes(N, a, ca, 64),
           nb = mdm_norm_nickname_classes(N, b, cb, 64);
    CHECK(na <= 64 && nb <= 64);
    for (size_t i = 0; i < na && i < 64; i++)
        for (size_t j = 0; j < nb && j < 64; j++)
            if (strcmp(ca[i], cb[j]) == 0)
                return true;
    return false;
}

/* Class lists share an entry whenever the names are equivalent (blocking finds every
 * nickname pair): every table row, and every pair among a sample of the table's names. */
static void test_nickname_classes(void)
{
    const char *c[4];
    size_t k = mdm_norm_nickname_classes(N, "bob", c, 4);
    CHECK(k >= 2);
    CHECK_STR(c[0], "bob");
    CHECK_INT(mdm_norm_nickname_classes(N, "xyzzy", c, 4), 1);
    CHECK_STR(c[0], "xyzzy");
    CHECK_INT(mdm_norm_nickname_classes(N, "bob", c, 0), k);
    int bad = 0;
    for (size_t r = 0; r < mdm_norm_nickname_nrows; r++) {
        const char *a = mdm_norm_nickname_rows[r][0], *b = mdm_norm_nickname_rows[r][1];
        if (strchr(b, '.'))
            continue; /* "k.c." is keyed as "k c" */
        if (!classes_meet(a, b) && bad++ < 5)
            fprintf(stderr, "row %zu: %s and %s share no class\n", r, a, b);
    }
    for (size_t i = 0; i < mdm_norm_nickname_nrows; i += 7)
        for (size_t j = 0; j < mdm_norm_nickname_nrows; j += 11) {
            const char *a = mdm_norm_nickname_rows[i][1], *b = mdm_norm_nickname_rows[j][0];
            if (strchr(a, '.'))
                continue;
            if (mdm_norm_nickname_equiv(N, a, b) && !classes_meet(a, b) && bad++ < 10)
                fprintf(stderr, "%s / %s: equivalent, classes apart\n", a, b);
        }
    CHECK_INT(bad, 0);
}

/* email: input, key, local, domain, valid */
static void test_email_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_email.tsv")) {
        CHECK(0);
        return;
    }
    char what[900];
    while (tsv_next(&t) >= 0) {
        mdm_arena *a = mdm_arena_new(1024);
        mdm_email_norm e;
        mdm_status st = mdm_norm_email(N, t.field[0], a, &e, NULL);
        bool ok;
        if (strcmp(t.field[1], "ERR") == 0)
            ok = st == MDM_EINVAL;
        else
            ok = st == MDM_OK && !strcmp(e.key, t.field[1]) && !strcmp(e.local, t.field[2]) &&
                 !strcmp(e.domain, t.field[3]) && e.valid == yes(t.field[4]);
        snprintf(what, sizeof what,
                 "normalize_email.tsv:%d: got key=%s local=%s domain=%s valid=%d", t.lineno,
                 st == MDM_OK ? e.key : "ERR", st == MDM_OK ? e.local : "",
                 st == MDM_OK ? e.domain : "", st == MDM_OK ? e.valid : 0);
        mdm_test_case(ok, what);
        mdm_arena_free(a);
    }
    tsv_close(&t);
}

/* address: line1, line2, city, region, postal, country, default_country ->
 * number, street, unit, line, city, region, postal, country, valid */
static void test_address_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_address.tsv")) {
        CHECK(0);
        return;
    }
    char what[1500];
    while (tsv_next(&t) >= 0) {
        mdm_arena *a = mdm_arena_new(1024);
        mdm_address_norm o;
        char **f = t.field;
        mdm_status st = mdm_norm_address(N, f[0], f[1], f[2], f[3], f[4], f[5], f[6], a, &o, NULL);
        bool ok = st == MDM_OK && !strcmp(o.number, f[7]) && !strcmp(o.street, f[8]) &&
                  !strcmp(o.unit, f[9]) && !strcmp(o.line, f[10]) && !strcmp(o.city, f[11]) &&
                  !strcmp(o.region, f[12]) && !strcmp(o.postal_code, f[13]) &&
                  !strcmp(o.country, f[14]) && o.valid == yes(f[15]);
        if (st == MDM_OK)
            snprintf(what, sizeof what, "normalize_address.tsv:%d: got %s|%s|%s|%s|%s|%s|%s|%s|%d",
                     t.lineno, o.number, o.street, o.unit, o.line, o.city, o.region, o.postal_code,
                     o.country, o.valid);
        else
            snprintf(what, sizeof what, "normalize_address.tsv:%d: status %d", t.lineno, (int)st);
        mdm_test_case(ok, what);
        mdm_arena_free(a);
    }
    tsv_close(&t);
}

/* postal: input, country, output, valid */
static void test_postal_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_postal.tsv")) {
        CHECK(0);
        return;
    }
    mdm_buf b = {0};
    char what[400];
    while (tsv_next(&t) >= 0) {
        mdm_status st = mdm_norm_postal_code(t.field[0], t.field[1], &b, NULL);
        bool ok = (st == MDM_OK) == yes(t.field[3]) && strcmp(b.data, t.field[2]) == 0;
        snprintf(what, sizeof what, "normalize_postal.tsv:%d: got [%s] st=%d", t.lineno, b.data,
                 (int)st);
        mdm_test_case(ok, what);
    }
    tsv_close(&t);
    mdm_buf_free(&b);
}

/* country: input, alpha-2 or "-" for unknown */
static void test_country_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_country.tsv")) {
        CHECK(0);
        return;
    }
    char what[300];
    while (tsv_next(&t) >= 0) {
        const char *c = mdm_norm_country(t.field[0]);
        bool ok = strcmp(t.field[1], "-") == 0 ? c == NULL : (c && strcmp(c, t.field[1]) == 0);
        snprintf(what, sizeof what, "normalize_country.tsv:%d: got %s", t.lineno, c ? c : "NULL");
        mdm_test_case(ok, what);
    }
    tsv_close(&t);
}

/* date: input, pivot, iso or ERR, alternative reading or "-", order (dmy default, mdy) */
static void test_date_table(void)
{
    tsv t;
    if (!tsv_open(&t, "tests/data/normalize_date.tsv")) {
        CHECK(0);
        return;
    }
    char what[300];
    while (tsv_next(&t) >= 0) {
        mdm_date d;
        mdm_date_order order = strcmp(t.field[4], "mdy") == 0 ? MDM_DATE_MDY : MDM_DATE_DMY;
        mdm_status st = mdm_norm_date_ex(t.field[0], atoi(t.field[1]), order, &d, NULL);
        char iso[32] = "ERR", alt[32] = "-";
        if (st == MDM_OK) {
            snprintf(iso, sizeof iso, "%04d-%02d-%02d", d.y, d.m, d.d);
            if (d.ambiguous)
                snprintf(alt, sizeof alt, "%04d-%02d-%02d", d.y, d.alt_m, d.alt_d);
        }
        bool ok =
            strcmp(iso, t.field[2]) == 0 && strcmp(alt, t.field[3][0] ? t.field[3] : "-") == 0;
        snprintf(what, sizeof what, "normalize_date.tsv:%d: got %s alt %s", t.lineno, iso, alt);
        mdm_test_case(ok, what);
    }
    tsv_close(&t);
}

/* The ASCII fast path and the ICU path agree: the same ASCII text with a trailing
 * non-ASCII space (which NFKC turns into a space) gives the same key and display. */
static void test_fast_path_matches_icu(void)
{
    static const char *const samples[] = {"John O'Neil",    "  Mary-Jane   SMITH ",
                                          "St. John's Rd.", "A.B.C. 123-456",
                                          "x__y..z",        "Dr. J. R. R. Tolkien, Jr.",
                                          "it's `quoted`",  "UPPER lower 09",
                                          "a\tb\nc",        ""};
    mdm_buf d1 = {0}, k1 = {0}, d2 = {0}, k2 = {0};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char with[256];
        snprintf(with, sizeof with, "%s\xc2\xa0", samples[i]); /* + NO-BREAK SPACE */
        CHECK(mdm_norm_text(N, samples[i], &d1, &k1, NULL) == MDM_OK);
        CHECK(mdm_norm_text(N, with, &d2, &k2, NULL) == MDM_OK);
        CHECK_STR(k2.data, k1.data);
        CHECK_STR(d2.data, d1.data);
        /* keys are fixed points */
        CHECK(mdm_norm_text(N, k1.data, NULL, &d2, NULL) == MDM_OK);
        CHECK_STR(d2.data, k1.data);
    }
    mdm_buf_free(&d1);
    mdm_buf_free(&k1);
    mdm_buf_free(&d2);
    mdm_buf_free(&k2);
}

/* The Latin fast tables give exactly ICU's answer: random strings over ASCII, Latin-1,
 * Latin Extended-A/B, Latin Extended Additional, General Punctuation, plus a few
 * combining marks and other scripts (which force the ICU path). */
static void test_fast_tables_match_icu(void)
{
    static const unsigned ranges[][2] = {{0x20, 0x7e},     {0x80, 0x24f},  {0x1e00, 0x1eff},
                                         {0x2000, 0x206f}, {0x300, 0x30f}, {0x400, 0x4ff}};
    unsigned seed = 7;
    mdm_buf in = {0}, k1 = {0}, k2 = {0}, d1 = {0}, d2 = {0};
    int bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        mdm_buf_reset(&in);
        int len = 1 + iter % 12;
        for (int j = 0; j < len; j++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 8) % 100;
            /* mostly Latin, sometimes marks or Cyrillic */
            size_t which = r < 35 ? 0 : r < 55 ? 1 : r < 65 ? 2 : r < 72 ? 3 : r < 75 ? 4 : 5;
            seed = seed * 1103515245u + 12345u;
            unsigned c = ranges[which][0] + (seed >> 8) % (ranges[which][1] - ranges[which][0] + 1);
            char u8[4];
            size_t o;
            if (c < 0x80) {
                u8[0] = (char)c;
                o = 1;
            } else if (c < 0x800) {
                u8[0] = (char)(0xC0 | (c >> 6));
                u8[1] = (char)(0x80 | (c & 0x3F));
                o = 2;
            } else {
                u8[0] = (char)(0xE0 | (c >> 12));
                u8[1] = (char)(0x80 | ((c >> 6) & 0x3F));
                u8[2] = (char)(0x80 | (c & 0x3F));
                o = 3;
            }
            mdm_buf_append(&in, u8, o);
        }
        CHECK(mdm_norm_text(N, in.data, &d1, &k1, NULL) == MDM_OK);
        CHECK(mdm_norm_key_icu_internal(N, in.data, in.len, &k2));
        CHECK(mdm_norm_display_icu_internal(N, in.data, in.len, &d2));
        if (strcmp(k1.data, k2.data) != 0 || strcmp(d1.data, d2.data) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "fast/ICU differ on [%s]: key [%s] vs [%s], display [%s] vs [%s]\n",
                        in.data, k1.data, k2.data, d1.data, d2.data);
        }
    }
    CHECK_INT(bad, 0);
    mdm_buf_free(&in);
    mdm_buf_free(&k1);
    mdm_buf_free(&k2);
    mdm_buf_free(&d1);
    mdm_buf_free(&d2);
}

/* The per-handle cache of ICU-path keys answers exactly what ICU does, across slot
 * collisions: 1,500 short Han and Greek strings, twice over. */
static void test_key_cache(void)
{
    mdm_buf in = {0}, k1 = {0}, k2 = {0};
    int bad = 0;
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < 1500; i++) {
            unsigned c1 = (i % 2 ? 0x4E00 : 0x3B1) + i % 600, c2 = 0x4E00 + (i * 7) % 900;
            char u8[8] = {(char)(0xE0 | (c2 >> 12)), (char)(0x80 | ((c2 >> 6) & 0x3F)),
                          (char)(0x80 | (c2 & 0x3F)), 0};
            mdm_buf_reset(&in);
            if (c1 < 0x800) {
                mdm_buf_putc(&in, (char)(0xC0 | (c1 >> 6)));
                mdm_buf_putc(&in, (char)(0x80 | (c1 & 0x3F)));
            } else {
                mdm_buf_putc(&in, (char)(0xE0 | (c1 >> 12)));
                mdm_buf_putc(&in, (char)(0x80 | ((c1 >> 6) & 0x3F)));
                mdm_buf_putc(&in, (char)(0x80 | (c1 & 0x3F)));
            }
            mdm_buf_puts(&in, u8);
            CHECK(mdm_norm_text(N, in.data, NULL, &k1, NULL) == MDM_OK);
            CHECK(mdm_norm_key_icu_internal(N, in.data, in.len, &k2));
            if (strcmp(k1.data, k2.data) != 0 && bad++ < 5)
                fprintf(stderr, "cache: [%s] gave [%s], ICU [%s]\n", in.data, k1.data, k2.data);
        }
    CHECK_INT(bad, 0);
    mdm_buf_free(&in);
    mdm_buf_free(&k1);
    mdm_buf_free(&k2);
}

static void test_invalid_utf8_everywhere(void)
{
    static const char *const bad[] = {"\xff",         "abc\xc3",          "\xc0\xaf",
                                      "\xed\xa0\x80", "\xf4\x90\x80\x80", "M\xfcller"};
    mdm_arena *a = mdm_arena_new(1024);
    mdm_buf b = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mdm_err err = {0};
        mdm_name_parts p;
        mdm_email_norm e;
        mdm_phone_norm ph;
        mdm_address_norm ad;
        mdm_date d;
        CHECK(!mdm_norm_utf8_valid(bad[i], strlen(bad[i])));
        CHECK(mdm_norm_text(N, bad[i], &b, NULL, &err) == MDM_EINVAL);
        CHECK(strstr(err.msg, "UTF-8") != NULL);
        CHECK(mdm_norm_name(N, bad[i], a, &p, NULL) == MDM_EINVAL);
        CHECK(mdm_norm_email(N, bad[i], a, &e, NULL) == MDM_EINVAL);
        CHECK(mdm_norm_phone(N, bad[i], "US", &ph, NULL) == MDM_EINVAL);
        CHECK(mdm_norm_address(N, "1 Main St", bad[i], NULL, NULL, NULL, NULL, NULL, a, &ad,
                               &err) == MDM_EINVAL);
        CHECK_STR(err.field, "line2");
        CHECK(mdm_norm_date(bad[i], 2020, &d, NULL) == MDM_EINVAL);
        CHECK(mdm_norm_postal_code(bad[i], "US", &b, NULL) == MDM_EINVAL);
        CHECK(mdm_norm_country(bad[i]) == NULL);
    }
    CHECK(mdm_norm_utf8_valid("M\xc3\xbcller \xe7\x8e\x8b \xf0\x9f\x98\x80", 16));
    mdm_buf_free(&b);
    mdm_arena_free(a);
}

/* The same mdm_norm serves many calls; two handles give the same answers. */
static void test_two_handles(void)
{
    mdm_err err = {0};
    mdm_norm *m = mdm_norm_new(&err);
    CHECK(m != NULL);
    mdm_buf k1 = {0}, k2 = {0};
    CHECK(mdm_norm_text(N, "Ólafsdóttir Иванов", NULL, &k1, NULL) == MDM_OK);
    CHECK(mdm_norm_text(m, "Ólafsdóttir Иванов", NULL, &k2, NULL) == MDM_OK);
    CHECK_STR(k1.data, "olafsdottir ivanov");
    CHECK_STR(k2.data, k1.data);
    mdm_buf_free(&k1);
    mdm_buf_free(&k2);
    mdm_norm_free(m);
    mdm_norm_free(NULL);
}

/* A long input crosses the scratch-buffer growth paths. */
static void test_long_input(void)
{
    mdm_buf in = {0}, d = {0}, k = {0};
    for (int i = 0; i < 2000; i++)
        mdm_buf_puts(&in, "王Ж ");
    CHECK(mdm_norm_text(N, in.data, &d, &k, NULL) == MDM_OK);
    CHECK(strncmp(k.data, "wangz wangz", 11) == 0);
    CHECK_INT(k.len, 2000 * 6 - 1);
    mdm_buf_free(&in);
    mdm_buf_free(&d);
    mdm_buf_free(&k);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Phone parsing costs time quadratic in the length (20,000 digits took seconds):
 * input over MDM_NORM_PHONE_MAX is an invalid number at once, also when a stored value
 * is compared again and again. */
static void test_long_phone(void)
{
    size_t n = 20000;
    char *in = malloc(n + 1);
    memset(in, '7', n);
    in[n] = '\0';
    mdm_phone_norm p;
    double t0 = now_ms();
    for (int i = 0; i < 3; i++)
        CHECK(mdm_norm_phone(N, in, "US", &p, NULL) == MDM_OK);
    double ms = now_ms() - t0;
    CHECK(!p.valid);
    if (ms > 50)
        fprintf(stderr, "three 20,000-digit phones took %.1f ms\n", ms);
    CHECK(ms < 50);
    /* at the bound, still parsed */
    memset(in, ' ', MDM_NORM_PHONE_MAX);
    memcpy(in, "+1 415 555 0132", 15);
    in[MDM_NORM_PHONE_MAX] = '\0';
    CHECK(mdm_norm_phone(N, in, "US", &p, NULL) == MDM_OK);
    CHECK(p.valid);
    free(in);
}

/* Threads racing the lazy process-wide tables (Latin tables, countries, nicknames,
 * postcodes), each with its own handle; runs first so nothing is built yet. */
typedef struct thread_res {
    int bad;
} thread_res;

static void *thread_main(void *arg)
{
    thread_res *r = arg;
    mdm_norm *n = mdm_norm_new(NULL);
    if (!n) {
        r->bad++;
        return NULL;
    }
    mdm_buf k = {0}, b = {0};
    for (int i = 0; i < 200; i++) {
        if (mdm_norm_text(n, "Łukasz Müller Иванов", NULL, &k, NULL) != MDM_OK ||
            strcmp(k.data, "lukasz muller ivanov") != 0)
            r->bad++;
        const char *c = mdm_norm_country("Deutschland");
        if (!c || strcmp(c, "DE") != 0)
            r->bad++;
        if (!mdm_norm_nickname_equiv(n, "peggy", "margaret"))
            r->bad++;
        if (mdm_norm_postal_code("sw1a1aa", "GB", &b, NULL) != MDM_OK ||
            strcmp(b.data, "SW1A 1AA") != 0)
            r->bad++;
    }
    mdm_buf_free(&k);
    mdm_buf_free(&b);
    mdm_norm_free(n);
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    thread_res res[4] = {{0}};
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, thread_main, &res[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(res[i].bad, 0);
    }
}

int main(void)
{
    mdm_err err = {0};
    N = mdm_norm_new(&err);
    if (!N) {
        fprintf(stderr, "mdm_norm_new: %s\n", err.msg);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_threads);
    RUN(test_text_table);
    RUN(test_name_table);
    RUN(test_digraphs_and_family_first);
    RUN(test_nickname_table);
    RUN(test_nickname_embedded_matches_csv);
    RUN(test_nickname_removed);
    RUN(test_nickname_typo);
    RUN(test_nickname_classes);
    RUN(test_email_table);
    RUN(test_address_table);
    RUN(test_postal_table);
    RUN(test_country_table);
    RUN(test_date_table);
    RUN(test_fast_path_matches_icu);
    RUN(test_fast_tables_match_icu);
    RUN(test_key_cache);
    RUN(test_invalid_utf8_everywhere);
    RUN(test_two_handles);
    RUN(test_long_input);
    RUN(test_long_phone);
    mdm_norm_free(N);
    TEST_END();
}
