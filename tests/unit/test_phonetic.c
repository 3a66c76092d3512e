/* Phonetic keys: reference values from tests/data/phonetic.tsv, then buffer limits, long
 * names (heap path), and arbitrary bytes. */
#include "matching/phonetic.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>

static const char *unempty(const char *s)
{
    return strcmp(s, "(empty)") == 0 ? "" : s;
}

static int run_row(char **f, int nf, char *what, size_t whatlen)
{
    const char *algo = f[0], *in = unempty(f[1]), *want = unempty(f[2]);
    char got[128] = "", alt[128] = "";
    size_t len = sizeof got;
    if (strcmp(algo, "nysiis6") == 0) {
        mdm_phon_nysiis(in, got, 7);
    } else if (strcmp(algo, "metaphone4") == 0) {
        mdm_phon_metaphone(in, got, 5);
    } else if (strncmp(algo, "double_metaphone", 16) == 0) {
        if (strcmp(algo, "double_metaphone4") == 0)
            len = 5;
        mdm_phon_double_metaphone(in, got, alt, len);
        const char *want_alt = nf > 3 ? unempty(f[3]) : want;
        snprintf(what, whatlen, "%s(%s) = %s/%s, want %s/%s", algo, in, got, alt, want, want_alt);
        return strcmp(got, want) == 0 && strcmp(alt, want_alt) == 0;
    } else {
        mdm_phon_fn fn = mdm_phon_by_name(algo);
        if (!fn) {
            snprintf(what, whatlen, "unknown algorithm %s", algo);
            return 0;
        }
        fn(in, got, len);
    }
    snprintf(what, whatlen, "%s(%s) = %s, want %s", algo, in, got, want);
    return strcmp(got, want) == 0;
}

static void test_table(void)
{
    const char *root = getenv("MDM_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/phonetic.tsv", root ? root : ".");
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    char line[512];
    int rows = 0, lineno = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        char *f[4];
        int nf = 0;
        char *p = line;
        while (nf < 4) {
            f[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = 0;
            p = tab + 1;
        }
        char what[400], label[450];
        int ok = nf >= 3 && run_row(f, nf, what, sizeof what);
        if (nf < 3)
            snprintf(what, sizeof what, "too few fields");
        snprintf(label, sizeof label, "phonetic.tsv:%d: %s", lineno, what);
        mdm_test_case(ok, label);
        rows++;
    }
    fclose(fp);
    CHECK(rows >= 150);
}

/* Keys are cut to the buffer, never overflow it, and outlen 0 writes nothing. */
static void test_buffers(void)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    mdm_phon_soundex("Robert", buf, 3);
    CHECK_STR(buf, "R1");
    CHECK(buf[3] == 'x');
    mdm_phon_soundex("Robert", buf, 1);
    CHECK_STR(buf, "");
    buf[0] = 'q';
    mdm_phon_soundex("Robert", buf, 0);
    mdm_phon_nysiis("Robert", buf, 0);
    mdm_phon_metaphone("Robert", buf, 0);
    mdm_phon_double_metaphone("Robert", buf, buf, 0);
    CHECK(buf[0] == 'q');
    mdm_phon_soundex("Robert", NULL, 0);
    char p[4], a[4];
    mdm_phon_double_metaphone("Jankelowicz", p, a, sizeof p);
    CHECK_STR(p, "JNK");
    CHECK_STR(a, "ANK");
    mdm_phon_nysiis("Mclaughlin", buf, sizeof buf);
    CHECK_STR(buf, "MCLAGLA");
    /* NULL input reads as "" */
    mdm_phon_metaphone(NULL, buf, sizeof buf);
    CHECK_STR(buf, "");
    mdm_phon_double_metaphone(NULL, p, a, sizeof p);
    CHECK_STR(p, "");
    CHECK_STR(a, "");
    CHECK(mdm_phon_by_name("double_metaphone") == NULL);
    CHECK(mdm_phon_by_name(NULL) == NULL);
}

/* Names longer than the stack buffers, and keys longer than them. */
static void test_long(void)
{
    size_t n = 2000;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = "XAVIERSCHMIDTWICZ"[i % 17];
    s[n] = 0;
    char *out = malloc(4 * n), *alt = malloc(4 * n);
    mdm_phon_double_metaphone(s, out, alt, 4 * n);
    CHECK(strlen(out) > 600);
    CHECK(strncmp(out, "SFRXMT", 6) == 0);
    mdm_phon_metaphone(s, out, 4 * n);
    CHECK(strlen(out) > 600);
    mdm_phon_nysiis(s, out, 4 * n);
    CHECK(strlen(out) > 600);
    mdm_phon_soundex(s, out, 4 * n);
    CHECK_STR(out, "X162");
    free(s);
    free(out);
    free(alt);
}

/* Arbitrary bytes never crash and give keys made of key characters only. */
static void test_random_bytes(void)
{
    uint64_t r = 88172645463325252ull;
    char in[64], k1[64], k2[64];
    int bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 0;
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        size_t want = r % 40;
        while (len < want) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            unsigned char c = (unsigned char)(r >> 24);
            if (c == 0)
                continue;
            /* mostly letters, so the rules get exercised */
            in[len++] = (r & 1) ? (char)("AEIOUYBCDGHKLMNPRSTWXZ"[c % 22]) : (char)c;
        }
        in[len] = 0;
        mdm_phon_soundex(in, k1, sizeof k1);
        if (k1[0] && strlen(k1) != 4)
            bad++;
        mdm_phon_nysiis(in, k1, sizeof k1);
        mdm_phon_metaphone(in, k1, sizeof k1);
        mdm_phon_double_metaphone(in, k1, k2, sizeof k1);
        for (const char *p = k1; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || *p == '0'))
                bad++;
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    RUN(test_table);
    RUN(test_buffers);
    RUN(test_long);
    RUN(test_random_bytes);
    TEST_END();
}
