/* Phonetic keys. Each algorithm first reduces its input to the upper-case ASCII letters
 * (word), builds the whole key in a growable buffer (key) and finally copies it, cut to
 * the caller's buffer. Both buffers start on the stack; only names longer than
 * WORD_STACK letters reach the heap. */
#include "matching/phonetic.h"
#include "common/mem.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WORD_STACK 256

typedef struct word {
    char *s; /* upper-case letters, NUL-terminated */
    size_t n;
    char *heap;
    char stack[WORD_STACK + 1];
} word;

static void word_load(word *w, const char *in)
{
    size_t letters = 0;
    for (const char *p = in ? in : ""; *p; p++)
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
            letters++;
    w->heap = NULL;
    w->s = w->stack;
    if (letters > WORD_STACK)
        w->s = w->heap = mdm_xmalloc(letters + 1);
    size_t n = 0;
    for (const char *p = in ? in : ""; *p; p++) {
        char c = *p;
        if (c >= 'a' && c <= 'z')
            w->s[n++] = (char)(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'Z')
            w->s[n++] = c;
    }
    w->s[n] = 0;
    w->n = n;
}

static void word_free(word *w)
{
    free(w->heap);
}

typedef struct key {
    char *s;
    size_t len, cap;
    char *heap;
    char stack[2 * WORD_STACK + 16];
} key;

static void key_init(key *k)
{
    k->s = k->stack;
    k->len = 0;
    k->cap = sizeof k->stack;
    k->heap = NULL;
    k->s[0] = 0;
}

static void key_putc(key *k, char c)
{
    if (k->len + 2 > k->cap) {
        size_t cap = k->cap * 2;
        char *p = mdm_xmalloc(cap);
        memcpy(p, k->s, k->len);
        free(k->heap);
        k->s = k->heap = p;
        k->cap = cap;
    }
    k->s[k->len++] = c;
    k->s[k->len] = 0;
}

static void key_puts(key *k, const char *s)
{
    while (*s)
        key_putc(k, *s++);
}

static char key_last(const key *k)
{
    if (!k->len)
        return '\0';
    return k->s[k->len - 1];
}

static void key_chop(key *k)
{
    if (k->len)
        k->s[--k->len] = 0;
}

/* Copies k into out (at most outlen - 1 bytes) and frees k. */
static void key_emit(key *k, char *out, size_t outlen)
{
    if (out && outlen) {
        size_t n = k->len < outlen - 1 ? k->len : outlen - 1;
        memcpy(out, k->s, n);
        out[n] = 0;
    }
    free(k->heap);
}

static bool is_vowel(char c)
{
    return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U';
}

/* ---- Soundex ---- */

/* Soundex digit of an upper-case letter; 0 for vowels and Y (separators), -1 for H and
 * W (transparent). */
static int soundex_code(char c)
{
    static const signed char codes[26] = {
        /* A  B  C  D  E  F  G  H   I  J  K  L  M  N  O  P  Q  R  S  T  U  V  W   X  Y  Z */
        0, 1, 2, 3, 0, 1, 2, -1, 0, 2, 2, 4, 5, 5, 0, 1, 2, 6, 2, 3, 0, 1, -1, 2, 0, 2};
    return codes[c - 'A'];
}

void mdm_phon_soundex(const char *in, char *out, size_t outlen)
{
    word w;
    word_load(&w, in);
    char buf[5] = "";
    if (w.n) {
        size_t len = 0;
        buf[len++] = w.s[0];
        int last = soundex_code(w.s[0]);
        for (size_t i = 1; i < w.n && len < 4; i++) {
            int code = soundex_code(w.s[i]);
            if (code < 0)
                continue; /* H, W: the codes on both sides stay adjacent */
            if (code > 0 && code != last)
                buf[len++] = (char)('0' + code);
            last = code;
        }
        while (len < 4)
            buf[len++] = '0';
        buf[len] = 0;
    }
    if (out && outlen) {
        size_t n = strlen(buf);
        if (n > outlen - 1)
            n = outlen - 1;
        memcpy(out, buf, n);
        out[n] = 0;
    }
    word_free(&w);
}

/* ---- NYSIIS ---- */

static bool starts(const char *s, size_t n, const char *prefix)
{
    size_t l = strlen(prefix);
    return n >= l && memcmp(s, prefix, l) == 0;
}

