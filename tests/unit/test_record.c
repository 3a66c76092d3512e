/* Unit tests: canonical record fields, the CSV reader (RFC 4180 and FEBRL layouts),
 * source mappings, interning, and the FEBRL/truth evaluator. */
#include "common/mem.h"
#include "matching/eval.h"
#include "matching/record.h"
#include "matching/synth.h"
#include "tests/test.h"

#include <stdlib.h>
#include <unistd.h>

static mdm_csv *open_str(const char *s)
{
    mdm_err err = {0};
    mdm_csv *c = mdm_csv_open_mem(s, strlen(s), "t.csv", &err);
    if (!c)
        fprintf(stderr, "open failed: %s\n", err.msg);
    return c;
}

static void test_csv_rfc4180(void)
{
    mdm_csv *c = open_str("id,name,note\r\n1,\"Smith, John\",\"say \"\"hi\"\"\"\r\n"
                          "2,\"multi\nline\",x\r\n3,,\"\"\r\n");
    CHECK(c != NULL);
    if (!c)
        return;
    mdm_err err = {0};
    CHECK_INT(mdm_csv_ncols(c), 3);
    CHECK_INT(mdm_csv_col(c, "note"), 2);
    CHECK_INT(mdm_csv_col(c, "nope"), -1);
    CHECK_INT(mdm_csv_next(c, &err), 1);
    CHECK_STR(mdm_csv_field(c, 1), "Smith, John");
    CHECK_STR(mdm_csv_field(c, 2), "say \"hi\"");
    CHECK_INT(mdm_csv_line(c), 2);
    CHECK_INT(mdm_csv_next(c, &err), 1);
    CHECK_STR(mdm_csv_field(c, 1), "multi\nline");
    CHECK_INT(mdm_csv_line(c), 3);
    CHECK_INT(mdm_csv_next(c, &err), 1);
    CHECK_STR(mdm_csv_field(c, 0), "3");
    CHECK_STR(mdm_csv_field(c, 1), "");
    CHECK_STR(mdm_csv_field(c, 2), "");
    CHECK_INT(mdm_csv_line(c), 5);
    CHECK_INT(mdm_csv_next(c, &err), 0);
    mdm_csv_close(c);
}

static void test_csv_febrl_layout(void)
{
    /* ", " separators, LF, no final newline, BOM, blank line in the middle */
    mdm_csv *c = open_str("\xEF\xBB\xBFrec_id, given_name, surname\nrec-1-org, john, smith\n\n"
                          "rec-1-dup-0, , smyth");
    CHECK(c != NULL);
    if (!c)
        return;
    mdm_err err = {0};
    CHECK_STR(mdm_csv_colname(c, 0), "rec_id");
    CHECK_STR(mdm_csv_colname(c, 2), "surname");
    CHECK_INT(mdm_csv_next(c, &err), 1);
    CHECK_STR(mdm_csv_field(c, 1), "john");
    CHECK_INT(mdm_csv_next(c, &err), 1);
    CHECK_STR(mdm_csv_field(c, 0), "rec-1-dup-0");
    CHECK_STR(mdm_csv_field(c, 1), "");
    CHECK_STR(mdm_csv_field(c, 2), "smyth");
    CHECK_INT(mdm_csv_line(c), 4);
    CHECK_INT(mdm_csv_next(c, &err), 0);
    mdm_csv_close(c);
}

static void test_csv_errors(void)
{
    mdm_err err = {0};
    mdm_csv *c = open_str("a,b\n1,2,3\n4,5\n6,\"open\n");
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_INT(mdm_csv_next(c, &err), -1);
    CHECK(strstr(err.msg, "t.csv:2") != NULL);
    CHECK(strstr(err.msg, "expected 2 fields, got 3") != NULL);
    CHECK_INT(mdm_csv_next(c, &err), 1); /* reader goes on after a bad row */
    CHECK_STR(mdm_csv_field(c, 1), "5");
    CHECK_INT(mdm_csv_next(c, &err), -1);
    CHECK(strstr(err.msg, "t.csv:4: unterminated") != NULL);
    CHECK_INT(mdm_csv_next(c, &err), 0);
    mdm_csv_close(c);

    CHECK(mdm_csv_open_mem("", 0, "empty.csv", &err) == NULL);
    CHECK(strstr(err.msg, "empty.csv") != NULL);
    CHECK(mdm_csv_open("/nonexistent/x.csv", &err) == NULL);
    CHECK_INT(err.code, MDM_EIO);
}

