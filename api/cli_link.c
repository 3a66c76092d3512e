/* Batch linkage commands: `mdm synth`, `mdm eval` (and the engine commands link, train,
 * explain once the model lands). No database is involved in any of them. */
#include "api/cli.h"

#include "common/mem.h"
#include "matching/eval.h"
#include "matching/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses a non-negative integer option value; false on junk. */
static bool parse_long(const char *s, long *out)
{
    char *end;
    if (!s || !*s)
        return false;
    long v = strtol(s, &end, 10);
    if (*end || v < 0)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return false;
    double v = strtod(s, &end);
    if (*end || v < 0)
        return false;
    *out = v;
    return true;
}

int mdm_cli_synth(int argc, char **argv)
{
    mdm_synth_opts o;
    mdm_synth_defaults(&o);
    o.out_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "--people") == 0 && v) {
            if (!parse_long(v, &n) || n < 1)
                return mdm_cli_usage_error("synth", "--people needs a positive integer");
            o.people = n;
            i++;
        } else if (strcmp(a, "--seed") == 0 && v) {
            if (!parse_long(v, &n))
                return mdm_cli_usage_error("synth", "--seed needs a non-negative integer");
            o.seed = (uint64_t)n;
            i++;
        } else if (strcmp(a, "--out") == 0 && v) {
            o.out_dir = v;
            i++;
        } else if (strcmp(a, "--error-rate") == 0 && v) {
            if (!parse_double(v, &o.error_rate) || o.error_rate > 5)
                return mdm_cli_usage_error("synth", "--error-rate needs a number in [0, 5]");
            i++;
        } else if (strcmp(a, "--dup-rate") == 0 && v) {
            if (!parse_double(v, &o.dup_rate) || o.dup_rate >= 1)
                return mdm_cli_usage_error("synth", "--dup-rate needs a number in [0, 1)");
            i++;
        } else {
            return mdm_cli_usage_error("synth", "unexpected argument \"%s\"", a);
        }
    }
    if (!o.out_dir)
        return mdm_cli_usage_error("synth", "--out DIR is required");
    mdm_err err = {0};
    mdm_synth_stats st;
    double t0 = now_s();
    if (mdm_synth_write(&o, &st, &err) != MDM_OK)
        return mdm_cli_fail("synth", &err);
    fprintf(stderr,
            "synth: people=%ld households=%ld records=%ld (crm=%ld loyalty=%ld commerce=%ld "
            "erp=%ld pos=%ld) seconds=%.2f\n",
            st.people, st.households, st.records, st.per_source[0], st.per_source[1],
            st.per_source[2], st.per_source[3], st.per_source[4], now_s() - t0);
    return 0;
}

int mdm_cli_eval(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--labels") == 0)
            return mdm_cli_eval_labels(argc, argv); /* steward labels: api/cli_steward.c */
    mdm_eval_opts o = {0};
    const char *clusters = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--febrl-ids") == 0) {
            o.febrl_ids = true;
        } else if (strcmp(a, "--truth") == 0 && v) {
            o.truth_path = v;
            i++;
        } else if (strcmp(a, "--truth-column") == 0 && v) {
            o.truth_column = v;
            i++;
        } else if (strcmp(a, "--all-pairs") == 0) {
            o.all_pairs = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            return mdm_cli_usage_error("eval", "unexpected argument \"%s\"", a);
        } else if (!clusters) {
            clusters = a;
        } else {
            return mdm_cli_usage_error("eval", "only one clusters file may be given");
        }
    }
    if (!clusters)
        return mdm_cli_usage_error("eval", "a clusters file is required");
    if (!o.febrl_ids && !o.truth_column)
        return mdm_cli_usage_error("eval", "give --febrl-ids or --truth-column COL");
    if (o.truth_column && !o.truth_path)
        return mdm_cli_usage_error("eval", "--truth-column needs --truth FILE");
    mdm_err err = {0};
    mdm_eval_result r;
    if (mdm_eval_run(clusters, &o, &r, &err) != MDM_OK)
        return mdm_cli_fail("eval", &err);
    if (json)
        printf("{\"records\":%ld,\"clusters\":%ld,\"entities\":%ld,\"largest_cluster\":%ld,"
               "\"pairs\":\"%s\",\"true_pairs\":%.0f,\"predicted_pairs\":%.0f,\"tp\":%.0f,"
               "\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f}\n",
               r.records, r.clusters, r.entities, r.largest_cluster,
               r.cross_source ? "cross-source" : "all", r.truth, r.predicted, r.tp, r.precision,
               r.recall, r.f1);
    else
        printf("records=%ld clusters=%ld entities=%ld largest_cluster=%ld pairs=%s "
               "true_pairs=%.0f predicted_pairs=%.0f tp=%.0f precision=%.4f recall=%.4f "
               "f1=%.4f\n",
               r.records, r.clusters, r.entities, r.largest_cluster,
               r.cross_source ? "cross-source" : "all", r.truth, r.predicted, r.tp, r.precision,
               r.recall, r.f1);
    return 0;
}