static bool ends(const char *s, size_t n, const char *suffix)
{
    size_t l = strlen(suffix);
    return n >= l && memcmp(s + n - l, suffix, l) == 0;
}

void mdm_phon_nysiis(const char *in, char *out, size_t outlen)
{
    word w;
    word_load(&w, in);
    key k;
    key_init(&k);
    char *s = w.s;
    size_t n = w.n;
    if (n == 0)
        goto out_emit;
    /* 1. first letters (replacements keep the length or shrink nothing) */
    if (starts(s, n, "MAC"))
        memcpy(s, "MCC", 3);
    else if (starts(s, n, "KN"))
        memcpy(s, "NN", 2);
    else if (s[0] == 'K')
        s[0] = 'C';
    else if (starts(s, n, "PH") || starts(s, n, "PF"))
        memcpy(s, "FF", 2);
    else if (starts(s, n, "SCH"))
        memcpy(s, "SSS", 3);
    /* 2. last letters: EE, IE -> Y; DT, RT, RD, NT, ND -> D */
    if (n >= 2 && (ends(s, n, "EE") || ends(s, n, "IE"))) {
        s[n - 2] = 'Y';
        s[--n] = 0;
    } else if (n >= 2 && (ends(s, n, "DT") || ends(s, n, "RT") || ends(s, n, "RD") ||
                          ends(s, n, "NT") || ends(s, n, "ND"))) {
        s[n - 2] = 'D';
        s[--n] = 0;
    }
    /* 3. the first letter of the key is the first letter of the name */
    key_putc(&k, s[0]);
    /* 4. translate the rest in place, each letter seeing the translated one before it;
     * a letter is added unless it repeats the previous translated letter */
    for (size_t i = 1; i < n; i++) {
        char prev = s[i - 1], cur = s[i];
        char next = ' ', next2 = ' ';
        if (i + 1 < n)
            next = s[i + 1];
        if (i + 2 < n)
            next2 = s[i + 2];
        if (cur == 'E' && next == 'V') {
            s[i] = 'A';
            s[i + 1] = 'F';
        } else if (is_vowel(cur)) {
            s[i] = 'A';
        } else if (cur == 'Q') {
            s[i] = 'G';
        } else if (cur == 'Z') {
            s[i] = 'S';
        } else if (cur == 'M') {
            s[i] = 'N';
        } else if (cur == 'K') {
            if (next == 'N')
                s[i] = 'N'; /* KN -> NN: the N follows */
            else
                s[i] = 'C';
        } else if (cur == 'S' && next == 'C' && next2 == 'H') {
            s[i + 1] = s[i + 2] = 'S';
        } else if (cur == 'P' && next == 'H') {
            s[i] = s[i + 1] = 'F';
        } else if ((cur == 'H' && (!is_vowel(prev) || !is_vowel(next))) ||
                   (cur == 'W' && is_vowel(prev))) {
            s[i] = prev; /* H beside a consonant, W after a vowel: repeat the letter before */
        }
        if (s[i] != s[i - 1])
            key_putc(&k, s[i]);
    }
    /* 5-7. final letters */
    if (k.len > 1) {
        if (key_last(&k) == 'S')
            key_chop(&k);
        if (k.len > 2 && k.s[k.len - 2] == 'A' && key_last(&k) == 'Y') {
            k.s[k.len - 2] = 'Y';
            key_chop(&k);
        }
        if (k.len > 1 && key_last(&k) == 'A')
            key_chop(&k);
    }
out_emit:
    key_emit(&k, out, outlen);
    word_free(&w);
}

/* ---- Metaphone ---- */

/* Letter at i, or 0 outside the word. */
static char at(const word *w, long i)
{
    if (i < 0 || (size_t)i >= w->n)
        return '\0';
    return w->s[i];
}

static bool is_front_vowel(char c)
{
    return c == 'E' || c == 'I' || c == 'Y';
}

