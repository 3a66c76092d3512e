/* Batch linkage commands: `mdm link`, `mdm train`, `mdm explain`, `mdm eval`,
 * `mdm synth`. No database is involved in any of them. */
#include "api/cli.h"

#include "common/clock.h"
#include "common/io.h"
#include "common/mem.h"
#include "matching/eval.h"
#include "matching/link.h"
#include "matching/model.h"
#include "matching/synth.h"
#include "mdm/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    double t0 = mdm_clock_s();
    if (mdm_synth_write(&o, &st, &err) != MDM_OK)
        return mdm_cli_fail("synth", &err);
    fprintf(stderr,
            "synth: people=%ld households=%ld records=%ld (crm=%ld loyalty=%ld commerce=%ld "
            "erp=%ld pos=%ld) seconds=%.2f\n",
            st.people, st.households, st.records, st.per_source[0], st.per_source[1],
            st.per_source[2], st.per_source[3], st.per_source[4], mdm_clock_s() - t0);
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

/* Options shared by link, train and explain. */
typedef struct link_args {
    const char *config, *model, *out, *pairs, *save_model, *canonical;
    const char *a, *b;
    const char *misses, *truth, *truth_column; /* link --misses */
    const char **inputs;
    int ninputs;
    long threads;
    long top, sample; /* blocking */
    bool progress, retrain, febrl_ids, json;
} link_args;

static int parse_link_args(const char *cmd, int argc, char **argv, link_args *la)
{
    memset(la, 0, sizeof *la);
    la->inputs = mdm_xcalloc((size_t)argc + 1, sizeof *la->inputs);
    la->progress = isatty(2);
    la->top = 10;
    la->sample = 20000;
    bool blocking = strcmp(cmd, "blocking") == 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;
        if (strcmp(a, "--config") == 0)
            slot = &la->config;
        else if (strcmp(a, "--model") == 0)
            slot = &la->model;
        else if (strcmp(a, "--out") == 0)
            slot = &la->out;
        else if (strcmp(a, "--pairs") == 0)
            slot = &la->pairs;
        else if (strcmp(a, "--canonical") == 0 && strcmp(cmd, "link") == 0)
            slot = &la->canonical;
        else if (strcmp(a, "--save-model") == 0)
            slot = &la->save_model;
        else if (strcmp(a, "--a") == 0)
            slot = &la->a;
        else if (strcmp(a, "--b") == 0)
            slot = &la->b;
        else if (strcmp(a, "--misses") == 0 && strcmp(cmd, "link") == 0)
            slot = &la->misses;
        else if (strcmp(a, "--truth") == 0 && strcmp(cmd, "link") == 0)
            slot = &la->truth;
        else if (strcmp(a, "--truth-column") == 0 && strcmp(cmd, "link") == 0)
            slot = &la->truth_column;
        if (slot && blocking && slot != &la->config && slot != &la->model)
            return mdm_cli_usage_error(cmd, "unexpected argument \"%s\" (nothing is scored)", a);
        if (slot) {
            if (!v)
                return mdm_cli_usage_error(cmd, "%s needs a value", a);
            *slot = v;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_long(v, &la->threads) || la->threads < 1 || la->threads > 256)
                return mdm_cli_usage_error(cmd, "--threads needs a number from 1 to 256");
            i++;
        } else if (blocking && (strcmp(a, "--top") == 0 || strcmp(a, "--sample") == 0)) {
            long *dst = strcmp(a, "--top") == 0 ? &la->top : &la->sample;
            if (!parse_long(v, dst) || *dst < 0 || *dst > 100000000)
                return mdm_cli_usage_error(cmd, "%s needs a number from 0 to 100000000", a);
            if (dst == &la->top && *dst > 1000)
                return mdm_cli_usage_error(cmd, "--top needs a number from 0 to 1000");
            i++;
        } else if (blocking && strcmp(a, "--json") == 0) {
            la->json = true;
        } else if (strcmp(a, "--progress") == 0) {
            la->progress = true;
        } else if (strcmp(a, "--quiet") == 0) {
            la->progress = false;
        } else if (strcmp(a, "--retrain") == 0) {
            la->retrain = true;
        } else if (strcmp(a, "--febrl-ids") == 0 && strcmp(cmd, "link") == 0) {
            la->febrl_ids = true;
        } else if (a[0] == '-' && a[1]) {
            return mdm_cli_usage_error(cmd, "unexpected argument \"%s\"", a);
        } else {
            la->inputs[la->ninputs++] = a;
        }
    }
    if (!la->config && !la->model)
        return mdm_cli_usage_error(cmd, "--config FILE (or --model FILE) is required");
    if (la->ninputs == 0)
        return mdm_cli_usage_error(cmd, "at least one input CSV file is required");
    int stdin_inputs = 0;
    for (int i = 0; i < la->ninputs; i++)
        stdin_inputs += mdm_io_is_std(la->inputs[i]);
    if (stdin_inputs > 1)
        return mdm_cli_usage_error(cmd, "standard input (-) can be read only once");
    if (mdm_io_is_std(la->out) && mdm_io_is_std(la->pairs))
        return mdm_cli_usage_error(cmd, "--out and --pairs cannot both be standard output (-)");
    if (la->misses && !la->febrl_ids && !la->truth_column)
        return mdm_cli_usage_error(cmd, "--misses needs --febrl-ids or --truth FILE "
                                        "--truth-column COL");
    if (mdm_io_is_std(la->misses) && (mdm_io_is_std(la->out) || mdm_io_is_std(la->pairs)))
        return mdm_cli_usage_error(cmd, "only one of --out, --pairs, --misses can be standard "
                                        "output (-)");
    return -1;
}

