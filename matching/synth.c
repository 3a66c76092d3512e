/* Synthetic retail customers over five source systems (see synth.h).
 *
 * Generation runs household by household: a household draws an address, a home phone
 * and a family name; each member draws a first name, birth date, e-mail and mobile,
 * then emits one or more records into the sources it belongs to, each record through
 * its own error model. Rows are buffered per source, shuffled, and numbered at write
 * time, so record ids say nothing about people. */
#include "matching/synth.h"

#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const mdm_synth_sources[5] = {"crm", "loyalty", "commerce", "erp", "pos"};

enum { S_CRM, S_LOYALTY, S_COMMERCE, S_ERP, S_POS, S_COUNT };

/* ---- RNG: xoshiro256** seeded by splitmix64 ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rnext(rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static uint32_t rint_(rng *r, uint32_t n) /* [0, n) */
{
    return (uint32_t)(((rnext(r) >> 32) * (uint64_t)n) >> 32);
}

static double runif(rng *r)
{
    return (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0);
}

static bool chance(rng *r, double p)
{
    return runif(r) < p;
}

/* Zipf-like pick: index i with weight ~ 1/(i+3). */
static uint32_t rzipf(rng *r, uint32_t n)
{
    double v = 3.0 * exp(runif(r) * log((n + 3.0) / 3.0));
    uint32_t i = (uint32_t)(v - 3.0);
    return i < n ? i : n - 1;
}

/* ---- tables ---- */

typedef struct first_entry {
    const char *name;
    const char *nick; /* "" when none; several separated by '|' */
} first_entry;

static const first_entry male_first[] = {
    {"James", "Jim|Jimmy|Jamie"},
    {"John", "Jack|Johnny"},
    {"Robert", "Bob|Rob|Bobby"},
    {"Michael", "Mike|Mikey"},
    {"William", "Bill|Will|Billy"},
    {"David", "Dave"},
    {"Richard", "Rick|Dick|Rich"},
    {"Joseph", "Joe|Joey"},
    {"Thomas", "Tom|Tommy"},
    {"Charles", "Charlie|Chuck"},
    {"Christopher", "Chris"},
    {"Daniel", "Dan|Danny"},
    {"Matthew", "Matt"},
    {"Anthony", "Tony"},
    {"Mark", ""},
    {"Donald", "Don"},
    {"Steven", "Steve"},
    {"Paul", ""},
    {"Andrew", "Andy|Drew"},
    {"Joshua", "Josh"},
    {"Kenneth", "Ken|Kenny"},
    {"Kevin", ""},
    {"Brian", ""},
    {"George", ""},
    {"Timothy", "Tim"},
    {"Ronald", "Ron"},
    {"Edward", "Ed|Ted|Eddie"},
    {"Jason", ""},
    {"Jeffrey", "Jeff"},
    {"Ryan", ""},
    {"Jacob", "Jake"},
    {"Gary", ""},
    {"Nicholas", "Nick"},
    {"Eric", ""},
    {"Jonathan", "Jon"},
    {"Stephen", "Steve"},
    {"Larry", ""},
    {"Justin", ""},
    {"Scott", ""},
    {"Brandon", ""},
    {"Benjamin", "Ben"},
    {"Samuel", "Sam"},
    {"Gregory", "Greg"},
    {"Alexander", "Alex"},
    {"Patrick", "Pat"},
    {"Frank", ""},
    {"Raymond", "Ray"},
    {"Jack", ""},
    {"Dennis", ""},
    {"Jerry", ""},
    {"Tyler", ""},
    {"Aaron", ""},
    {"Jose", ""},
    {"Adam", ""},
    {"Nathan", "Nate"},
    {"Henry", "Hank"},
    {"Peter", "Pete"},
    {"Zachary", "Zach"},
    {"Douglas", "Doug"},
    {"Harold", "Harry"},
    {"José", ""},
    {"François", ""},
    {"Björn", ""},
    {"Jürgen", ""},
    {"Jörg", ""},
    {"Günter", ""},
    {"Ömer", ""},
    {"Søren", ""},
    {"Łukasz", ""},
    {"Zoltán", ""},
    {"Mohammed", ""},
    {"Wei", ""},
    {"Hiroshi", ""},
};
static const first_entry female_first[] = {
    {"Mary", "Molly"},
    {"Patricia", "Pat|Patty|Trish"},
    {"Jennifer", "Jen|Jenny"},
    {"Linda", ""},
    {"Elizabeth", "Liz|Beth|Betty|Eliza"},
    {"Barbara", "Barb"},
    {"Susan", "Sue|Susie"},
    {"Jessica", "Jess"},
    {"Sarah", ""},
    {"Karen", ""},
    {"Lisa", ""},
    {"Nancy", ""},
    {"Betty", ""},
    {"Margaret", "Maggie|Peggy|Meg"},
    {"Sandra", "Sandy"},
    {"Ashley", ""},
    {"Kimberly", "Kim"},
    {"Emily", "Em"},
    {"Donna", ""},
    {"Michelle", ""},
    {"Carol", ""},
    {"Amanda", "Mandy"},
    {"Dorothy", "Dot"},
    {"Melissa", "Missy"},
    {"Deborah", "Deb|Debbie"},
    {"Stephanie", "Steph"},
    {"Rebecca", "Becky"},
    {"Sharon", ""},
    {"Laura", ""},
    {"Cynthia", "Cindy"},
    {"Kathleen", "Kathy|Kate"},
    {"Amy", ""},
    {"Angela", "Angie"},
    {"Shirley", ""},
    {"Anna", ""},
    {"Brenda", ""},
    {"Pamela", "Pam"},
    {"Emma", ""},
    {"Nicole", "Nikki"},
    {"Helen", ""},
    {"Samantha", "Sam"},
    {"Katherine", "Kate|Katie|Kathy"},
    {"Christine", "Chris"},
    {"Debra", "Deb"},
    {"Rachel", ""},
    {"Carolyn", ""},
    {"Janet", ""},
    {"Catherine", "Cathy|Kate"},
    {"Maria", ""},
    {"Heather", ""},
    {"Diane", ""},
    {"Ruth", ""},
    {"Julie", ""},
    {"Olivia", "Liv"},
    {"Joyce", ""},
    {"Virginia", "Ginny"},
    {"Victoria", "Vicky|Tori"},
    {"Kelly", ""},
    {"Lauren", ""},
    {"Christina", "Tina"},
    {"Zoë", ""},
    {"Jördis", ""},
    {"Ása", ""},
    {"Käthe", ""},
    {"Renée", ""},
    {"Inés", ""},
    {"Chloé", ""},
    {"Małgorzata", ""},
    {"Siobhán", ""},
    {"Mei", ""},
    {"Yuki", ""},
    {"Fatima", ""},
};
#define N_MALE   (sizeof male_first / sizeof male_first[0])
#define N_FEMALE (sizeof female_first / sizeof female_first[0])