static void test_csv_quote(void)
{
    mdm_buf b = {0};
    mdm_csv_quote(&b, "plain");
    mdm_buf_putc(&b, ',');
    mdm_csv_quote(&b, "a,\"b\"");
    mdm_buf_putc(&b, ',');
    mdm_csv_quote(&b, " pad");
    CHECK_STR(b.data, "plain,\"a,\"\"b\"\"\",\" pad\"");
    mdm_buf_free(&b);
}

static void test_record_set(void)
{
    mdm_record r;
    mdm_record_init(&r);
    mdm_err err = {0};
    CHECK_INT(mdm_record_set(&r, "first_name", "  Ann ", &err), MDM_OK);
    CHECK_STR(r.first_name, "Ann");
    CHECK_INT(mdm_record_set(&r, "address.line1", "6", &err), MDM_OK);
    CHECK_INT(mdm_record_set(&r, "address.line1", "tullaroop street", &err), MDM_OK);
    CHECK_STR(r.addresses[0].line1, "6 tullaroop street");
    CHECK_INT(mdm_record_set(&r, "address2.city", "Perth", &err), MDM_OK);
    CHECK_INT(r.n_addresses, 2);
    CHECK_INT(mdm_record_set(&r, "email", "a@x.org", &err), MDM_OK);
    CHECK_INT(mdm_record_set(&r, "email:work", "b@y.org", &err), MDM_OK);
    CHECK_INT(mdm_record_set(&r, "phone:mobile", "", &err), MDM_OK); /* empty: ignored */
    CHECK_INT(r.n_emails, 2);
    CHECK_STR(r.emails[1].type, "work");
    CHECK_INT(r.n_phones, 0);
    CHECK_INT(mdm_record_set(&r, "attributes.tier", "gold", &err), MDM_OK);
    CHECK_STR(r.attributes[0].value, "gold");
    CHECK_INT(mdm_record_set(&r, "shoe_size", "9", &err), MDM_EINVAL);
    CHECK(strstr(err.msg, "shoe_size") != NULL);
    CHECK(!mdm_record_field_valid("address9.city"));
    CHECK(mdm_record_field_valid("address4.postal_code"));
    mdm_record_clear(&r);
    CHECK(r.first_name == NULL);
}

