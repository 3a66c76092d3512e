/* Incremental resolution on a real PostgreSQL: review band, strong-identifier conflicts,
 * bridges that merge (older id survives, retired id points to it) or go to review,
 * steward assertions, split, the read-only match, search with cursors, history. */
#include "mdm/assertion.h"
#include "mdm/query.h"
#include "tests/integration/core_fixture.h"

#include "mdm/resolve.h"

static long long count_p(mdm_db *db, const char *sql, long long v)
{
    return fx_count1(db, sql, v);
}

static void test_review_band(void)
{
    mdm_db *db = fx_connect();
    mdm_ingest_result a = fx_ingest(db, "web",
                                    "{\"source_key\": \"A1\", \"first_name\": \"Nora\","
                                    " \"last_name\": \"Vance\", \"birth_date\": \"1971-05-06\","
                                    " \"emails\": [\"nora@vance.example\"]}");
    /* same name and birth date, nothing else: possible, not certain */
    mdm_ingest_result b = fx_ingest(db, "pos",
                                    "{\"source_key\": \"B1\", \"first_name\": \"Nora\","
                                    " \"last_name\": \"Vance\", \"birth_date\": \"1971-05-06\","
                                    " \"phones\": [\"+1 212 555 0147\"]}");
    CHECK_INT(a.decision, MDM_DECISION_CREATED);
    CHECK_INT(b.decision, MDM_DECISION_REVIEW);
    CHECK(b.entity_id != a.entity_id);
    CHECK(b.review_id > 0);
    CHECK(b.probability >= 0.60 && b.probability < 0.95);
    CHECK_INT(count_p(db,
                      "SELECT count(*) FROM review_item WHERE id = $1 AND kind = "
                      "'record_entity' AND status = 'open'",
                      b.review_id),
              1);
    CHECK_INT(count_p(db, "SELECT jsonb_array_length(explanation) FROM review_item WHERE id = $1",
                      b.review_id),
              10);

    /* a record carrying both the e-mail and the phone bridges the two: the entity
     * evidence (the pair above, in the review band) passes, so they merge, the older
     * id survives and the review item is superseded */
    mdm_ingest_result c = fx_ingest(db, "crm",
                                    "{\"Id\": \"C1\", \"First\": \"Nora\", \"Last\": \"Vance\","
                                    " \"Born\": \"1971-05-06\", \"Mail\": \"nora@vance.example\","
                                    " \"Tel\": \"212-555-0147\"}");
    CHECK_INT(c.decision, MDM_DECISION_MERGED);
    CHECK_INT(c.entity_id, a.entity_id);
    CHECK_INT(count_p(db, "SELECT survivor_id FROM entity WHERE id = $1 AND status = 'retired'",
                      b.entity_id),
              a.entity_id);
    CHECK_INT(
        count_p(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", a.entity_id),
        3);
    CHECK_INT(count_p(db,
                      "SELECT count(*) FROM review_item WHERE id = $1 AND status = "
                      "'superseded'",
                      b.review_id),
              1);
    CHECK_INT(count_p(db, "SELECT count(*) FROM outbox WHERE entity_id = $1 AND type = 'merged'",
                      a.entity_id),
              1);
    CHECK_INT(count_p(db,
                      "SELECT count(*) FROM link_event WHERE action = 'merge' AND entity_id = "
                      "$1",
                      a.entity_id),
              1);
    /* the retired id answers with its survivor */
    json_t *e = NULL;
    int64_t surv = 0;
    mdm_err err;
    CHECK_INT(mdm_query_get(db, b.entity_id, &e, &surv, &err), MDM_OK);
    CHECK_INT(surv, a.entity_id);
    CHECK_STR(json_string_value(json_object_get(e, "status")), "retired");
    json_decref(e);
    CHECK_INT(mdm_query_get(db, a.entity_id, &e, &surv, &err), MDM_OK);
    CHECK_INT(surv, 0);
    CHECK_INT(json_array_size(json_object_get(e, "members")), 3);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(e, "lineage"), "first_name"), "rule")),
              "source_trust");
    json_decref(e);
    CHECK_INT(mdm_query_get(db, 999999, &e, &surv, &err), MDM_ENOTFOUND);
    mdm_db_close(db);
}

