/* Unit tests: each clustering guard. Pair probabilities come from a small matrix. */
#include "common/mem.h"
#include "matching/cluster.h"
#include "tests/test.h"

#define N 6
static double probs[N][N], evid[N][N];

static bool named_pair[N][N];

static double prob(void *ctx, uint32_t a, uint32_t b, double *evidence, bool *named)
{
    (void)ctx;
    *evidence = evid[a][b];
    if (named)
        *named = named_pair[a][b];
    return probs[a][b];
}

/* p with neutral-to-positive evidence (no contradiction) */
static void set(uint32_t a, uint32_t b, double p)
{
    probs[a][b] = probs[b][a] = p;
    evid[a][b] = evid[b][a] = 10;
}

static void set_ev(uint32_t a, uint32_t b, double p, double ev)
{
    set(a, b, p);
    evid[a][b] = evid[b][a] = ev;
}

static mdm_cluster_opts opts(void)
{
    mdm_cluster_opts o = {.max_cluster_size = 100,
                          .min_cohesion = 0.4,
                          .min_pair_evidence = 0,
                          .link_threshold = 0.9,
                          .prob = prob};
    return o;
}

static void test_chain_stays_split(void)
{
    memset(probs, 0, sizeof probs);
    /* A~B strongly, B~C strongly, A !~ C: their comparison is evidence against a match */
    set(0, 1, 0.99);
    set(1, 2, 0.97);
    set_ev(0, 2, 0.01, -6);
    mdm_edge e[] = {{1, 2, 12, 0.97f, 0, 0}, {0, 1, 15, 0.99f, 0, 0}};
    uint32_t cl[3];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    mdm_cluster_run(3, e, 2, &o, cl, &st);
    CHECK(cl[0] == cl[1]); /* the strongest link wins */
    CHECK(cl[2] != cl[0]);
    CHECK_INT(st.refused_conflict, 1);
    CHECK_INT(st.clusters, 2);
    /* a weak chain without contradiction is still refused when it is not cohesive */
    set_ev(0, 2, 0.01, 1);
    set(1, 2, 0.5);
    mdm_edge e3[] = {{1, 2, 12, 0.95f, 0, 0}, {0, 1, 15, 0.99f, 0, 0}};
    o.min_cohesion = 0.6;
    mdm_cluster_run(3, e3, 2, &o, cl, &st);
    CHECK(cl[2] != cl[0]);
    CHECK_INT(st.refused_cohesion, 1);
    /* without the guard the chain would merge all three */
    o.prob = NULL;
    mdm_edge e2[] = {{1, 2, 12, 0.97f, 0, 0}, {0, 1, 15, 0.99f, 0, 0}};
    mdm_cluster_run(3, e2, 2, &o, cl, &st);
    CHECK(cl[0] == cl[2]);
}

/* Cohesion by name: {name, e-mail} and {name, phone} records of one person share little,
 * so their cross pair scores low without disagreeing. With named_cohesion, clusters whose
 * cross pairs all bear one person's name (and nothing against) merge on the link anyway;
 * one cross pair that does not (an initial, another first name) leaves the test to
 * min_cohesion, and evidence against still refuses. */
static void test_named_cohesion(void)
{
    memset(probs, 0, sizeof probs);
    memset(named_pair, 0, sizeof named_pair);
    set(0, 1, 0.99);
    set(1, 2, 0.95);
    set_ev(0, 2, 0.05, 2); /* little in common, nothing against */
    named_pair[0][2] = named_pair[2][0] = named_pair[1][2] = named_pair[2][1] = true;
    uint32_t cl[3];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    o.min_cohesion = 0.6; /* the cross pairs' mean is 0.5 */
    mdm_edge e[] = {{1, 2, 12, 0.95f, 0, 0}, {0, 1, 15, 0.99f, 0, 0}};
    mdm_cluster_run(3, e, 2, &o, cl, &st);
    CHECK(cl[2] != cl[0]); /* off: the mean probability decides */
    CHECK_INT(st.refused_cohesion, 1);
    o.named_cohesion = true;
    mdm_edge e2[] = {{1, 2, 12, 0.95f, 0, 0}, {0, 1, 15, 0.99f, 0, 0}};
    mdm_cluster_run(3, e2, 2, &o, cl, &st);
    CHECK(cl[2] == cl[0]);
    CHECK_INT(st.refused_cohesion, 0);
    /* the cross pair is not one person's name: refused as before */
    named_pair[0][2] = named_pair[2][0] = false;
    mdm_edge e3[] = {{1, 2, 12, 0.95f, 0, 0}, {0, 1, 15, 0.99f, 0, 0}};
    mdm_cluster_run(3, e3, 2, &o, cl, &st);
    CHECK(cl[2] != cl[0]);
    CHECK_INT(st.refused_cohesion, 1);
    /* one name, but evidence against: the conflict guard refuses */
    named_pair[0][2] = named_pair[2][0] = true;
    set_ev(0, 2, 0.05, -3);
    mdm_edge e4[] = {{1, 2, 12, 0.95f, 0, 0}, {0, 1, 15, 0.99f, 0, 0}};
    mdm_cluster_run(3, e4, 2, &o, cl, &st);
    CHECK(cl[2] != cl[0]);
    CHECK_INT(st.refused_conflict, 1);
}