static void test_source_map(void)
{
    json_error_t je;
    json_t *j = json_loads("{\"code\":\"febrl\",\"key\":\"rec_id\",\"mapping\":"
                           "{\"given_name\":\"first_name\",\"street_number\":\"address.line1\","
                           "\"address_1\":\"address.line1\"}}",
                           0, &je);
    mdm_source_map m;
    mdm_err err = {0};
    CHECK_INT(mdm_source_map_parse(&m, j, 0, MDM_SOURCE_LINK, &err), MDM_OK);
    mdm_csv *c = open_str("rec_id, given_name, street_number, address_1\n"
                          "rec-1-org, ann, 6, tullaroop street\n");
    int colidx[8], id_col;
    CHECK_INT(mdm_source_map_bind(&m, c, colidx, &id_col, &err), MDM_OK);
    CHECK_INT(mdm_csv_next(c, &err), 1);
    mdm_record r;
    mdm_record_init(&r);
    mdm_record_from_row(&r, &m, colidx, id_col, "febrl", c);
    CHECK_STR(r.source_key, "rec-1-org");
    CHECK_STR(r.first_name, "ann");
    CHECK_STR(r.addresses[0].line1, "6 tullaroop street");
    mdm_record_clear(&r);
    mdm_csv_close(c);

    /* a mapped column absent from the header reads as empty; an absent key column is an
     * error naming it */
    c = open_str("rec_id, given_name\nrec-1-org, ann\n");
    CHECK_INT(mdm_source_map_bind(&m, c, colidx, &id_col, &err), MDM_OK);
    CHECK_INT(colidx[1], -1);
    CHECK_INT(mdm_csv_next(c, &err), 1);
    mdm_record_from_row(&r, &m, colidx, id_col, "febrl", c);
    CHECK_STR(r.first_name, "ann");
    CHECK_INT(r.n_addresses, 0);
    mdm_record_clear(&r);
    mdm_csv_close(c);
    c = open_str("id, given_name\nrec-1-org, ann\n");
    CHECK_INT(mdm_source_map_bind(&m, c, colidx, &id_col, &err), MDM_EINVAL);
    CHECK(strstr(err.msg, "rec_id") != NULL);
    mdm_csv_close(c);
    mdm_source_map_clear(&m);
    json_decref(j);

    j = json_loads("{\"key\":\"id\",\"mapping\":{\"x\":\"nickname\"}}", 0, &je);
    CHECK_INT(mdm_source_map_parse(&m, j, 1, MDM_SOURCE_LINK, &err), MDM_EINVAL);
    CHECK(strstr(err.msg, "sources[1].mapping.x") != NULL);
    json_decref(j);
}

/* One source-definition schema: the keys of the former link dialect are refused with
 * the key that replaced them; a service source needs a code, a link source a key. */
static void test_source_schema(void)
{
    static const struct {
        const char *json;
        mdm_source_use use;
        const char *msg, *pointer;
    } bad[] = {
        {"{\"name\":\"crm\",\"key\":\"id\",\"mapping\":{}}", MDM_SOURCE_LINK,
         "sources[2].name must be renamed to code", "/sources/2/name"},
        {"{\"code\":\"crm\",\"record_id\":\"id\",\"mapping\":{}}", MDM_SOURCE_LINK,
         "sources[2].record_id must be renamed to key", "/sources/2/record_id"},
        {"{\"code\":\"crm\",\"key\":\"id\",\"columns\":{}}", MDM_SOURCE_SERVICE,
         "sources[2].columns must be renamed to mapping", "/sources/2/columns"},
        {"{\"code\":\"crm\",\"colour\":1}", MDM_SOURCE_SERVICE, "unknown key \"sources[2].colour\"",
         "/sources/2/colour"},
        {"{\"key\":\"id\",\"mapping\":{}}", MDM_SOURCE_SERVICE,
         "sources[2].code must be a code matching", "/sources/2/code"},
        {"{\"code\":\"crm\",\"mapping\":{}}", MDM_SOURCE_LINK, "sources[2].key must be given",
         "/sources/2/key"},
        {"{\"code\":\"crm\",\"date_order\":\"ymd\"}", MDM_SOURCE_SERVICE,
         "sources[2].date_order must be one of: mdy, dmy", "/sources/2/date_order"},
        {"{\"code\":\"crm\",\"default_country\":\"usa\"}", MDM_SOURCE_SERVICE,
         "sources[2].default_country must be an ISO 3166-1", "/sources/2/default_country"},
        {"{\"code\":\"crm\",\"mapping\":{\"src\":\"source\"}}", MDM_SOURCE_SERVICE,
         "sources[2].mapping.src must be a canonical field path", "/sources/2/mapping/src"},
        {"{\"code\":\"crm\",\"trust\":{\"*\":101}}", MDM_SOURCE_SERVICE,
         "sources[2].trust.* must be an integer from 0 to 100", "/sources/2/trust/*"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i].json, 0, NULL);
        mdm_source_map m;
        mdm_err err = {0};
        CHECK_INT(mdm_source_map_parse(&m, j, 2, bad[i].use, &err), MDM_EINVAL);
        if (!strstr(err.msg, bad[i].msg) || strcmp(err.field, bad[i].pointer) != 0)
            fprintf(stderr, "  case %zu: %s (%s)\n", i, err.msg, err.field);
        CHECK(strstr(err.msg, bad[i].msg) != NULL);
        CHECK_STR(err.field, bad[i].pointer);
        json_decref(j);
    }
    /* every key of the one schema, read back as written */
    const char *all = "{\"code\":\"erp\",\"name\":\"ERP\",\"kind\":\"erp\",\"default_country\":"
                      "\"DE\",\"key\":\"cust_no\",\"updated_at\":\"changed\",\"op\":\"action\","
                      "\"match\":\"erp*\",\"deduplicated\":true,\"date_order\":\"mdy\","
                      "\"name_order\":\"family_first\",\"trust\":{\"*\":40},"
                      "\"mapping\":{\"NAME1\":\"full_name\",\"Tel\":\"phone:work\"},"
                      "\"comment\":\"SAP\"}";
    json_t *j = json_loads(all, 0, NULL);
    mdm_source_map m;
    mdm_err err = {0};
    CHECK_INT(mdm_source_map_parse(&m, j, 0, MDM_SOURCE_SERVICE, &err), MDM_OK);
    CHECK_STR(m.code, "erp");
    CHECK_STR(m.key, "cust_no");
    CHECK(m.family_first && m.deduplicated && m.date_order == 'm');
    CHECK(mdm_source_month_first(&m, "DE"));
    CHECK_INT(m.ncols, 2);
    json_t *back = mdm_source_map_json(&m);
    mdm_source_map m2;
    CHECK_INT(mdm_source_map_parse(&m2, back, 0, MDM_SOURCE_SERVICE, &err), MDM_OK);
    CHECK_STR(m2.default_country, "DE");
    CHECK_STR(m2.cols[1].field, "phone:work");
    mdm_source_map_clear(&m2);
    json_decref(back);
    mdm_source_map_clear(&m);
    json_decref(j);
    /* without date_order, ambiguous dates are month first in the United States only */
    j = json_loads("{\"code\":\"pos\"}", 0, NULL);
    CHECK_INT(mdm_source_map_parse(&m, j, 0, MDM_SOURCE_SERVICE, &err), MDM_OK);
    CHECK(mdm_source_month_first(&m, "US"));
    CHECK(!mdm_source_month_first(&m, "GB"));
    mdm_source_map_clear(&m);
    json_decref(j);
}

