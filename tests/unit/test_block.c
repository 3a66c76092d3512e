/* Unit tests: blocking key strings, the candidate set (union over rules, no duplicates,
 * source filter) and oversized blocks (windowed and reported, never dropped). */
#include "common/mem.h"
#include "matching/block.h"
#include "tests/test.h"

#include <stdlib.h>

static mdm_model *model(const char *rules, long max_block)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"sources\":[{\"key\":\"id\",\"mapping\":{}}],\"comparisons\":[{\"field\":"
             "\"first_name\",\"type\":\"name\"}],\"blocking\":{\"rules\":[%s],\"max_block_size\":"
             "%ld}}",
             rules, max_block);
    json_error_t je;
    json_t *doc = json_loads(buf, 0, &je);
    mdm_err err = {0};
    mdm_model *m = mdm_model_from_json(doc, &err);
    if (!m)
        fprintf(stderr, "model: %s\n", err.msg);
    json_decref(doc);
    return m;
}

static void feat(mdm_feat *f, const char *first, const char *last, int by, const char *e1,
                 const char *e2, uint32_t source)
{
    memset(f, 0, sizeof *f);
    f->v[MDM_FIELD_FIRST_NAME] = first;
    f->v[MDM_FIELD_LAST_NAME] = last;
    f->first_canon = first;
    f->by = (int16_t)by;
    f->bm = 3;
    f->bd = 4;
    if (e1)
        f->emails[f->n_emails++] = e1;
    if (e2)
        f->emails[f->n_emails++] = e2;
    f->v[MDM_FIELD_EMAIL] = f->n_emails ? f->emails[0] : NULL;
    f->source = source;
}

static void test_keys(void)
{
    mdm_model *m = model("\"last_name:soundex+first_name:initial\",\"email\","
                         "\"birth_date:year+last_name:prefix3\"",
                         100);
    CHECK(m != NULL);
    if (!m)
        return;
    mdm_feat f;
    feat(&f, "robert", "smith", 1980, "a@x.org", "b@y.org", 0);
    mdm_arena *a = mdm_arena_new(1024);
    const char *keys[8];
    size_t n = mdm_block_keys(m, &f, a, keys, 8);
    CHECK_INT(n, 4);
    CHECK_STR(keys[0], "r0:S530|r");
    CHECK_STR(keys[1], "r1:a@x.org");
    CHECK_STR(keys[2], "r1:b@y.org");
    CHECK_STR(keys[3], "r2:1980|smi");
    /* a missing part means no key for that rule */
    feat(&f, NULL, "smith", 0, NULL, NULL, 0);
    n = mdm_block_keys(m, &f, a, keys, 8);
    CHECK_INT(n, 0);
    mdm_arena_free(a);
    mdm_model_free(m);
}

/* Swapped first and last names give the same key (issue 15); a name written with
 * transliteration digraphs (Mueller) shares a key with the one with the letter (Müller). */
static void test_order_and_translit(void)
{
    mdm_model *m = model("\"first_name+last_name\",\"first_name:canon+last_name\"", 100);
    CHECK(m != NULL);
    if (!m)
        return;
    mdm_arena *a = mdm_arena_new(1024);
    mdm_feat f, g;
    feat(&f, "hans", "mueller", 1980, NULL, NULL, 0);
    feat(&g, "mueller", "hans", 1980, NULL, NULL, 0);
    const char *kf[8], *kg[8];
    size_t nf = mdm_block_keys(m, &f, a, kf, 8), ng = mdm_block_keys(m, &g, a, kg, 8);
    CHECK_INT(nf, 2);
    CHECK_INT(ng, 2);
    if (nf >= 1 && ng >= 1) {
        CHECK_STR(kf[0], "r0:hans|mueller");
        CHECK_STR(kg[0], "r0:hans|mueller");
    }
    /* canon parts are not exchanged (a surname has no nickname class) */
    if (nf >= 2)
        CHECK_STR(kf[1], "r1:hans|mueller");
    /* Müller: key muller, second spelling mueller: keys for both */
    feat(&g, "hans", "muller", 1980, NULL, NULL, 0);
    g.last_alt = "mueller";
    ng = mdm_block_keys(m, &g, a, kg, 8);
    CHECK_INT(ng, 4);
    bool shared = false;
    for (size_t i = 0; i < ng && i < 8; i++)
        shared |= strcmp(kg[i], "r0:hans|mueller") == 0;
    CHECK(shared);
    /* the batch candidate set pairs them */
    mdm_feat two[2] = {f, g};
    uint64_t *p = NULL;
    size_t np = 0;
    mdm_block_stats st;
    mdm_err err = {0};
    CHECK_INT(mdm_block_candidates(m, two, 2, NULL, NULL, 1, &p, &np, &st, &err), MDM_OK);
    CHECK_INT(np, 1);
    free(p);
    mdm_arena_free(a);
    mdm_model_free(m);
}

