/* Unit tests: `mdm synth` writes the hard cases a retail estate holds (family e-mails,
 * namesakes with generational suffixes, an ASCII-only ERP whose one name field puts the
 * family name first with or without a comma), error rates up to 3 that corrupt more
 * without erasing every field, and a truth file that names every record exactly once. */
#include "common/mem.h"
#include "matching/record.h"
#include "matching/synth.h"
#include "tests/test.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static const char *path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_population(long people, double er)
{
    mdm_synth_opts o;
    mdm_synth_defaults(&o);
    o.people = people;
    o.seed = 5;
    o.error_rate = er;
    o.out_dir = dir;
    mdm_err err = {0};
    mdm_synth_stats st;
    CHECK_INT(mdm_synth_write(&o, &st, &err), MDM_OK);
}

/* truth: "source,record_id" -> person id, as parallel arrays */
typedef struct truth {
    char **key;
    char **who;
    size_t n, cap;
} truth;

static void truth_load(truth *t)
{
    memset(t, 0, sizeof *t);
    mdm_err err = {0};
    mdm_csv *c = mdm_csv_open(path("truth.csv"), &err);
    CHECK(c != NULL);
    while (c && mdm_csv_next(c, &err) == 1) {
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            t->key = mdm_xrealloc(t->key, t->cap * sizeof *t->key);
            t->who = mdm_xrealloc(t->who, t->cap * sizeof *t->who);
        }
        t->key[t->n] = mdm_xasprintf("%s,%s", mdm_csv_field(c, 0), mdm_csv_field(c, 1));
        t->who[t->n] = mdm_xstrdup(mdm_csv_field(c, 2));
        t->n++;
    }
    mdm_csv_close(c);
}

static const char *truth_who(const truth *t, const char *src, const char *id)
{
    char k[64];
    snprintf(k, sizeof k, "%s,%s", src, id);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->key[i], k) == 0)
            return t->who[i];
    return NULL;
}

static void truth_free(truth *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->key[i]);
        free(t->who[i]);
    }
    free(t->key);
    free(t->who);
}

static bool ends_with_suffix(const char *s)
{
    static const char *const sfx[] = {" jr", " jr.", " sr", " sr.", " ii", " iii"};
    size_t n = strlen(s);
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        size_t l = strlen(sfx[i]);
        if (n > l && strncasecmp(s + n - l, sfx[i], l) == 0)
            return true;
    }
    return false;
}

static void test_hard_cases(void)
{
    write_population(3000, 1.0);
    truth t;
    truth_load(&t);
    mdm_err err = {0};
    long records = 0, with_suffix = 0, erp_rows = 0, erp_no_comma = 0, erp_non_ascii = 0;
    long shared_email = 0;
    /* e-mails (lower case) with the first person seen giving them */
    size_t ne = 0, cape = 0;
    char **emails = NULL, **owner = NULL;
    static const char *const email_col[5] = {"email", "email", "email_address", NULL, "email"};
    for (int s = 0; s < 5; s++) {
        const char *src = mdm_synth_sources[s];
        char f[32];
        snprintf(f, sizeof f, "%s.csv", src);
        mdm_csv *c = mdm_csv_open(path(f), &err);
        CHECK(c != NULL);
        if (!c)
            continue;
        int ec = email_col[s] ? mdm_csv_col(c, email_col[s]) : -1;
        int nc = s == 1 || s == 3 ? mdm_csv_col(c, s == 1 ? "full_name" : "name")
                                  : mdm_csv_col(c, s == 0   ? "last_name"
                                                   : s == 2 ? "family_name"
                                                            : "last");
        CHECK(nc >= 0);
        while (mdm_csv_next(c, &err) == 1) {
            records++;
            const char *who = truth_who(&t, src, mdm_csv_field(c, 0));
            CHECK(who != NULL); /* every record is in the truth file */
            if (!who)
                continue;
            const char *name = mdm_csv_field(c, (size_t)nc);
            with_suffix += ends_with_suffix(name);
            if (s == 3) {
                erp_rows++;
                erp_no_comma += name[0] && !strchr(name, ',');
                for (const char *q = name; *q; q++)
                    if ((unsigned char)*q >= 0x80) {
                        erp_non_ascii++;
                        break;
                    }
            }
            if (ec < 0)
                continue;
            char e[160];
            snprintf(e, sizeof e, "%s", mdm_csv_field(c, (size_t)ec));
            for (char *q = e; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            if (!e[0] || strstr(e, "noemail@") || strstr(e, "none@none"))
                continue;
            size_t i = 0;
            while (i < ne && strcmp(emails[i], e) != 0)
                i++;
            if (i == ne) {
                if (ne == cape) {
                    cape = cape ? 2 * cape : 256;
                    emails = mdm_xrealloc(emails, cape * sizeof *emails);
                    owner = mdm_xrealloc(owner, cape * sizeof *owner);
                }
                emails[ne] = mdm_xstrdup(e);
                owner[ne++] = mdm_xstrdup(who);
            } else if (owner[i][0] && strcmp(owner[i], who) != 0) {
                shared_email++; /* two people give one address: a household's */
                owner[i][0] = 0;
            }
        }
        mdm_csv_close(c);
    }
    printf("records=%ld truth=%zu suffixes=%ld erp=%ld erp_no_comma=%ld shared_emails=%ld\n",
           records, t.n, with_suffix, erp_rows, erp_no_comma, shared_email);
    CHECK_INT((long)t.n, records); /* and the truth file names nothing else */
    CHECK(with_suffix >= 20);
    CHECK(shared_email >= 20);
    CHECK(erp_no_comma * 4 >= erp_rows && erp_no_comma * 4 <= 3 * erp_rows);
    CHECK_INT(erp_non_ascii, 0);
    for (size_t i = 0; i < ne; i++) {
        free(emails[i]);
        free(owner[i]);
    }
    free(emails);
    free(owner);
    truth_free(&t);
}

/* share of CRM rows without a birth date */
static double crm_missing_birth(void)
{
    mdm_err err = {0};
    mdm_csv *c = mdm_csv_open(path("crm.csv"), &err);
    CHECK(c != NULL);
    long n = 0, miss = 0;
    int bc = c ? mdm_csv_col(c, "birth_date") : -1;
    while (c && bc >= 0 && mdm_csv_next(c, &err) == 1) {
        n++;
        miss += !mdm_csv_field(c, (size_t)bc)[0];
    }
    mdm_csv_close(c);
    return n ? (double)miss / (double)n : 0;
}

static void test_error_rates(void)
{
    write_population(2000, 1.0);
    double m1 = crm_missing_birth();
    write_population(2000, 3.0);
    double m3 = crm_missing_birth();
    printf("crm rows without a birth date: rate 1 %.3f, rate 3 %.3f\n", m1, m3);
    CHECK(m1 > 0.05 && m1 < 0.2);
    CHECK(m3 > 2 * m1 && m3 < 0.5); /* more, but most records keep it */
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mdm_test_synthXXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_hard_cases);
    RUN(test_error_rates);
    for (int s = 0; s < 5; s++) {
        char f[32];
        snprintf(f, sizeof f, "%s.csv", mdm_synth_sources[s]);
        unlink(path(f));
    }
    unlink(path("truth.csv"));
    rmdir(dir);
    TEST_END();
}
