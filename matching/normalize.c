/* Normalizers (see normalize.h). The text pipeline, names, nicknames, email, dates and
 * the process-wide tables live here; addresses, postal codes and countries are in
 * normalize_address.c, the embedded nickname table in normalize_nicknames.c and the
 * libphonenumber shim in phone.cc.
 *
 * Invariants: every key is ASCII [a-z0-9] tokens separated by single spaces; pure-ASCII
 * input never touches ICU and gives byte-for-byte the same key as the ICU path would;
 * nothing here allocates per call except the results (scratch buffers live in mdm_norm). */
#include "matching/normalize_int.h"

#include "matching/han.h"
#include "matching/strsim.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Keys that needed ICU's transliterator (Han, Greek, Arabic ... at 3-20 us each) are
 * remembered per handle for short inputs: family names and common given names repeat. */
#define KEY_CACHE_SLOTS 512
typedef struct key_slot {
    char in[32]; /* "" when empty */
    char key[64];
} key_slot;

/* Words ICU transliterated (Greek, Arabic, kana ...) are remembered per handle: an
 * address is keyed several times over (each line, the whole, with and without its house
 * number) and repeats its words. Direct-mapped, by the word's UTF-16 units. */
#define WORD_CACHE_SLOTS 256
#define WORD_MAX_UNITS   72 /* a piece: up to 32 code points and its trailing spaces */
typedef struct word_slot {
    UChar in[WORD_MAX_UNITS];
    int32_t in_len; /* 0 when empty */
    uint16_t out_len;
    char out[190];
} word_slot;

struct mdm_norm {
    UTransliterator *to_ascii; /* "Any-Latin; Latin-ASCII" */
    UChar *u1, *u2;            /* scratch UTF-16 buffers of ucap units each */
    int32_t ucap;
    mdm_buf tmp, tmp2, tmp3; /* scratch UTF-8 */
    pcre2_match_data *md;
    mdm_norm_phone_slot *phone_cache; /* normalize_phone.c */
    key_slot *key_cache;
    word_slot *word_cache;
};

/* ---- UTF-8 ----------------------------------------------------------------------- */

bool mdm_norm_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *e = s + len;
    while (s < e) {
        unsigned c = *s;
        if (c < 0x80) {
            if (c == 0)
                return false;
            s++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* > U+10FFFF */
        } else
            return false;
        if ((size_t)(e - s) <= need)
            return false;
        if (s[1] < lo || s[1] > hi)
            return false;
        for (size_t i = 2; i <= need; i++)
            if ((s[i] & 0xC0) != 0x80)
                return false;
        s += need + 1;
    }
    return true;
}

static bool is_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

/* ---- Key folding on ASCII bytes ------------------------------------------------------ */

static inline bool is_apostrophe(unsigned char c)
{
    return c == '\'' || c == '`';
}

/* Appends the key form of ASCII-ish bytes: letters lowered, apostrophes dropped, every
 * other non-alphanumeric byte (including leftover non-ASCII) a separator. */
static void key_fold(const char *s, size_t len, mdm_buf *key)
{
    bool sep = false;
    mdm_buf_reserve(key, len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (sep && key->len > 0)
                mdm_buf_putc(key, ' ');
            sep = false;
            mdm_buf_putc(key, (char)c);
        } else if (!is_apostrophe(c)) {
            sep = true;
        }
    }
    key->data[key->len] = '\0'; /* reserved above, so data is set */
}

static inline bool ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Display form of ASCII: whitespace trimmed and collapsed, other controls dropped. */
static void display_ascii(const char *s, size_t len, mdm_buf *out)
{
    bool sep = false;
    mdm_buf_reserve(out, len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (ascii_space(c)) {
            sep = true;
        } else if (c < 0x20 || c == 0x7f) {
            continue;
        } else {
            if (sep && out->len > 0)
                mdm_buf_putc(out, ' ');
            sep = false;
            mdm_buf_putc(out, (char)c);
        }
    }
    out->data[out->len] = '\0';
}

/* ---- ICU path -------------------------------------------------------------------- */

static void ensure_ucap(mdm_norm *n, int32_t need)
{
    if (need <= n->ucap)
        return;
    int32_t cap = n->ucap ? n->ucap : 256;
    while (cap < need)
        cap *= 2;
    n->u1 = mdm_xrealloc(n->u1, (size_t)cap * sizeof(UChar));
    n->u2 = mdm_xrealloc(n->u2, (size_t)cap * sizeof(UChar));
    n->ucap = cap;
}

/* UTF-8 -> UTF-16 in n->u2, then normalizer into n->u1. Returns the length or -1. */
static int32_t icu_normalize(mdm_norm *n, const char *s, size_t len, const UNormalizer2 *norm)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = 0;
    ensure_ucap(n, (int32_t)len * 4 + 16);
    u_strFromUTF8(n->u2, n->ucap, &ulen, s, (int32_t)len, &st);
    if (U_FAILURE(st))
        return -1;
    for (;;) {
        st = U_ZERO_ERROR;
        int32_t out = unorm2_normalize(norm, n->u2, ulen, n->u1, n->ucap, &st);
        if (st == U_BUFFER_OVERFLOW_ERROR) {
            UChar *keep = mdm_xmalloc((size_t)ulen * sizeof(UChar));
            memcpy(keep, n->u2, (size_t)ulen * sizeof(UChar));
            ensure_ucap(n, out + 16);
            memcpy(n->u2, keep, (size_t)ulen * sizeof(UChar));
            free(keep);
            continue;
        }
        return U_FAILURE(st) ? -1 : out;
    }
}

/* UTF-16 -> UTF-8 appended to out. */
static bool icu_to_utf8(const UChar *u, int32_t ulen, mdm_buf *out)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t need = 0;
    mdm_buf_reserve(out, (size_t)ulen * 3 + 1);
    u_strToUTF8(out->data + out->len, (int32_t)(out->cap - out->len), &need, u, ulen, &st);
    if (U_FAILURE(st))
        return false;
    out->len += (size_t)need;
    out->data[out->len] = '\0';
    return true;
}

/* Display: NFKC, Unicode whitespace collapsed, controls dropped. */
static bool display_icu(mdm_norm *n, const char *s, size_t len, mdm_buf *out)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = icu_normalize(n, s, len, unorm2_getNFKCInstance(&st));
    if (U_FAILURE(st) || ulen < 0)
        return false;
    /* collapse into u2 */
    int32_t o = 0, i = 0;
    bool sep = false;
    while (i < ulen) {
        UChar32 c;
        int32_t start = i;
        U16_NEXT(n->u1, i, ulen, c);
        if (u_isUWhiteSpace(c)) {
            sep = true;
        } else if (u_charType(c) == U_CONTROL_CHAR || u_charType(c) == U_FORMAT_CHAR) {
            continue;
        } else {
            if (sep && o > 0)
                n->u2[o++] = ' ';
            sep = false;
            while (start < i)
                n->u2[o++] = n->u1[start++];
        }
    }
    return icu_to_utf8(n->u2, o, out);
}

/* Han ideographs -> their readings from the table of matching/han.c, in n->u1 (length
 * *ulen), before ICU sees the text: ICU's rule engine takes 10-40 us per ideograph. */
static void romanize_han(mdm_norm *n, int32_t *ulen)
{
    ensure_ucap(n, *ulen * 8 + 64); /* a reading is at most 6 units, plus a space */
    bool changed = false;
    int32_t r = mdm_han_romanize(n->u1, *ulen, n->u2, n->ucap, &changed);
    if (r > 0 && changed) {
        memcpy(n->u1, n->u2, (size_t)r * sizeof(UChar));
        *ulen = r;
    }
}

