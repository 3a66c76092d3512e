/* Normalizations per second per field, on generated customer-like values: a realistic
 * mix of ASCII and non-ASCII names (about one in five has accents or another script),
 * emails, phones in several layouts, addresses, postal codes, countries and dates.
 *
 *   build/rel/bench_normalize [SECONDS_PER_FIELD]   (default 0.5)
 *
 * One line per field: "normalize field=NAME ops=N seconds=S per_sec=R ns_per_op=T
 * cpu_per_sec=C". per_sec is wall-clock; cpu_per_sec divides by the thread's CPU time,
 * which stays meaningful on a shared, loaded machine. */
#include "matching/normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const firsts[] = {"John",   "Mary",  "Robert", "Patricia", "Michael",  "Linda",
                                     "José",   "Zoë",   "Łukasz", "Søren",    "Anna",     "Peggy",
                                     "Bob",    "Иван",  "王",     "François", "Jennifer", "David",
                                     "Thomas", "Sarah", "Ólafur", "Ahmed",    "Hans",     "Maria"};
static const char *const lasts[] = {
    "Smith",   "Johnson",  "Müller",   "O'Neil", "García López", "van der Berg", "Ólafsdóttir",
    "Иванов",  "Williams", "Brown",    "Nguyễn", "Kowalski",     "Dubois",       "Rossi",
    "Schmidt", "Taylor",   "Anderson", "Martin", "Lee",          "Clark"};
static const char *const domains[] = {"gmail.com", "example.com",    "Yahoo.com",
                                      "web.de",    "googlemail.com", "outlook.com"};
static const char *const phones[] = {"(415) 555-0132",   "+44 20 7946 0958", "0049 30 1234567",
                                     "415.555.0199 x12", "+1 212 555 0100",  "020 7946 0958",
                                     "030 1234567",      "+33 1 42 68 53 00"};
static const char *const phone_cc[] = {"US", "US", "DE", "US", "US", "GB", "DE", "FR"};
static const char *const streets[] = {
    "123 N Main St Apt 4B", "45 Elm Ave #12",           "Hauptstraße 5",     "12 rue de la Paix",
    "221B Baker Street",    "1600 Pennsylvania Ave NW", "Berliner Str. 12a", "77 Sunset Blvd"};
static const char *const street_cc[] = {"US", "US", "DE", "FR", "GB", "US", "DE", "US"};
static const char *const postals[] = {"94043-1351", "sw1a1aa", "k1a0b1", "10115", "75001", "2000"};
static const char *const postal_cc[] = {"US", "GB", "CA", "DE", "FR", "AU"};
static const char *const countries[] = {
    "DE", "Germany", "Deutschland", "USA", "United Kingdom", "France", "Österreich", "españa"};
