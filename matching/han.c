/* Han romanization by table (see han.h). The table is read once per process from the
 * rules of ICU's own "Han-Latin" transliterator, so the readings are ICU's: a line
 * "[set] > reading;" gives every ideograph of the set that reading (the first line naming
 * an ideograph wins, as in ICU), and "{X}' '?Y > reading;" reads X that way before Y.
 * A rule of any other shape (a newer ICU) leaves the table empty and every caller on
 * ICU's own path. */
#include "matching/han.h"

#include "common/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/uset.h>
#include <unicode/utf16.h>
#include <unicode/utrans.h>

typedef struct han_entry {
    UChar32 cp;
    uint32_t order; /* rule order: the first reading of an ideograph wins */
    uint32_t off;   /* reading: pool[off .. off+len) */
    uint16_t len;
} han_entry;

typedef struct han_word { /* {head}' '?tail > reading */
    UChar32 head, tail;
    uint32_t off;
    uint16_t len;
} han_word;

static struct {
    han_entry *e;
    size_t n;
    han_word *w;
    size_t nw;
    UChar *pool;
    size_t pool_len, pool_cap;
} tab;
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static uint32_t pool_add(const UChar *s, int32_t len)
{
    if (tab.pool_len + (size_t)len > tab.pool_cap) {
        tab.pool_cap = tab.pool_cap ? tab.pool_cap * 2 : 16384;
        tab.pool = mdm_xrealloc(tab.pool, tab.pool_cap * sizeof *tab.pool);
    }
    uint32_t off = (uint32_t)tab.pool_len;
    memcpy(tab.pool + off, s, (size_t)len * sizeof *s);
    tab.pool_len += (size_t)len;
    return off;
}