/* Text goes to ICU a word at a time (the word and the spaces after it), and a run of
 * more than TRANSLIT_RUN_MAX code points without a space is cut into pieces that long:
 * some of ICU's rules look ahead over the rest of a word, so a word costs time that grows
 * with the square of its length (Greek-Latin: 128 times ω took 7 ms, 512 times 78 ms).
 * Names and address words are far shorter, so only such runs get a different result;
 * tests/unit/test_normalize.c and test_han.c compare the keys with ICU on whole strings. */
#define TRANSLIT_RUN_MAX 32

/* Transliterates n->u1[off .. off+len) with "Any-Latin; Latin-ASCII" in n->u2 and appends
 * the UTF-8 result to out; ASCII is copied, and with cache a word ICU transliterated
 * before is answered from the word cache. */
static bool translit_piece(mdm_norm *n, int32_t off, int32_t len, bool cache, mdm_buf *out)
{
    const UChar *u = n->u1 + off;
    bool ascii = true;
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < len; i++) {
        ascii = ascii && u[i] < 0x80;
        h = (h ^ u[i]) * 16777619u;
    }
    if (ascii) {
        mdm_buf_reserve(out, (size_t)len + 1);
        for (int32_t i = 0; i < len; i++)
            out->data[out->len++] = (char)u[i];
        out->data[out->len] = '\0';
        return true;
    }
    word_slot *slot = NULL;
    if (cache && len <= WORD_MAX_UNITS) {
        if (!n->word_cache)
            n->word_cache = mdm_xcalloc(WORD_CACHE_SLOTS, sizeof *n->word_cache);
        slot = &n->word_cache[h % WORD_CACHE_SLOTS];
        if (slot->in_len == len && !memcmp(slot->in, u, (size_t)len * sizeof *u)) {
            mdm_buf_append(out, slot->out, slot->out_len);
            return true;
        }
    }
    ensure_ucap(n, len * 4 + 64); /* room for the usual expansion (王 -> wang) */
    for (;;) {
        memcpy(n->u2, n->u1 + off, (size_t)len * sizeof(UChar));
        int32_t tlen = len, limit = len;
        UErrorCode st = U_ZERO_ERROR;
        utrans_transUChars(n->to_ascii, n->u2, &tlen, n->ucap, 0, &limit, &st);
        if (st == U_BUFFER_OVERFLOW_ERROR) {
            ensure_ucap(n, n->ucap * 2);
            continue;
        }
        size_t before = out->len;
        if (U_FAILURE(st) || !icu_to_utf8(n->u2, tlen, out))
            return false;
        if (slot && out->len - before <= sizeof slot->out) {
            memcpy(slot->in, n->u1 + off, (size_t)len * sizeof(UChar));
            slot->in_len = len;
            slot->out_len = (uint16_t)(out->len - before);
            memcpy(slot->out, out->data + before, slot->out_len);
        }
        return true;
    }
}

/* Transliteration: NFKC_Casefold, then "Any-Latin; Latin-ASCII"; the UTF-8 result (before
 * key_fold) replaces out. With fast (every key): Han by table first, then ICU a word at a
 * time (TRANSLIT_RUN_MAX) through the word cache; without: ICU alone on the whole text
 * (the tests' reference, and the Latin table's source). */
static bool translit_icu(mdm_norm *n, const char *s, size_t len, bool fast, mdm_buf *out)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = icu_normalize(n, s, len, unorm2_getNFKCCasefoldInstance(&st));
    if (U_FAILURE(st) || ulen < 0)
        return false;
    mdm_buf_reset(out);
    if (!fast)
        return translit_piece(n, 0, ulen, false, out);
    romanize_han(n, &ulen);
    int32_t start = 0, run = 0;
    bool space = false;
    for (int32_t i = 0; i < ulen;) {
        int32_t at = i;
        UChar32 c;
        U16_NEXT(n->u1, i, ulen, c);
        bool ws = u_isUWhiteSpace(c);
        if ((space && !ws) || run == TRANSLIT_RUN_MAX) { /* a word starts, or is too long */
            if (!translit_piece(n, start, at - start, true, out))
                return false;
            start = at;
            run = 0;
        }
        space = ws;
        run = ws ? 0 : run + 1;
    }
    return translit_piece(n, start, ulen - start, true, out);
}

static bool key_icu(mdm_norm *n, const char *s, size_t len, bool fast, mdm_buf *key)
{
    if (!translit_icu(n, s, len, fast, &n->tmp3))
        return false;
    key_fold(n->tmp3.data, n->tmp3.len, key);
    return true;
}

/* ---- Fast path for Latin text ------------------------------------------------------
 * Most non-ASCII customer data is Latin with diacritics (Müller, José, Łukasz). For the
 * code points of Latin-1, Latin Extended-A/B, Cyrillic, Latin Extended Additional and
 * General Punctuation, ICU's result for the single character is tabulated once per process:
 * its transliteration (fast_key) and whether it is NFKC-stable and printable
 * (fast_disp). Case folding, NFKC and Latin-ASCII are context-free on such text as long
 * as no combining mark is present (marks are outside the table, so such text takes the
 * ICU path); tests/unit/test_normalize.c checks fast == ICU on random strings. Greek
 * and Han are not tabulated: their transliteration depends on context (diphthongs,
 * syllable spacing). */
#define FAST_MAX 0x2070
static const char *fast_key[FAST_MAX]; /* NULL: take the ICU path */
static unsigned char fast_disp[FAST_MAX];
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;
static UTransliterator *to_ascii_open(void);

static bool fast_range(UChar32 c)
{
    return (c >= 0x80 && c <= 0x24F) || (c >= 0x400 && c <= 0x4FF) ||
           (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0x2000 && c < FAST_MAX);
}

static void fast_init(void)
{
    mdm_norm tmp = {0};
    tmp.to_ascii = to_ascii_open();
    if (!tmp.to_ascii)
        return; /* no fast path; mdm_norm_new reports the error */
    mdm_buf out = {0};
    for (UChar32 c = 0x80; c < FAST_MAX; c++) {
        if (!fast_range(c))
            continue;
        char u8[8];
        int32_t o = 0;
        U8_APPEND_UNSAFE((uint8_t *)u8, o, c);
        if (!translit_icu(&tmp, u8, (size_t)o, false, &out))
            continue;
        if (out.len > 8 || !is_ascii(out.data, out.len))
            continue;
        fast_key[c] = mdm_xstrndup(out.data, out.len);
        int8_t type = u_charType(c);
        fast_disp[c] = u_getIntPropertyValue(c, UCHAR_NFKC_QUICK_CHECK) == UNORM_YES &&
                       u_getCombiningClass(c) == 0 && !u_isUWhiteSpace(c) &&
                       type != U_CONTROL_CHAR && type != U_FORMAT_CHAR;
    }
    mdm_buf_free(&out);
    utrans_close(tmp.to_ascii);
    free(tmp.u1);
    free(tmp.u2);
    mdm_buf_free(&tmp.tmp3);
}

/* Transliterates valid UTF-8 through the tables into out (reset first); false when a
 * code point is not tabulated. */
static bool fast_translit(const char *s, size_t len, mdm_buf *out)
{
    mdm_buf_reset(out);
    mdm_buf_reserve(out, len + 16);
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            mdm_buf_putc(out, (char)b);
            i++;
            continue;
        }
        UChar32 c;
        U8_NEXT_UNSAFE(s, i, c);
        if (c >= FAST_MAX || !fast_key[c])
            return false;
        mdm_buf_puts(out, fast_key[c]);
    }
    if (!out->data)
        mdm_buf_puts(out, "");
    return true;
}