static bool not_same_source(void *ctx, uint32_t sa, uint32_t sb)
{
    (void)ctx;
    return sa != sb;
}

static void test_candidates(void)
{
    mdm_model *m = model("\"last_name\",\"email\"", 100);
    if (!m) {
        CHECK(0);
        return;
    }
    mdm_feat f[5];
    feat(&f[0], "ann", "lee", 1, "x@a.org", NULL, 0);
    feat(&f[1], "bob", "lee", 1, "x@a.org", NULL, 1); /* shares both keys with 0 */
    feat(&f[2], "cat", "kim", 1, "y@a.org", "x@a.org", 0);
    feat(&f[3], "dan", "ray", 1, NULL, NULL, 1);
    feat(&f[4], "eve", "kim", 1, NULL, NULL, 1);
    uint64_t *p = NULL;
    size_t np = 0;
    mdm_block_stats st;
    mdm_err err = {0};
    CHECK_INT(mdm_block_candidates(m, f, 5, NULL, NULL, 2, &p, &np, &st, &err), MDM_OK);
    /* lee: 0-1; kim: 2-4; x@a.org: 0-1, 0-2, 1-2 -> {0-1, 0-2, 1-2, 2-4} */
    CHECK_INT(np, 4);
    if (np == 4) {
        CHECK(p[0] == ((uint64_t)0 << 32 | 1));
        CHECK(p[1] == ((uint64_t)0 << 32 | 2));
        CHECK(p[2] == ((uint64_t)1 << 32 | 2));
        CHECK(p[3] == ((uint64_t)2 << 32 | 4));
    }
    CHECK_INT(st.pairs, 4);
    free(p);
    /* source filter: only cross-source pairs */
    CHECK_INT(mdm_block_candidates(m, f, 5, not_same_source, NULL, 1, &p, &np, &st, &err), MDM_OK);
    CHECK_INT(np, 3); /* 0-1, 1-2, 2-4 */
    free(p);
    mdm_model_free(m);
}

static void test_oversized(void)
{
    mdm_model *m = model("\"last_name\"", 10);
    if (!m) {
        CHECK(0);
        return;
    }
    enum { N = 200 };
    mdm_feat *f = mdm_xcalloc(N, sizeof *f);
    char(*names)[16] = mdm_xcalloc(N, sizeof *names);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "n%03d", (i * 37) % N);
        feat(&f[i], names[i], "smith", 1900 + i % 50, NULL, NULL, 0);
    }
    uint64_t *p = NULL;
    size_t np = 0;
    mdm_block_stats st;
    mdm_err err = {0};
    CHECK_INT(mdm_block_candidates(m, f, N, NULL, NULL, 2, &p, &np, &st, &err), MDM_OK);
    CHECK_INT(st.oversized_blocks, 1);
    CHECK_INT(st.oversized_records, N);
    CHECK_INT(st.largest_block, N);
    /* windowed: each record paired with its next MDM_BLOCK_WINDOW neighbours, not dropped */
    size_t want = 0;
    for (size_t i = 0; i < N; i++)
        want += (N - 1 - i) < MDM_BLOCK_WINDOW ? (N - 1 - i) : MDM_BLOCK_WINDOW;
    CHECK_INT(np, want);
    free(p);
    free(f);
    free(names);
    mdm_model_free(m);
}

static void test_sort_u64(void)
{
    enum { N = 10000 };
    uint64_t *a = mdm_xmalloc(N * sizeof *a);
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        a[i] = x ^ (x >> 29);
    }
    mdm_block_sort_u64(a, N);
    int sorted = 1;
    for (int i = 1; i < N; i++)
        sorted &= a[i - 1] <= a[i];
    CHECK(sorted);
    free(a);
}

int main(void)
{
    RUN(test_keys);
    RUN(test_order_and_translit);
    RUN(test_candidates);
    RUN(test_oversized);
    RUN(test_sort_u64);
    TEST_END();
}
