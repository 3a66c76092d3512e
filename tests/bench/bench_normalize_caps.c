/* Worst-case time of every normalizer on any input within its field's length limit
 * (issue 17 item 1; tests/norm_caps.h has the inputs). Target: under 1 ms each.
 *
 *   build/rel/bench_normalize_caps [--check]   (15 runs per input; the median counts)
 *
 * One line per normalizer: "normalize_caps fn=NAME cap=BYTES worst_us=T pattern=P" (CPU
 * time of the thread), then "normalize_caps max_us=T target_us=1000 ok=1|0". With
 * --check the exit status is 1 when a normalizer within its cap is over the target.
 * phone_1MiB is beyond every field limit (mdm_norm_phone bounds itself) and is reported
 * but not held to the target. */
#include "tests/norm_caps.h"

int main(int argc, char **argv)
{
    bool check = argc > 1 && strcmp(argv[1], "--check") == 0;
    int reps = 15;
    mdm_norm *n = mdm_norm_new(NULL);
    if (!n) {
        fprintf(stderr, "bench_normalize_caps: cannot open the normalizer\n");
        return 1;
    }
    double max = 0;
    for (int f = 0; f < CAPS_N; f++) {
        const char *worst = "";
        double t = caps_worst(n, (caps_fn)f, reps, &worst);
        printf("normalize_caps fn=%s cap=%zu worst_us=%.1f pattern=\"%s\"\n", caps_fns[f].name,
               caps_fns[f].cap, t * 1e6, worst);
        if (f != CAPS_PHONE_RAW && t > max)
            max = t;
    }
    bool ok = max < 1e-3;
    printf("normalize_caps max_us=%.1f target_us=1000 ok=%d\n", max * 1e6, ok);
    mdm_norm_free(n);
    return ok || !check ? 0 : 1;
}