/* Display of valid UTF-8 whose non-ASCII code points are all NFKC-stable printable
 * table entries: ASCII whitespace collapsed, bytes copied. False otherwise. */
static bool fast_display(const char *s, size_t len, mdm_buf *out)
{
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        UChar32 c;
        U8_NEXT_UNSAFE(s, i, c);
        if (c >= FAST_MAX || !fast_disp[c])
            return false;
    }
    mdm_buf_reset(out);
    display_ascii(s, len, out); /* copies bytes >= 0x80 unchanged */
    return true;
}

static bool key_any(mdm_norm *n, const char *s, size_t len, mdm_buf *key)
{
    pthread_once(&fast_once, fast_init);
    if (fast_translit(s, len, &n->tmp3)) {
        key_fold(n->tmp3.data, n->tmp3.len, key);
        return true;
    }
    key_slot *slot = NULL;
    if (len < sizeof slot->in) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (size_t i = 0; i < len; i++)
            h = (h ^ (unsigned char)s[i]) * 16777619u;
        if (!n->key_cache)
            n->key_cache = mdm_xcalloc(KEY_CACHE_SLOTS, sizeof *n->key_cache);
        slot = &n->key_cache[h % KEY_CACHE_SLOTS];
        if (slot->in[0] && strlen(slot->in) == len && memcmp(slot->in, s, len) == 0) {
            mdm_buf_puts(key, slot->key);
            return true;
        }
    }
    size_t before = key->len;
    if (!key_icu(n, s, len, true, key))
        return false;
    if (slot && key->len - before < sizeof slot->key) {
        memcpy(slot->in, s, len);
        slot->in[len] = '\0';
        memcpy(slot->key, key->data + before, key->len - before);
        slot->key[key->len - before] = '\0';
    }
    return true;
}

static bool display_any(mdm_norm *n, const char *s, size_t len, mdm_buf *out)
{
    pthread_once(&fast_once, fast_init);
    if (fast_display(s, len, out))
        return true;
    mdm_buf_reset(out);
    return display_icu(n, s, len, out);
}

/* Key of len bytes already known to be valid UTF-8; appends to key. */
static bool text_key(mdm_norm *n, const char *s, size_t len, mdm_buf *key)
{
    if (is_ascii(s, len)) {
        key_fold(s, len, key);
        return true;
    }
    return key_any(n, s, len, key);
}

bool mdm_norm_display_icu_internal(mdm_norm *n, const char *s, size_t len, mdm_buf *out)
{
    mdm_buf_reset(out);
    if (!mdm_norm_utf8_valid(s, len))
        return false;
    return display_icu(n, s, len, out);
}

bool mdm_norm_key_icu_internal(mdm_norm *n, const char *s, size_t len, mdm_buf *key)
{
    mdm_buf_reset(key);
    if (!mdm_norm_utf8_valid(s, len))
        return false;
    return key_icu(n, s, len, false, key);
}

static mdm_status check_utf8(const char *in, size_t len, const char *what, mdm_err *err)
{
    if (!mdm_norm_utf8_valid(in, len))
        return mdm_err_set(err, MDM_EINVAL, "%s is not valid UTF-8", what);
    return MDM_OK;
}

mdm_status mdm_norm_text(mdm_norm *n, const char *in, mdm_buf *display, mdm_buf *key, mdm_err *err)
{
    if (!in)
        in = "";
    size_t len = strlen(in);
    if (check_utf8(in, len, "text", err) != MDM_OK)
        return MDM_EINVAL;
    if (display)
        mdm_buf_reset(display);
    if (key)
        mdm_buf_reset(key);
    if (is_ascii(in, len)) {
        if (display)
            display_ascii(in, len, display);
        if (key)
            key_fold(in, len, key);
        return MDM_OK;
    }
    if (display && !display_any(n, in, len, display))
        return mdm_err_set(err, MDM_EINTERNAL, "unicode normalization failed");
    if (key && !key_any(n, in, len, key))
        return mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
    return MDM_OK;
}

void mdm_norm_key_fold_internal(const char *s, size_t len, mdm_buf *key)
{
    key_fold(s, len, key);
}

bool mdm_norm_key_internal(mdm_norm *n, const char *s, size_t len, mdm_buf *key)
{
    mdm_buf_reset(key);
    if (!mdm_norm_utf8_valid(s, len))
        return false;
    return text_key(n, s, len, key);
}

bool mdm_norm_display_internal(mdm_norm *n, const char *s, size_t len, mdm_buf *out)
{
    mdm_buf_reset(out);
    if (!mdm_norm_utf8_valid(s, len))
        return false;
    if (is_ascii(s, len)) {
        display_ascii(s, len, out);
        return true;
    }
    return display_any(n, s, len, out);
}

/* ---- Lifetime -------------------------------------------------------------------- */

static pthread_once_t pcre_once = PTHREAD_ONCE_INIT;
static pcre2_code *email_re;

static void pcre_init(void)
{
    /* dot-atom local part @ LDH labels with an alphabetic TLD; the local part may hold
     * UTF-8 letters (RFC 6531) */
    static const char pat[] =
        "^[\\p{L}\\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\\.[\\p{L}\\p{N}!#$%&'*+/=?^_`{|}~-]+)*"
        "@(?:[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?\\.)+"
        "(?:\\p{L}{2,63}|xn--[a-z0-9-]{1,59})$";
    int ec;
    PCRE2_SIZE eo;
    email_re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec,
                             &eo, NULL);
    if (email_re)
        (void)pcre2_jit_compile(email_re, PCRE2_JIT_COMPLETE); /* optional speed-up */
}

static UTransliterator *to_ascii_open(void)
{
    UErrorCode st = U_ZERO_ERROR;
    UParseError pe;
    static const UChar id[] = {'A', 'n', 'y', '-', 'L', 'a', 't', 'i', 'n', ';', ' ', 'L',
                               'a', 't', 'i', 'n', '-', 'A', 'S', 'C', 'I', 'I', 0};
    UTransliterator *t = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, &pe, &st);
    if (U_FAILURE(st)) {
        if (t)
            utrans_close(t);
        return NULL;
    }
    return t;
}

mdm_norm *mdm_norm_new(mdm_err *err)
{
    pthread_once(&pcre_once, pcre_init);
    if (!email_re) {
        mdm_err_set(err, MDM_EINTERNAL, "cannot compile the email pattern");
        return NULL;
    }
    mdm_norm *n = mdm_xcalloc(1, sizeof *n);
    n->to_ascii = to_ascii_open();
    if (!n->to_ascii) {
        mdm_err_set(err, MDM_EINTERNAL,
                    "cannot open the ICU transliterator Any-Latin; Latin-ASCII");
        goto out_free;
    }
    n->md = pcre2_match_data_create_from_pattern(email_re, NULL);
    if (!n->md) {
        mdm_err_set(err, MDM_EINTERNAL, "cannot allocate PCRE2 match data");
        goto out_free;
    }
    ensure_ucap(n, 256);
    return n;
out_free:
    mdm_norm_free(n);
    return NULL;
}

void mdm_norm_free(mdm_norm *n)
{
    if (!n)
        return;
    if (n->to_ascii)
        utrans_close(n->to_ascii);
    pcre2_match_data_free(n->md);
    free(n->phone_cache);
    free(n->key_cache);
    free(n->word_cache);
    free(n->u1);
    free(n->u2);
    mdm_buf_free(&n->tmp);
    mdm_buf_free(&n->tmp2);
    mdm_buf_free(&n->tmp3);
    free(n);
}