void mdm_phon_metaphone(const char *in, char *out, size_t outlen)
{
    word w;
    word_load(&w, in);
    key k;
    key_init(&k);
    long n = (long)w.n, i = 0;
    if (n == 0)
        goto out_emit;
    /* initial exceptions; initial is the index of the letter that starts the word, the
     * only place where a vowel is kept (none after an initial X or WH) */
    long initial = 0;
    if (starts(w.s, w.n, "AE") || starts(w.s, w.n, "GN") || starts(w.s, w.n, "KN") ||
        starts(w.s, w.n, "PN") || starts(w.s, w.n, "WR")) {
        i = initial = 1;
    } else if (w.s[0] == 'X') {
        key_putc(&k, 'S');
        i = 1;
        initial = -1;
    } else if (starts(w.s, w.n, "WH")) {
        key_putc(&k, 'W');
        i = 2;
        initial = -1;
    }
    const long first = i;
    for (; i < n; i++) {
        char c = w.s[i], prev = at(&w, i - 1), next = at(&w, i + 1), next2 = at(&w, i + 2);
        if (c == prev && c != 'C' && i > first)
            continue; /* doubled letter */
        switch (c) {
        case 'A':
        case 'E':
        case 'I':
        case 'O':
        case 'U':
            if (i == initial)
                key_putc(&k, c);
            break;
        case 'B':
            if (!(i == n - 1 && prev == 'M'))
                key_putc(&k, 'B');
            break;
        case 'C':
            if (next == 'I' && next2 == 'A')
                key_putc(&k, 'X');
            else if (next == 'H')
                key_putc(&k, prev == 'S' ? 'K' : 'X');
            else if (is_front_vowel(next))
                key_putc(&k, 'S');
            else
                key_putc(&k, 'K');
            break;
        case 'D':
            if (next == 'G' && is_front_vowel(next2))
                key_putc(&k, 'J');
            else
                key_putc(&k, 'T');
            break;
        case 'G':
            if (next == 'H' && !(i + 2 >= n || is_vowel(next2)))
                break; /* -GH- not at the end nor before a vowel */
            if (next == 'N' && (i + 2 == n || (i + 4 == n && next2 == 'E' && at(&w, i + 3) == 'D')))
                break; /* -GN, -GNED */
            if (prev == 'D' && is_front_vowel(next))
                break; /* -DGE- etc.: the D said it */
            if (is_front_vowel(next) && prev != 'G')
                key_putc(&k, 'J');
            else
                key_putc(&k, 'K');
            break;
        case 'H':
            if (prev == 'C' || prev == 'G' || prev == 'P' || prev == 'S' || prev == 'T')
                break; /* part of CH, GH, PH, SH, TH */
            if (is_vowel(prev) && !is_vowel(next))
                break;
            key_putc(&k, 'H');
            break;
        case 'K':
            if (prev != 'C')
                key_putc(&k, 'K');
            break;
        case 'P':
            key_putc(&k, next == 'H' ? 'F' : 'P');
            break;
        case 'Q':
            key_putc(&k, 'K');
            break;
        case 'S':
            if (next == 'H' || (next == 'I' && (next2 == 'O' || next2 == 'A')))
                key_putc(&k, 'X');
            else
                key_putc(&k, 'S');
            break;
        case 'T':
            if (next == 'I' && (next2 == 'A' || next2 == 'O'))
                key_putc(&k, 'X');
            else if (next == 'H')
                key_putc(&k, '0');
            else if (!(next == 'C' && next2 == 'H'))
                key_putc(&k, 'T');
            break;
        case 'V':
            key_putc(&k, 'F');
            break;
        case 'W':
        case 'Y':
            if (is_vowel(next))
                key_putc(&k, c);
            break;
        case 'X':
            key_puts(&k, "KS");
            break;
        case 'Z':
            key_putc(&k, 'S');
            break;
        default: /* F J L M N R */
            key_putc(&k, c);
            break;
        }
    }
out_emit:
    key_emit(&k, out, outlen);
    word_free(&w);
}

/* ---- Double Metaphone ---- */

typedef struct dm {
    const word *w;
    long n, last;
    bool slavo_germanic;
    key pri, alt;
} dm;

/* Letter at i: ' ' past the end (the reference pads the name with spaces, and some rules
 * test for a following space), 0 before the start. */
static char dm_at(const dm *d, long i)
{
    if (i < 0)
        return '\0';
    if (i >= d->n)
        return ' ';
    return d->w->s[i];
}