/* The model of a service configuration (mdm.json): its "model" section, a trained model
 * file (model.path, already resolved against the file's folder) or an inline model
 * document, run on the configuration's sources and default country. */
static mdm_model *model_of_config(const char *path, mdm_err *err)
{
    mdm_config *cfg = mdm_config_load(path, err);
    if (!cfg)
        return NULL;
    mdm_model *m = NULL;
    json_t *sec = mdm_config_section(cfg, "model");
    json_t *file = json_object_get(sec, "path");
    if (json_is_string(file))
        m = mdm_model_load(json_string_value(file), err);
    else if (json_object_get(sec, "comparisons"))
        m = mdm_model_from_json(sec, err);
    else
        mdm_err_set_field(err, MDM_EINVAL, "/model",
                          "%s: the model section names no model (model.path, or a model "
                          "document with comparisons)",
                          path);
    if (m && mdm_model_use_sources(m, mdm_config_section(cfg, "sources"), cfg->default_country,
                                   err) != MDM_OK) {
        mdm_model_free(m);
        m = NULL;
    }
    mdm_config_free(cfg);
    return m;
}

/* Loads --model (trained), else --config: a model document (it has "comparisons"; its
 * sources are the inputs') or the service's configuration file (mdm.json). */
static mdm_model *load_model(const link_args *la, mdm_err *err)
{
    if (la->model)
        return mdm_model_load(la->model, err);
    json_t *doc = json_load_file(la->config, 0, NULL);
    bool service = json_is_object(doc) && !json_object_get(doc, "comparisons");
    json_decref(doc);
    return service ? model_of_config(la->config, err) : mdm_model_load(la->config, err);
}

static void summary(const char *cmd, const mdm_link_stats *st)
{
    fprintf(stderr,
            "%s: records=%zu sources=%zu candidate_pairs=%zu links=%zu review=%zu "
            "review_items=%zu entity_merges=%zu clusters=%zu "
            "largest_cluster=%zu shared_values=%zu seconds=%.2f (load %.2f, block %.2f, "
            "compare+score %.2f, train %.2f, cluster %.2f) cpu_seconds=%.2f (load %.2f, block "
            "%.2f, compare+score %.2f, train %.2f, cluster %.2f)\n",
            cmd, st->records, st->sources, st->block.pairs, st->links, st->review, st->review_items,
            st->entity_merges, st->cluster.clusters, st->cluster.largest, st->shared_values,
            st->t_total, st->t_load, st->t_block, st->t_score, st->t_train, st->t_cluster,
            st->c_total, st->c_load, st->c_block, st->c_score, st->c_train, st->c_cluster);
}