/* ---- Names ----------------------------------------------------------------------- */

static bool in_list(const char *w, const char *const *list)
{
    /* the first byte before strcmp: every name token of every record is looked up in
     * the affix lists, and almost none is in them */
    for (; *list; list++)
        if (w[0] == (*list)[0] && strcmp(w, *list) == 0)
            return true;
    return false;
}

static const char *const name_prefixes[] = {
    "mr",     "mrs",      "ms",    "miss",   "mx",   "dr",     "prof",   "professor", "sir",
    "dame",   "lady",     "lord",  "rev",    "fr",   "hon",    "capt",   "col",       "gen",
    "lt",     "sgt",      "maj",   "herr",   "frau", "mme",    "mlle",   "sra",       "srta",
    "dott",   "ing",      "mag",   "rabbi",  "imam", "pastor", "sister", "brother",   "madam",
    "madame", "monsieur", "senor", "senora", "sr", /* Spanish "Sr." before a name; after it, "sr" is
                                                      a suffix */
    NULL};
static const char *const name_suffixes[] = {
    "jr",  "jnr", "sr",    "snr", "ii",  "iii", "iv",  "phd", "md",  "dds",
    "esq", "mba", "cpa",   "rn",  "jd",  "dvm", "ret", "obe", "mbe", "cbe",
    "kc",  "qc",  "dphil", "msc", "bsc", "2nd", "3rd", "4th", "5th", NULL};
static const char *const name_particles[] = {
    "van", "von",   "der", "den", "de",  "del", "della", "da", "di",  "du",  "la",  "le",  "dos",
    "das", "do",    "ten", "ter", "bin", "ibn", "al",    "el", "des", "zu",  "vom", "zum", "zur",
    "dei", "degli", "af",  "av",  "ap",  "o",   "ui",    "ni", "nic", "mac", "mc",  NULL};

int mdm_norm_name_affix(const char *token)
{
    if (!token || !*token)
        return MDM_AFFIX_NONE;
    return (in_list(token, name_prefixes) ? MDM_AFFIX_PREFIX : 0) |
           (in_list(token, name_suffixes) ? MDM_AFFIX_SUFFIX : 0);
}

bool mdm_norm_name_particle(const char *token)
{
    return token && *token && in_list(token, name_particles);
}

int mdm_norm_generation(const char *token)
{
    static const struct {
        const char *s;
        int g;
    } gens[] = {{"sr", 1},  {"snr", 1}, {"i", 1},  {"jr", 2},  {"jnr", 2}, {"ii", 2}, {"2nd", 2},
                {"iii", 3}, {"3rd", 3}, {"iv", 4}, {"4th", 4}, {"v", 5},   {"5th", 5}};
    for (size_t i = 0; token && i < sizeof gens / sizeof gens[0]; i++)
        if (strcmp(token, gens[i].s) == 0)
            return gens[i].g;
    return 0;
}

char *mdm_norm_translit_digraphs(const char *s)
{
    if (!s)
        return NULL;
    bool any = false;
    for (const unsigned char *p = (const unsigned char *)s; *p && !any; p++)
        any = *p == 0xC3 || *p == 0xCC;
    if (!any)
        return NULL;
    mdm_buf b = {0};
    bool changed = false;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const char *rep = NULL;
        size_t used = 0;
        if (p[0] == 0xC3 && p[1]) {
            static const struct {
                unsigned char c;
                const char *r;
            } tab[] = {{0xA4, "ae"}, {0x84, "Ae"}, {0xB6, "oe"}, {0x96, "Oe"}, {0xBC, "ue"},
                       {0x9C, "Ue"}, {0xB8, "oe"}, {0x98, "Oe"}, {0xA5, "aa"}, {0x85, "Aa"}};
            for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
                if (p[1] == tab[i].c)
                    rep = tab[i].r, used = 2;
        } else if (p[1] == 0xCC && (p[2] == 0x88 || p[2] == 0x8A)) {
            /* a o u followed by a combining diaeresis (U+0308), a followed by a ring (U+030A) */
            char c = (char)(p[0] | 0x20);
            if (p[2] == 0x88 && (c == 'a' || c == 'o' || c == 'u')) {
                mdm_buf_putc(&b, (char)p[0]);
                mdm_buf_putc(&b, p[0] >= 'a' ? 'e' : 'E');
                p += 3;
                changed = true;
                continue;
            }
            if (p[2] == 0x8A && c == 'a') {
                mdm_buf_putc(&b, (char)p[0]);
                mdm_buf_putc(&b, p[0] >= 'a' ? 'a' : 'A');
                p += 3;
                changed = true;
                continue;
            }
        }
        if (rep) {
            mdm_buf_puts(&b, rep);
            p += used;
            changed = true;
        } else {
            mdm_buf_putc(&b, (char)*p++);
        }
    }
    char *out = changed ? mdm_xstrdup(b.data) : NULL;
    mdm_buf_free(&b);
    return out;
}

/* Lower-cased letters of one token ("Van" -> "van", "Dr." -> "dr"), "" when too long. */
static void token_word(const char *t, size_t len, char *w, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n + 1 >= cap) {
            n = 0;
            break;
        }
        if (isalnum((unsigned char)t[i]))
            w[n++] = (char)tolower((unsigned char)t[i]);
    }
    w[n] = '\0';
}

char *mdm_norm_family_first(const char *full)
{
    if (!full || strchr(full, ','))
        return NULL;
    const char *tok[32];
    size_t len[32], n = 0;
    for (const char *p = full; *p && n < 32;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        tok[n] = p;
        len[n] = strcspn(p, " \t");
        p += len[n];
        n++;
    }
    char w[24];
    size_t i = 0;
    while (i + 2 < n) { /* prefixes (Dr, Mrs), keeping a family and a given name */
        token_word(tok[i], len[i], w, sizeof w);
        if (!(mdm_norm_name_affix(w) & MDM_AFFIX_PREFIX))
            break;
        i++;
    }
    while (i + 2 < n) { /* particles of the family name (van der Berg) */
        token_word(tok[i], len[i], w, sizeof w);
        if (!in_list(w, name_particles))
            break;
        i++;
    }
    if (i + 1 >= n) /* a single token (after prefixes) is the family name: "MUELLER," */
        return n ? mdm_xasprintf("%s,", full) : NULL;
    size_t cut = (size_t)(tok[i] - full) + len[i];
    return mdm_xasprintf("%.*s,%s", (int)cut, full, full + cut);
}

typedef struct tok_list {
    char **v;
    size_t n, cap;
} tok_list;

static void tok_push(tok_list *t, char *s)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->v = mdm_xrealloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n++] = s;
}

/* Splits the display string s[0..len) at spaces; each raw token's key (possibly with
 * inner spaces: "mary-jane" -> "mary jane") becomes one token in a. */
static bool name_tokens(mdm_norm *n, const char *s, size_t len, mdm_arena *a, tok_list *out)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        size_t st = i;
        while (i < len && s[i] != ' ')
            i++;
        if (i == st)
            break;
        mdm_buf_reset(&n->tmp2);
        if (!text_key(n, s + st, i - st, &n->tmp2))
            return false;
        if (n->tmp2.len > 0)
            tok_push(out, mdm_arena_strndup(a, n->tmp2.data, n->tmp2.len));
    }
    return true;
}

