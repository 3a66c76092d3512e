/* Survivorship end to end: golden values chosen per attribute by the configured rules
 * (source trust per attribute, most recent, most frequent, longest, union), lineage rows
 * (winning source record, rule, time), steward pins, version history, and recompute being
 * a no-op when nothing changed. The rules themselves are table-tested in
 * tests/unit/test_survive.c. */
#include "mdm/query.h"
#include "tests/integration/core_fixture.h"

static long long rec_id(mdm_db *db, const char *source, const char *key)
{
    const char *p[2] = {source, key};
    const char *t = fx_text_p(db,
                              "SELECT id FROM source_record WHERE source = $1 AND "
                              "source_key = $2",
                              2, p);
    return *t ? strtoll(t, NULL, 10) : -1;
}

/* golden_value lineage of (entity, attr): "rule:source_record_id". */
static const char *lineage(mdm_db *db, long long eid, const char *attr)
{
    char e[32];
    snprintf(e, sizeof e, "%lld", eid);
    const char *p[2] = {e, attr};
    return fx_text_p(db,
                     "SELECT rule || ':' || coalesce(source_record_id::text, '-') FROM "
                     "golden_value WHERE entity_id = $1::bigint AND attr = $2",
                     2, p);
}

typedef struct pin_ctx {
    long long eid;
    const char *attr, *value;
} pin_ctx;

static mdm_status pin_fn(mdm_db *db, void *arg, mdm_err *err)
{
    pin_ctx *c = arg;
    int64_t id = c->eid;
    mdm_status st = mdm_golden_lock(db, &id, err);
    if (st == MDM_OK)
        st = mdm_golden_pin_put(db, id, c->attr, c->value, "steward", NULL, err);
    if (st == MDM_OK)
        st = mdm_golden_recompute(db, fx_ctx, id, "updated", "pin", NULL, err);
    return st;
}

typedef struct rc_ctx {
    long long eid;
    int changed;
} rc_ctx;

static mdm_status recompute_fn(mdm_db *db, void *arg, mdm_err *err)
{
    rc_ctx *c = arg;
    int64_t id = c->eid;
    mdm_status st = mdm_golden_lock(db, &id, err);
    return st == MDM_OK ? mdm_golden_recompute(db, fx_ctx, id, NULL, NULL, &c->changed, err) : st;
}