/* A link the scorer marked as a hard negative (Sr vs Jr) never merges, and is named. */
static void test_hard_negative_edge(void)
{
    mdm_edge e[] = {{0, 1, 15, 0.99f, MDM_GUARD_GENERATION, 0}, {1, 2, 12, 0.97f, 0, 0}};
    uint32_t cl[3];
    uint8_t refused[2];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    o.prob = NULL;
    o.refused = refused;
    mdm_cluster_run(3, e, 2, &o, cl, &st);
    CHECK(cl[0] != cl[1]);
    CHECK(cl[1] == cl[2]);
    CHECK_INT(st.refused_hard, 1);
    CHECK_INT(refused[0], MDM_GUARD_GENERATION);
    CHECK_STR(mdm_guard_name(MDM_GUARD_GENERATION), "generation");
    CHECK_STR(mdm_guard_name(MDM_GUARD_TWINS), "twins");
}

static void test_sparse_member_joins(void)
{
    memset(probs, 0, sizeof probs);
    /* C has little information: strongly linked to B, no evidence either way with A */
    set(0, 1, 0.99);
    set(1, 2, 0.95);
    set_ev(0, 2, 0.2, 3);
    mdm_edge e[] = {{0, 1, 15, 0.99f, 0, 0}, {1, 2, 12, 0.95f, 0, 0}};
    uint32_t cl[3];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    mdm_cluster_run(3, e, 2, &o, cl, &st);
    CHECK(cl[0] == cl[1] && cl[1] == cl[2]);
    CHECK_INT(st.merges, 2);
}

static void test_cohesive_cluster_merges(void)
{
    memset(probs, 0, sizeof probs);
    for (uint32_t a = 0; a < 4; a++)
        for (uint32_t b = a + 1; b < 4; b++)
            set(a, b, 0.95);
    set(0, 3, 0.5); /* one weaker pair does not break a cohesive cluster */
    mdm_edge e[] = {{0, 1, 10, 0.95f, 0, 0}, {2, 3, 10, 0.95f, 0, 0}, {1, 2, 9, 0.95f, 0, 0}};
    uint32_t cl[4];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    mdm_cluster_run(4, e, 3, &o, cl, &st);
    CHECK(cl[0] == cl[1] && cl[1] == cl[2] && cl[2] == cl[3]);
    CHECK_INT(st.largest, 4);
    CHECK_INT(st.merges, 3);
}

static void test_strong_id_conflict(void)
{
    memset(probs, 0, sizeof probs);
    set(0, 1, 0.99);
    set(1, 2, 0.99);
    set(0, 2, 0.99);
    /* records 0 and 2 carry different tax ids; 1 has none */
    const char *strong[3] = {"111", NULL, "222"};
    mdm_edge e[] = {{0, 1, 20, 0.99f, 0, 0}, {1, 2, 19, 0.99f, 0, 0}, {0, 2, 18, 0.99f, 0, 0}};
    uint32_t cl[3];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    o.nstrong = 1;
    o.strong = strong;
    uint8_t bridge[3];
    o.bridge = bridge;
    mdm_cluster_run(3, e, 3, &o, cl, &st);
    /* 1 joins 0 first; its link to 2 is refused for the tax ids of 0 and 2, not its own:
     * it cannot tell them apart, so it joins neither (a bridge) */
    CHECK(cl[0] != cl[1]);
    CHECK(cl[2] != cl[0]);
    CHECK(cl[1] != cl[2]);
    CHECK_INT(st.bridges, 1);
    CHECK_INT(bridge[1], 1);
    CHECK_INT(bridge[0] + bridge[2], 0);
    CHECK_INT(st.refused_strong, 1);
}

/* A record with the distinguishing value of one side is no bridge: it stays there. */
static void test_strong_id_no_bridge(void)
{
    memset(probs, 0, sizeof probs);
    set(0, 1, 0.99);
    set(1, 2, 0.99);
    set(0, 2, 0.99);
    const char *strong[3] = {"111", "111", "222"};
    mdm_edge e[] = {{0, 1, 20, 0.99f, 0, 0}, {1, 2, 19, 0.99f, 0, 0}, {0, 2, 18, 0.99f, 0, 0}};
    uint32_t cl[3];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    o.nstrong = 1;
    o.strong = strong;
    mdm_cluster_run(3, e, 3, &o, cl, &st);
    CHECK(cl[0] == cl[1]);
    CHECK(cl[2] != cl[0]);
    CHECK_INT(st.bridges, 0);
}

/* A record that agrees far better with its own cluster than with the other (weights 20
 * and 5 bits: a birth date the other side lacks) tells the two apart: with a margin of
 * 10 bits it stays; without the margin it is a bridge. */