static char *join_tokens(mdm_arena *a, char **v, size_t from, size_t to)
{
    size_t len = 0;
    for (size_t i = from; i < to; i++)
        len += strlen(v[i]) + 1;
    char *out = mdm_arena_alloc(a, len + 1);
    char *p = out;
    for (size_t i = from; i < to; i++) {
        if (p != out)
            *p++ = ' ';
        size_t l = strlen(v[i]);
        memcpy(p, v[i], l);
        p += l;
    }
    *p = '\0';
    return out;
}

/* Removes leading prefixes and trailing suffixes of t[*from..*to), collecting them. */
static void strip_affixes(tok_list *t, size_t *from, size_t *to, tok_list *pre, tok_list *suf,
                          bool allow_prefix)
{
    while (allow_prefix && *from < *to && in_list(t->v[*from], name_prefixes) && *to - *from > 1) {
        tok_push(pre, t->v[*from]);
        (*from)++;
    }
    size_t keep_end = *to;
    while (*to > *from + 1 && in_list(t->v[*to - 1], name_suffixes))
        (*to)--;
    for (size_t i = *to; i < keep_end; i++)
        tok_push(suf, t->v[i]);
}

/* When s is 2-3 Han ideographs or 2-4 Hangul syllables (one script, nothing else),
 * returns the byte length of the first character; else 0. */
static int cjk_name_chars(const char *s, size_t len)
{
    int count = 0, first = 0, script = 0; /* 1 Han, 2 Hangul */
    for (size_t i = 0; i < len;) {
        UChar32 c;
        size_t st = i;
        U8_NEXT_UNSAFE(s, i, c);
        int sc = (c >= 0x4E00 && c <= 0x9FFF) ? 1 : (c >= 0xAC00 && c <= 0xD7A3) ? 2 : 0;
        if (!sc || (script && sc != script))
            return 0;
        script = sc;
        if (count++ == 0)
            first = (int)(i - st);
    }
    if (count < 2 || count > (script == 1 ? 3 : 4))
        return 0;
    return first;
}

mdm_status mdm_norm_name(mdm_norm *n, const char *full, mdm_arena *a, mdm_name_parts *out,
                         mdm_err *err)
{
    static char empty[] = "";
    out->prefix = out->first = out->middle = out->last = out->suffix = empty;
    if (!full)
        full = "";
    size_t len = strlen(full);
    if (check_utf8(full, len, "name", err) != MDM_OK)
        return MDM_EINVAL;
    mdm_buf *disp = &n->tmp;
    if (!mdm_norm_display_internal(n, full, len, disp))
        return mdm_err_set(err, MDM_EINTERNAL, "unicode normalization failed");

    /* "王小明", "김민준": one unspaced token of 2-3 Han or 2-4 Hangul syllables is
     * family name (the first character) then given name */
    int cjk = cjk_name_chars(disp->data, disp->len);
    if (cjk) {
        size_t first_len = (size_t)cjk;
        mdm_buf_reset(&n->tmp2);
        if (!text_key(n, disp->data, first_len, &n->tmp2))
            return mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
        out->last = mdm_arena_strndup(a, n->tmp2.data, n->tmp2.len);
        mdm_buf_reset(&n->tmp2);
        if (!text_key(n, disp->data + first_len, disp->len - first_len, &n->tmp2))
            return mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
        out->first = mdm_arena_strndup(a, n->tmp2.data, n->tmp2.len);
        return MDM_OK;
    }

    mdm_status rc = MDM_OK;
    tok_list before = {0}, after = {0}, pre = {0}, suf = {0};
    /* split at the first comma whose right side is not only suffixes */
    char *d = mdm_arena_strndup(a, disp->data, disp->len);
    char *comma = strchr(d, ',');
    tok_list *given = &before, *family = NULL;
    if (comma) {
        *comma = '\0';
        char *rest = comma + 1;
        /* later commas separate suffixes ("Smith, John, Jr.") */
        for (char *p = rest; *p; p++)
            if (*p == ',')
                *p = ' ';
        if (!name_tokens(n, d, strlen(d), a, &before) ||
            !name_tokens(n, rest, strlen(rest), a, &after)) {
            rc = mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
            goto out_free;
        }
        /* nothing after the comma ("SMITH,") still marks the family name */
        bool only_suffix = after.n > 0;
        for (size_t i = 0; i < after.n; i++)
            if (!in_list(after.v[i], name_suffixes))
                only_suffix = false;
        if (only_suffix) {
            for (size_t i = 0; i < after.n; i++)
                tok_push(&suf, after.v[i]);
        } else {
            family = &before;
            given = &after;
        }
    } else if (!name_tokens(n, d, strlen(d), a, &before)) {
        rc = mdm_err_set(err, MDM_EINTERNAL, "transliteration failed");
        goto out_free;
    }

    if (family) {
        /* "Last [Jr], [Dr] First Middle [Jr]" */
        size_t f0 = 0, f1 = family->n, g0 = 0, g1 = given->n;
        tok_list fsuf = {0};
        strip_affixes(family, &f0, &f1, &pre, &fsuf, true);
        strip_affixes(given, &g0, &g1, &pre, &suf, true);
        for (size_t i = 0; i < fsuf.n; i++)
            tok_push(&suf, fsuf.v[i]);
        free(fsuf.v);
        if (f1 > f0)
            out->last = join_tokens(a, family->v, f0, f1);
        if (g1 > g0)
            out->first = given->v[g0];
        if (g1 > g0 + 1)
            out->middle = join_tokens(a, given->v, g0 + 1, g1);
    } else {
        size_t t0 = 0, t1 = given->n;
        tok_list keep_suf = suf;
        suf = (tok_list){0};
        strip_affixes(given, &t0, &t1, &pre, &suf, true);
        for (size_t i = 0; i < keep_suf.n; i++)
            tok_push(&suf, keep_suf.v[i]);
        free(keep_suf.v);
        size_t cnt = t1 - t0;
        if (cnt == 1) {
            if (pre.n > 0)
                out->last = given->v[t0];
            else
                out->first = given->v[t0];
        } else if (cnt >= 2) {
            size_t ls = t1 - 1; /* start of the family name */
            for (size_t i = t0 + 1; i < t1 - 1; i++)
                if (in_list(given->v[i], name_particles)) {
                    ls = i;
                    break;
                }
            out->first = given->v[t0];
            if (ls > t0 + 1)
                out->middle = join_tokens(a, given->v, t0 + 1, ls);
            out->last = join_tokens(a, given->v, ls, t1);
        }
    }
    if (pre.n)
        out->prefix = join_tokens(a, pre.v, 0, pre.n);
    if (suf.n)
        out->suffix = join_tokens(a, suf.v, 0, suf.n);
out_free:
    free(before.v);
    free(after.v);
    free(pre.v);
    free(suf.v);
    return rc;
}

/* ---- Email ----------------------------------------------------------------------- */

