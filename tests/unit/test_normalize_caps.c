/* Every normalizer on adversarial input filled to its field's length limit, and the
 * phone parser on 1 MiB (issue 17 item 1; tests/norm_caps.h). Under the sanitizers the
 * bound is 50 ms of CPU per call, far above the release target of 1 ms
 * (tests/bench/bench_normalize_caps.c) but far below what an input-length-squared
 * parser costs (a 32,000-digit phone took 15 s before the limits). */
#include "tests/norm_caps.h"
#include "tests/test.h"

static void test_worst_cases(void)
{
    mdm_norm *n = mdm_norm_new(NULL);
    CHECK(n != NULL);
    if (!n)
        return;
    for (int f = 0; f < CAPS_N; f++) {
        const char *worst = "";
        double t = caps_worst(n, (caps_fn)f, 3, &worst);
        fprintf(stderr, "%s cap=%zu worst %.0f us (\"%s\")\n", caps_fns[f].name, caps_fns[f].cap,
                t * 1e6, worst);
        if (t > 0.05)
            fprintf(stderr, "FAIL: %s takes %.1f ms\n", caps_fns[f].name, t * 1e3);
        CHECK(t <= 0.05);
    }
    mdm_norm_free(n);
}

int main(void)
{
    RUN(test_worst_cases);
    TEST_END();
}