static bool dm_vowel(const dm *d, long i)
{
    char c = dm_at(d, i);
    return is_vowel(c) || c == 'Y';
}

/* True when the text at i (of the name padded with spaces) equals one of the options,
 * a list ended by NULL. */
static bool dm_is(const dm *d, long i, ...)
{
    if (i < 0)
        return false;
    va_list ap;
    va_start(ap, i);
    bool found = false;
    for (const char *opt = va_arg(ap, const char *); opt; opt = va_arg(ap, const char *)) {
        long l = (long)strlen(opt), j = 0;
        while (j < l && dm_at(d, i + j) == opt[j])
            j++;
        if (j == l) {
            found = true;
            break;
        }
    }
    va_end(ap);
    return found;
}

#define AT(i, ...) dm_is(d, (i), __VA_ARGS__, (const char *)NULL)

/* Appends to both keys, or main to the primary and alt to the alternate. */
static void dm_add(dm *d, const char *main_key, const char *alt_key)
{
    key_puts(&d->pri, main_key);
    key_puts(&d->alt, alt_key ? alt_key : main_key);
}

static void add(dm *d, const char *both)
{
    dm_add(d, both, NULL);
}

/* Each handler encodes the letter at i and returns the index of the next letter to
 * encode. */
static long dm_c(dm *d, long i)
{
    /* Germanic -ACH- (but not -ACHI-, -ACHE- except BACHER, MACHER) */
    if (i > 1 && !dm_vowel(d, i - 2) && AT(i - 1, "ACH") && dm_at(d, i + 2) != 'I' &&
        (dm_at(d, i + 2) != 'E' || AT(i - 2, "BACHER", "MACHER"))) {
        add(d, "K");
        return i + 2;
    }
    if (i == 0 && AT(i, "CAESAR")) {
        add(d, "S");
        return i + 2;
    }
    if (AT(i, "CHIA")) { /* Chianti */
        add(d, "K");
        return i + 2;
    }
    if (AT(i, "CH")) {
        if (i > 0 && AT(i, "CHAE")) { /* Michael */
            dm_add(d, "K", "X");
            return i + 2;
        }
        if (i == 0 && (AT(i + 1, "HARAC", "HARIS") || AT(i + 1, "HOR", "HYM", "HIA", "HEM")) &&
            !AT(0, "CHORE")) { /* Greek roots: chemistry, chorus */
            add(d, "K");
            return i + 2;
        }
        if (AT(0, "VAN ", "VON ") || AT(0, "SCH") || AT(i - 2, "ORCHES", "ARCHIT", "ORCHID") ||
            AT(i + 2, "T", "S") ||
            ((AT(i - 1, "A", "O", "U", "E") || i == 0) &&
             AT(i + 2, "L", "R", "N", "M", "B", "H", "F", "V", "W", " "))) {
            add(d, "K"); /* Germanic or Greek CH as KH: Wachtler, Wechsler, not Tichner */
        } else if (i > 0) {
            if (AT(0, "MC"))
                add(d, "K"); /* McHugh */
            else
                dm_add(d, "X", "K");
        } else {
            add(d, "X");
        }
        return i + 2;
    }
    if (AT(i, "CZ") && !AT(i - 2, "WICZ")) { /* Czerny */
        dm_add(d, "S", "X");
        return i + 2;
    }
    if (AT(i + 1, "CIA")) { /* Focaccia */
        add(d, "X");
        return i + 3;
    }
    if (AT(i, "CC") && !(i == 1 && dm_at(d, 0) == 'M')) {   /* not McClellan */
        if (AT(i + 2, "I", "E", "H") && !AT(i + 2, "HU")) { /* Bellocchio, not Bacchus */
            if ((i == 1 && dm_at(d, 0) == 'A') || AT(i - 1, "UCCEE", "UCCES"))
                add(d, "KS"); /* accident, accede, succeed */
            else
                add(d, "X"); /* Bacci, Bertucci */
            return i + 3;
        }
        add(d, "K");
        return i + 2;
    }
    if (AT(i, "CK", "CG", "CQ")) {
        add(d, "K");
        return i + 2;
    }
    if (AT(i, "CI", "CE", "CY")) {
        if (AT(i, "CIO", "CIE", "CIA"))
            dm_add(d, "S", "X");
        else
            add(d, "S");
        return i + 2;
    }
    add(d, "K");
    if (AT(i + 1, " C", " Q", " G")) /* Mac Caffrey, Mac Gregor */
        return i + 3;
    if (AT(i + 1, "C", "K", "Q") && !AT(i + 1, "CE", "CI"))
        return i + 2;
    return i + 1;
}