mdm_status mdm_norm_email(mdm_norm *n, const char *in, mdm_arena *a, mdm_email_norm *out,
                          mdm_err *err)
{
    static char empty[] = "";
    out->display = out->key = out->local = out->domain = empty;
    out->valid = false;
    if (!in)
        in = "";
    size_t len = strlen(in);
    if (check_utf8(in, len, "email", err) != MDM_OK)
        return MDM_EINVAL;
    mdm_buf *disp = &n->tmp;
    if (!mdm_norm_display_internal(n, in, len, disp))
        return mdm_err_set(err, MDM_EINTERNAL, "unicode normalization failed");
    /* strip a "mailto:" and surrounding angle brackets ("<a@b.c>") */
    const char *s = disp->data;
    size_t sl = disp->len;
    if (sl >= 7 && strncasecmp(s, "mailto:", 7) == 0) {
        s += 7;
        sl -= 7;
    }
    /* "<a@b.c>" or a display name: "John Smith <a@b.c>" */
    if (sl >= 2 && s[sl - 1] == '>') {
        const char *lt = NULL;
        for (size_t i = sl - 1; i-- > 0;)
            if (s[i] == '<') {
                lt = s + i;
                break;
            }
        if (lt) {
            sl = (size_t)(s + sl - 1 - (lt + 1));
            s = lt + 1;
        }
    }
    out->display = mdm_arena_strndup(a, s, sl);

    /* lower case: ASCII directly, otherwise full case folding */
    mdm_buf *low = &n->tmp2;
    mdm_buf_reset(low);
    if (is_ascii(s, sl)) {
        mdm_buf_append(low, s, sl);
        for (size_t i = 0; i < low->len; i++)
            low->data[i] = (char)tolower((unsigned char)low->data[i]);
    } else {
        UErrorCode st = U_ZERO_ERROR;
        int32_t ulen = icu_normalize(n, s, sl, unorm2_getNFKCCasefoldInstance(&st));
        if (ulen < 0 || !icu_to_utf8(n->u1, ulen, low))
            return mdm_err_set(err, MDM_EINTERNAL, "case folding failed");
    }
    if (!low->data)
        mdm_buf_puts(low, "");
    char *lc = mdm_arena_strndup(a, low->data, low->len);
    out->key = lc;
    char *at = strrchr(lc, '@');
    if (!at)
        return MDM_OK;
    out->local = mdm_arena_strndup(a, lc, (size_t)(at - lc));
    out->domain = mdm_arena_strdup(a, at + 1);
    size_t ll = strlen(out->local);
    int rc = pcre2_match(email_re, (PCRE2_SPTR)lc, strlen(lc), 0, 0, n->md, NULL);
    out->valid = rc >= 0 && ll <= 64 && strlen(out->domain) <= 253;
    if (!out->valid)
        return MDM_OK;

    /* canonical key */
    bool gmail =
        strcmp(out->domain, "gmail.com") == 0 || strcmp(out->domain, "googlemail.com") == 0;
    const char *dom = gmail ? "gmail.com" : out->domain;
    mdm_buf *k = &n->tmp3;
    mdm_buf_reset(k);
    for (size_t i = 0; i < ll; i++) {
        char c = out->local[i];
        if (c == '+' && i > 0)
            break;
        if (c == '.' && gmail)
            continue;
        mdm_buf_putc(k, c);
    }
    mdm_buf_putc(k, '@');
    mdm_buf_puts(k, dom);
    out->key = mdm_arena_strndup(a, k->data, k->len);
    return MDM_OK;
}

/* ---- Phone (normalize_phone.c) ---------------------------------------------------- */

mdm_norm_phone_slot *mdm_norm_phone_cache_internal(mdm_norm *n)
{
    if (!n->phone_cache)
        n->phone_cache = mdm_xcalloc(MDM_NORM_PHONE_CACHE_SLOTS, sizeof *n->phone_cache);
    return n->phone_cache;
}

