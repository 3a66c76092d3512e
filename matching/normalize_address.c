/* Address normalizers (see normalize.h): ISO 3166 countries, postal codes, street lines.
 *
 * The country index is built once per process from ICU's locale data (codes, alpha-3
 * codes, display names in a couple of dozen languages) plus a few common aliases, so no
 * hand-kept country list goes stale. Postal-code patterns are PCRE2, compiled once. */
#include "matching/normalize_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unicode/uchar.h>
#include <unicode/uloc.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- Country index --------------------------------------------------------------- */

typedef struct country_key {
    char *key;
    char code[3];
    int order; /* insertion order: on a clash the earliest (English) reading wins */
} country_key;

static pthread_once_t country_once = PTHREAD_ONCE_INIT;
static country_key *ckeys;
static size_t nckeys, ccap;

static bool is_stop(const char *w, size_t l)
{
    static const char *const stop[] = {"the", "and", "of", "republic", "und", "et", "y",
                                       "la",  "le",  "el", "die",      "der", "de", NULL};
    for (size_t i = 0; stop[i]; i++)
        if (strlen(stop[i]) == l && memcmp(stop[i], w, l) == 0)
            return true;
    return false;
}

typedef struct span {
    const char *p;
    size_t l;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    size_t l = x->l < y->l ? x->l : y->l;
    int c = memcmp(x->p, y->p, l);
    return c ? c : (x->l > y->l) - (x->l < y->l);
}

/* Country key of space-separated tokens: stop words dropped, "st" -> "saint", tokens
 * sorted ("Korea, South" == "South Korea"). */
static void country_canon(const char *tok, mdm_buf *out)
{
    span sp[16] = {{NULL, 0}};
    size_t ns = 0;
    const char *p = tok;
    bool one = strchr(tok, ' ') == NULL; /* a lone word is never a stop word ("DE") */
    while (*p && ns < 16) {
        while (*p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ' ')
            p++;
        if (p == s)
            break;
        size_t l = (size_t)(p - s);
        if (!one && is_stop(s, l))
            continue;
        if (l == 2 && memcmp(s, "st", 2) == 0)
            sp[ns++] = (span){"saint", 5};
        else
            sp[ns++] = (span){s, l};
    }
    qsort(sp, ns, sizeof *sp, cmp_span);
    mdm_buf_reset(out);
    for (size_t i = 0; i < ns; i++) {
        if (i)
            mdm_buf_putc(out, ' ');
        mdm_buf_append(out, sp[i].p, sp[i].l);
    }
    if (!out->data)
        mdm_buf_puts(out, "");
}

/* Case-folded form of UTF-8 text keeping letters of any script: NFKC_Casefold,
 * apostrophes dropped, other non-alphanumerics as single spaces. */
static bool fold_any(const char *s, size_t len, mdm_buf *out)
{
    UErrorCode st = U_ZERO_ERROR;
    UChar u[256], v[512];
    int32_t ul = 0;
    if (len > 250)
        return false;
    u_strFromUTF8(u, 256, &ul, s, (int32_t)len, &st);
    const UNormalizer2 *nf = unorm2_getNFKCCasefoldInstance(&st);
    int32_t vl = unorm2_normalize(nf, u, ul, v, 512, &st);
    if (U_FAILURE(st))
        return false;
    mdm_buf_reset(out);
    bool sep = false;
    char tmp[8];
    for (int32_t i = 0; i < vl;) {
        UChar32 c;
        U16_NEXT(v, i, vl, c);
        if (c == '\'' || c == 0x2019 || c == 0x02BC)
            continue;
        if (u_isalnum(c) || u_charType(c) == U_NON_SPACING_MARK) {
            if (sep && out->len)
                mdm_buf_putc(out, ' ');
            sep = false;
            int32_t o = 0;
            U8_APPEND_UNSAFE((uint8_t *)tmp, o, c);
            mdm_buf_append(out, tmp, (size_t)o);
        } else {
            sep = true;
        }
    }
    if (!out->data)
        mdm_buf_puts(out, "");
    return true;
}

static void ckey_add(const char *canon_key, const char *code)
{
    if (!*canon_key)
        return;
    if (nckeys == ccap) {
        ccap = ccap ? ccap * 2 : 1024;
        ckeys = mdm_xrealloc(ckeys, ccap * sizeof *ckeys);
    }
    country_key *k = &ckeys[nckeys];
    k->key = mdm_xstrdup(canon_key);
    memcpy(k->code, code, 2);
    k->code[2] = '\0';
    k->order = (int)nckeys;
    nckeys++;
}