static long dm_g(dm *d, long i)
{
    if (dm_at(d, i + 1) == 'H') {
        if (i > 0 && !dm_vowel(d, i - 1)) {
            add(d, "K");
            return i + 2;
        }
        if (i == 0) { /* Ghislane, Ghiradelli */
            add(d, dm_at(d, i + 2) == 'I' ? "J" : "K");
            return i + 2;
        }
        /* Parker's rule: Hugh, bough, Broughton */
        if ((i > 1 && AT(i - 2, "B", "H", "D")) || (i > 2 && AT(i - 3, "B", "H", "D")) ||
            (i > 3 && AT(i - 4, "B", "H")))
            return i + 2;
        if (i > 2 && dm_at(d, i - 1) == 'U' && AT(i - 3, "C", "G", "L", "R", "T"))
            add(d, "F"); /* laugh, McLaughlin, cough, Gough, rough, tough */
        else if (i > 0 && dm_at(d, i - 1) != 'I')
            add(d, "K");
        return i + 2;
    }
    if (dm_at(d, i + 1) == 'N') {
        if (i == 1 && dm_vowel(d, 0) && !d->slavo_germanic)
            dm_add(d, "KN", "N");
        else if (!AT(i + 2, "EY") && dm_at(d, i + 1) != 'Y' && !d->slavo_germanic)
            dm_add(d, "N", "KN"); /* not Cagney */
        else
            add(d, "KN");
        return i + 2;
    }
    if (AT(i + 1, "LI") && !d->slavo_germanic) { /* Tagliaro */
        dm_add(d, "KL", "L");
        return i + 2;
    }
    /* -GES-, -GEP-, -GEL-, -GIE- at the beginning */
    if (i == 0 && (dm_at(d, i + 1) == 'Y' ||
                   AT(i + 1, "ES", "EP", "EB", "EL", "EY", "IB", "IL", "IN", "IE", "EI", "ER"))) {
        dm_add(d, "K", "J");
        return i + 2;
    }
    /* -GER-, -GY- */
    if ((AT(i + 1, "ER") || dm_at(d, i + 1) == 'Y') && !AT(0, "DANGER", "RANGER", "MANGER") &&
        !AT(i - 1, "E", "I") && !AT(i - 1, "RGY", "OGY")) {
        dm_add(d, "K", "J");
        return i + 2;
    }
    /* Italian: Biaggi */
    if (AT(i + 1, "E", "I", "Y") || AT(i - 1, "AGGI", "OGGI")) {
        if (AT(0, "VAN ", "VON ") || AT(0, "SCH") || AT(i + 1, "ET"))
            add(d, "K"); /* obviously Germanic */
        else if (AT(i + 1, "IER "))
            add(d, "J"); /* French ending */
        else
            dm_add(d, "J", "K");
        return i + 2;
    }
    add(d, "K");
    return dm_at(d, i + 1) == 'G' ? i + 2 : i + 1;
}

