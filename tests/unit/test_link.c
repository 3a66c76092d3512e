/* Unit tests: the batch linkage pipeline end to end on small files, bad inputs, shared
 * values, and the FEBRL dataset1 quality floor (unsupervised F1 >= 0.99). */
#include "common/mem.h"
#include "matching/eval.h"
#include "matching/link.h"
#include "matching/synth.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *path(const char *name)
{
    static char buf[64][256]; /* callers keep several at once (input lists) */
    static int k;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_file(const char *p, const char *s)
{
    FILE *f = fopen(p, "w");
    fputs(s, f);
    fclose(f);
}

static const char *root(void)
{
    const char *r = getenv("MDM_ROOT");
    return r ? r : ".";
}

static mdm_model *load_demo(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/demo/%s", root(), name);
    mdm_err err = {0};
    mdm_model *m = mdm_model_load(p, &err);
    if (!m)
        fprintf(stderr, "cannot load %s: %s\n", p, err.msg);
    return m;
}

static void test_febrl_dataset1_floor(void)
{
    char data[512];
    snprintf(data, sizeof data, "%s/../shared/data/febrl/dataset1.csv", root());
    if (access(data, R_OK) != 0) {
        printf("SKIP test_febrl_dataset1_floor: %s is absent\n", data);
        return;
    }
    mdm_model *m = load_demo("febrl.json");
    CHECK(m != NULL);
    if (!m)
        return;
    m->u_samples = 200000; /* keeps the sanitized run short; the bench uses the default */
    const char *inputs[] = {data};
    mdm_link_opts o = {
        .inputs = inputs, .ninputs = 1, .clusters_out = path("febrl1.csv"), .threads = 2};
    mdm_link_stats st;
    mdm_err err = {0};
    CHECK_INT(mdm_link_run(m, &o, &st, &err), MDM_OK);
    CHECK_INT(st.records, 1000);
    mdm_eval_opts eo = {.febrl_ids = true};
    mdm_eval_result r;
    CHECK_INT(mdm_eval_run(path("febrl1.csv"), &eo, &r, &err), MDM_OK);
    printf("febrl dataset1: precision=%.4f recall=%.4f f1=%.4f\n", r.precision, r.recall, r.f1);
    CHECK(r.f1 >= 0.99);
    CHECK_INT(r.records, 1000);
    mdm_model_free(m);
}

static void test_synth_small(void)
{
    mdm_synth_opts so;
    mdm_synth_defaults(&so);
    so.people = 1500;
    so.seed = 3;
    so.out_dir = dir;
    mdm_err err = {0};
    mdm_synth_stats ss;
    CHECK_INT(mdm_synth_write(&so, &ss, &err), MDM_OK);
    mdm_model *m = load_demo("synth.json");
    CHECK(m != NULL);
    if (!m)
        return;
    m->u_samples = 100000;
    const char *inputs[] = {path("crm.csv"), path("loyalty.csv"), path("commerce.csv"),
                            path("erp.csv"), path("pos.csv")};
    mdm_link_opts o = {.inputs = inputs,
                       .ninputs = 5,
                       .clusters_out = path("cl.csv"),
                       .pairs_out = path("pairs.csv"),
                       .threads = 2};
    mdm_link_stats st;
    CHECK_INT(mdm_link_run(m, &o, &st, &err), MDM_OK);
    if (err.code)
        fprintf(stderr, "link: %s\n", err.msg);
    CHECK_INT(st.records, ss.records);
    CHECK(m->trained);
    mdm_eval_opts eo = {
        .truth_path = path("truth.csv"), .truth_column = "person_id", .all_pairs = true};
    mdm_eval_result r;
    CHECK_INT(mdm_eval_run(path("cl.csv"), &eo, &r, &err), MDM_OK);
    printf("synth 1500 people: precision=%.4f recall=%.4f f1=%.4f largest=%ld\n", r.precision,
           r.recall, r.f1, r.largest_cluster);
    /* floors for the harder generator (namesakes, twins, family e-mails, several errors
     * in one record): issue 15 raises them as the engine learns those cases */
    CHECK(r.precision >= 0.93);
    CHECK(r.f1 >= 0.85);
    CHECK(r.largest_cluster <= 20); /* no giant clusters */
    CHECK_INT(r.records, ss.records);
    /* the trained model round-trips and links the same way without training again */
    CHECK_INT(mdm_model_save(m, path("model.json"), &err), MDM_OK);
    mdm_model *m2 = mdm_model_load(path("model.json"), &err);
    CHECK(m2 && m2->trained);
    if (m2) {
        o.clusters_out = path("cl2.csv");
        o.pairs_out = NULL;
        mdm_link_stats st2;
        CHECK_INT(mdm_link_run(m2, &o, &st2, &err), MDM_OK);
        CHECK_INT(st2.cluster.clusters, st.cluster.clusters);
        CHECK_INT(st2.links, st.links);
        /* --misses: every true pair left apart is classified exactly once */
        mdm_eval_opts to = {.truth_path = path("truth.csv"), .truth_column = "person_id"};
        mdm_eval_truth *truth = mdm_eval_truth_load(&to, NULL, &err);
        CHECK(truth != NULL);
        mdm_misses_result mr;
        o.clusters_out = path("cl3.csv");
        o.misses_out = path("misses.csv");
        o.truth = truth;
        o.misses = &mr;
        CHECK_INT(mdm_link_run(m2, &o, &st2, &err), MDM_OK);
        CHECK(mr.true_pairs == r.truth);
        CHECK(mr.missed == r.truth - r.tp);
        double sum = 0;
        for (int k = 0; k < MDM_MISS_CLASSES; k++)
            sum += mr.count[k];
        CHECK(sum == mr.missed);
        CHECK(mr.count[MDM_MISS_APART] == 0);
        CHECK(mr.count[MDM_MISS_NEVER_COMPARED] > 0 && mr.count[MDM_MISS_BELOW_REVIEW] > 0);
        /* then every wrong merge once: eval's false positives */
        CHECK(mr.wrong_pairs == r.predicted - r.tp);
        CHECK(mr.wrong_link > 0 && mr.wrong_link <= mr.wrong_pairs);
        long lines = -1, wrong = 0; /* header */
        FILE *mf = fopen(path("misses.csv"), "r");
        char buf[1024];
        while (mf && fgets(buf, sizeof buf, mf)) {
            if (strncmp(buf, "wrong_", 6) == 0)
                wrong++;
            else
                lines++;
        }
        if (mf)
            fclose(mf);
        CHECK(lines == (long)mr.missed);
        CHECK(wrong == (long)mr.wrong_pairs);
        printf("misses: %.0f of %.0f true pairs, %.0f never compared, %.0f below review\n",
               mr.missed, mr.true_pairs, mr.count[MDM_MISS_NEVER_COMPARED],
               mr.count[MDM_MISS_BELOW_REVIEW]);
        /* a person whose two records share nothing is never compared; an exact copy is
         * found (no miss) */
        mkdir(path("m"), 0700);
        write_file(path("m/crm.csv"),
                   "customer_id,first_name,middle_name,last_name,email,phone,street,city,state,"
                   "zip,birth_date,gender\n"
                   "X1,Quentin,,Brandvold,qb@example.org,3125550100,1 Oak St,Chicago,IL,60601,"
                   "1970-01-02,M\n"
                   "X2,Rosalind,,Oduya,ro@example.net,2065550199,9 Elm Rd,Seattle,WA,98101,,F\n"
                   "X3,Quentin,,Brandvold,qb@example.org,3125550100,1 Oak St,Chicago,IL,60601,"
                   "1970-01-02,M\n");
        write_file(path("m_truth.csv"), "source,record_id,person_id\n"
                                        "crm,X1,P1\ncrm,X2,P1\ncrm,X3,P1\n");
        mdm_eval_truth_free(truth);
        mdm_eval_opts to2 = {.truth_path = path("m_truth.csv"), .truth_column = "person_id"};
        truth = mdm_eval_truth_load(&to2, NULL, &err);
        const char *small[] = {path("m/crm.csv")};
        mdm_link_opts so2 = {.inputs = small,
                             .ninputs = 1,
                             .clusters_out = path("m_cl.csv"),
                             .threads = 1,
                             .misses_out = path("m_misses.csv"),
                             .truth = truth,
                             .misses = &mr};
        mdm_model *m3 = mdm_model_load(path("model.json"), &err);
        CHECK(m3 != NULL);
        if (m3 && truth) {
            CHECK_INT(mdm_link_run(m3, &so2, &st2, &err), MDM_OK);
            CHECK_INT(mr.unknown, 0);
            CHECK(mr.true_pairs == 3);
            CHECK(mr.missed == 2); /* X2 with X1 and with X3 */
            CHECK(mr.count[MDM_MISS_NEVER_COMPARED] == 2);
        }
        mdm_model_free(m3);
        mdm_eval_truth_free(truth);
    }
    mdm_model_free(m2);
    /* explain a linked pair: the weights add up to the total */
    mdm_csv *c = mdm_csv_open(path("pairs.csv"), &err);
    CHECK(c != NULL);
    if (c && mdm_csv_next(c, &err) == 1) {
        json_t *doc = NULL;
        mdm_link_opts eo2 = {.inputs = inputs, .ninputs = 5, .threads = 1};
        CHECK_INT(mdm_link_explain(m, &eo2, mdm_csv_field(c, 0), mdm_csv_field(c, 1),
                                   mdm_csv_field(c, 2), mdm_csv_field(c, 3), &doc, &err),
                  MDM_OK);
        if (doc) {
            double sum = json_real_value(json_object_get(doc, "prior_weight")) +
                         json_real_value(json_object_get(doc, "group_cap_adjustment"));
            json_t *items = json_object_get(doc, "comparisons"), *it;
            size_t i;
            json_array_foreach(items, i, it) sum += json_real_value(json_object_get(it, "weight"));
            CHECK_NEAR(sum, json_real_value(json_object_get(doc, "match_weight")), 1e-6);
            CHECK_NEAR(json_real_value(json_object_get(doc, "match_weight")),
                       atof(mdm_csv_field(c, 4)), 1e-3);
        }
        json_decref(doc);
        CHECK_INT(mdm_link_explain(m, &eo2, "crm", "nope", "crm", "nope2", &doc, &err),
                  MDM_ENOTFOUND);
    }
    mdm_csv_close(c);
    mdm_model_free(m);
}

static void test_shared_values(void)
{
    /* six unrelated people share a placeholder email and a store phone; one real pair */
    write_file(path("shop.csv"), "id,first,last,email,phone,dob\n"
                                 "1,Ann,Lee,noemail@example.com,(212) 555-0100,1970-01-02\n"
                                 "2,Bob,Kim,noemail@example.com,(212) 555-0100,1981-03-04\n"
                                 "3,Cyd,Ray,noemail@example.com,(212) 555-0100,1965-05-06\n"
                                 "4,Dee,Fox,noemail@example.com,(212) 555-0100,1990-07-08\n"
                                 "5,Eve,Orr,noemail@example.com,(212) 555-0100,1955-09-10\n"
                                 "6,Fay,Poe,noemail@example.com,(212) 555-0100,1999-11-12\n"
                                 "7,Gil,Zed,gil.zed@mail.org,(415) 555-0199,1977-12-13\n"
                                 "8,Gill,Zed,gil.zed@mail.org,415 555 0199,1977-12-13\n");
    const char *cfg =
        "{\"sources\":[{\"key\":\"id\",\"mapping\":{\"first\":\"first_name\",\"last\":"
        "\"last_name\",\"email\":\"email\",\"phone\":\"phone\",\"dob\":\"birth_date\"}}],"
        "\"comparisons\":[{\"field\":\"first_name\",\"type\":\"name\"},{\"field\":\"last_name\","
        "\"type\":\"name\",\"group\":null},{\"field\":\"email\",\"type\":\"email\"},"
        "{\"field\":\"phone\",\"type\":\"phone\",\"group\":null},{\"field\":\"birth_date\","
        "\"type\":\"date\"}],"
        "\"blocking\":{\"rules\":[\"email\",\"phone\",\"last_name\"]},"
        "\"training\":{\"u_samples\":1000}}";
    json_error_t je;
    json_t *doc = json_loads(cfg, 0, &je);
    mdm_err err = {0};
    mdm_model *m = mdm_model_from_json(doc, &err);
    json_decref(doc);
    CHECK(m != NULL);
    if (!m)
        return;
    const char *inputs[] = {path("shop.csv")};
    mdm_link_opts o = {
        .inputs = inputs, .ninputs = 1, .clusters_out = path("shop_cl.csv"), .threads = 1};
    mdm_link_stats st;
    CHECK_INT(mdm_link_run(m, &o, &st, &err), MDM_OK);
    CHECK_INT(st.shared_values, 2); /* the placeholder email and the store phone */
    /* only the real pair 7-8 is a candidate: the shared values proposed nothing */
    CHECK_INT(st.block.pairs, 1);
    CHECK_INT(st.cluster.largest, 2);
    CHECK_INT(st.cluster.clusters, 7);
    mdm_model_free(m);
}

static void test_bad_inputs(void)
{
    mdm_model *m = load_demo("febrl.json");
    if (!m) {
        CHECK(0);
        return;
    }
    mdm_err err = {0};
    mdm_link_stats st;
    const char *missing[] = {path("missing.csv")};
    mdm_link_opts o = {.inputs = missing, .ninputs = 1, .clusters_out = path("x.csv")};
    CHECK_INT(mdm_link_run(m, &o, &st, &err), MDM_EIO);
    CHECK(strstr(err.msg, "missing.csv") != NULL);
    /* a mapped column the file lacks reads as empty; the key column must be there */
    write_file(path("badcol.csv"), "id, given_name\nrec-1-org, ann\n");
    const char *badcol[] = {path("badcol.csv")};
    o.inputs = badcol;
    CHECK_INT(mdm_link_run(m, &o, &st, &err), MDM_EINVAL);
    CHECK(strstr(err.msg, "no key column \"rec_id\"") != NULL);
    CHECK(strstr(err.msg, "badcol.csv") != NULL);
    write_file(path("badcol.csv"), "rec_id, given_name\nrec-1-org, ann\n");
    CHECK_INT(mdm_link_run(m, &o, &st, &err), MDM_OK);
    CHECK_INT(st.records, 1);
    write_file(path("badrow.csv"),
               "rec_id, given_name, surname, street_number, address_1, address_2, suburb, "
               "postcode, state, date_of_birth, soc_sec_id\n"
               "rec-1-org, ann, lee, 1, a st, , b, 2000, nsw, 19700101, 1234567\n"
               "rec-2-org, \"open, lee, 1, a st, , b, 2000, nsw, 19700101, 1234567\n");
    const char *badrow[] = {path("badrow.csv")};
    o.inputs = badrow;
    CHECK_INT(mdm_link_run(m, &o, &st, &err), MDM_EINVAL);
    CHECK(strstr(err.msg, "badrow.csv:3") != NULL);
    mdm_model_free(m);
    err = (mdm_err){0};
    write_file(path("bad.json"), "{\"sources\": [\n  oops]}");
    CHECK(mdm_model_load(path("bad.json"), &err) == NULL);
    CHECK(strstr(err.msg, "bad.json:2") != NULL);
}

static void cleanup(void)
{
    static const char *const files[] = {
        "febrl1.csv",  "crm.csv",    "loyalty.csv", "commerce.csv", "erp.csv",     "pos.csv",
        "truth.csv",   "cl.csv",     "cl2.csv",     "pairs.csv",    "model.json",  "shop.csv",
        "shop_cl.csv", "badcol.csv", "badrow.csv",  "bad.json",     "x.csv",       "cl3.csv",
        "misses.csv",  "m/crm.csv",  "m_truth.csv", "m_cl.csv",     "m_misses.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(path(files[i]));
    rmdir(path("m"));
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mdm_test_linkXXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_febrl_dataset1_floor);
    RUN(test_synth_small);
    RUN(test_shared_values);
    RUN(test_bad_inputs);
    cleanup();
    TEST_END();
}