/* Adds the folded and (when tr is given) the transliterated ASCII key of a name. */
static void ckey_add_name(mdm_norm *tr, const UChar *name, int32_t nl, const char *code, mdm_buf *a,
                          mdm_buf *b)
{
    char utf8[512];
    UErrorCode st = U_ZERO_ERROR;
    int32_t ol = 0;
    if (nl < 2 || nl > 120)
        return;
    u_strToUTF8(utf8, sizeof utf8, &ol, name, nl, &st);
    if (U_FAILURE(st))
        return;
    /* also without a parenthetical: "Myanmar (Burma)" -> "Myanmar" */
    char *paren = strchr(utf8, '(');
    for (int pass = 0; pass < (paren ? 2 : 1); pass++) {
        size_t len = pass ? (size_t)(paren - utf8) : (size_t)ol;
        if (fold_any(utf8, len, a)) {
            country_canon(a->data, b);
            ckey_add(b->data, code);
        }
        if (tr && mdm_norm_key_internal(tr, utf8, len, a)) {
            country_canon(a->data, b);
            ckey_add(b->data, code);
        }
    }
}

static int cmp_ckey(const void *x, const void *y)
{
    const country_key *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

static void country_init(void)
{
    static const char *const latin_locales[] = {"en", "de", "fr", "es", "it", "pt", "nl", "pl",
                                                "sv", "da", "nb", "fi", "cs", "hu", "ro", "tr",
                                                "hr", "sk", "sl", "ca", "is", "lt", "lv", NULL};
    static const char *const other_locales[] = {"ru", "uk", "el", "bg", "sr", "zh", "ja",
                                                "ko", "ar", "he", "hi", "th", NULL};
    /* common names ICU does not give in these forms */
    static const char *const aliases[][2] = {
        {"usa", "US"},
        {"u s a", "US"},
        {"u s", "US"},
        {"america", "US"},
        {"united states of america", "US"},
        {"uk", "GB"},
        {"u k", "GB"},
        {"great britain", "GB"},
        {"britain", "GB"},
        {"england", "GB"},
        {"scotland", "GB"},
        {"wales", "GB"},
        {"northern ireland", "GB"},
        {"united kingdom of great britain and northern ireland", "GB"},
        {"holland", "NL"},
        {"russian federation", "RU"},
        {"republic of korea", "KR"},
        {"korea", "KR"},
        {"north korea", "KP"},
        {"czech republic", "CZ"},
        {"ivory coast", "CI"},
        {"burma", "MM"},
        {"swaziland", "SZ"},
        {"macedonia", "MK"},
        {"turkiye", "TR"},
        {"vatican", "VA"},
        {"uae", "AE"},
        {"congo", "CG"},
        {"drc", "CD"},
        {"dr congo", "CD"},
        {"democratic republic of the congo", "CD"},
        {"hong kong", "HK"},
        {"macao", "MO"},
        {"macau", "MO"},
        {"palestine", "PS"},
        {"east timor", "TL"},
        {"cape verde", "CV"},
        {"persia", "IR"},
        {"prc", "CN"},
        {"roc", "TW"},
        {"deutschland", "DE"},
        {"brd", "DE"},
        {"schweiz", "CH"},
        {"suisse", "CH"},
        {"svizzera", "CH"},
        {"osterreich", "AT"},
        {"oesterreich", "AT"},
        {"espana", "ES"},
        {"italia", "IT"},
        {"nederland", "NL"},
        {"belgie", "BE"},
        {"belgique", "BE"},
        {"eire", "IE"},
    };
    UErrorCode st = U_ZERO_ERROR;
    mdm_norm *tr = mdm_norm_new(NULL); /* ASCII keys; NULL: folded keys only */
    mdm_buf a = {0}, b = {0};
    /* aliases first so they win clashes */
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        country_canon(aliases[i][0], &b);
        ckey_add(b.data, aliases[i][1]);
    }
    const char *const *codes = uloc_getISOCountries();
    for (size_t c = 0; codes[c]; c++) {
        const char *code = codes[c];
        char loc[16], lower[4] = {0};
        snprintf(loc, sizeof loc, "und_%s", code);
        lower[0] = (char)(code[0] | 0x20);
        lower[1] = (char)(code[1] | 0x20);
        ckey_add(lower, code);
        const char *a3 = uloc_getISO3Country(loc);
        if (a3 && strlen(a3) == 3) {
            char l3[4] = {(char)(a3[0] | 0x20), (char)(a3[1] | 0x20), (char)(a3[2] | 0x20), 0};
            ckey_add(l3, code);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *const *locs = pass ? other_locales : latin_locales;
        for (size_t l = 0; locs[l]; l++)
            for (size_t c = 0; codes[c]; c++) {
                char loc[16];
                snprintf(loc, sizeof loc, "und_%s", codes[c]);
                UChar name[128];
                st = U_ZERO_ERROR;
                int32_t nl = uloc_getDisplayCountry(loc, locs[l], name, 128, &st);
                if (U_FAILURE(st) || st == U_USING_DEFAULT_WARNING ||
                    st == U_USING_FALLBACK_WARNING)
                    continue;
                ckey_add_name(pass ? NULL : tr, name, nl, codes[c], &a, &b);
            }
    }
    mdm_buf_free(&a);
    mdm_buf_free(&b);
    mdm_norm_free(tr);
    qsort(ckeys, nckeys, sizeof *ckeys, cmp_ckey);
    size_t o = 0;
    for (size_t i = 0; i < nckeys; i++) {
        if (o > 0 && strcmp(ckeys[i].key, ckeys[o - 1].key) == 0) {
            free(ckeys[i].key);
            continue;
        }
        ckeys[o++] = ckeys[i];
    }
    nckeys = o;
}

static const char *country_find(const char *key)
{
    size_t lo = 0, hi = nckeys;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(key, ckeys[mid].key);
        if (c == 0)
            return ckeys[mid].code;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool ascii_only(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

/* ISO codes alone, from ICU's tables: building the name index takes ~0.1 s, which a
 * phone's default "US" or an address's "DE" should not pay. */
static pthread_once_t codes_once = PTHREAD_ONCE_INIT;
static const char *const *iso2;
static char (*iso3)[4];
static size_t niso;

static void codes_init(void)
{
    iso2 = uloc_getISOCountries();
    while (iso2[niso])
        niso++;
    iso3 = mdm_xcalloc(niso ? niso : 1, sizeof *iso3);
    for (size_t i = 0; i < niso; i++) {
        char loc[16];
        snprintf(loc, sizeof loc, "und_%s", iso2[i]);
        const char *a3 = uloc_getISO3Country(loc);
        if (a3 && strlen(a3) == 3)
            memcpy(iso3[i], a3, 4);
    }
}

/* The alpha-2 code for a 2- or 3-letter ASCII code (any case, surrounding spaces
 * allowed), or NULL. */
static const char *country_code_only(const char *in, size_t len)
{
    while (len && (*in == ' ' || *in == '\t')) {
        in++;
        len--;
    }
    while (len && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    if (len != 2 && len != 3)
        return NULL;
    char up[4];
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        if (c < 'A' || c > 'Z')
            return NULL;
        up[i] = c;
    }
    up[len] = '\0';
    pthread_once(&codes_once, codes_init);
    if (len == 2 && strcmp(up, "UK") == 0)
        up[0] = 'G', up[1] = 'B';
    /* bytes, not strcmp: every address and phone of every record asks (the default
     * country "US" was some 240 calls) */
    for (size_t i = 0; i < niso; i++) {
        const char *c = len == 2 ? iso2[i] : iso3[i];
        if (c[0] == up[0] && c[1] == up[1] && c[2] == up[2] && (len == 2 || c[3] == '\0'))
            return iso2[i];
    }
    return NULL;
}

const char *mdm_norm_country(const char *in)
{
    if (!in)
        return NULL;
    size_t len = strlen(in);
    if (len == 0 || len > 200 || !mdm_norm_utf8_valid(in, len))
        return NULL;
    const char *code = country_code_only(in, len);
    if (code)
        return code;
    pthread_once(&country_once, country_init);
    mdm_buf a = {0}, b = {0};
    if (ascii_only(in, len)) {
        mdm_norm_key_fold_internal(in, len, &a);
    } else if (!fold_any(in, len, &a)) {
        goto out_free;
    }
    country_canon(a.data, &b);
    code = country_find(b.data);
    if (!code && !ascii_only(a.data, a.len)) {
        /* accents stripped: "Österreich" written without its index form */
        UErrorCode st = U_ZERO_ERROR;
        UChar u[256], v[512];
        int32_t ul = 0;
        u_strFromUTF8(u, 256, &ul, a.data, (int32_t)a.len, &st);
        int32_t vl = unorm2_normalize(unorm2_getNFKDInstance(&st), u, ul, v, 512, &st);
        if (U_SUCCESS(st)) {
            mdm_buf_reset(&b);
            for (int32_t i = 0; i < vl; i++)
                if (v[i] < 0x80)
                    mdm_buf_putc(&b, (char)v[i]);
                else if (u_charType(v[i]) != U_NON_SPACING_MARK)
                    mdm_buf_putc(&b, '?');
            if (b.data) {
                mdm_buf_reset(&a);
                mdm_norm_key_fold_internal(b.data, b.len, &a);
                country_canon(a.data, &b);
                code = country_find(b.data);
            }
        }
    }
out_free:
    mdm_buf_free(&a);
    mdm_buf_free(&b);
    return code;
}

/* ---- Postal codes ---------------------------------------------------------------- */

typedef struct postal_rule {
    const char *country;
    const char *pattern; /* on the upper-cased code with spaces and hyphens removed */
    int split;           /* insert a separator before the last `split` characters (0: none) */
    char sep;
    pcre2_code *re;
} postal_rule;

static postal_rule postal_rules[] = {
    {"US", "^[0-9]{5}(?:[0-9]{4})?$", 4, '-', NULL},
    {"GB", "^(?:[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2}|GIR0AA)$", 3, ' ', NULL},
    {"CA", "^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z][0-9][ABCEGHJ-NPRSTV-Z][0-9]$", 3, ' ', NULL},
    {"AU", "^[0-9]{4}$", 0, 0, NULL},
    {"DE", "^[0-9]{5}$", 0, 0, NULL},
    {"FR", "^[0-9]{5}$", 0, 0, NULL},
    {"NL", "^[1-9][0-9]{3}[A-Z]{2}$", 2, ' ', NULL},
    {"AT", "^[0-9]{4}$", 0, 0, NULL},
    {"CH", "^[0-9]{4}$", 0, 0, NULL},
    {"BE", "^[0-9]{4}$", 0, 0, NULL},
    {"ES", "^[0-9]{5}$", 0, 0, NULL},
    {"IT", "^[0-9]{5}$", 0, 0, NULL},
};
static pthread_once_t postal_once = PTHREAD_ONCE_INIT;
static bool postal_ok;

static void postal_init(void)
{
    postal_ok = true;
    for (size_t i = 0; i < sizeof postal_rules / sizeof postal_rules[0]; i++) {
        int ec;
        PCRE2_SIZE eo;
        postal_rules[i].re = pcre2_compile((PCRE2_SPTR)postal_rules[i].pattern,
                                           PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
        if (!postal_rules[i].re)
            postal_ok = false;
    }
}

mdm_status mdm_norm_postal_code(const char *in, const char *country, mdm_buf *out, mdm_err *err)
{
    mdm_buf_reset(out);
    mdm_buf_puts(out, "");
    if (!in)
        in = "";
    size_t len = strlen(in);
    if (!mdm_norm_utf8_valid(in, len))
        return mdm_err_set(err, MDM_EINVAL, "postal code is not valid UTF-8");
    pthread_once(&postal_once, postal_init);
    if (!postal_ok)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot compile the postal code patterns");
    const char *cc = country && *country ? mdm_norm_country(country) : NULL;
    /* generic form: ASCII upper case, whitespace collapsed */
    char compact[64];
    size_t cl = 0;
    bool sep = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            sep = true;
            continue;
        }
        if (sep && out->len)
            mdm_buf_putc(out, ' ');
        sep = false;
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 32);
        mdm_buf_putc(out, (char)c);
        if (((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) && cl + 1 < sizeof compact)
            compact[cl++] = (char)c;
    }
    compact[cl] = '\0';
    if (out->len == 0)
        return mdm_err_set(err, MDM_EINVAL, "empty postal code");
    if (!cc)
        return MDM_OK;
    for (size_t i = 0; i < sizeof postal_rules / sizeof postal_rules[0]; i++) {
        postal_rule *r = &postal_rules[i];
        if (strcmp(r->country, cc) != 0)
            continue;
        const char *c = compact;
        size_t l = cl;
        /* a country prefix as in "D-10115", "F-75001", "DE-10115" */
        if (l > 2 && (cc[0] == c[0]) && !(c[0] >= '0' && c[0] <= '9')) {
            size_t skip =
                (l > 3 && c[1] == cc[1] && c[2] >= '0' && c[2] <= '9') ? 2
                : (c[1] >= '0' && c[1] <= '9' && strcmp(cc, "GB") != 0 && strcmp(cc, "CA") != 0)
                    ? 1
                    : 0;
            c += skip;
            l -= skip;
        }
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->re, NULL);
        int rc = pcre2_match(r->re, (PCRE2_SPTR)c, l, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc < 0)
            return mdm_err_set(err, MDM_EINVAL, "invalid postal code for %s", cc);
        mdm_buf_reset(out);
        if (r->split && (cc[0] != 'U' || l == 9)) {
            mdm_buf_append(out, c, l - (size_t)r->split);
            mdm_buf_putc(out, r->sep);
            mdm_buf_append(out, c + l - r->split, (size_t)r->split);
        } else {
            mdm_buf_append(out, c, l);
        }
        return MDM_OK;
    }
    return MDM_OK;
}

/* ---- Street lines ---------------------------------------------------------------- */

typedef struct abbr {
    const char *from, *to;
} abbr;

static const char *abbr_find(const abbr *t, const char *w)
{
    for (; t->from; t++)
        if (strcmp(t->from, w) == 0)
            return t->to;
    return NULL;
}

static const abbr street_types[] = {
    {"st", "street"},     {"str", "street"},      {"ave", "avenue"},
    {"av", "avenue"},     {"avn", "avenue"},      {"avenue", "avenue"},
    {"rd", "road"},       {"blvd", "boulevard"},  {"boul", "boulevard"},
    {"dr", "drive"},      {"drv", "drive"},       {"ln", "lane"},
    {"ct", "court"},      {"crt", "court"},       {"pl", "place"},
    {"sq", "square"},     {"hwy", "highway"},     {"pkwy", "parkway"},
    {"pky", "parkway"},   {"cir", "circle"},      {"ter", "terrace"},
    {"terr", "terrace"},  {"trl", "trail"},       {"cres", "crescent"},
    {"cr", "crescent"},   {"pde", "parade"},      {"cl", "close"},
    {"gdns", "gardens"},  {"expy", "expressway"}, {"fwy", "freeway"},
    {"aly", "alley"},     {"ctr", "center"},      {"hts", "heights"},
    {"tpke", "turnpike"}, {"xing", "crossing"},   {"plz", "plaza"},
    {"sqr", "square"},    {"grv", "grove"},       {"mews", "mews"},
    {"wy", "way"},        {"esp", "esplanade"},   {"rte", "route"},
    {"pt", "point"},      {"mtn", "mountain"},    {NULL, NULL}};
static const abbr directions[] = {{"n", "north"},      {"s", "south"},      {"e", "east"},
                                  {"w", "west"},       {"ne", "northeast"}, {"nw", "northwest"},
                                  {"se", "southeast"}, {"sw", "southwest"}, {NULL, NULL}};
static const abbr unit_types[] = {{"apt", "apartment"},    {"apartment", "apartment"},
                                  {"unit", "unit"},        {"ste", "suite"},
                                  {"suite", "suite"},      {"fl", "floor"},
                                  {"floor", "floor"},      {"flr", "floor"},
                                  {"rm", "room"},          {"room", "room"},
                                  {"bldg", "building"},    {"building", "building"},
                                  {"dept", "department"},  {"lot", "lot"},
                                  {"flat", "flat"},        {"whg", "wohnung"},
                                  {"etage", "etage"},      {"app", "appartement"},
                                  {"appt", "appartement"}, {"bat", "batiment"},
                                  {"hash", "unit"},        {NULL, NULL}};
/* French (and Belgian, Swiss, Quebec) types come first: "12 r. de la Paix" */
static const abbr french_types[] = {
    {"r", "rue"},          {"av", "avenue"},     {"ave", "avenue"},    {"bd", "boulevard"},
    {"boul", "boulevard"}, {"bld", "boulevard"}, {"pl", "place"},      {"ch", "chemin"},
    {"imp", "impasse"},    {"all", "allee"},     {"rte", "route"},     {"sq", "square"},
    {"fg", "faubourg"},    {"fbg", "faubourg"},  {"crs", "cours"},     {"pas", "passage"},
    {"qu", "quai"},        {"pte", "porte"},     {"res", "residence"}, {"che", "chemin"},
    {NULL, NULL}};
static const abbr german_types[] = {
    {"str", "strasse"}, {"pl", "platz"}, {"g", "gasse"}, {NULL, NULL}};

static bool is_house_number(const char *w)
{
    /* 12, 221b, 12-14 (hyphen kept in the raw token) */
    if (!(*w >= '0' && *w <= '9'))
        return false;
    size_t letters = 0;
    for (const char *p = w; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (letters)
                return false;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            if (++letters > 1)
                return false;
        } else if (*p == '-' || *p == '/') {
            letters = 0;
            if (!(p[1] >= '0' && p[1] <= '9'))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

static void lower_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

typedef struct words {
    char *v[64];
    size_t n;
} words;

/* Splits a key string (single spaces) in place. */
static void split_words(char *s, words *w)
{
    w->n = 0;
    while (*s && w->n < 64) {
        w->v[w->n++] = s;
        char *sp = strchr(s, ' ');
        if (!sp)
            break;
        *sp = '\0';
        s = sp + 1;
    }
}

/* Appends the non-empty strings of v[from..to) separated by single spaces. */
static void join_words(mdm_buf *out, char *const *v, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (!v[i][0])
            continue;
        if (out->len)
            mdm_buf_putc(out, ' ');
        mdm_buf_puts(out, v[i]);
    }
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a > b && memcmp(s + a - b, suf, b) == 0;
}

/* Normalizes a unit line ("Apt 4B", "#12", "Suite 100") into out. */
static void unit_line(words *w, size_t from, size_t to, mdm_buf *out)
{
    for (size_t i = from; i < to; i++) {
        const char *x = abbr_find(unit_types, w->v[i]);
        if (out->len)
            mdm_buf_putc(out, ' ');
        mdm_buf_puts(out, x ? x : w->v[i]);
    }
}

/* Replaces each '#' by " hash " so the key keeps it as a unit marker. */
static char *mark_hash(const char *s)
{
    mdm_buf b = {0};
    for (; *s; s++) {
        if (*s == '#')
            mdm_buf_puts(&b, " hash ");
        else
            mdm_buf_putc(&b, *s);
    }
    return mdm_buf_steal(&b);
}

static bool is_french(const char *cc)
{
    return cc && (!strcmp(cc, "FR") || !strcmp(cc, "BE") || !strcmp(cc, "LU") ||
                  !strcmp(cc, "MC") || !strcmp(cc, "CH"));
}

static bool is_german(const char *cc)
{
    return cc && (!strcmp(cc, "DE") || !strcmp(cc, "AT") || !strcmp(cc, "CH") || !strcmp(cc, "LI"));
}

/* Parses line1 into number / street / unit. */
static bool street_line(mdm_norm *n, const char *line1, const char *cc, mdm_buf *number,
                        mdm_buf *street, mdm_buf *unit)
{
    mdm_buf disp = {0}, key = {0};
    bool ok = false;
    char *marked = mark_hash(line1);
    if (!mdm_norm_display_internal(n, marked, strlen(marked), &disp))
        goto out_free;
    /* post office boxes: "PO Box 123", "P.O. Box 123", "Post Office Box 123" -> street
     * "po box 123", no house number */
    if (!mdm_norm_key_internal(n, disp.data, disp.len, &key))
        goto out_free;
    static const char *const box_prefixes[] = {"po box ", "p o box ", "post office box ",
                                               "pobox ",  "box ",     NULL};
    for (size_t i = 0; box_prefixes[i]; i++) {
        size_t pl = strlen(box_prefixes[i]);
        if (key.len > pl && strncmp(key.data, box_prefixes[i], pl) == 0) {
            mdm_buf_puts(street, "po box ");
            mdm_buf_puts(street, key.data + pl);
            ok = true;
            goto out_free;
        }
    }
    /* the house number from the raw tokens, so "12-14" keeps its hyphen: first token
     * (English, French) or last token (German, Dutch: "Hauptstraße 5a") */
    char *d = disp.data;
    char *first_end = strchr(d, ' ');
    char *last_sp = strrchr(d, ' ');
    char *rest = d;
    if (first_end) {
        *first_end = '\0';
        if (is_house_number(d)) {
            mdm_buf_puts(number, d);
            rest = first_end + 1;
        } else {
            *first_end = ' ';
        }
        /* French "12 bis" / "12 ter" */
        if (number->len &&
            (strncasecmp(rest, "bis ", 4) == 0 || strncasecmp(rest, "ter ", 4) == 0)) {
            mdm_buf_putc(number, ' ');
            mdm_buf_append(number, rest, 3);
            rest += 4;
        }
    }
    if (!number->len && last_sp && is_house_number(last_sp + 1)) {
        mdm_buf_puts(number, last_sp + 1);
        *last_sp = '\0';
    } else if (!number->len && !first_end && is_house_number(d)) {
        mdm_buf_puts(number, d);
        rest = d + strlen(d);
    }
    if (number->data) {
        lower_ascii(number->data);
        for (char *p = number->data; *p; p++)
            if (*p == '/')
                *p = '-';
    }
    if (!mdm_norm_key_internal(n, rest, strlen(rest), &key))
        goto out_free;
    words w = {.n = 0};
    if (key.len)
        split_words(key.data, &w);
    /* unit: from the first unit designator on */
    size_t end = w.n;
    for (size_t i = 1; i < w.n; i++)
        if (abbr_find(unit_types, w.v[i]) && strcmp(w.v[i], "lot") != 0) {
            end = i;
            break;
        }
    unit_line(&w, end, w.n, unit);
    /* street words with expansions */
    size_t s0 = 0, s1 = end;
    const char *exp[64];
    for (size_t i = s0; i < s1; i++)
        exp[i] = w.v[i];
    if (s1 > s0) {
        /* trailing direction: "Main St NW" */
        size_t last = s1 - 1;
        if (s1 - s0 >= 3 && abbr_find(directions, w.v[last])) {
            exp[last] = abbr_find(directions, w.v[last]);
            last--;
        }
        /* leading direction: "N Main St" */
        if (s1 - s0 >= 3 && abbr_find(directions, w.v[s0]))
            exp[s0] = abbr_find(directions, w.v[s0]);
        const char *ft = (is_french(cc) || strcmp(w.v[s0], "bd") == 0 ||
                          strcmp(w.v[s0], "fbg") == 0 || strcmp(w.v[s0], "imp") == 0)
                             ? abbr_find(french_types, w.v[s0])
                             : NULL;
        if (ft && s1 - s0 >= 2) {
            exp[s0] = ft;
        } else if (is_german(cc) && abbr_find(german_types, w.v[last])) {
            exp[last] = abbr_find(german_types, w.v[last]);
        } else if (s1 - s0 >= 2 && abbr_find(street_types, w.v[last])) {
            exp[last] = abbr_find(street_types, w.v[last]);
            if (strcmp(w.v[last], "str") == 0 && !is_french(cc) && !(cc && !strcmp(cc, "US")))
                exp[last] = "strasse";
        }
        /* "St Marks Pl": saint before the type; "Mt", "Ft" likewise */
        for (size_t i = s0; i < last; i++) {
            if (strcmp(w.v[i], "st") == 0 && exp[i] == w.v[i])
                exp[i] = "saint";
            else if (strcmp(w.v[i], "mt") == 0)
                exp[i] = "mount";
            else if (strcmp(w.v[i], "ft") == 0)
                exp[i] = "fort";
        }
    }
    for (size_t i = s0; i < s1; i++) {
        const char *x = exp[i];
        char buf[128];
        /* German compounds: "hauptstr" -> "hauptstrasse" */
        if (x == w.v[i] && ends_with(x, "str") && strlen(x) > 4 && strlen(x) < 100 &&
            (is_german(cc) || !cc)) {
            snprintf(buf, sizeof buf, "%.*sstrasse", (int)(strlen(x) - 3), x);
            x = buf;
        }
        if (street->len)
            mdm_buf_putc(street, ' ');
        mdm_buf_puts(street, x);
    }
    ok = true;
out_free:
    free(marked);
    mdm_buf_free(&disp);
    mdm_buf_free(&key);
    return ok;
}

mdm_status mdm_norm_address(mdm_norm *n, const char *line1, const char *line2, const char *city,
                            const char *region, const char *postal_code, const char *country,
                            const char *default_country, mdm_arena *a, mdm_address_norm *out,
                            mdm_err *err)
{
    static char empty[] = "";
    out->number = out->street = out->unit = out->line = out->city = out->region = out->postal_code =
        out->country = empty;
    out->valid = false;
    const char *fields[] = {line1, line2, city, region, postal_code, country, default_country};
    static const char *const names[] = {"line1",       "line2",   "city",           "region",
                                        "postal_code", "country", "default_country"};
    for (size_t i = 0; i < 7; i++)
        if (fields[i] && !mdm_norm_utf8_valid(fields[i], strlen(fields[i])))
            return mdm_err_set_field(err, MDM_EINVAL, names[i], "%s is not valid UTF-8", names[i]);
    mdm_status rc = MDM_OK;
    mdm_buf number = {0}, street = {0}, unit = {0}, tmp = {0};
    const char *cc = NULL;
    if (country && *country)
        cc = mdm_norm_country(country);
    if (!cc && default_country && *default_country)
        cc = mdm_norm_country(default_country);
    if (cc)
        out->country = mdm_arena_strdup(a, cc);

    /* the unit on line 1 and the street on line 2 ("Apt 5" / "12 Main St"): swap */
    if (line1 && *line1 && line2 && *line2 && line2[strspn(line2, " \t")] >= '0' &&
        line2[strspn(line2, " \t")] <= '9') {
        char *m = mark_hash(line1);
        bool ok = mdm_norm_key_internal(n, m, strlen(m), &tmp);
        free(m);
        if (ok && tmp.len) {
            char *sp = strchr(tmp.data, ' ');
            if (sp)
                *sp = '\0';
            if (abbr_find(unit_types, tmp.data)) {
                const char *t = line1;
                line1 = line2;
                line2 = t;
            }
        }
        mdm_buf_reset(&tmp);
    }
    if (line1 && *line1 && !street_line(n, line1, cc, &number, &street, &unit)) {
        rc = mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
        goto out_free;
    }
    if (line2 && *line2) {
        char *marked = mark_hash(line2);
        bool ok = mdm_norm_key_internal(n, marked, strlen(marked), &tmp);
        free(marked);
        if (!ok) {
            rc = mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
            goto out_free;
        }
        if (tmp.len) {
            words w;
            split_words(tmp.data, &w);
            if (unit.len)
                mdm_buf_putc(&unit, ' ');
            mdm_buf unit2 = {0};
            unit_line(&w, 0, w.n, &unit2);
            mdm_buf_puts(&unit, unit2.data);
            mdm_buf_free(&unit2);
        }
    }
    out->number = mdm_arena_strdup(a, number.data ? number.data : "");
    out->street = mdm_arena_strdup(a, street.data ? street.data : "");
    out->unit = mdm_arena_strdup(a, unit.data ? unit.data : "");
    mdm_buf_reset(&tmp);
    join_words(&tmp, (char *[]){out->number, out->street, out->unit}, 0, 3);
    out->line = mdm_arena_strdup(a, tmp.data ? tmp.data : "");
    if (city && *city) {
        if (!mdm_norm_key_internal(n, city, strlen(city), &tmp)) {
            rc = mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
            goto out_free;
        }
        out->city = mdm_arena_strdup(a, tmp.data ? tmp.data : "");
    }
    if (region && *region) {
        if (!mdm_norm_key_internal(n, region, strlen(region), &tmp)) {
            rc = mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
            goto out_free;
        }
        out->region = mdm_arena_strdup(a, tmp.data ? tmp.data : "");
    }
    bool postal_valid = true;
    if (postal_code && *postal_code) {
        mdm_err perr;
        postal_valid = mdm_norm_postal_code(postal_code, cc, &tmp, &perr) == MDM_OK;
        out->postal_code = mdm_arena_strdup(a, tmp.data ? tmp.data : "");
    }
    out->valid = (out->line[0] || out->postal_code[0]) && postal_valid;
out_free:
    mdm_buf_free(&number);
    mdm_buf_free(&street);
    mdm_buf_free(&unit);
    mdm_buf_free(&tmp);
    return rc;
}