static long dm_s(dm *d, long i)
{
    if (AT(i - 1, "ISL", "YSL")) /* island, isle, Carlisle, Carlysle */
        return i + 1;
    if (i == 0 && AT(i, "SUGAR")) {
        dm_add(d, "X", "S");
        return i + 1;
    }
    if (AT(i, "SH")) {
        if (AT(i + 1, "HEIM", "HOEK", "HOLM", "HOLZ"))
            add(d, "S"); /* Germanic */
        else
            add(d, "X");
        return i + 2;
    }
    if (AT(i, "SIO", "SIA") || AT(i, "SIAN")) { /* Italian, Armenian */
        if (d->slavo_germanic)
            add(d, "S");
        else
            dm_add(d, "S", "X");
        return i + 3;
    }
    /* German and anglicised: Smith ~ Schmidt, Snider ~ Schneider; Slavic -SZ- */
    if ((i == 0 && AT(i + 1, "M", "N", "L", "W")) || AT(i + 1, "Z")) {
        dm_add(d, "S", "X");
        return AT(i + 1, "Z") ? i + 2 : i + 1;
    }
    if (AT(i, "SC")) {
        if (dm_at(d, i + 2) == 'H') {                            /* Schlesinger's rule */
            if (AT(i + 3, "OO", "ER", "EN", "UY", "ED", "EM")) { /* Dutch: school, schooner */
                if (AT(i + 3, "ER", "EN"))
                    dm_add(d, "X", "SK"); /* Schermerhorn, Schenker */
                else
                    add(d, "SK");
                return i + 3;
            }
            if (i == 0 && !dm_vowel(d, 3) && dm_at(d, 3) != 'W')
                dm_add(d, "X", "S");
            else
                add(d, "X");
            return i + 3;
        }
        if (AT(i + 2, "I", "E", "Y")) {
            add(d, "S");
            return i + 3;
        }
        add(d, "SK");
        return i + 3;
    }
    if (i == d->last && AT(i - 2, "AI", "OI"))
        dm_add(d, "", "S"); /* French: Resnais, Artois */
    else
        add(d, "S");
    return AT(i + 1, "S", "Z") ? i + 2 : i + 1;
}

static long dm_letter(dm *d, long i)
{
    char c = dm_at(d, i), next = dm_at(d, i + 1);
    switch (c) {
    case 'A':
    case 'E':
    case 'I':
    case 'O':
    case 'U':
    case 'Y':
        if (i == 0)
            add(d, "A");
        return i + 1;
    case 'B':
        add(d, "P");
        return next == 'B' ? i + 2 : i + 1;
    case 'C':
        return dm_c(d, i);
    case 'D':
        if (AT(i, "DG")) {
            if (AT(i + 2, "I", "E", "Y")) { /* edge */
                add(d, "J");
                return i + 3;
            }
            add(d, "TK"); /* Edgar */
            return i + 2;
        }
        add(d, "T");
        return AT(i, "DT", "DD") ? i + 2 : i + 1;
    case 'F':
        add(d, "F");
        return next == 'F' ? i + 2 : i + 1;
    case 'G':
        return dm_g(d, i);
    case 'H':
        /* kept only first or between vowels, and before a vowel */
        if ((i == 0 || dm_vowel(d, i - 1)) && dm_vowel(d, i + 1)) {
            add(d, "H");
            return i + 2;
        }
        return i + 1;
    case 'J':
        if (AT(i, "JOSE") || AT(0, "SAN ")) { /* Spanish: Jose, San Jacinto */
            if ((i == 0 && dm_at(d, i + 4) == ' ') || AT(0, "SAN "))
                add(d, "H");
            else
                dm_add(d, "J", "H");
            return i + 1;
        }
        if (i == 0)
            dm_add(d, "J", "A"); /* Yankelovich, Jankelowicz */
        else if (dm_vowel(d, i - 1) && !d->slavo_germanic && (next == 'A' || next == 'O'))
            dm_add(d, "J", "H"); /* Spanish: bajador */
        else if (i == d->last)
            dm_add(d, "J", "");
        else if (!AT(i + 1, "L", "T", "K", "S", "N", "M", "B", "Z") && !AT(i - 1, "S", "K", "L"))
            add(d, "J");
        return next == 'J' ? i + 2 : i + 1;
    case 'K':
        add(d, "K");
        return next == 'K' ? i + 2 : i + 1;
    case 'L':
        if (next == 'L') {
            /* Spanish: Cabrillo, Gallegos */
            if ((i == d->n - 3 && AT(i - 1, "ILLO", "ILLA", "ALLE")) ||
                ((AT(d->last - 1, "AS", "OS") || AT(d->last, "A", "O")) && AT(i - 1, "ALLE"))) {
                dm_add(d, "L", "");
                return i + 2;
            }
            add(d, "L");
            return i + 2;
        }
        add(d, "L");
        return i + 1;
    case 'M':
        add(d, "M");
        /* dumb, thumb, plumber */
        if ((AT(i - 1, "UMB") && (i + 1 == d->last || AT(i + 2, "ER"))) || next == 'M')
            return i + 2;
        return i + 1;
    case 'N':
        add(d, "N");
        return next == 'N' ? i + 2 : i + 1;
    case 'P':
        if (next == 'H') {
            add(d, "F");
            return i + 2;
        }
        add(d, "P");
        return AT(i + 1, "P", "B") ? i + 2 : i + 1; /* Campbell, raspberry */
    case 'Q':
        add(d, "K");
        return next == 'Q' ? i + 2 : i + 1;
    case 'R':
        /* French: Rogier, but not Hochmeier */
        if (i == d->last && !d->slavo_germanic && AT(i - 2, "IE") && !AT(i - 4, "ME", "MA"))
            dm_add(d, "", "R");
        else
            add(d, "R");
        return next == 'R' ? i + 2 : i + 1;
    case 'S':
        return dm_s(d, i);
    case 'T':
        if (AT(i, "TION") || AT(i, "TIA", "TCH")) {
            add(d, "X");
            return i + 3;
        }
        if (AT(i, "TH") || AT(i, "TTH")) {
            if (AT(i + 2, "OM", "AM") || AT(0, "VAN ", "VON ") || AT(0, "SCH"))
                add(d, "T"); /* Thomas, Thames, Germanic */
            else
                dm_add(d, "0", "T");
            return i + 2;
        }
        add(d, "T");
        return AT(i + 1, "T", "D") ? i + 2 : i + 1;
    case 'V':
        add(d, "F");
        return next == 'V' ? i + 2 : i + 1;
    case 'W':
        if (AT(i, "WR")) {
            add(d, "R");
            return i + 2;
        }
        if (i == 0 && (dm_vowel(d, i + 1) || AT(i, "WH"))) {
            if (dm_vowel(d, i + 1))
                dm_add(d, "A", "F"); /* Wasserman ~ Vasserman */
            else
                add(d, "A"); /* Uomo ~ Womo */
        }
        /* Arnow ~ Arnoff */
        if ((i == d->last && dm_vowel(d, i - 1)) || AT(i - 1, "EWSKI", "EWSKY", "OWSKI", "OWSKY") ||
            AT(0, "SCH")) {
            dm_add(d, "", "F");
            return i + 1;
        }
        if (AT(i, "WICZ", "WITZ")) { /* Polish: Filipowicz */
            dm_add(d, "TS", "FX");
            return i + 4;
        }
        return i + 1;
    case 'X':
        /* French: Breaux */
        if (!(i == d->last && (AT(i - 3, "IAU", "EAU") || AT(i - 2, "AU", "OU"))))
            add(d, "KS");
        return AT(i + 1, "C", "X") ? i + 2 : i + 1;
    case 'Z':
        if (next == 'H') { /* Chinese pinyin: Zhao */
            add(d, "J");
            return i + 2;
        }
        if (AT(i + 1, "ZO", "ZI", "ZA") || (d->slavo_germanic && i > 0 && dm_at(d, i - 1) != 'T'))
            dm_add(d, "S", "TS");
        else
            add(d, "S");
        return next == 'Z' ? i + 2 : i + 1;
    default:
        return i + 1;
    }
}