int mdm_cli_link(int argc, char **argv)
{
    link_args la;
    int rc = parse_link_args("link", argc, argv, &la);
    if (rc >= 0)
        goto out;
    if (!la.out) {
        rc = mdm_cli_usage_error("link", "--out CLUSTERS.csv is required");
        goto out;
    }
    mdm_err err = {0};
    mdm_model *m = load_model(&la, &err);
    if (!m) {
        rc = mdm_cli_fail("link", &err);
        goto out;
    }
    mdm_eval_truth *truth = NULL;
    if (la.misses) {
        mdm_eval_opts eo = {
            .febrl_ids = la.febrl_ids, .truth_path = la.truth, .truth_column = la.truth_column};
        truth = mdm_eval_truth_load(&eo, NULL, &err);
        if (!truth) {
            rc = mdm_cli_fail("link", &err);
            mdm_model_free(m);
            goto out;
        }
    }
    mdm_misses_result mr = {0};
    mdm_buf examples = {0};
    mdm_link_opts o = {.inputs = la.inputs,
                       .ninputs = la.ninputs,
                       .clusters_out = la.out,
                       .pairs_out = la.pairs,
                       .canonical_out = la.canonical,
                       .threads = (int)la.threads,
                       .progress = la.progress,
                       .retrain = la.retrain,
                       .misses_out = la.misses,
                       .truth = truth,
                       .misses = &mr,
                       .miss_examples = &examples};
    mdm_link_stats st;
    if (mdm_link_run(m, &o, &st, &err) != MDM_OK ||
        (la.save_model && mdm_model_save(m, la.save_model, &err) != MDM_OK)) {
        rc = mdm_cli_fail("link", &err);
    } else {
        summary("link", &st);
        if (st.rejected)
            fprintf(stderr,
                    "link: %zu records refused by the canonicalization (no key or nothing to "
                    "match on), each left alone\n",
                    st.rejected);
        if (la.misses) {
            /* one line of counts per class, then a few example pairs of each */
            fprintf(stderr, "misses: true_pairs=%.0f missed=%.0f recall=%.4f", mr.true_pairs,
                    mr.missed,
                    mr.true_pairs > 0 ? (mr.true_pairs - mr.missed) / mr.true_pairs : 1.0);
            for (int c = 0; c < MDM_MISS_CLASSES; c++)
                if (mr.count[c] > 0)
                    fprintf(stderr, " %s=%.0f", mdm_misses_class_name(c), mr.count[c]);
            fprintf(stderr, " unknown_records=%ld\n", mr.unknown);
            fprintf(stderr, "misses: wrong_pairs=%.0f wrong_link=%.0f wrong_cluster=%.0f\n",
                    mr.wrong_pairs, mr.wrong_link, mr.wrong_pairs - mr.wrong_link);
            if (examples.len)
                fprintf(stderr, "misses: examples\n%s", examples.data);
        }
        rc = 0;
    }
    mdm_buf_free(&examples);
    mdm_eval_truth_free(truth);
    mdm_model_free(m);
out:
    free(la.inputs);
    return rc;
}