static int entry_cmp(const void *a, const void *b)
{
    const han_entry *x = a, *y = b;
    if (x->cp != y->cp)
        return x->cp < y->cp ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* "[set] > reading;" -> entries; false on a line of another shape. */
static bool parse_set_line(const UChar *line, int32_t len, uint32_t order, size_t *cap)
{
    static const UChar arrow[] = {']', ' ', '>', ' '};
    int32_t close = -1;
    for (int32_t i = 0; i + 4 <= len; i++)
        if (!memcmp(line + i, arrow, sizeof arrow)) {
            close = i;
            break;
        }
    if (close < 0 || len < close + 6 || line[len - 1] != ';')
        return false;
    const UChar *reading = line + close + 4;
    int32_t rlen = len - 1 - (close + 4);
    for (int32_t i = 0; i < rlen; i++)
        if (reading[i] == '\'' || reading[i] == '\\' || reading[i] == ' ')
            return false; /* quoted or escaped output: not a plain reading */
    UErrorCode st = U_ZERO_ERROR;
    USet *set = uset_openPattern(line, close + 1, &st);
    if (U_FAILURE(st))
        return false;
    uint32_t off = pool_add(reading, rlen);
    int32_t items = uset_getItemCount(set);
    bool ok = true;
    for (int32_t k = 0; k < items && ok; k++) {
        UChar32 lo, hi;
        UChar str[8];
        st = U_ZERO_ERROR;
        if (uset_getItem(set, k, &lo, &hi, str, 8, &st) != 0 || U_FAILURE(st)) {
            ok = false; /* a string in the set: not one ideograph per reading */
            break;
        }
        for (UChar32 c = lo; c <= hi; c++) {
            if (tab.n == *cap) {
                *cap = *cap ? *cap * 2 : 65536;
                tab.e = mdm_xrealloc(tab.e, *cap * sizeof *tab.e);
            }
            tab.e[tab.n++] = (han_entry){c, order, off, (uint16_t)rlen};
        }
    }
    uset_close(set);
    return ok;
}

/* "{X}' '?Y > reading;" -> a word; false on a line of another shape. */
static bool parse_word_line(const UChar *line, int32_t len)
{
    int32_t i = 1;
    UChar32 head, tail;
    U16_NEXT(line, i, len, head);
    static const UChar mid[] = {'}', '\'', ' ', '\'', '?'};
    if (i + 5 > len || memcmp(line + i, mid, sizeof mid) != 0)
        return false;
    i += 5;
    U16_NEXT(line, i, len, tail);
    static const UChar arrow[] = {' ', '>', ' '};
    if (i + 4 > len || memcmp(line + i, arrow, sizeof arrow) != 0 || line[len - 1] != ';')
        return false;
    i += 3;
    tab.w = mdm_xrealloc(tab.w, (tab.nw + 1) * sizeof *tab.w);
    tab.w[tab.nw++] =
        (han_word){head, tail, pool_add(line + i, len - 1 - i), (uint16_t)(len - 1 - i)};
    return true;
}

static void tab_clear(void)
{
    free(tab.e);
    free(tab.w);
    free(tab.pool);
    memset(&tab, 0, sizeof tab);
}

static void tab_init(void)
{
    static const UChar id[] = {'H', 'a', 'n', '-', 'L', 'a', 't', 'i', 'n', 0};
    UErrorCode st = U_ZERO_ERROR;
    UParseError pe;
    UTransliterator *t = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, &pe, &st);
    if (U_FAILURE(st))
        return;
    int32_t n = utrans_toRules(t, false, NULL, 0, &st);
    st = U_ZERO_ERROR;
    UChar *rules = mdm_xmalloc(((size_t)n + 1) * sizeof *rules);
    utrans_toRules(t, false, rules, n + 1, &st);
    utrans_close(t);
    bool ok = U_SUCCESS(st);
    size_t cap = 0;
    uint32_t order = 0;
    for (int32_t p = 0; ok && p < n;) {
        int32_t e = p;
        while (e < n && rules[e] != '\n')
            e++;
        int32_t len = e - p;
        const UChar *line = rules + p;
        if (len == 0 || (len >= 2 && line[0] == ':' && line[1] == ':'))
            ; /* blank, or ::Han-Spacedhan(): its spacing is done in mdm_han_romanize */
        else if (line[0] == '[')
            ok = parse_set_line(line, len, order++, &cap);
        else if (line[0] == '{')
            ok = parse_word_line(line, len);
        else
            ok = false;
        p = e + 1;
    }
    free(rules);
    if (!ok) {
        tab_clear();
        return;
    }
    qsort(tab.e, tab.n, sizeof *tab.e, entry_cmp);
    size_t w = 0; /* keep the first reading of each ideograph */
    for (size_t r = 0; r < tab.n; r++)
        if (w == 0 || tab.e[w - 1].cp != tab.e[r].cp)
            tab.e[w++] = tab.e[r];
    tab.n = w;
}