static void test_strong_conflict_and_blocked_bridge(void)
{
    mdm_db *db = fx_connect();
    /* same person data, different loyalty cards: never linked automatically */
    mdm_ingest_result a = fx_ingest(db, "crm",
                                    "{\"Id\": \"L1\", \"First\": \"Omar\", \"Last\": \"Haddad\","
                                    " \"Born\": \"1984-11-02\", \"Mail\": \"omar@haddad.example\","
                                    " \"Card\": \"LY-1001\"}");
    mdm_ingest_result b = fx_ingest(db, "web",
                                    "{\"source_key\": \"L2\", \"first_name\": \"Omar\","
                                    " \"last_name\": \"Haddad\", \"birth_date\": \"1984-11-02\","
                                    " \"emails\": [\"omar@haddad.example\"], \"loyalty_id\":"
                                    " \"LY-2002\"}");
    CHECK_INT(a.decision, MDM_DECISION_CREATED);
    CHECK(b.decision == MDM_DECISION_CREATED || b.decision == MDM_DECISION_REVIEW);
    CHECK(b.entity_id != a.entity_id);
    CHECK(b.probability < 0.95); /* the different card outweighs name, birth date, e-mail */
    /* a bridge between two entities whose members hold different cards, without a card
     * of its own, cannot tell them apart (issue 15): it joins neither, becomes a golden
     * record of its own, with a review item about each (a model's explanation names the
     * guard "bridge": tests/e2e/hard_negatives.sh; this fixture's is a list) */
    mdm_ingest_result c = fx_ingest(db, "pos",
                                    "{\"source_key\": \"L3\", \"first_name\": \"Omar\","
                                    " \"last_name\": \"Haddad\", \"birth_date\": \"1984-11-02\","
                                    " \"emails\": [\"omar@haddad.example\"]}");
    CHECK_INT(c.decision, MDM_DECISION_REVIEW);
    CHECK(c.entity_id != a.entity_id && c.entity_id != b.entity_id);
    CHECK(c.review_id > 0);
    CHECK_INT(count_p(db,
                      "SELECT count(*) FROM review_item WHERE kind = 'record_entity' AND "
                      "record_id = (SELECT record_id FROM review_item WHERE id = $1) AND "
                      "entity_id IN (SELECT id FROM entity WHERE status = 'active')",
                      c.review_id),
              2);
    CHECK_INT(
        count_p(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'", a.entity_id),
        1);
    CHECK_INT(
        count_p(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'", b.entity_id),
        1);
    mdm_db_close(db);
}

typedef struct assert_ctx {
    const char *kind;
    long long a, b;
} assert_ctx;

static mdm_status assert_fn(mdm_db *db, void *arg, mdm_err *err)
{
    assert_ctx *c = arg;
    return mdm_assertion_put(db, c->kind, c->a < c->b ? c->a : c->b, c->a < c->b ? c->b : c->a,
                             "steward", NULL, NULL, err);
}

typedef struct split_ctx {
    long long entity, record, new_entity;
} split_ctx;

static mdm_status split_fn(mdm_db *db, void *arg, mdm_err *err)
{
    split_ctx *c = arg;
    int64_t r = c->record, n = 0;
    mdm_status st = mdm_golden_split(db, fx_ctx, c->entity, &r, 1, "steward", "test", &n, err);
    c->new_entity = n;
    return st;
}

static void test_assertions_and_split(void)
{
    mdm_db *db = fx_connect();
    mdm_ingest_result a = fx_ingest(db, "web",
                                    "{\"source_key\": \"S1\", \"first_name\": \"Ines\","
                                    " \"last_name\": \"Moreau\", \"birth_date\": \"1990-07-08\","
                                    " \"emails\": [\"ines@moreau.example\"]}");
    mdm_ingest_result b =
        fx_ingest(db, "pos",
                  "{\"source_key\": \"S2\", \"first_name\": \"Ines\","
                  " \"last_name\": \"Moreau\", \"birth_date\": \"1990-07-08\","
                  " \"emails\": [\"ines@moreau.example\"], \"phones\": [\"+33 1 42"
                  " 68 53 00\"]}");
    mdm_ingest_result c =
        fx_ingest(db, "crm",
                  "{\"Id\": \"S3\", \"First\": \"Ines\", \"Last\": \"Moreau\","
                  " \"Born\": \"1990-07-08\", \"Mail\": \"ines@moreau.example\"}");
    CHECK_INT(b.decision, MDM_DECISION_LINKED);
    CHECK_INT(c.decision, MDM_DECISION_LINKED);
    long long eid = a.entity_id;
    /* split S2 off: the id stays with the larger part */
    split_ctx sc = {eid, b.record_id, 0};
    mdm_err err;
    CHECK_INT(mdm_db_run_tx(db, "split", split_fn, &sc, &err), MDM_OK);
    CHECK(sc.new_entity > eid);
    CHECK_INT(count_p(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", eid),
              2);
    CHECK_INT(count_p(db, "SELECT count(*) FROM outbox WHERE type = 'split' AND entity_id = $1",
                      sc.new_entity),
              1);
    /* splitting every member is refused */
    split_ctx bad = {sc.new_entity, b.record_id, 0};
    CHECK_INT(mdm_db_run_tx(db, "split", split_fn, &bad, &err), MDM_EINVAL);
    /* never_link between S1 and S2: an update of S2 does not pull it back */
    assert_ctx nl = {"never_link", a.record_id, b.record_id};
    CHECK_INT(mdm_db_run_tx(db, "assert", assert_fn, &nl, &err), MDM_OK);
    mdm_ingest_result b2 = fx_ingest(db, "pos",
                                     "{\"source_key\": \"S2\", \"first_name\": \"Ines\","
                                     " \"last_name\": \"Moreau\", \"birth_date\": \"1990-07-08\","
                                     " \"emails\": [\"ines@moreau.example\"], \"phones\": [\"+33 1"
                                     " 42 68 53 01\"]}");
    CHECK_INT(b2.decision, MDM_DECISION_UPDATED);
    CHECK_INT(b2.entity_id, sc.new_entity);
    /* always_link wins over a low score */
    mdm_ingest_result d = fx_ingest(db, "web",
                                    "{\"source_key\": \"S4\", \"first_name\": \"Zed\","
                                    " \"last_name\": \"Zulu\", \"phones\": [\"+1 650 555 0101\"]}");
    CHECK_INT(d.decision, MDM_DECISION_CREATED);
    assert_ctx al = {"always_link", a.record_id, d.record_id};
    CHECK_INT(mdm_db_run_tx(db, "assert", assert_fn, &al, &err), MDM_OK);
    mdm_ingest_result d2 =
        fx_ingest(db, "web",
                  "{\"source_key\": \"S4\", \"first_name\": \"Zed\","
                  " \"last_name\": \"Zulu\", \"phones\": [\"+1 650 555 0102\"]}");
    CHECK_INT(d2.decision, MDM_DECISION_MERGED);
    CHECK_INT(d2.entity_id, eid); /* the older id survives */
    mdm_db_close(db);
}

static long long table_total(mdm_db *db)
{
    return fx_scalar(db, "SELECT (SELECT count(*) FROM entity) + (SELECT count(*) FROM "
                         "source_record) + (SELECT count(*) FROM review_item) + (SELECT count(*) "
                         "FROM outbox) + (SELECT count(*) FROM link_event) + (SELECT count(*) FROM "
                         "blocking_key)");
}

static void test_match_search_history(void)
{
    mdm_db *db = fx_connect();
    long long before = table_total(db);
    json_t *q = json_pack("{s:s, s:s, s:[s]}", "first_name", "Nora", "last_name", "Vance", "emails",
                          "NORA@vance.example");
    json_t *out = NULL;
    mdm_err err;
    CHECK_INT(mdm_query_match(db, fx_ctx, NULL, q, 5, &out, &err), MDM_OK);
    json_t *cands = json_object_get(out, "candidates");
    CHECK(json_array_size(cands) >= 1);
    json_t *top = json_array_get(cands, 0);
    CHECK_STR(json_string_value(json_object_get(top, "decision")), "match");
    CHECK(json_real_value(json_object_get(top, "probability")) > 0.95);
    CHECK_INT(json_array_size(json_object_get(top, "explanation")), 10);
    long long nora = json_integer_value(json_object_get(top, "entity_id"));
    json_decref(out);
    json_decref(q);
    /* the crm layout works too; malformed input names the field (an impossible date
     * alone would only be left out: mdm/ingest.h) */
    q = json_pack("{s:s, s:{s:i}}", "Last", "Vance", "Born", "year", 1971);
    CHECK_INT(mdm_query_match(db, fx_ctx, "crm", q, 5, &out, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/Born");
    json_decref(q);
    CHECK_INT(table_total(db), before); /* no writes */

    mdm_query_filter sq = {0};
    sq.email = "Nora@Vance.example";
    CHECK_INT(mdm_query_search(db, &sq, &out, &err), MDM_OK);
    CHECK_INT(json_array_size(json_object_get(out, "items")), 1);
    CHECK_INT(
        json_integer_value(json_object_get(json_array_get(json_object_get(out, "items"), 0), "id")),
        nora);
    json_decref(out);
    memset(&sq, 0, sizeof sq);
    sq.phone = "(212) 555-0147";
    CHECK_INT(mdm_query_search(db, &sq, &out, &err), MDM_OK);
    CHECK_INT(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    memset(&sq, 0, sizeof sq);
    sq.loyalty_id = "ly-1001";
    CHECK_INT(mdm_query_search(db, &sq, &out, &err), MDM_OK);
    CHECK_INT(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    /* name + birth date, paged one by one (three Omar Haddad entities: two cards and the
     * bridge record without one) */
    memset(&sq, 0, sizeof sq);
    sq.name = "Omar Haddad";
    sq.birth_date = "1984-11-02";
    sq.limit = 1;
    for (int page = 0; page < 3; page++) {
        CHECK_INT(mdm_query_search(db, &sq, &out, &err), MDM_OK);
        CHECK_INT(json_array_size(json_object_get(out, "items")), 1);
        json_t *next = json_object_get(out, "next");
        CHECK(page < 2 ? json_is_integer(next) : json_is_null(next));
        sq.after = json_is_integer(next) ? json_integer_value(next) : 0;
        json_decref(out);
    }
    memset(&sq, 0, sizeof sq);
    CHECK_INT(mdm_query_search(db, &sq, &out, &err), MDM_EINVAL);
    sq.email = "nope";
    CHECK_INT(mdm_query_search(db, &sq, &out, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/email");

    CHECK_INT(mdm_query_history(db, nora, &out, &err), MDM_OK);
    json_t *versions = json_object_get(out, "versions");
    CHECK(json_array_size(versions) >= 3);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(versions, 0), "version")),
              fx_count1(db, "SELECT version FROM entity WHERE id = $1", nora));
    json_t *events = json_object_get(out, "events");
    bool merge = false, create = false;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        merge |= !strcmp(json_string_value(json_object_get(ev, "action")), "merge");
        create |= !strcmp(json_string_value(json_object_get(ev, "action")), "create");
    }
    CHECK(merge && create);
    json_decref(out);
    mdm_db_close(db);
}

int main(void)
{
    fx_setup(NULL);
    RUN(test_review_band);
    RUN(test_strong_conflict_and_blocked_bridge);
    RUN(test_assertions_and_split);
    RUN(test_match_search_history);
    fx_teardown();
    TEST_END();
}