static const char *const dates[] = {"1981-02-03", "03/02/1981", "3 Feb 1981",  "19810203",
                                    "12/25/1981", "03.02.81",   "Feb 3, 1981", "1999-12-31"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef struct ctx {
    mdm_norm *n;
    mdm_arena *a;
    mdm_buf b1, b2;
    char **names;
    char **emails;
    char **phones; /* distinct numbers, so the per-handle cache rarely hits */
    size_t nvals;
} ctx;

static long sink;

static void op_text(ctx *c, size_t i)
{
    if (mdm_norm_text(c->n, c->names[i % c->nvals], &c->b1, &c->b2, NULL) == MDM_OK)
        sink += (long)c->b2.len;
}
static void op_name(ctx *c, size_t i)
{
    mdm_name_parts p;
    if (mdm_norm_name(c->n, c->names[i % c->nvals], c->a, &p, NULL) == MDM_OK)
        sink += p.first[0];
}
static void op_nickname(ctx *c, size_t i)
{
    static const char *const k[] = {"bob", "robert", "peggy", "margaret", "john", "zzz"};
    sink += mdm_norm_nickname_equiv(c->n, k[i % 6], k[(i / 6) % 6]);
    sink += mdm_norm_nickname_canon(c->n, k[i % 6])[0];
}
static void op_email(ctx *c, size_t i)
{
    mdm_email_norm e;
    if (mdm_norm_email(c->n, c->emails[i % c->nvals], c->a, &e, NULL) == MDM_OK)
        sink += e.valid;
}
static void op_phone(ctx *c, size_t i)
{
    mdm_phone_norm p;
    if (mdm_norm_phone(c->n, c->phones[i % c->nvals], phone_cc[i % N_OF(phone_cc)], &p, NULL) ==
        MDM_OK)
        sink += p.valid;
}
static void op_phone_repeat(ctx *c, size_t i)
{
    mdm_phone_norm p;
    size_t k = i % N_OF(phones);
    if (mdm_norm_phone(c->n, phones[k], phone_cc[k], &p, NULL) == MDM_OK)
        sink += p.valid;
}
static void op_address(ctx *c, size_t i)
{
    mdm_address_norm o;
    size_t k = i % N_OF(streets);
    if (mdm_norm_address(c->n, streets[k], NULL, "Springfield", "IL", postals[k % N_OF(postals)],
                         NULL, street_cc[k], c->a, &o, NULL) == MDM_OK)
        sink += o.valid;
}
static void op_postal(ctx *c, size_t i)
{
    size_t k = i % N_OF(postals);
    sink += mdm_norm_postal_code(postals[k], postal_cc[k], &c->b1, NULL) == MDM_OK;
}
static void op_country(ctx *c, size_t i)
{
    (void)c;
    const char *cc = mdm_norm_country(countries[i % N_OF(countries)]);
    sink += cc ? cc[0] : 0;
}
static void op_date(ctx *c, size_t i)
{
    (void)c;
    mdm_date d;
    if (mdm_norm_date(dates[i % N_OF(dates)], 2026, &d, NULL) == MDM_OK)
        sink += d.d;
}

typedef struct bench {
    const char *name;
    void (*op)(ctx *, size_t);
} bench;

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    if (secs <= 0)
        secs = 0.5;
    mdm_err err = {0};
    ctx c = {0};
    c.n = mdm_norm_new(&err);
    if (!c.n) {
        fprintf(stderr, "bench_normalize: %s\n", err.msg);
        return 1;
    }
    c.nvals = 4096;
    c.names = mdm_xcalloc(c.nvals, sizeof *c.names);
    c.emails = mdm_xcalloc(c.nvals, sizeof *c.emails);
    c.phones = mdm_xcalloc(c.nvals, sizeof *c.phones);
    unsigned seed = 12345;
    for (size_t i = 0; i < c.nvals; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *f = firsts[(seed >> 8) % N_OF(firsts)];
        seed = seed * 1103515245u + 12345u;
        const char *l = lasts[(seed >> 8) % N_OF(lasts)];
        c.names[i] = (i % 3 == 0) ? mdm_xasprintf("%s, %s", l, f) : mdm_xasprintf("%s %s", f, l);
        c.emails[i] = mdm_xasprintf("%c.%s+%zu@%s", "jmrpal"[i % 6], (i % 2) ? "smith" : "Doe",
                                    i % 7, domains[i % N_OF(domains)]);
        /* same layouts as phones[], other subscriber digits; phone_cc[i % 8] fits */
        unsigned sub = 1000000u + (unsigned)(i * 7919u % 8999999u);
        unsigned a = sub / 10000 % 1000, b = sub % 10000;
        switch (i % 8) {
        case 0:
            c.phones[i] = mdm_xasprintf("(415) %03u-%04u", 200 + a % 700, b);
            break;
        case 1:
            c.phones[i] = mdm_xasprintf("+44 20 7%03u %04u", a, b);
            break;
        case 2:
            c.phones[i] = mdm_xasprintf("0049 30 %03u%04u", 100 + a % 900, b);
            break;
        case 3:
            c.phones[i] = mdm_xasprintf("415.%03u.%04u x12", 200 + a % 700, b);
            break;
        case 4:
            c.phones[i] = mdm_xasprintf("+1 212 %03u %04u", 200 + a % 700, b);
            break;
        case 5:
            c.phones[i] = mdm_xasprintf("020 7%03u %04u", a, b);
            break;
        case 6:
            c.phones[i] = mdm_xasprintf("030 %03u%04u", 100 + a % 900, b);
            break;
        default:
            c.phones[i] = mdm_xasprintf("+33 1 4%03u %04u", a, b);
            break;
        }
    }
    static const bench benches[] = {
        {"text", op_text},       {"name", op_name},          {"nickname", op_nickname},
        {"email", op_email},     {"phone", op_phone},        {"phone_repeat", op_phone_repeat},
        {"address", op_address}, {"postal_code", op_postal}, {"country", op_country},
        {"date", op_date},
    };
    /* warm up the process-wide tables and ICU's lazily loaded data (Han-Latin alone
     * takes a few hundred milliseconds on first use) */
    c.a = mdm_arena_new(1 << 16);
    for (size_t b = 0; b < N_OF(benches); b++)
        for (size_t i = 0; i < 64; i++)
            benches[b].op(&c, i);
    mdm_arena_free(c.a);
    for (size_t b = 0; b < N_OF(benches); b++) {
        size_t ops = 0;
        double t0 = now(), c0 = cpu_now(), t;
        c.a = mdm_arena_new(1 << 16);
        do {
            for (int k = 0; k < 256; k++, ops++)
                benches[b].op(&c, ops);
            t = now() - t0;
            if ((ops & 0x3fff) == 0) { /* keep the arena small */
                mdm_arena_free(c.a);
                c.a = mdm_arena_new(1 << 16);
            }
        } while (t < secs);
        double cpu = cpu_now() - c0;
        mdm_arena_free(c.a);
        printf("normalize field=%s ops=%zu seconds=%.3f per_sec=%.0f ns_per_op=%.0f "
               "cpu_per_sec=%.0f\n",
               benches[b].name, ops, t, (double)ops / t, t * 1e9 / (double)ops,
               cpu > 0 ? (double)ops / cpu : 0.0);
    }
    for (size_t i = 0; i < c.nvals; i++) {
        free(c.names[i]);
        free(c.emails[i]);
        free(c.phones[i]);
    }
    free(c.names);
    free(c.emails);
    free(c.phones);
    mdm_buf_free(&c.b1);
    mdm_buf_free(&c.b2);
    mdm_norm_free(c.n);
    return sink == 42 ? 2 : 0; /* keeps sink observable */
}