static void test_intern(void)
{
    mdm_intern *t = mdm_intern_new();
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof buf, "v%d", i);
        CHECK_INT(mdm_intern_id(t, buf, (size_t)n), i);
    }
    CHECK_INT(mdm_intern_id(t, "v42", 3), 42);
    CHECK_INT(mdm_intern_find(t, "v5000", 5), UINT32_MAX);
    CHECK_STR(mdm_intern_str(t, 4999), "v4999");
    CHECK_INT(mdm_intern_count(t), 5000);
    mdm_intern_free(t);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    fputs(s, f);
    fclose(f);
}

static void test_eval(void)
{
    CHECK_INT(mdm_eval_febrl_entity("rec-12-dup-3"), 12);
    CHECK_INT(mdm_eval_febrl_entity("rec-7-org"), 7);
    CHECK_INT(mdm_eval_febrl_entity("C0001"), -1);
    char dir[] = "/tmp/mdm_test_evalXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cl[128], tr[128];
    snprintf(cl, sizeof cl, "%s/clusters.csv", dir);
    snprintf(tr, sizeof tr, "%s/truth.csv", dir);
    /* truth: {1,2,3} {4,5}; predicted: {1,2} {3,4,5} -> TP = 1 + 1 = 2 of 4 true, 4 predicted */
    write_file(cl, "source,record_id,cluster_id\ns,1,a\ns,2,a\ns,3,b\ns,4,b\ns,5,b\n");
    write_file(tr, "source,record_id,person\ns,1,p\ns,2,p\ns,3,p\ns,4,q\ns,5,q\n");
    mdm_eval_opts o = {.truth_path = tr, .truth_column = "person"};
    mdm_eval_result r;
    mdm_err err = {0};
    CHECK_INT(mdm_eval_run(cl, &o, &r, &err), MDM_OK);
    CHECK_NEAR(r.tp, 2, 1e-9);
    CHECK_NEAR(r.truth, 4, 1e-9);
    CHECK_NEAR(r.predicted, 4, 1e-9);
    CHECK_NEAR(r.f1, 0.5, 1e-9);
    CHECK_INT(r.largest_cluster, 3);
    /* the truth column may sit in the clusters file itself */
    write_file(cl, "source,record_id,cluster_id,person\ns,1,a,p\ns,2,a,p\ns,3,b,p\ns,4,b,q\n"
                   "s,5,b,q\n");
    mdm_eval_opts self = {.truth_column = "person"};
    CHECK_INT(mdm_eval_run(cl, &self, &r, &err), MDM_OK);
    CHECK_NEAR(r.tp, 2, 1e-9);
    CHECK_NEAR(r.f1, 0.5, 1e-9);
    /* linkage: cross-source pairs only */
    write_file(cl, "source,record_id,cluster_id\na,rec-1-org,x\nb,rec-1-dup-0,x\nb,rec-2-dup-0,x\n"
                   "a,rec-2-org,y\n");
    mdm_eval_opts f = {.febrl_ids = true};
    CHECK_INT(mdm_eval_run(cl, &f, &r, &err), MDM_OK);
    CHECK(r.cross_source);
    CHECK_NEAR(r.truth, 2, 1e-9);
    CHECK_NEAR(r.predicted, 2, 1e-9); /* a1-b1, a1-b2 */
    CHECK_NEAR(r.tp, 1, 1e-9);
    unlink(cl);
    unlink(tr);
    rmdir(dir);
}