static json_t *blocking_json(const mdm_model *m, const mdm_link_blocking *r)
{
    json_t *rules = json_array(), *top = json_array();
    for (int k = 0; k < m->nrules; k++) {
        const mdm_block_rule_stats *s = &r->an.rule[k];
        json_array_append_new(
            rules,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rule", m->rules[k].text,
                      "keys", (json_int_t)s->keys, "blocks", (json_int_t)s->blocks, "largest_block",
                      (json_int_t)s->largest, "oversized_blocks", (json_int_t)s->oversized,
                      "oversized_records", (json_int_t)s->oversized_records, "pairs",
                      (json_int_t)s->pairs, "new_pairs", (json_int_t)s->fresh, "cumulative_pairs",
                      (json_int_t)s->cumulative));
    }
    for (size_t k = 0; k < r->an.ntop; k++) {
        const mdm_block_big *b = &r->an.top[k];
        json_array_append_new(top, json_pack("{s:s, s:s, s:I, s:b}", "rule", m->rules[b->rule].text,
                                             "key", b->key, "size", (json_int_t)b->size, "windowed",
                                             b->windowed));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:I, s:o, s:{s:I, s:f, s:f, s:f}, "
                     "s:{s:f, s:f}}",
                     "records", (json_int_t)r->records, "rejected", (json_int_t)r->rejected,
                     "shared_values", (json_int_t)r->shared_values, "keys", (json_int_t)r->an.keys,
                     "max_block_size", (json_int_t)m->max_block_size, "threads", r->threads,
                     "rules", rules, "candidate_pairs", (json_int_t)r->an.pairs, "largest_blocks",
                     top, "estimate", "sample_pairs", (json_int_t)r->sample, "ns_per_pair",
                     r->ns_per_pair, "compare_seconds", r->est_compare_s, "u_sample_seconds",
                     r->est_u_s, "seconds", "load", r->t_load, "blocking", r->t_block);
}

static void blocking_text(const mdm_model *m, const mdm_link_blocking *r)
{
    printf("records %zu (%zu refused by the canonicalization, %zu shared values dropped), "
           "%zu keys, max_block_size %ld\n\n",
           r->records, r->rejected, r->shared_values, r->an.keys, m->max_block_size);
    printf("%-44s %9s %8s %9s %13s %13s %13s\n", "rule", "blocks", "largest", "oversized", "pairs",
           "new pairs", "cumulative");
    for (int k = 0; k < m->nrules; k++) {
        const mdm_block_rule_stats *s = &r->an.rule[k];
        printf("%-44s %9zu %8zu %9zu %13zu %13zu %13zu\n", m->rules[k].text, s->blocks, s->largest,
               s->oversized, s->pairs, s->fresh, s->cumulative);
    }
    printf("\ncandidate pairs %zu (the pairs mdm link compares)\n", r->an.pairs);
    if (r->an.ntop) {
        printf("\nlargest blocks:\n%9s  %-44s %s\n", "records", "rule", "key");
        for (size_t k = 0; k < r->an.ntop; k++) {
            const mdm_block_big *b = &r->an.top[k];
            printf("%9zu  %-44s %s%s\n", b->size, m->rules[b->rule].text, b->key,
                   b->windowed ? "  (windowed)" : "");
        }
    }
    printf("\nestimate: compare+score %.2f s (%zu pairs x %.0f ns / %d threads; cost measured "
           "on %zu candidate pairs, CPU time of one thread)",
           r->est_compare_s, r->an.pairs, r->ns_per_pair, r->threads, r->sample);
    if (r->est_u_s > 0)
        printf("; training adds %.1f s for u (%ld random pairs) and EM", r->est_u_s, m->u_samples);
    printf("\nmeasured: load %.2f s, blocking %.2f s\n", r->t_load, r->t_block);
}

int mdm_cli_blocking(int argc, char **argv)
{
    link_args la;
    int rc = parse_link_args("blocking", argc, argv, &la);
    if (rc >= 0)
        goto out;
    mdm_err err = {0};
    mdm_model *m = load_model(&la, &err);
    if (!m) {
        rc = mdm_cli_fail("blocking", &err);
        goto out;
    }
    mdm_link_opts o = {.inputs = la.inputs,
                       .ninputs = la.ninputs,
                       .threads = (int)la.threads,
                       .progress = la.progress,
                       .retrain = la.retrain};
    mdm_link_blocking r = {0};
    r.an.ntop = (size_t)la.top;
    r.an.top = mdm_xcalloc(r.an.ntop ? r.an.ntop : 1, sizeof *r.an.top);
    if (mdm_link_analyze_blocking(m, &o, (size_t)la.sample, &r, &err) != MDM_OK) {
        rc = mdm_cli_fail("blocking", &err);
    } else if (la.json) {
        json_t *doc = blocking_json(m, &r);
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(doc);
        rc = 0;
    } else {
        blocking_text(m, &r);
        rc = 0;
    }
    free(r.an.top);
    mdm_model_free(m);
out:
    free(la.inputs);
    return rc;
}