static const char *const last_common[] = {
    "Smith",       "Johnson",    "Williams",  "Brown",       "Jones",        "Garcia",
    "Miller",      "Davis",      "Rodriguez", "Martinez",    "Hernandez",    "Lopez",
    "Gonzalez",    "Wilson",     "Anderson",  "Thomas",      "Taylor",       "Moore",
    "Jackson",     "Martin",     "Lee",       "Perez",       "Thompson",     "White",
    "Harris",      "Sanchez",    "Clark",     "Ramirez",     "Lewis",        "Robinson",
    "Walker",      "Young",      "Allen",     "King",        "Wright",       "Scott",
    "Torres",      "Nguyen",     "Hill",      "Flores",      "Green",        "Adams",
    "Nelson",      "Baker",      "Hall",      "Rivera",      "Campbell",     "Mitchell",
    "Carter",      "Roberts",    "Gomez",     "Phillips",    "Evans",        "Turner",
    "Diaz",        "Parker",     "Cruz",      "Edwards",     "Collins",      "Reyes",
    "Stewart",     "Morris",     "Morales",   "Murphy",      "Cook",         "Rogers",
    "Gutierrez",   "Ortiz",      "Morgan",    "Cooper",      "Peterson",     "Bailey",
    "Reed",        "Kelly",      "Howard",    "Ramos",       "Kim",          "Cox",
    "Ward",        "Richardson", "Watson",    "Brooks",      "Chavez",       "Wood",
    "James",       "Bennett",    "Gray",      "Mendoza",     "Ruiz",         "Hughes",
    "Price",       "Alvarez",    "Castillo",  "Sanders",     "Patel",        "Myers",
    "Long",        "Ross",       "Foster",    "Jimenez",     "O'Brien",      "McDonald",
    "Müller",      "García",     "Núñez",     "Søndergaard", "Dvořák",       "Björk",
    "Peña",        "Gómez",      "Hernández", "Schröder",    "Łukaszewski",  "Nowak",
    "Kowalski",    "Zhang",      "Wang",      "Tanaka",      "Van der Berg", "De la Cruz",
    "Smith-Jones", "Schäfer",    "Köhler",    "Jäger",       "Möller",       "Groß",
    "Krüger",      "Hoß",        "Åberg",     "Løvgren",     "Özdemir",      "Bäcker",
};
#define N_LAST (sizeof last_common / sizeof last_common[0])

static const char *const syl_a[] = {"Bar",   "Kel", "Mor", "Hal",  "Win", "Dun",  "Ash", "Brad",
                                    "Cal",   "Dar", "Els", "Fair", "Gal", "Hart", "Ing", "Kirk",
                                    "Lang",  "Mar", "Nor", "Ost",  "Pem", "Quin", "Rad", "Sel",
                                    "Thorn", "Ul",  "Ver", "Wal",  "Yar", "Zel",  "Bel", "Cor"};
static const char *const syl_b[] = {
    "ton",  "ley",   "wick", "ford", "man",  "son",  "by",  "ridge", "field", "worth", "stein",
    "berg", "ovich", "ski",  "ez",   "ardi", "elli", "ano", "ham",   "den",   "well",  "more",
    "ing",  "er",    "ow",   "ett",  "ins",  "ock",  "ald", "ard",   "ier",   "ini"};
#define N_SA (sizeof syl_a / sizeof syl_a[0])
#define N_SB (sizeof syl_b / sizeof syl_b[0])

static const char *const streets[] = {
    "Main",     "Oak",      "Pine",     "Maple",     "Cedar",    "Elm",       "Washington",
    "Lake",     "Hill",     "Park",     "Walnut",    "Sunset",   "Lincoln",   "Jackson",
    "Church",   "River",    "Highland", "Willow",    "Meadow",   "Forest",    "Spring",
    "North",    "Ridge",    "Chestnut", "Franklin",  "Madison",  "Jefferson", "Adams",
    "Center",   "Cherry",   "Dogwood",  "Birch",     "Magnolia", "Sycamore",  "Hickory",
    "Lakeview", "Valley",   "Colonial", "Mill",      "Broad",    "Prospect",  "Summit",
    "Orchard",  "Heritage", "Fairview", "Greenwood", "Harbor",   "Bay",       "Canyon",
    "Vista",
};
#define N_STREETS (sizeof streets / sizeof streets[0])
static const char *const suffix_long[] = {"Street", "Avenue",    "Road",  "Drive",   "Lane",
                                          "Court",  "Boulevard", "Place", "Terrace", "Way"};
static const char *const suffix_short[] = {"St", "Ave",  "Rd", "Dr",  "Ln",
                                           "Ct", "Blvd", "Pl", "Ter", "Way"};
#define N_SUFFIX 10

typedef struct city {
    const char *name, *state;
    int zip3;
    int area;
} city;
static const city cities[] = {
    {"New York", "NY", 100, 212},     {"Los Angeles", "CA", 900, 310},
    {"Chicago", "IL", 606, 312},      {"Houston", "TX", 770, 713},
    {"Phoenix", "AZ", 850, 602},      {"Philadelphia", "PA", 191, 215},
    {"San Antonio", "TX", 782, 210},  {"San Diego", "CA", 921, 619},
    {"Dallas", "TX", 752, 214},       {"San Jose", "CA", 951, 408},
    {"Austin", "TX", 787, 512},       {"Jacksonville", "FL", 322, 904},
    {"Columbus", "OH", 432, 614},     {"Charlotte", "NC", 282, 704},
    {"Indianapolis", "IN", 462, 317}, {"San Francisco", "CA", 941, 415},
    {"Seattle", "WA", 981, 206},      {"Denver", "CO", 802, 303},
    {"Boston", "MA", 21, 617},        {"Nashville", "TN", 372, 615},
    {"Detroit", "MI", 482, 313},      {"Portland", "OR", 972, 503},
    {"Las Vegas", "NV", 891, 702},    {"Memphis", "TN", 381, 901},
    {"Louisville", "KY", 402, 502},   {"Baltimore", "MD", 212, 410},
    {"Milwaukee", "WI", 532, 414},    {"Albuquerque", "NM", 871, 505},
    {"Tucson", "AZ", 857, 520},       {"Fresno", "CA", 937, 559},
    {"Sacramento", "CA", 958, 916},   {"Atlanta", "GA", 303, 404},
    {"Miami", "FL", 331, 305},        {"Minneapolis", "MN", 554, 612},
    {"Cleveland", "OH", 441, 216},    {"Springfield", "IL", 627, 217},
    {"Springfield", "MA", 11, 413},   {"Saint Louis", "MO", 631, 314},
    {"Pittsburgh", "PA", 152, 412},   {"Cincinnati", "OH", 452, 513},
};
#define N_CITIES (sizeof cities / sizeof cities[0])