static void test_rules_and_lineage(void)
{
    mdm_db *db = fx_connect();
    /* crm: trusted for names (70), weak for e-mail (40); web: e-mail 90, names 50; pos 30 */
    mdm_ingest_result a = fx_ingest(db, "crm",
                                    "{\"Id\": \"K1\", \"First\": \"Robert\", \"Last\": \"Smith\","
                                    " \"Born\": \"1980-03-04\", \"Mail\": \"rob@work.example\","
                                    " \"Tel\": \"415-555-0132\", \"Street\": \"12 Main St\","
                                    " \"Zip\": \"94043\", \"City\": \"Mountain View\","
                                    " \"Modified\": \"2024-01-10T00:00:00Z\", \"Tier\": \"gold\"}");
    mdm_ingest_result b =
        fx_ingest(db, "web",
                  "{\"source_key\": \"K2\", \"first_name\": \"Bob\","
                  " \"last_name\": \"Smith\", \"birth_date\": \"1980-03-04\","
                  " \"emails\": [\"bob.smith@home.example\", \"rob@work.example\"],"
                  " \"segment\": \"frequent buyer\", \"gender\": \"m\","
                  " \"source_updated_at\": \"2024-06-01T00:00:00Z\","
                  " \"attributes\": {\"tier\": \"platinum\"}}");
    mdm_ingest_result c =
        fx_ingest(db, "pos",
                  "{\"source_key\": \"K3\", \"first_name\": \"Bob\","
                  " \"last_name\": \"Smith\", \"birth_date\": \"1980-04-03\","
                  " \"emails\": [\"bob.smith@home.example\"], \"segment\": "
                  "\"vip\", \"gender\": \"male\", \"phones\": [\"+1 415 555 0199\"],"
                  " \"source_updated_at\": \"2024-03-01T00:00:00Z\"}");
    CHECK_INT(b.entity_id, a.entity_id);
    CHECK_INT(c.entity_id, a.entity_id);
    long long eid = a.entity_id;
    long long ka = rec_id(db, "crm", "K1"), kb = rec_id(db, "web", "K2");
    char want[64];
    /* source trust: crm wins the names even though web is more recent */
    CHECK_STR(fx_golden(db, eid, "first_name"), "Robert");
    snprintf(want, sizeof want, "source_trust:%lld", ka);
    CHECK_STR(lineage(db, eid, "first_name"), want);
    /* most frequent birth date: 1980-03-04 twice against 1980-04-03 once */
    CHECK_STR(fx_golden(db, eid, "birth_date"), "1980-03-04");
    CHECK_STR(fx_text(db, "SELECT rule FROM golden_value WHERE attr = 'birth_date'"),
              "most_frequent");
    /* configured: segment longest, gender most frequent */
    CHECK_STR(fx_golden(db, eid, "segment"), "frequent buyer");
    snprintf(want, sizeof want, "longest:%lld", kb);
    CHECK_STR(lineage(db, eid, "segment"), want);
    CHECK_STR(fx_golden(db, eid, "gender"), "male");
    /* attributes.*: most recent (web, June) */
    CHECK_STR(fx_text(db, "SELECT golden->'attributes'->>'tier' FROM entity WHERE status = "
                          "'active'"),
              "platinum");
    /* union of e-mails, web first (trust 90 for e-mail), each once, with its sources */
    CHECK_INT(fx_scalar(db, "SELECT jsonb_array_length(golden->'emails') FROM entity WHERE "
                            "status = 'active'"),
              2);
    CHECK_STR(fx_text(db, "SELECT golden->'emails'->0->>'value' FROM entity WHERE status = "
                          "'active'"),
              "bob.smith@home.example");
    CHECK_STR(lineage(db, eid, "emails"), "union:-");
    CHECK_INT(fx_scalar(db, "SELECT jsonb_array_length(sources->0) FROM golden_value WHERE attr "
                            "= 'emails'"),
              2);
    CHECK_INT(fx_scalar(db, "SELECT jsonb_array_length(golden->'phones') FROM entity WHERE "
                            "status = 'active'"),
              2);
    CHECK_STR(fx_text(db, "SELECT (chosen_at IS NOT NULL)::text FROM golden_value LIMIT 1"),
              "true");
    /* version history: created, then one version per linked record */
    CHECK_INT(fx_count1(db, "SELECT version FROM entity WHERE id = $1", eid), 3);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM entity_version WHERE entity_id = $1", eid), 3);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM outbox WHERE entity_id = $1", eid), 3);

    /* recompute with nothing changed is a no-op */
    rc_ctx rc = {eid, -1};
    mdm_err err;
    CHECK_INT(mdm_db_run_tx(db, "rc", recompute_fn, &rc, &err), MDM_OK);
    CHECK_INT(rc.changed, 0);
    CHECK_INT(fx_count1(db, "SELECT version FROM entity WHERE id = $1", eid), 3);

    /* a steward pin wins over the rule; lineage says so */
    pin_ctx pc = {eid, "first_name", "\"Bobby\""};
    CHECK_INT(mdm_db_run_tx(db, "pin", pin_fn, &pc, &err), MDM_OK);
    CHECK_STR(fx_golden(db, eid, "first_name"), "Bobby");
    CHECK_STR(lineage(db, eid, "first_name"), "pin:-");
    CHECK_INT(fx_count1(db, "SELECT version FROM entity WHERE id = $1", eid), 4);
    json_t *e = NULL;
    CHECK_INT(mdm_query_get(db, eid, &e, NULL, &err), MDM_OK);
    json_t *l = json_object_get(json_object_get(e, "lineage"), "first_name");
    CHECK(json_is_true(json_object_get(l, "pinned")));
    l = json_object_get(json_object_get(e, "lineage"), "last_name");
    CHECK_STR(json_string_value(json_object_get(l, "source")), "crm");
    CHECK_STR(json_string_value(json_object_get(l, "source_key")), "K1");
    json_decref(e);

    /* the crm record leaves (delete): names now come from web, lineage follows */
    mdm_ingest_result d;
    CHECK_INT(mdm_ingest_delete(db, fx_ctx, "crm", "K1", "test", NULL, &d, &err), MDM_OK);
    CHECK_STR(fx_golden(db, eid, "first_name"), "Bobby"); /* still pinned */
    snprintf(want, sizeof want, "source_trust:%lld", kb);
    CHECK_STR(lineage(db, eid, "last_name"), want);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM golden_value WHERE source_record_id = "
                            "(SELECT id FROM source_record WHERE source_key = 'K1')"),
              0);
    char reason[128];
    snprintf(reason, sizeof reason, "record %lld unlinked", ka);
    CHECK_STR(fx_count1(db, "SELECT version FROM entity WHERE id = $1", eid) == 5
                  ? fx_text(db, "SELECT reason FROM entity_version ORDER BY created_at DESC, "
                                "version DESC LIMIT 1")
                  : "",
              reason);
    mdm_db_close(db);
}

int main(void)
{
    fx_setup(NULL);
    RUN(test_rules_and_lineage);
    fx_teardown();
    TEST_END();
}