/* ---- Dates ----------------------------------------------------------------------- */

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static bool date_ok(int y, int m, int d)
{
    return y >= 1000 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static int month_from_word(const char *w)
{
    static const struct {
        const char *w;
        int m;
    } months[] = {
        {"jan", 1},        {"january", 1},    {"januar", 1},     {"janvier", 1},   {"janv", 1},
        {"enero", 1},      {"ene", 1},        {"feb", 2},        {"february", 2},  {"februar", 2},
        {"fevrier", 2},    {"fevr", 2},       {"fev", 2},        {"febrero", 2},   {"mar", 3},
        {"march", 3},      {"marz", 3},       {"maerz", 3},      {"mrz", 3},       {"mars", 3},
        {"marzo", 3},      {"apr", 4},        {"april", 4},      {"avril", 4},     {"avr", 4},
        {"abril", 4},      {"abr", 4},        {"may", 5},        {"mai", 5},       {"mayo", 5},
        {"jun", 6},        {"june", 6},       {"juni", 6},       {"juin", 6},      {"junio", 6},
        {"jul", 7},        {"july", 7},       {"juli", 7},       {"juillet", 7},   {"juil", 7},
        {"julio", 7},      {"aug", 8},        {"august", 8},     {"aout", 8},      {"agosto", 8},
        {"ago", 8},        {"sep", 9},        {"sept", 9},       {"september", 9}, {"septembre", 9},
        {"septiembre", 9}, {"setiembre", 9},  {"oct", 10},       {"october", 10},  {"okt", 10},
        {"oktober", 10},   {"octobre", 10},   {"octubre", 10},   {"nov", 11},      {"november", 11},
        {"novembre", 11},  {"noviembre", 11}, {"dec", 12},       {"december", 12}, {"dez", 12},
        {"dezember", 12},  {"decembre", 12},  {"diciembre", 12}, {"dic", 12},
    };
    for (size_t i = 0; i < sizeof months / sizeof months[0]; i++)
        if (strcmp(w, months[i].w) == 0)
            return months[i].m;
    return 0;
}

static bool date_noise_word(const char *w)
{
    static const char *const noise[] = {
        "st",      "nd",     "rd",        "th",       "of",     "the",    "er",
        "e",       "de",     "del",       "mon",      "monday", "tue",    "tues",
        "tuesday", "wed",    "wednesday", "thu",      "thur",   "thurs",  "thursday",
        "fri",     "friday", "sat",       "saturday", "sun",    "sunday", NULL};
    return in_list(w, noise);
}

/* Folds the date text to ASCII lower case (accents dropped: "Fév" -> "fev"). */
static bool date_fold(const char *in, size_t len, char *out, size_t cap)
{
    if (is_ascii(in, len)) {
        if (len >= cap)
            return false;
        for (size_t i = 0; i < len; i++)
            out[i] = (char)tolower((unsigned char)in[i]);
        out[len] = '\0';
        return true;
    }
    UErrorCode st = U_ZERO_ERROR;
    UChar u[128], v[256];
    int32_t ul = 0;
    if (len > 120)
        return false;
    u_strFromUTF8(u, 128, &ul, in, (int32_t)len, &st);
    const UNormalizer2 *nfkd = unorm2_getNFKDInstance(&st);
    if (U_FAILURE(st))
        return false;
    int32_t vl = unorm2_normalize(nfkd, u, ul, v, 256, &st);
    if (U_FAILURE(st))
        return false;
    size_t o = 0;
    for (int32_t i = 0; i < vl && o + 1 < cap; i++) {
        UChar c = v[i];
        if (c < 0x80)
            out[o++] = (char)tolower(c);
        else if (u_charType(c) == U_NON_SPACING_MARK)
            continue;
        else
            out[o++] = '?';
    }
    out[o] = '\0';
    return true;
}

static int two_digit_year(int yy, int pivot)
{
    int y = pivot - pivot % 100 + yy;
    if (y > pivot)
        y -= 100;
    return y;
}

typedef struct date_tok {
    bool num;
    char sep; /* the separator before this token, ' ' when spaces only, 0 at start */
    int val;
    int len;
    char word[16];
} date_tok;

/* Reads "a/b" as day/month or month/day: a number over 12 decides; dots are always
 * day first; otherwise order decides and, when both readings are dates, the date is
 * ambiguous with the other reading in alt_*. */
static void pick_day_month(int a, int b, mdm_date_order order, bool dots, int *d, int *m,
                           mdm_date *out)
{
    if (dots || (a > 12 && b <= 12)) {
        *d = a;
        *m = b;
        return;
    }
    if (b > 12 && a <= 12) {
        *m = a;
        *d = b;
        return;
    }
    bool mf = order == MDM_DATE_MDY;
    *d = mf ? b : a;
    *m = mf ? a : b;
    if (a != b && a <= 12 && b <= 12) {
        out->ambiguous = true;
        out->alt_m = *d;
        out->alt_d = *m;
    }
}

mdm_status mdm_norm_date(const char *in, int pivot_year, mdm_date *out, mdm_err *err)
{
    return mdm_norm_date_ex(in, pivot_year, MDM_DATE_DMY, out, err);
}

mdm_status mdm_norm_date_ex(const char *in, int pivot_year, mdm_date_order order, mdm_date *out,
                            mdm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!in)
        in = "";
    size_t len = strlen(in);
    if (!mdm_norm_utf8_valid(in, len))
        return mdm_err_set(err, MDM_EINVAL, "date is not valid UTF-8");
    char s[256];
    if (!date_fold(in, len, s, sizeof s))
        return mdm_err_set(err, MDM_EINVAL, "date is too long");
    if (pivot_year <= 0) {
        time_t now = time(NULL);
        struct tm tmv;
        gmtime_r(&now, &tmv);
        pivot_year = tmv.tm_year + 1900;
    }
    /* an ISO time part ends the date: "1981-02-03T10:00:00Z", "1981-02-03 10:00" */
    char *colon = strchr(s, ':');
    if (colon) {
        char *p = colon;
        while (p > s && p[-1] >= '0' && p[-1] <= '9')
            p--;
        if (p > s && (p[-1] == 't' || p[-1] == ' '))
            p--;
        *p = '\0';
    }

    date_tok t[8];
    int nt = 0;
    char sep = 0;
    for (const char *p = s; *p;) {
        if (*p >= '0' && *p <= '9') {
            const char *st = p;
            long v = 0;
            while (*p >= '0' && *p <= '9') {
                if (p - st < 9)
                    v = v * 10 + (*p - '0');
                p++;
            }
            if (nt == 8 || p - st > 8)
                goto bad;
            t[nt] = (date_tok){.num = true, .sep = sep, .val = (int)v, .len = (int)(p - st)};
            nt++;
            sep = 0;
        } else if (*p >= 'a' && *p <= 'z') {
            const char *st = p;
            while (*p >= 'a' && *p <= 'z')
                p++;
            size_t wl = (size_t)(p - st);
            char w[16];
            if (wl >= sizeof w)
                goto bad;
            memcpy(w, st, wl);
            w[wl] = '\0';
            if (date_noise_word(w) || (strcmp(w, "t") == 0 || strcmp(w, "z") == 0)) {
                continue;
            }
            if (nt == 8)
                goto bad;
            t[nt] = (date_tok){.num = false, .sep = sep};
            memcpy(t[nt].word, w, wl + 1);
            nt++;
            sep = 0;
        } else {
            char c = *p++;
            if (c == ' ' || c == ',' || c == '\t') {
                if (!sep)
                    sep = ' ';
            } else if (sep == 0 || sep == ' ') {
                sep = c;
            } else {
                goto bad; /* two separators in a row: "1981--02" */
            }
        }
    }

    int nnum = 0, nword = 0;
    for (int i = 0; i < nt; i++)
        t[i].num ? nnum++ : nword++;
    int y = 0, m = 0, d = 0;
    out->ambiguous = false;
    if (nt == 1 && nnum == 1 && t[0].len == 8) {
        int v = t[0].val;
        y = v / 10000;
        m = v / 100 % 100;
        d = v % 100;
        if (!date_ok(y, m, d)) { /* DDMMYYYY, ambiguous like DD/MM/YYYY */
            y = v % 10000;
            pick_day_month(v / 1000000, v / 10000 % 100, order, false, &d, &m, out);
        }
    } else if (nt == 3 && nnum == 3) {
        char s1 = t[1].sep, s2 = t[2].sep;
        if (s1 != s2 || s1 == 0)
            goto bad;
        if (t[0].len == 4 || t[0].len == 3) { /* Y M D */
            if (t[1].len > 2 || t[2].len > 2)
                goto bad;
            y = t[0].val;
            m = t[1].val;
            d = t[2].val;
        } else if (t[0].len <= 2 && t[1].len <= 2 && (t[2].len == 4 || t[2].len == 2)) {
            y = t[2].len == 2 ? two_digit_year(t[2].val, pivot_year) : t[2].val;
            pick_day_month(t[0].val, t[1].val, order, s1 == '.', &d, &m, out);
        } else {
            goto bad;
        }
    } else if (nt == 3 && nnum == 2 && nword == 1) {
        int wi = t[0].num ? (t[1].num ? 2 : 1) : 0;
        m = month_from_word(t[wi].word);
        if (!m)
            goto bad;
        date_tok *x = NULL, *z = NULL; /* the two numbers in order */
        for (int i = 0; i < 3; i++)
            if (t[i].num) {
                if (!x)
                    x = &t[i];
                else
                    z = &t[i];
            }
        if (!x || !z)
            goto bad;
        if (x->len >= 3) { /* 1981 Feb 3 */
            y = x->val;
            d = z->val;
            if (z->len > 2)
                goto bad;
        } else if (wi == 0 || wi == 1) { /* Feb 3 1981, 3 Feb 1981 */
            d = x->val;
            if (z->len == 2)
                y = two_digit_year(z->val, pivot_year);
            else if (z->len == 4)
                y = z->val;
            else
                goto bad;
        } else { /* 3 1981 Feb: not a layout */
            goto bad;
        }
    } else {
        goto bad;
    }
    if (!date_ok(y, m, d))
        return mdm_err_set(err, MDM_EINVAL, "impossible date %04d-%02d-%02d", y, m, d);
    out->y = y;
    out->m = m;
    out->d = d;
    if (!out->ambiguous) {
        out->alt_m = m;
        out->alt_d = d;
    } else if (!date_ok(y, out->alt_m, out->alt_d)) {
        out->ambiguous = false;
        out->alt_m = m;
        out->alt_d = d;
    }
    return MDM_OK;
bad:
    memset(out, 0, sizeof *out);
    return mdm_err_set(err, MDM_EINVAL, "unrecognized date layout");
}

/* ---- Nicknames ------------------------------------------------------------------- */

/* Process-wide index over the embedded table, built once: the distinct names (as text
 * keys, sorted), and per name its neighbours (either direction of a row) and its parents
 * (the names it is a nickname of), as sorted id lists. */
typedef struct nick_name {
    char *key;
    int *nb, nnb;   /* neighbours */
    int *par, npar; /* parents */
    int outdeg;     /* how many nicknames it has */
    int canon;      /* id of its canonical name */
} nick_name;

static pthread_once_t nick_once = PTHREAD_ONCE_INIT;
static nick_name *nick_names;
static int nick_count;

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Open-addressing index over nick_names (id + 1, 0 empty), built once after the sorted
 * array: a lookup is one hash and about one string comparison, where the binary search
 * took a dozen (the comparisons call it on most candidate pairs). */
static int *nick_slots;
static size_t nick_mask;

static size_t nick_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (size_t)(h ^ (h >> 29));
}

static int nick_find(const char *key)
{
    if (nick_slots) {
        for (size_t i = nick_hash(key) & nick_mask;; i = (i + 1) & nick_mask) {
            int v = nick_slots[i];
            if (!v)
                return -1;
            if (strcmp(key, nick_names[v - 1].key) == 0)
                return v - 1;
        }
    }
    int lo = 0, hi = nick_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(key, nick_names[mid].key);
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

static void int_push(int **v, int *n, int x)
{
    *v = mdm_xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*v)[(*n)++] = x;
}