static const han_entry *lookup(UChar32 c)
{
    size_t lo = 0, hi = tab.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tab.e[mid].cp == c)
            return &tab.e[mid];
        if (tab.e[mid].cp < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t mdm_han_table_size(void)
{
    pthread_once(&tab_once, tab_init);
    return tab.n;
}

static bool is_letter(UChar32 c)
{
    return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0;
}

/* Han-Spacedhan puts a space between these and a letter that follows. */
static bool spaced_before_letter(UChar32 c)
{
    static const UChar32 punct[] = {'.',    ',',    ':',    ';',    '?',    '!',    0xFF0E, 0xFF0C,
                                    0xFF1A, 0xFF1F, 0xFF01, 0xFF61, 0x3001, 0xFF1B, 0};
    if (U_GET_GC_MASK(c) & (U_GC_PE_MASK | U_GC_PF_MASK) ||
        u_hasBinaryProperty(c, UCHAR_IDEOGRAPHIC))
        return true;
    for (const UChar32 *p = punct; *p; p++)
        if (*p == c)
            return true;
    return false;
}

/* A letter that ICU's script runs keep inside a run of Han (Han or Common script). */
static bool han_run_letter(UChar32 c)
{
    UErrorCode st = U_ZERO_ERROR;
    UScriptCode sc = uscript_getScript(c, &st);
    return is_letter(c) && (sc == USCRIPT_HAN || sc == USCRIPT_COMMON || sc == USCRIPT_INHERITED);
}

static const UChar space_unit[] = {' '};

static bool inherited_script(UChar32 c)
{
    UErrorCode st = U_ZERO_ERROR;
    UScriptCode sc = uscript_getScript(c, &st);
    return sc == USCRIPT_INHERITED || sc == USCRIPT_COMMON;
}

static bool is_han_script(UChar32 c)
{
    UErrorCode st = U_ZERO_ERROR;
    return uscript_getScript(c, &st) == USCRIPT_HAN;
}

/* The reading of the ideograph at in[i] (with the one after it, for a word). */
static const UChar *reading_at(const UChar *in, int32_t i, int32_t len, UChar32 c, uint16_t *rlen)
{
    for (size_t k = 0; k < tab.nw; k++) {
        if (tab.w[k].head != c)
            continue;
        int32_t j = i + U16_LENGTH(c);
        if (j < len && in[j] == ' ')
            j++;
        UChar32 next;
        if (j < len) {
            U16_GET(in, 0, j, len, next);
            if (next == tab.w[k].tail) {
                *rlen = tab.w[k].len;
                return tab.pool + tab.w[k].off;
            }
        }
    }
    const han_entry *e = lookup(c);
    if (!e)
        return NULL;
    *rlen = e->len;
    return tab.pool + e->off;
}

int32_t mdm_han_romanize(const UChar *in, int32_t len, UChar *out, int32_t cap, bool *changed)
{
    *changed = false;
    pthread_once(&tab_once, tab_init);
    if (tab.n == 0)
        return -1;
    int32_t o = 0;
    bool after_letter = false; /* a letter, then only combining marks */
    bool after_han = false;    /* the previous character was romanized here */
    UChar32 prev = 0;
    for (int32_t i = 0; i < len;) {
        UChar32 c;
        int32_t at = i;
        U16_NEXT(in, i, len, c);
        uint16_t rlen = 0;
        const UChar *r = reading_at(in, at, len, c, &rlen);
        if (!r && is_han_script(c)) {
            /* no reading (々, a radical): ICU keeps it between spaces, and a key drops
             * it; a space gives the same key without ICU's per-character rules */
            r = space_unit;
            rlen = 1;
        }
        bool space = false;
        if (r) {
            space = o > 0 && (after_letter || spaced_before_letter(prev));
        } else if (after_han && han_run_letter(c)) {
            space = true;
        } else if (U_GET_GC_MASK(c) & (U_GC_PS_MASK | U_GC_PI_MASK) && after_letter) {
            UChar32 next = 0;
            if (i < len)
                U16_GET(in, 0, i, len, next);
            space = after_han || (i < len && lookup(next));
        }
        if (o + (space ? 1 : 0) + (r ? rlen : U16_LENGTH(c)) > cap)
            return -1;
        if (space)
            out[o++] = ' ';
        if (r) {
            memcpy(out + o, r, (size_t)rlen * sizeof *r);
            o += rlen;
            *changed = true;
        } else {
            memcpy(out + o, in + at, (size_t)(i - at) * sizeof *in);
            o += i - at;
        }
        if (is_letter(c))
            after_letter = true;
        else if (U_GET_GC_MASK(c) & U_GC_M_MASK)
            /* a combining mark keeps the letter before it; a mark of a script ICU
             * romanizes before it reaches the Han (a Hebrew vowel point) becomes one */
            after_letter = after_letter || !inherited_script(c);
        else
            after_letter = false;
        after_han = r != NULL;
        prev = c;
    }
    return *changed ? o : 0;
}