static void test_bridge_margin(void)
{
    for (int with_margin = 0; with_margin < 2; with_margin++) {
        memset(probs, 0, sizeof probs);
        set(0, 1, 0.99);
        set(1, 2, 0.95);
        set(0, 2, 0.99);
        const char *strong[3] = {"111", NULL, "222"};
        mdm_edge e[] = {{0, 1, 20, 0.99f, 0, 0}, {0, 2, 18, 0.99f, 0, 0}, {1, 2, 5, 0.95f, 0, 0}};
        uint32_t cl[3];
        mdm_cluster_stats st;
        mdm_cluster_opts o = opts();
        o.nstrong = 1;
        o.strong = strong;
        o.bridge_margin = with_margin ? 10 : 0;
        mdm_cluster_run(3, e, 3, &o, cl, &st);
        CHECK_INT(st.bridges, with_margin ? 0 : 1);
        CHECK_INT(cl[0] == cl[1], with_margin);
        CHECK(cl[2] != cl[0]);
    }
}

static void test_max_size(void)
{
    memset(probs, 0, sizeof probs);
    for (uint32_t a = 0; a < N; a++)
        for (uint32_t b = a + 1; b < N; b++)
            set(a, b, 0.99);
    mdm_edge e[N - 1];
    for (uint32_t i = 0; i + 1 < N; i++)
        e[i] = (mdm_edge){.a = i, .b = i + 1, .weight = (float)(20 - i), .prob = 0.99f};
    uint32_t cl[N];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    o.max_cluster_size = 3;
    mdm_cluster_run(N, e, N - 1, &o, cl, &st);
    CHECK_INT(st.largest, 3);
    CHECK_INT(st.clusters, 2);
    CHECK(st.refused_size >= 1);
}

static void test_one_per_dedup_source(void)
{
    memset(probs, 0, sizeof probs);
    set(0, 1, 0.99);
    set(0, 2, 0.98);
    set(1, 2, 0.98);
    /* 0 in source A; 1 and 2 in source B, which holds no duplicates: one-to-one */
    uint32_t src[3] = {0, 1, 1};
    mdm_edge e[] = {{0, 2, 10, 0.98f, 0, 0}, {0, 1, 12, 0.99f, 0, 0}, {1, 2, 9, 0.98f, 0, 0}};
    uint32_t cl[3];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    o.source = src;
    o.dedup_sources = 1u << 1;
    mdm_cluster_run(3, e, 3, &o, cl, &st);
    CHECK(cl[0] == cl[1]); /* best link kept */
    CHECK(cl[2] != cl[0]);
    CHECK_INT(st.refused_source, 2);
}

static void test_below_threshold_ignored(void)
{
    memset(probs, 0, sizeof probs);
    mdm_edge e[] = {{0, 1, 1, 0.6f, 0, 0}};
    uint32_t cl[2];
    mdm_cluster_stats st;
    mdm_cluster_opts o = opts();
    mdm_cluster_run(2, e, 1, &o, cl, &st);
    CHECK(cl[0] != cl[1]);
    CHECK_INT(st.singletons, 2);
    CHECK_INT(cl[0], 0);
    CHECK_INT(cl[1], 1);
}

/* Tie keys: links of equal weight are taken in the order of their records' keys, so the
 * same records listed in another order (another arrival) give the same clusters. 0 and 2
 * contradict each other and both link to 1 with one weight: without keys the record
 * listed first wins 1; with keys, the one with the smaller key, wherever it is listed. */
static void test_tie_keys(void)
{
    uint32_t perm[3] = {2, 0, 1}; /* record r is listed at perm[r] */
    uint32_t sides[2];
    for (int run = 0; run < 2; run++) {
        memset(probs, 0, sizeof probs);
        memset(evid, 0, sizeof evid);
        uint32_t x[3];
        for (uint32_t r = 0; r < 3; r++)
            x[r] = run ? perm[r] : r;
        set(x[0], x[1], 0.99);
        set(x[1], x[2], 0.99);
        set_ev(x[0], x[2], 0.01, -6);
        uint64_t key[3];
        for (uint32_t r = 0; r < 3; r++)
            key[x[r]] = 100 + r; /* record 0 has the smallest key */
        mdm_edge e[] = {{x[1], x[2], 15, 0.99f, 0, 0}, {x[0], x[1], 15, 0.99f, 0, 0}};
        uint32_t cl[3];
        mdm_cluster_stats st;
        mdm_cluster_opts o = opts();
        o.tiekey = key;
        mdm_cluster_run(3, e, 2, &o, cl, &st);
        CHECK(cl[x[0]] == cl[x[1]]);
        CHECK(cl[x[2]] != cl[x[1]]);
        sides[run] = cl[x[0]] == cl[x[1]];
    }
    CHECK_INT(sides[0], sides[1]);
}

int main(void)
{
    RUN(test_chain_stays_split);
    RUN(test_named_cohesion);
    RUN(test_sparse_member_joins);
    RUN(test_hard_negative_edge);
    RUN(test_cohesive_cluster_merges);
    RUN(test_strong_id_conflict);
    RUN(test_strong_id_no_bridge);
    RUN(test_bridge_margin);
    RUN(test_tie_keys);
    RUN(test_max_size);
    RUN(test_one_per_dedup_source);
    RUN(test_below_threshold_ignored);
    TEST_END();
}