int mdm_cli_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--from-store") == 0)
            return mdm_cli_train_store(argc, argv); /* from the database: api/cli_model.c */
    link_args la;
    int rc = parse_link_args("train", argc, argv, &la);
    if (rc >= 0)
        goto out;
    if (!la.out) {
        rc = mdm_cli_usage_error("train", "--out MODEL.json is required");
        goto out;
    }
    mdm_err err = {0};
    mdm_model *m = load_model(&la, &err);
    if (!m) {
        rc = mdm_cli_fail("train", &err);
        goto out;
    }
    mdm_link_opts o = {.inputs = la.inputs,
                       .ninputs = la.ninputs,
                       .threads = (int)la.threads,
                       .progress = la.progress,
                       .train_only = true,
                       .retrain = true};
    mdm_link_stats st;
    if (mdm_link_run(m, &o, &st, &err) != MDM_OK || mdm_model_save(m, la.out, &err) != MDM_OK) {
        rc = mdm_cli_fail("train", &err);
    } else {
        fprintf(stderr,
                "train: records=%zu candidate_pairs=%zu em_iterations=%d lambda=%.5f "
                "prior=%.3g seconds=%.2f\n",
                st.records, st.block.pairs, st.em_iterations, st.lambda, m->prior, st.t_total);
        rc = 0;
    }
    mdm_model_free(m);
out:
    free(la.inputs);
    return rc;
}

/* "SOURCE:ID" or "ID" -> source (NULL when absent) and id, in buf. */
static void split_ref(const char *ref, char *buf, size_t cap, const char **src, const char **id)
{
    snprintf(buf, cap, "%s", ref);
    char *colon = strchr(buf, ':');
    if (colon) {
        *colon = 0;
        *src = buf;
        *id = colon + 1;
    } else {
        *src = NULL;
        *id = buf;
    }
}

int mdm_cli_explain(int argc, char **argv)
{
    link_args la;
    int rc = parse_link_args("explain", argc, argv, &la);
    if (rc >= 0)
        goto out;
    if (!la.a || !la.b) {
        rc = mdm_cli_usage_error("explain", "--a SOURCE:ID and --b SOURCE:ID are required");
        goto out;
    }
    mdm_err err = {0};
    mdm_model *m = load_model(&la, &err);
    if (!m) {
        rc = mdm_cli_fail("explain", &err);
        goto out;
    }
    if (!m->trained) {
        mdm_link_opts to = {.inputs = la.inputs,
                            .ninputs = la.ninputs,
                            .threads = (int)la.threads,
                            .train_only = true};
        mdm_link_stats st;
        if (mdm_link_run(m, &to, &st, &err) != MDM_OK) {
            rc = mdm_cli_fail("explain", &err);
            mdm_model_free(m);
            goto out;
        }
    }
    char ba[512], bb[512];
    const char *sa, *ia, *sb, *ib;
    split_ref(la.a, ba, sizeof ba, &sa, &ia);
    split_ref(la.b, bb, sizeof bb, &sb, &ib);
    mdm_link_opts o = {.inputs = la.inputs, .ninputs = la.ninputs, .threads = (int)la.threads};
    json_t *doc = NULL;
    if (mdm_link_explain(m, &o, sa, ia, sb, ib, &doc, &err) != MDM_OK) {
        rc = mdm_cli_fail("explain", &err);
    } else {
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        puts(s);
        free(s);
        rc = 0;
    }
    json_decref(doc);
    mdm_model_free(m);
out:
    free(la.inputs);
    return rc;
}