static void test_synth_deterministic(void)
{
    char d1[] = "/tmp/mdm_test_synthXXXXXX";
    CHECK(mkdtemp(d1) != NULL);
    mdm_synth_opts o;
    mdm_synth_defaults(&o);
    o.people = 300;
    o.seed = 9;
    o.out_dir = d1;
    mdm_synth_stats a, b;
    mdm_err err = {0};
    CHECK_INT(mdm_synth_write(&o, &a, &err), MDM_OK);
    char p[160];
    snprintf(p, sizeof p, "%s/crm.csv", d1);
    mdm_csv *c = mdm_csv_open(p, &err);
    CHECK(c != NULL);
    long rows = 0;
    char first_row[256] = "";
    while (c && mdm_csv_next(c, &err) == 1) {
        if (!rows)
            snprintf(first_row, sizeof first_row, "%s|%s", mdm_csv_field(c, 1),
                     mdm_csv_field(c, 3));
        rows++;
    }
    mdm_csv_close(c);
    CHECK_INT(rows, a.per_source[0]);
    CHECK_INT(a.people, 300);
    CHECK(a.records > a.people);
    CHECK_INT(mdm_synth_write(&o, &b, &err), MDM_OK); /* same seed, same files */
    CHECK_INT(b.records, a.records);
    c = mdm_csv_open(p, &err);
    CHECK(c && mdm_csv_next(c, &err) == 1);
    if (c) {
        char again[256];
        snprintf(again, sizeof again, "%s|%s", mdm_csv_field(c, 1), mdm_csv_field(c, 3));
        CHECK_STR(again, first_row);
    }
    mdm_csv_close(c);
    for (int s = 0; s < 5; s++) {
        snprintf(p, sizeof p, "%s/%s.csv", d1, mdm_synth_sources[s]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/truth.csv", d1);
    unlink(p);
    rmdir(d1);
}

int main(void)
{
    RUN(test_csv_rfc4180);
    RUN(test_csv_febrl_layout);
    RUN(test_csv_errors);
    RUN(test_csv_quote);
    RUN(test_record_set);
    RUN(test_source_map);
    RUN(test_source_schema);
    RUN(test_intern);
    RUN(test_eval);
    RUN(test_synth_deterministic);
    TEST_END();
}