static const char *const domains[] = {"gmail.com",  "yahoo.com", "hotmail.com", "outlook.com",
                                      "icloud.com", "aol.com",   "comcast.net", "gmail.com",
                                      "gmail.com",  "proton.me", "mail.com",    "yahoo.com"};
#define N_DOMAINS (sizeof domains / sizeof domains[0])

/* ---- people ---- */

typedef struct addr {
    int number;
    int street, suffix;
    int city;
    int zip;
    int unit; /* 0: none */
} addr;

typedef struct person {
    long id;
    const first_entry *first;
    const first_entry *middle;
    char last[48];
    char maiden[48]; /* "" unless married with a name change */
    int by, bm, bd;
    addr home, old;                  /* old.number == 0: never moved */
    char home_phone[16], mobile[16]; /* 10 digits */
    char old_phone[16];              /* home phone before the move, "" if none */
    char partner_mobile[16];         /* a partner's mobile this person sometimes gives */
    char email[128], email_old[128];
    char family_email[128]; /* the household's shared address, "" if none */
    char loyalty[16], tax[16];
    int gen; /* generational suffix, index into gen_suffix (0: none) */
    bool in[S_COUNT];
    bool female;
} person;

/* Generational suffixes: a son named after his father is "Jr" (or "II", "III"); the
 * father is sometimes written "Sr". */
static const char *const gen_suffix[] = {"", "Sr", "Jr", "II", "III"};
enum { GEN_NONE, GEN_SR, GEN_JR, GEN_II, GEN_III };

typedef struct src_out {
    mdm_buf text; /* rows without their id, each ending in '\n' */
    size_t *off;  /* row start offsets */
    long *who;    /* person id per row */
    size_t n, cap;
} src_out;

typedef struct gen {
    uint64_t *used; /* hash set of e-mails and phones handed out (0 = empty slot) */
    size_t used_n, used_cap;
    rng r;
    double er, dup;
    src_out out[S_COUNT];
    char store_phones[20][16];
} gen;

/* Reserves s (e-mail or phone); false when some other person already holds it. */
static bool claim(gen *g, const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = s; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h |= 1;
    if (2 * (g->used_n + 1) > g->used_cap) {
        size_t old = g->used_cap;
        uint64_t *o = g->used;
        g->used_cap = old ? 2 * old : 1 << 16;
        g->used = mdm_xcalloc(g->used_cap, sizeof *g->used);
        for (size_t i = 0; i < old; i++)
            if (o[i]) {
                size_t j = (size_t)(o[i] >> 7) & (g->used_cap - 1);
                while (g->used[j])
                    j = (j + 1) & (g->used_cap - 1);
                g->used[j] = o[i];
            }
        free(o);
    }
    size_t j = (size_t)(h >> 7) & (g->used_cap - 1);
    while (g->used[j]) {
        if (g->used[j] == h)
            return false;
        j = (j + 1) & (g->used_cap - 1);
    }
    g->used[j] = h;
    g->used_n++;
    return true;
}

static void make_last(gen *g, char *out, size_t cap)
{
    if (chance(&g->r, 0.45)) {
        snprintf(out, cap, "%s", last_common[rzipf(&g->r, N_LAST)]);
    } else {
        snprintf(out, cap, "%s%s", syl_a[rint_(&g->r, N_SA)], syl_b[rint_(&g->r, N_SB)]);
    }
}

static void make_phone(gen *g, char *out, int area)
{
    int exch = 201 + (int)rint_(&g->r, 788);
    if (exch % 100 == 11 || exch == 555)
        exch++;
    snprintf(out, 16, "%03d%03d%04d", area, exch, (int)rint_(&g->r, 10000));
}

static void make_addr(gen *g, addr *a)
{
    a->number = 1 + (int)rzipf(&g->r, 9000);
    a->street = (int)rint_(&g->r, N_STREETS);
    a->suffix = (int)rint_(&g->r, N_SUFFIX);
    a->city = (int)rzipf(&g->r, N_CITIES);
    a->zip = cities[a->city].zip3 * 100 + (int)rint_(&g->r, 100);
    a->unit = chance(&g->r, 0.2) ? 1 + (int)rint_(&g->r, 40) : 0;
}

