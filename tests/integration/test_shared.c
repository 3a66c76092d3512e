/* Values shared by many unrelated people stop counting as evidence (the batch linker's
 * rule, applied incrementally): a store phone typed at the till for customers of many
 * surnames gives no weight, while the same phone held by one household still does.
 * Scored with the trained model of demo/model.json. */
#include "mdm/query.h"
#include "tests/integration/core_fixture.h"

#include "mdm/resolve.h"

static const char *const engine_config = "{\"sources\": [{\"code\": \"pos\", \"kind\": \"pos\"}],"
                                         " \"model\": {\"path\": \"demo/model.json\"}}";

/* Probability and phone weight of the best candidate of a partial record. */
static double best(mdm_db *db, const char *json, double *phone_weight)
{
    json_t *q = json_loads(json, 0, NULL), *out = NULL;
    mdm_err err;
    double p = -1;
    *phone_weight = -99;
    if (mdm_query_match(db, fx_ctx, NULL, q, 3, &out, &err) == MDM_OK) {
        json_t *top = json_array_get(json_object_get(out, "candidates"), 0);
        p = json_real_value(json_object_get(top, "probability"));
        json_t *ex = json_object_get(json_object_get(top, "explanation"), "comparisons");
        if (!ex)
            ex = json_object_get(top, "explanation");
        size_t i;
        json_t *it;
        json_array_foreach(ex, i, it)
        {
            const char *name = json_string_value(json_object_get(it, "comparison"));
            if (name && !strcmp(name, "phone"))
                *phone_weight = json_number_value(json_object_get(it, "weight"));
        }
    } else {
        fprintf(stderr, "match: %s\n", err.msg);
    }
    json_decref(out);
    json_decref(q);
    return p;
}

static void test_store_phone(void)
{
    mdm_db *db = fx_connect();
    mdm_ingest_result r =
        fx_ingest(db, "pos",
                  "{\"source_key\": \"P1\", \"first_name\": \"Ann\","
                  " \"last_name\": \"Zelinski\", \"phones\": [\"+1 608 555 0199\"],"
                  " \"addresses\": [{\"postal_code\": \"53703\"}]}");
    CHECK_INT(r.decision, MDM_DECISION_CREATED);
    const char *probe = "{\"first_name\": \"Ann\", \"last_name\": \"Zelinski\","
                        " \"phones\": [\"608-555-0199\"]}";
    double w_alone, w_shared;
    double p_alone = best(db, probe, &w_alone);
    CHECK(w_alone > 1.0); /* one holder: the phone is evidence */
    /* the same number typed for customers of four other surnames: the store's phone */
    static const char *const others[] = {"Okafor", "Lindqvist", "Haddad", "Moreau"};
    for (int i = 0; i < 4; i++) {
        char rec[256];
        snprintf(rec, sizeof rec,
                 "{\"source_key\": \"S%d\", \"first_name\": \"Pat\", \"last_name\": \"%s\","
                 " \"phones\": [\"+1 608 555 0199\"]}",
                 i, others[i]);
        mdm_ingest_result o = fx_ingest(db, "pos", rec);
        CHECK(o.decision == MDM_DECISION_CREATED || o.decision == MDM_DECISION_REVIEW);
    }
    double p_shared = best(db, probe, &w_shared);
    CHECK(w_shared == 0.0); /* null: weighs nothing */
    CHECK(p_shared < p_alone);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity WHERE status = 'active'"), 5);
    /* search finds every holder of the number, whatever the model's blocking rules */
    mdm_query_filter q = {0};
    q.phone = "(608) 555-0199";
    json_t *out = NULL;
    mdm_err err;
    CHECK_INT(mdm_query_search(db, &q, &out, &err), MDM_OK);
    CHECK_INT(json_array_size(json_object_get(out, "items")), 5);
    json_decref(out);
    q.name = "ann zelinski";
    CHECK_INT(mdm_query_search(db, &q, &out, &err), MDM_OK);
    CHECK_INT(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    mdm_db_close(db);
}

int main(void)
{
    fx_setup(engine_config);
    RUN(test_store_phone);
    fx_teardown();
    TEST_END();
}