static int uniq_sorted(int *v, int n)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_int);
    int o = 1;
    for (int i = 1; i < n; i++)
        if (v[i] != v[o - 1])
            v[o++] = v[i];
    return o;
}

static void nick_init(void)
{
    size_t rows = mdm_norm_nickname_nrows;
    char **keys = mdm_xmalloc(rows * 2 * sizeof *keys);
    mdm_buf k = {0};
    for (size_t i = 0; i < rows * 2; i++) {
        const char *s = mdm_norm_nickname_rows[i / 2][i % 2];
        mdm_buf_reset(&k);
        key_fold(s, strlen(s), &k); /* the table is ASCII */
        keys[i] = mdm_xstrndup(k.data, k.len);
    }
    mdm_buf_free(&k);
    char **sorted = mdm_xmalloc(rows * 2 * sizeof *sorted);
    memcpy(sorted, keys, rows * 2 * sizeof *sorted);
    qsort(sorted, rows * 2, sizeof *sorted, cmp_str_ptr);
    nick_names = mdm_xcalloc(rows * 2, sizeof *nick_names);
    for (size_t i = 0; i < rows * 2; i++)
        if (nick_count == 0 || strcmp(sorted[i], nick_names[nick_count - 1].key) != 0)
            nick_names[nick_count++].key = mdm_xstrdup(sorted[i]);
    free(sorted);
    size_t nslots = 1024;
    while (nslots < 2 * (size_t)nick_count)
        nslots *= 2;
    int *slots = mdm_xcalloc(nslots, sizeof *slots);
    for (int i = 0; i < nick_count; i++) {
        size_t h = nick_hash(nick_names[i].key) & (nslots - 1);
        while (slots[h])
            h = (h + 1) & (nslots - 1);
        slots[h] = i + 1;
    }
    nick_mask = nslots - 1;
    if (mdm_strsim_enabled())
        nick_slots = slots; /* else the reference: the binary search below */
    else
        free(slots);
    for (size_t r = 0; r < rows; r++) {
        int a = nick_find(keys[2 * r]), b = nick_find(keys[2 * r + 1]);
        if (a == b)
            continue;
        int_push(&nick_names[a].nb, &nick_names[a].nnb, b);
        int_push(&nick_names[b].nb, &nick_names[b].nnb, a);
        int_push(&nick_names[b].par, &nick_names[b].npar, a);
    }
    for (int i = 0; i < nick_count; i++) {
        nick_name *e = &nick_names[i];
        e->nnb = uniq_sorted(e->nb, e->nnb);
        e->npar = uniq_sorted(e->par, e->npar);
    }
    for (size_t r = 0; r < rows * 2; r++)
        free(keys[r]);
    free(keys);
    /* out-degree = distinct nicknames = neighbours that have this name as a parent */
    for (int i = 0; i < nick_count; i++)
        for (int j = 0; j < nick_names[i].npar; j++)
            nick_names[nick_names[i].par[j]].outdeg++;
    /* The table is genealogical and noisy (bill is listed under robert, anna under
     * bryanna), so a few common given names keep themselves or get their usual form. */
    static const char *const keep[] = {"maria", "anna", "ann",   "anne",  "mary",  "elena", "eva",
                                       "julia", "sara", "sarah", "nina",  "rosa",  "john",  "juan",
                                       "ivan",  "jose", "lena",  "helen", "ellen", "jean",  NULL};
    static const char *const fixed[][2] = {
        {"bill", "william"},      {"billy", "william"},   {"will", "william"},
        {"willy", "william"},     {"liam", "william"},    {"bob", "robert"},
        {"bobby", "robert"},      {"rob", "robert"},      {"robbie", "robert"},
        {"chris", "christopher"}, {"kit", "christopher"}, {NULL, NULL}};
    for (int i = 0; i < nick_count; i++) {
        nick_name *e = &nick_names[i];
        int best = i;
        if (!in_list(e->key, keep))
            for (int j = 0; j < e->npar; j++) {
                int p = e->par[j];
                /* more nicknames wins; ties: the name itself, then alphabetical */
                if (nick_names[p].outdeg > nick_names[best].outdeg)
                    best = p;
            }
        e->canon = best;
    }
    for (size_t f = 0; fixed[f][0]; f++) {
        int x = nick_find(fixed[f][0]), y = nick_find(fixed[f][1]);
        if (x >= 0 && y >= 0)
            nick_names[x].canon = y;
    }
}

static void nick_ready(void)
{
    pthread_once(&nick_once, nick_init);
}

const char *mdm_norm_nickname_canon(const mdm_norm *n, const char *key)
{
    (void)n;
    if (!key)
        return NULL;
    nick_ready();
    int i = nick_find(key);
    if (i < 0)
        return key;
    return nick_names[nick_names[i].canon].key;
}

size_t mdm_norm_nickname_classes(const mdm_norm *n, const char *key, const char **out, size_t max)
{
    (void)n;
    if (!key)
        return 0;
    nick_ready();
    int i = nick_find(key);
    size_t cnt = 0;
    if (max > 0)
        out[0] = i >= 0 ? nick_names[i].key : key;
    cnt++;
    if (i < 0)
        return cnt;
    for (int j = 0; j < nick_names[i].npar; j++, cnt++)
        if (cnt < max)
            out[cnt] = nick_names[nick_names[i].par[j]].key;
    return cnt;
}

static bool sorted_has(const int *v, int n, int x)
{
    return bsearch(&x, v, (size_t)n, sizeof *v, cmp_int) != NULL;
}

bool mdm_norm_nickname_equiv(const mdm_norm *n, const char *a, const char *b)
{
    (void)n;
    if (!a || !b)
        return false;
    if (strcmp(a, b) == 0)
        return true;
    nick_ready();
    int x = nick_find(a), y = nick_find(b);
    if (x < 0 || y < 0)
        return false;
    /* an edge of the table only: a shared parent joins names that are not one person's
     * (john and nathan are both listed under jonathan) */
    return sorted_has(nick_names[x].nb, nick_names[x].nnb, y);
}

/* At most one edit apart: a byte changed, added or dropped, or two neighbours swapped. */
static bool within_one_edit(const char *x, const char *y)
{
    size_t n = strlen(x), m = strlen(y);
    if (n < m) {
        const char *t = x;
        x = y;
        y = t;
        size_t u = n;
        n = m;
        m = u;
    }
    if (n - m > 1)
        return false;
    size_t i = 0;
    while (i < m && x[i] == y[i])
        i++;
    if (i == m)
        return true;
    if (n > m) /* one dropped */
        return strcmp(x + i + 1, y + i) == 0;
    if (strcmp(x + i + 1, y + i + 1) == 0) /* one changed */
        return true;
    return i + 1 < m && x[i] == y[i + 1] && x[i + 1] == y[i] && strcmp(x + i + 2, y + i + 2) == 0;
}

static bool typo_of_neighbour(const char *typo, const char *name)
{
    if (strlen(typo) < 4 || nick_find(typo) >= 0)
        return false;
    int y = nick_find(name);
    if (y < 0)
        return false;
    for (int k = 0; k < nick_names[y].nnb; k++) {
        const char *nb = nick_names[nick_names[y].nb[k]].key;
        if (strlen(nb) >= 4 && within_one_edit(typo, nb))
            return true;
    }
    return false;
}

bool mdm_norm_nickname_typo(const mdm_norm *n, const char *a, const char *b)
{
    (void)n;
    if (!a || !b || strcmp(a, b) == 0)
        return false;
    nick_ready();
    return typo_of_neighbour(a, b) || typo_of_neighbour(b, a);
}