void mdm_phon_double_metaphone(const char *in, char *primary, char *alternate, size_t outlen)
{
    word w;
    word_load(&w, in);
    dm d = {.w = &w, .n = (long)w.n, .last = (long)w.n - 1};
    key_init(&d.pri);
    key_init(&d.alt);
    d.slavo_germanic =
        strchr(w.s, 'W') || strchr(w.s, 'K') || strstr(w.s, "CZ") || strstr(w.s, "WITZ");
    long i = 0;
    if (d.n > 0) {
        if (dm_is(&d, 0, "GN", "KN", "PN", "WR", "PS", (const char *)NULL))
            i = 1;                 /* silent first letter */
        if (dm_at(&d, 0) == 'X') { /* Xavier */
            add(&d, "S");
            i = 1;
        }
    }
    while (i < d.n)
        i = dm_letter(&d, i);
    key_emit(&d.pri, primary, outlen);
    key_emit(&d.alt, alternate, outlen);
    word_free(&w);
}

mdm_phon_fn mdm_phon_by_name(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "soundex") == 0)
        return mdm_phon_soundex;
    if (strcmp(name, "nysiis") == 0)
        return mdm_phon_nysiis;
    if (strcmp(name, "metaphone") == 0)
        return mdm_phon_metaphone;
    return NULL;
}