/* ASCII lower-case copy without accents (only what the tables hold). */
static void fold_ascii(const char *in, char *out, size_t cap, bool german)
{
    static const struct {
        const char *u, *a, *de;
    } map[] = {
        {"é", "e", "e"},  {"è", "e", "e"},  {"ë", "e", "e"},  {"á", "a", "a"},  {"í", "i", "i"},
        {"ó", "o", "o"},  {"ú", "u", "u"},  {"ñ", "n", "n"},  {"ç", "c", "c"},  {"ü", "u", "ue"},
        {"ö", "o", "oe"}, {"ä", "a", "ae"}, {"ø", "o", "oe"}, {"Ø", "O", "Oe"}, {"Ł", "L", "L"},
        {"ł", "l", "l"},  {"ř", "r", "r"},  {"á", "a", "a"},  {"Ú", "U", "U"},  {"ß", "ss", "ss"},
        {"å", "a", "aa"}, {"Å", "A", "Aa"}, {"Ö", "O", "Oe"}, {"Ü", "U", "Ue"}, {"Ä", "A", "Ae"},
    };
    size_t o = 0;
    for (const char *p = in; *p && o + 3 < cap;) {
        bool done = false;
        if ((unsigned char)*p >= 0x80) {
            for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
                size_t l = strlen(map[i].u);
                if (strncmp(p, map[i].u, l) == 0) {
                    const char *rep = german ? map[i].de : map[i].a;
                    for (const char *q = rep; *q && o + 1 < cap; q++)
                        out[o++] = *q;
                    p += l;
                    done = true;
                    break;
                }
            }
            if (!done) { /* unknown multibyte: drop it */
                p++;
                while (((unsigned char)*p & 0xC0) == 0x80)
                    p++;
                continue;
            }
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

static void typo(gen *g, char *s)
{
    size_t n = strlen(s);
    if (n < 3 || !is_ascii(s))
        return;
    size_t i = 1 + rint_(&g->r, (uint32_t)(n - 1));
    char c = (char)('a' + rint_(&g->r, 26));
    if (isupper((unsigned char)s[i]))
        c = (char)toupper((unsigned char)c);
    switch (rint_(&g->r, 4)) {
    case 0: /* substitute */
        if (isalpha((unsigned char)s[i]))
            s[i] = c;
        break;
    case 1: /* delete */
        memmove(s + i, s + i + 1, n - i);
        break;
    case 2: /* insert */
        if (n + 2 < 48) {
            memmove(s + i + 1, s + i, n - i + 1);
            s[i] = c;
        }
        break;
    default: /* transpose */
        if (i + 1 < n) {
            char t = s[i];
            s[i] = s[i + 1];
            s[i + 1] = t;
        }
        break;
    }
}

/* Cuts s after its first character (a whole UTF-8 sequence). */
static void initial_only(char *s)
{
    if (!s[0])
        return;
    size_t n = 1;
    while (((unsigned char)s[n] & 0xC0) == 0x80)
        n++;
    s[n] = 0;
}

static void upper(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void pick_nick(gen *g, const first_entry *f, char *out, size_t cap)
{
    const char *n = f->nick;
    int count = 1;
    for (const char *p = n; *p; p++)
        count += *p == '|';
    int k = (int)rint_(&g->r, (uint32_t)count);
    const char *s = n;
    while (k-- > 0)
        s = strchr(s, '|') + 1;
    const char *e = strchr(s, '|');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l >= cap)
        l = cap - 1;
    memcpy(out, s, l);
    out[l] = 0;
}

static void make_email(gen *g, person *p, char *out, size_t cap)
{
    char f[40], l[40];
    fold_ascii(p->first->name, f, sizeof f, false);
    fold_ascii(p->last, l, sizeof l, false);
    lower(f);
    lower(l);
    for (char *q = l; *q; q++)
        if (!isalnum((unsigned char)*q))
            memmove(q, q + 1, strlen(q));
    const char *d = domains[rint_(&g->r, N_DOMAINS)];
    switch (rint_(&g->r, 5)) {
    case 0:
        snprintf(out, cap, "%s.%s@%s", f, l, d);
        break;
    case 1:
        snprintf(out, cap, "%c%s%d@%s", f[0], l, (int)rint_(&g->r, 100), d);
        break;
    case 2:
        snprintf(out, cap, "%s%s@%s", f, l, d);
        break;
    case 3:
        snprintf(out, cap, "%s_%s%d@%s", l, f, p->by % 100, d);
        break;
    default:
        snprintf(out, cap, "%s%d@%s", f, (int)rint_(&g->r, 10000), d);
        break;
    }
}

static void unique_email(gen *g, person *p, char *out, size_t cap)
{
    for (int i = 0; i < 20; i++) {
        make_email(g, p, out, cap);
        if (claim(g, out))
            return;
    }
    char *at = strchr(out, '@');
    char tail[64];
    snprintf(tail, sizeof tail, "%.40s", at ? at : "@example.org");
    snprintf(out, cap, "user%ld%s", p->id, tail);
    claim(g, out);
}

/* A household's shared e-mail address, unique to it. */
static void family_mail(gen *g, const char *last, char *out, size_t cap)
{
    char l[40];
    fold_ascii(last, l, sizeof l, false);
    lower(l);
    for (char *q = l; *q; q++)
        if (!isalnum((unsigned char)*q))
            memmove(q, q + 1, strlen(q));
    for (int i = 0; i < 50; i++) {
        const char *d = domains[rint_(&g->r, N_DOMAINS)];
        switch (rint_(&g->r, 3)) {
        case 0:
            snprintf(out, cap, "the%ss@%s", l, d);
            break;
        case 1:
            snprintf(out, cap, "%sfamily%d@%s", l, (int)rint_(&g->r, 100), d);
            break;
        default:
            snprintf(out, cap, "%s.home%d@%s", l, (int)rint_(&g->r, 1000), d);
            break;
        }
        if (claim(g, out))
            return;
    }
    out[0] = 0; /* no free name: the household goes without */
}

static void unique_phone(gen *g, char *out, int area)
{
    do
        make_phone(g, out, area);
    while (!claim(g, out));
}

/* ---- record rendering ---- */

typedef struct view {
    char first[48], middle[48], last[48];
    int by, bm, bd; /* by 0: missing */
    addr a;
    bool has_addr;
    char phone[16]; /* digits or "" */
    char email[128];
    char suffix[8]; /* generational suffix shown in this record, "" if none */
    bool female;
} view;

static void field(mdm_buf *b, const char *v)
{
    mdm_buf_putc(b, ',');
    if (strpbrk(v, ",\"\n")) {
        mdm_buf_putc(b, '"');
        for (; *v; v++) {
            if (*v == '"')
                mdm_buf_putc(b, '"');
            mdm_buf_putc(b, *v);
        }
        mdm_buf_putc(b, '"');
    } else {
        mdm_buf_puts(b, v);
    }
}

static void fmt_phone(gen *g, const char *d, char *out, size_t cap, int style)
{
    if (!d[0]) {
        out[0] = 0;
        return;
    }
    if (style < 0)
        style = (int)rint_(&g->r, 5);
    switch (style) {
    case 0:
        snprintf(out, cap, "(%.3s) %.3s-%.4s", d, d + 3, d + 6);
        break;
    case 1:
        snprintf(out, cap, "%.3s.%.3s.%.4s", d, d + 3, d + 6);
        break;
    case 2:
        snprintf(out, cap, "+1 %.3s %.3s %.4s", d, d + 3, d + 6);
        break;
    case 3:
        snprintf(out, cap, "%.3s-%.3s-%.4s", d, d + 3, d + 6);
        break;
    default:
        snprintf(out, cap, "%s", d);
        break;
    }
}

static void fmt_street(gen *g, const addr *a, char *out, size_t cap, bool up)
{
    bool shortform = chance(&g->r, 0.5);
    snprintf(out, cap, "%d %s %s", a->number, streets[a->street],
             shortform ? suffix_short[a->suffix] : suffix_long[a->suffix]);
    if (up)
        upper(out);
}

static void fmt_unit(gen *g, const addr *a, char *out, size_t cap)
{
    if (!a->unit) {
        out[0] = 0;
        return;
    }
    switch (rint_(&g->r, 4)) {
    case 0:
        snprintf(out, cap, "Apt %d", a->unit);
        break;
    case 1:
        snprintf(out, cap, "Apt. %d", a->unit);
        break;
    case 2:
        snprintf(out, cap, "Unit %d", a->unit);
        break;
    default:
        snprintf(out, cap, "#%d", a->unit);
        break;
    }
}

static void emit(gen *g, int s, long who, mdm_buf *row)
{
    src_out *o = &g->out[s];
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 1024;
        o->off = mdm_xrealloc(o->off, o->cap * sizeof *o->off);
        o->who = mdm_xrealloc(o->who, o->cap * sizeof *o->who);
    }
    o->off[o->n] = o->text.len;
    o->who[o->n] = who;
    o->n++;
    mdm_buf_append(&o->text, row->data, row->len);
    mdm_buf_putc(&o->text, '\n');
}

/* Probability of at least one of er independent chances of base: base itself at error
 * rate 1, about base * er while that is small, and never 1, so a rate of 3 corrupts a
 * field more often without erasing it from every record. */
static double errp(double er, double base)
{
    return 1.0 - pow(1.0 - base, er);
}

/* Draws one record's view of person p through the error model. A few records are
 * sloppy (typed in a hurry at a till, migrated badly): every error is three times as
 * likely in them, so several errors meet in one record. */
static void make_view(gen *g, const person *p, int s, view *v)
{
    rng *r = &g->r;
    double er = g->er;
    if (chance(r, errp(er, 0.05)))
        er *= 3;
    memset(v, 0, sizeof *v);
    v->female = p->female;
    /* first name: nickname, accents, typo (sometimes two) */
    if (p->first->nick[0] && chance(r, errp(er, 0.15)))
        pick_nick(g, p->first, v->first, sizeof v->first);
    else
        snprintf(v->first, sizeof v->first, "%s", p->first->name);
    if (!is_ascii(v->first) && chance(r, 0.5)) {
        char t[48];
        fold_ascii(v->first, t, sizeof t, chance(r, 0.5));
        snprintf(v->first, sizeof v->first, "%s", t);
    }
    if (chance(r, errp(er, 0.08)))
        typo(g, v->first);
    if (chance(r, errp(er, 0.01)))
        typo(g, v->first);
    if (p->middle && chance(r, 0.6))
        snprintf(v->middle, sizeof v->middle, "%s", p->middle->name);
    /* last name: maiden/married (or both, hyphenated), accents, typo */
    if (p->maiden[0] && chance(r, 0.4)) {
        snprintf(v->last, sizeof v->last, "%s", p->maiden);
    } else if (p->maiden[0] && chance(r, 0.1)) {
        snprintf(v->last, sizeof v->last, "%.23s-%.23s", p->maiden, p->last);
    } else {
        snprintf(v->last, sizeof v->last, "%s", p->last);
    }
    if (!is_ascii(v->last) && chance(r, 0.5)) {
        char t[48];
        fold_ascii(v->last, t, sizeof t, chance(r, 0.5));
        snprintf(v->last, sizeof v->last, "%s", t);
    }
    if (chance(r, errp(er, 0.08)))
        typo(g, v->last);
    if (chance(r, errp(er, 0.01)))
        typo(g, v->last);
    if (chance(r, errp(er, 0.015))) {
        char t[48];
        memcpy(t, v->first, sizeof t);
        memcpy(v->first, v->last, sizeof t);
        memcpy(v->last, t, sizeof t);
    }
    if (chance(r, errp(er, 0.03)) && v->first[0]) { /* initial only, or no first name */
        if (chance(r, 0.5))
            initial_only(v->first);
        else
            v->first[0] = 0;
    }
    if (chance(r, errp(er, 0.005)))
        v->last[0] = 0;
    /* generational suffix: a Jr usually says so, a Sr seldom */
    if (p->gen && chance(r, p->gen == GEN_SR ? 0.3 : 0.65))
        snprintf(v->suffix, sizeof v->suffix, "%s", gen_suffix[p->gen]);
    /* birth date */
    v->by = p->by;
    v->bm = p->bm;
    v->bd = p->bd;
    if (chance(r, errp(er, 0.03))) {
        switch (rint_(r, 3)) {
        case 0:
            if (v->bd <= 12) {
                int t = v->bd;
                v->bd = v->bm;
                v->bm = t;
            }
            break;
        case 1:
            v->bd = 1 + (v->bd + (int)rint_(r, 3)) % 28;
            break;
        default:
            v->by += chance(r, 0.5) ? 1 : -1;
            if (chance(r, 0.3))
                v->by = p->by - p->by % 10 + (p->by % 10 + 5) % 10;
            break;
        }
    }
    if (chance(r, errp(er, s == S_POS || s == S_ERP ? 0.5 : 0.1)))
        v->by = 0;
    /* address: old one after a move, missing, wrong house number */
    v->has_addr = !chance(r, errp(er, 0.06));
    bool old = p->old.number && chance(r, 0.35);
    v->a = old ? p->old : p->home;
    if (chance(r, errp(er, 0.04)))
        v->a.number += (int)rint_(r, 3) + 1;
    /* phone: mobile, home (the old one with the old address), a partner's mobile, store
     * phone, typo, missing */
    const char *ph = chance(r, 0.55) ? p->mobile : p->home_phone;
    if (ph == p->home_phone && old && p->old_phone[0])
        ph = p->old_phone;
    if (p->partner_mobile[0] && chance(r, 0.05))
        ph = p->partner_mobile;
    snprintf(v->phone, sizeof v->phone, "%s", ph);
    if (chance(r, errp(er, 0.02))) {
        size_t i = 3 + rint_(r, 7);
        v->phone[i] = (char)('0' + rint_(r, 10));
    }
    if (s == S_POS && chance(r, 0.03))
        snprintf(v->phone, sizeof v->phone, "%s", g->store_phones[rint_(r, 20)]);
    if (chance(r, errp(er, 0.1)))
        v->phone[0] = 0;
    /* email: old one, the household's, variants, placeholder, missing */
    snprintf(v->email, sizeof v->email, "%s",
             p->email_old[0] && chance(r, 0.3) ? p->email_old : p->email);
    if (p->family_email[0] && chance(r, 0.35))
        snprintf(v->email, sizeof v->email, "%s", p->family_email);
    if (strstr(v->email, "@gmail.com") && chance(r, 0.1)) {
        char *at = strchr(v->email, '@');
        size_t tail = strlen(at);
        if ((size_t)(at - v->email) + 5 + tail < sizeof v->email) {
            memmove(at + 5, at, tail + 1);
            for (int k = 0; k < 5; k++)
                at[k] = "+shop"[k];
        }
    }
    if (chance(r, 0.1))
        upper(v->email);
    if (chance(r, errp(er, 0.02)))
        typo(g, v->email);
    if (s == S_COMMERCE && chance(r, 0.02))
        snprintf(v->email, sizeof v->email, "%s",
                 chance(r, 0.5) ? "noemail@example.com" : "none@none.com");
    if (chance(r, errp(er, s == S_POS ? 0.5 : 0.12)))
        v->email[0] = 0;
}

/* out = base plus the record's generational suffix the way people type it ("Jr",
 * "Jr.", "JR"), or base alone. */
static void with_suffix(gen *g, const view *v, const char *base, char *out, size_t cap)
{
    if (!v->suffix[0] || !base[0]) {
        snprintf(out, cap, "%s", base);
        return;
    }
    switch (rint_(&g->r, 3)) {
    case 0:
        snprintf(out, cap, "%s %s", base, v->suffix);
        break;
    case 1:
        snprintf(out, cap, "%s %s%s", base, v->suffix, v->suffix[0] == 'I' ? "" : ".");
        break;
    default: {
        char u[8];
        snprintf(u, sizeof u, "%s", v->suffix);
        upper(u);
        snprintf(out, cap, "%s %s", base, u);
        break;
    }
    }
}

/* ASCII-only systems (ERP, tills) store umlauts and accents the way their users type
 * them: German style (Mueller) or bare (Muller). */
static void ascii_only(gen *g, char *s, size_t cap)
{
    if (is_ascii(s))
        return;
    char t[64];
    fold_ascii(s, t, sizeof t, chance(&g->r, 0.6));
    size_t n = strlen(t);
    if (n >= cap)
        n = cap - 1;
    memcpy(s, t, n);
    s[n] = 0;
}

static void render(gen *g, const person *p, int s, mdm_buf *row)
{
    view v;
    make_view(g, p, s, &v);
    if (s == S_ERP || s == S_POS) {
        ascii_only(g, v.first, sizeof v.first);
        ascii_only(g, v.last, sizeof v.last);
    }
    mdm_buf_reset(row);
    char t[160], t2[160];
    const city *c = &cities[v.a.city];
    char zip[8];
    snprintf(zip, sizeof zip, "%05d", v.a.zip);
    switch (s) {
    case S_CRM:
        field(row, v.first);
        field(row, v.middle);
        with_suffix(g, &v, v.last, t, sizeof t);
        field(row, t);
        field(row, v.email);
        fmt_phone(g, v.phone, t, sizeof t, 0);
        field(row, t);
        if (v.has_addr) {
            fmt_street(g, &v.a, t, sizeof t, false);
            char unit[32];
            fmt_unit(g, &v.a, unit, sizeof unit);
            if (unit[0]) {
                size_t l = strlen(t);
                snprintf(t + l, sizeof t - l, " %s", unit);
            }
            field(row, t);
            field(row, c->name);
            field(row, c->state);
            field(row, zip);
        } else {
            field(row, "");
            field(row, "");
            field(row, "");
            field(row, "");
        }
        if (v.by)
            snprintf(t, sizeof t, "%04d-%02d-%02d", v.by, v.bm, v.bd);
        else
            t[0] = 0;
        field(row, t);
        field(row, chance(&g->r, 0.1) ? "" : v.female ? "F" : "M");
        break;
    case S_LOYALTY:
        if (chance(&g->r, 0.3)) {
            char l[48];
            snprintf(l, sizeof l, "%s", v.last);
            upper(l);
            snprintf(t2, sizeof t2, "%s, %s", l, v.first);
        } else if (v.middle[0] && chance(&g->r, 0.5)) {
            char mi[48];
            snprintf(mi, sizeof mi, "%s", v.middle);
            initial_only(mi);
            snprintf(t2, sizeof t2, "%s %s. %s", v.first, mi, v.last);
        } else {
            snprintf(t2, sizeof t2, "%s %s", v.first, v.last);
        }
        with_suffix(g, &v, t2, t, sizeof t);
        field(row, t);
        field(row, v.email);
        fmt_phone(g, v.phone, t, sizeof t, chance(&g->r, 0.5) ? 2 : 1);
        field(row, t);
        if (v.by)
            snprintf(t, sizeof t, "%02d/%02d/%04d", v.bm, v.bd, v.by);
        else
            t[0] = 0;
        field(row, t);
        field(row, v.has_addr ? zip : "");
        field(row, p->loyalty);
        break;
    case S_COMMERCE:
        snprintf(t, sizeof t, "%s", v.first);
        if (chance(&g->r, 0.3))
            lower(t);
        field(row, t);
        with_suffix(g, &v, v.last, t, sizeof t);
        if (chance(&g->r, 0.3))
            lower(t);
        field(row, t);
        field(row, v.email);
        fmt_phone(g, v.phone, t, sizeof t, -1);
        field(row, t);
        if (v.has_addr) {
            fmt_street(g, &v.a, t, sizeof t, chance(&g->r, 0.3));
            field(row, t);
            fmt_unit(g, &v.a, t, sizeof t);
            field(row, t);
            field(row, c->name);
            field(row, c->state);
            field(row, zip);
            static const char *const us[] = {"US", "USA", "United States", ""};
            field(row, us[rint_(&g->r, 4)]);
        } else {
            for (int i = 0; i < 6; i++)
                field(row, "");
        }
        if (v.by && chance(&g->r, 0.4))
            snprintf(t, sizeof t, "%04d%02d%02d", v.by, v.bm, v.bd);
        else
            t[0] = 0;
        field(row, t);
        break;
    case S_ERP: {
        /* one upper-case name field, family name first: "MUELLER, HANS" or, as SAP-style
         * NAME1 fields hold it, "MUELLER HANS" without a comma */
        if (chance(&g->r, 0.5))
            snprintf(t2, sizeof t2, "%s, %s", v.last, v.first);
        else
            snprintf(t2, sizeof t2, "%s %s", v.last, v.first);
        with_suffix(g, &v, t2, t, sizeof t);
        upper(t);
        field(row, t);
        if (v.has_addr) {
            fmt_street(g, &v.a, t, sizeof t, true);
            field(row, t);
            snprintf(t, sizeof t, "%s", c->name);
            upper(t);
            field(row, t);
            field(row, c->state);
            field(row, zip);
        } else {
            for (int i = 0; i < 4; i++)
                field(row, "");
        }
        fmt_phone(g, v.phone, t, sizeof t, 3);
        field(row, t);
        if (chance(&g->r, 0.5))
            snprintf(t, sizeof t, "%.3s-%.2s-%.4s", p->tax, p->tax + 3, p->tax + 5);
        else
            snprintf(t, sizeof t, "%s", p->tax);
        field(row, chance(&g->r, 0.1) ? "" : t);
        break;
    }
    default: /* POS */
        snprintf(t, sizeof t, "%s", v.first);
        if (chance(&g->r, 0.2))
            initial_only(t);
        field(row, t);
        with_suffix(g, &v, v.last, t, sizeof t);
        field(row, t);
        fmt_phone(g, v.phone, t, sizeof t, 4);
        field(row, t);
        field(row, v.has_addr ? zip : "");
        field(row, v.email);
        break;
    }
}

static const char *const headers[S_COUNT] = {
    "customer_id,first_name,middle_name,last_name,email,phone,street,city,state,zip,birth_date,"
    "gender",
    "member_no,full_name,email,mobile,dob,postcode,loyalty_id",
    "account_id,given_name,family_name,email_address,phone_number,ship_line1,ship_line2,"
    "ship_city,ship_region,ship_postal,ship_country,birthday",
    "cust_no,name,address,city,state,zip,phone,tax_id",
    "ref,first,last,phone,zip,email",
};
static const char id_prefix[S_COUNT] = {'C', 'M', 'A', 'E', 'P'};

/* A new person; head is the household's first member (NULL for the first), spouse and
 * twin_of say how this one relates to it. namesake: a son named after his father
 * (head), who carries the generational suffix gen. */
static void make_person(gen *g, person *p, long id, const person *head, bool spouse, bool twin_of,
                        int gen_sfx)
{
    rng *r = &g->r;
    memset(p, 0, sizeof *p);
    p->id = id;
    p->female = chance(r, 0.5);
    p->first = p->female ? &female_first[rzipf(r, N_FEMALE)] : &male_first[rzipf(r, N_MALE)];
    if (chance(r, 0.4))
        p->middle = p->female ? &female_first[rint_(r, N_FEMALE)] : &male_first[rint_(r, N_MALE)];
    if (gen_sfx && head) {
        p->female = false;
        p->first = head->first;
        if (chance(r, 0.7))
            p->middle = head->middle;
        p->gen = gen_sfx;
    }
    if (head && (!spouse || chance(r, 0.8))) {
        snprintf(p->last, sizeof p->last, "%s", head->last);
        if (spouse && p->female && chance(r, 0.5))
            make_last(g, p->maiden, sizeof p->maiden);
    } else {
        make_last(g, p->last, sizeof p->last);
    }
    if (!head || spouse) {
        p->by = 1940 + (int)rint_(r, 62);
    } else {
        p->by = head->by + 20 + (int)rint_(r, 20);
        if (p->by > 2008)
            p->by = 2008;
    }
    p->bm = 1 + (int)rint_(r, 12);
    p->bd = 1 + (int)rint_(r, 28);
    if (twin_of && head) {
        p->by = head->by;
        p->bm = head->bm;
        p->bd = head->bd;
    }
    unique_email(g, p, p->email, sizeof p->email);
    if (chance(r, 0.15))
        unique_email(g, p, p->email_old, sizeof p->email_old);
    /* ids: a bijective scramble of the person number, so unique and uninformative */
    uint64_t scr = ((uint64_t)id * 387420489u + 12345u) % 800000000u;
    snprintf(p->loyalty, sizeof p->loyalty, "L%09llu",
             ((unsigned long long)scr + 7) % 1000000000ULL);
    snprintf(p->tax, sizeof p->tax, "%09llu", 100000000ULL + (unsigned long long)scr);
}

mdm_status mdm_synth_write(const mdm_synth_opts *o, mdm_synth_stats *stats, mdm_err *err)
{
    if (o->people < 1 || o->people > 100000000L)
        return mdm_err_set(err, MDM_EINVAL, "--people must be between 1 and 100000000");
    if (!o->out_dir || !o->out_dir[0])
        return mdm_err_set(err, MDM_EINVAL, "an output directory is required");
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        return mdm_err_set(err, MDM_EIO, "cannot create %s: %s", o->out_dir, strerror(errno));
    gen *g = mdm_xcalloc(1, sizeof *g);
    rng_seed(&g->r, o->seed);
    g->er = o->error_rate;
    g->dup = o->dup_rate;
    for (int i = 0; i < 20; i++)
        unique_phone(g, g->store_phones[i], cities[rint_(&g->r, N_CITIES)].area);
    mdm_synth_stats st = {0};
    mdm_buf row = {0};
    static const double presence[S_COUNT] = {0.55, 0.45, 0.5, 0.15, 0.35};
    long id = 0;
    person members[6];
    long *household_of = mdm_xmalloc((size_t)o->people * sizeof *household_of);
    while (id < o->people) {
        /* household */
        double u = runif(&g->r);
        int size = u < 0.45 ? 1 : u < 0.75 ? 2 : u < 0.87 ? 3 : u < 0.96 ? 4 : 5;
        if (size > o->people - id)
            size = (int)(o->people - id);
        addr home, old;
        make_addr(g, &home);
        memset(&old, 0, sizeof old);
        bool moved = chance(&g->r, 0.3);
        if (moved)
            make_addr(g, &old);
        char home_phone[16], old_phone[16] = "";
        unique_phone(g, home_phone, cities[home.city].area);
        if (moved && chance(&g->r, 0.6))
            unique_phone(g, old_phone, cities[old.city].area);
        /* a shared family address ("thesmiths@...") some members give instead of their own */
        char family_email[128] = "";
        int junior = GEN_NONE; /* the first child is named after his father */
        bool family = size >= 2 && chance(&g->r, 0.2);
        if (size >= 3 && chance(&g->r, 0.12)) {
            double j = runif(&g->r);
            junior = j < 0.7 ? GEN_JR : j < 0.9 ? GEN_II : GEN_III;
        }
        st.households++;
        for (int m = 0; m < size; m++) {
            person *p = &members[m];
            household_of[id] = st.households - 1;
            bool twin = m >= 3 && chance(&g->r, 0.15);
            make_person(g, p, id++,
                        twin ? &members[2]
                        : m  ? &members[0]
                             : NULL,
                        m == 1, twin, m == 2 ? junior : GEN_NONE);
            if (m == 0 && family)
                family_mail(g, p->last, family_email, sizeof family_email);
            if (m == 0 && junior) {
                if (p->female)
                    junior = GEN_NONE;
                else
                    p->gen = junior == GEN_JR ? GEN_SR : junior == GEN_III ? GEN_JR : GEN_NONE;
            }
            p->home = home;
            p->old = old;
            snprintf(p->home_phone, sizeof p->home_phone, "%s", home_phone);
            snprintf(p->old_phone, sizeof p->old_phone, "%s", old_phone);
            snprintf(p->family_email, sizeof p->family_email, "%s", family_email);
            make_phone(
                g, p->mobile,
                cities[chance(&g->r, 0.8) ? (uint32_t)home.city : rint_(&g->r, N_CITIES)].area);
            if (m > 0) { /* a partner's or parent's mobile, given now and then */
                const person *rel = &members[m == 1 ? 0 : rint_(&g->r, 2)];
                memcpy(p->partner_mobile, rel->mobile, sizeof p->partner_mobile);
            }
            bool any = false;
            for (int s = 0; s < S_COUNT; s++) {
                p->in[s] = chance(&g->r, presence[s]);
                any |= p->in[s];
            }
            if (!any)
                p->in[rint_(&g->r, S_COUNT)] = true;
            bool heavy = chance(&g->r, 0.02); /* a person with many duplicates */
            for (int s = 0; s < S_COUNT; s++) {
                if (!p->in[s])
                    continue;
                int copies = 1;
                while (copies < 6 && chance(&g->r, g->dup))
                    copies++;
                if (heavy && s == S_POS)
                    copies += 3 + (int)rint_(&g->r, 6);
                for (int k = 0; k < copies; k++) {
                    render(g, p, s, &row);
                    emit(g, s, p->id, &row);
                    st.per_source[s]++;
                    st.records++;
                }
            }
        }
    }
    st.people = id;
    mdm_buf_free(&row);

    mdm_status rc = MDM_OK;
    char *path = mdm_xasprintf("%s/truth.csv", o->out_dir);
    FILE *tf = fopen(path, "w");
    if (!tf) {
        rc = mdm_err_set(err, MDM_EIO, "cannot write %s: %s", path, strerror(errno));
        free(path);
        goto out_free;
    }
    fputs("source,record_id,person_id\n", tf);
    for (int s = 0; s < S_COUNT && rc == MDM_OK; s++) {
        src_out *so = &g->out[s];
        /* Fisher-Yates over row indexes */
        size_t *ord = mdm_xmalloc((so->n ? so->n : 1) * sizeof *ord);
        for (size_t i = 0; i < so->n; i++)
            ord[i] = i;
        for (size_t i = so->n; i > 1; i--) {
            size_t j = (size_t)(runif(&g->r) * (double)i);
            size_t t = ord[i - 1];
            ord[i - 1] = ord[j];
            ord[j] = t;
        }
        char *fpath = mdm_xasprintf("%s/%s.csv", o->out_dir, mdm_synth_sources[s]);
        FILE *f = fopen(fpath, "w");
        if (!f) {
            rc = mdm_err_set(err, MDM_EIO, "cannot write %s: %s", fpath, strerror(errno));
        } else {
            fputs(headers[s], f);
            fputc('\n', f);
            char idbuf[32];
            for (size_t i = 0; i < so->n; i++) {
                size_t k = ord[i];
                snprintf(idbuf, sizeof idbuf, "%c%07zu", id_prefix[s], i + 1);
                fputs(idbuf, f);
                const char *line = so->text.data + so->off[k];
                const char *nl = strchr(line, '\n');
                fwrite(line, 1, (size_t)(nl - line) + 1, f);
                fprintf(tf, "%s,%s,P%ld\n", mdm_synth_sources[s], idbuf, so->who[k]);
            }
            if (fclose(f) != 0)
                rc = mdm_err_set(err, MDM_EIO, "cannot write %s: %s", fpath, strerror(errno));
        }
        free(fpath);
        free(ord);
    }
    if (fclose(tf) != 0 && rc == MDM_OK)
        rc = mdm_err_set(err, MDM_EIO, "cannot write %s: %s", path, strerror(errno));
    free(path);
    /* households.csv: who lived together when the records were made (mdm/household.h
     * derives households from the records; tests compare) */
    if (rc == MDM_OK) {
        path = mdm_xasprintf("%s/households.csv", o->out_dir);
        FILE *hf = fopen(path, "w");
        if (!hf) {
            rc = mdm_err_set(err, MDM_EIO, "cannot write %s: %s", path, strerror(errno));
        } else {
            fputs("person_id,household_id\n", hf);
            for (long i = 0; i < id; i++)
                fprintf(hf, "P%ld,H%ld\n", i, household_of[i]);
            if (fclose(hf) != 0)
                rc = mdm_err_set(err, MDM_EIO, "cannot write %s: %s", path, strerror(errno));
        }
        free(path);
    }
out_free:
    free(household_of);
    for (int s = 0; s < S_COUNT; s++) {
        mdm_buf_free(&g->out[s].text);
        free(g->out[s].off);
        free(g->out[s].who);
    }
    free(g->used);
    free(g);
    if (stats)
        *stats = st;
    return rc;
}

void mdm_synth_defaults(mdm_synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->people = 1000;
    o->seed = 1;
    o->error_rate = 1.0;
    o->dup_rate = 0.2;
}
