/* Ingest on a real PostgreSQL: mapping and canonical input, idempotent re-ingest, stale
 * updates, deletes, rejects with field-level reasons, complete rollback when any
 * statement of the transaction fails, and the record counters written by the record's
 * own transaction. */
#include "tests/integration/core_fixture.h"

#include "mdm/outbox.h"

static const char *const rec_c1 =
    "{\"Id\": \"C1\", \"First\": \"Robert\", \"Last\": \"Smith\", \"Mail\": "
    "\"Bob.Smith@Example.com\","
    " \"Tel\": \"(415) 555-0132\", \"Street\": \"12 Main St\", \"Zip\": \"94043\","
    " \"Born\": \"03/04/1980\", \"Modified\": \"2024-02-01T10:00:00Z\", \"Tier\": \"gold\"}";

static void test_map_and_idempotent(void)
{
    mdm_db *db = fx_connect();
    mdm_ingest_result r = fx_ingest(db, "crm", rec_c1);
    CHECK_INT(r.decision, MDM_DECISION_CREATED);
    CHECK(r.record_id > 0);
    CHECK(r.entity_id > 0);
    CHECK_INT(r.entity_version, 1);
    long long eid = r.entity_id;
    /* mapping and normalization */
    CHECK_STR(fx_golden(db, eid, "first_name"), "Robert");
    CHECK_STR(fx_golden(db, eid, "birth_date"), "1980-03-04"); /* US layout: month first */
    CHECK_STR(fx_text(db, "SELECT golden->'phones'->0->>'value' FROM entity"), "+14155550132");
    CHECK_STR(fx_text(db, "SELECT golden->'attributes'->>'tier' FROM entity"), "gold");
    CHECK_STR(fx_text(db, "SELECT normalized->'keys'->'emails'->>0 FROM source_record"),
              "bob.smith@example.com");
    long long events = fx_scalar(db, "SELECT count(*) FROM outbox");
    CHECK_INT(events, 1);
    CHECK_STR(fx_text(db, "SELECT type FROM outbox"), "created");

    /* the same content again changes nothing: no version, no event, no history */
    mdm_ingest_result again = fx_ingest(db, "crm", rec_c1);
    CHECK_INT(again.decision, MDM_DECISION_UNCHANGED);
    CHECK_INT(again.entity_id, eid);
    CHECK_INT(again.record_id, r.record_id);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM outbox"), events);
    CHECK_INT(fx_scalar(db, "SELECT version FROM entity"), 1);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record_history"), 1);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity_version"), 1);
    /* a newer timestamp with the same content is still no change */
    mdm_ingest_result touch = fx_ingest(
        db, "crm",
        "{\"Id\": \"C1\", \"First\": \"Robert\", \"Last\": \"Smith\", \"Mail\": "
        "\"Bob.Smith@Example.com\", \"Tel\": \"(415) 555-0132\", \"Street\": \"12 Main St\","
        " \"Zip\": \"94043\", \"Born\": \"03/04/1980\", \"Modified\": \"2024-03-01T10:00:00Z\","
        " \"Tier\": \"gold\"}");
    CHECK_INT(touch.decision, MDM_DECISION_UNCHANGED);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM outbox"), events);

    /* the same record already canonical from another source links to the entity */
    mdm_ingest_result w =
        fx_ingest(db, "web",
                  "{\"source_key\": \"W9\", \"first_name\": \"Robert\", \"last_name\": \"Smith\","
                  " \"emails\": [{\"value\": \"bob.smith+shop@example.com\", \"type\": \"home\"}],"
                  " \"birth_date\": \"1980-03-04\", \"source_updated_at\": \"2024-02-02\"}");
    CHECK_INT(w.decision, MDM_DECISION_LINKED);
    CHECK_INT(w.entity_id, eid);
    CHECK(w.probability >= 0.95);
    CHECK_INT(fx_scalar(db, "SELECT version FROM entity"), 2);
    mdm_ingest_result_clear(&r);
    mdm_db_close(db);
}

static void test_stale_and_update(void)
{
    mdm_db *db = fx_connect();
    long long hist = fx_scalar(db, "SELECT count(*) FROM source_record_history");
    long long events = fx_scalar(db, "SELECT count(*) FROM outbox");
    /* older than the stored 2024-03-01: recorded, not applied */
    mdm_ingest_result s =
        fx_ingest(db, "crm",
                  "{\"Id\": \"C1\", \"First\": \"Rob\", \"Last\": \"Smith\", \"Mail\": "
                  "\"bob.smith@example.com\", \"Modified\": \"2024-01-15T00:00:00Z\"}");
    CHECK_INT(s.decision, MDM_DECISION_STALE);
    CHECK(s.entity_id > 0);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record_history"), hist + 1);
    CHECK_STR(fx_text(db, "SELECT change FROM source_record_history ORDER BY id DESC LIMIT 1"),
              "stale");
    CHECK_STR(fx_text(db, "SELECT raw->>'First' FROM source_record WHERE source_key = 'C1'"),
              "Robert");
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM outbox"), events);

    /* a newer update applies: version of the record and of the entity move */
    mdm_ingest_result u =
        fx_ingest(db, "crm",
                  "{\"Id\": \"C1\", \"First\": \"Robert\", \"Last\": \"Smith-Jones\", \"Mail\": "
                  "\"bob.smith@example.com\", \"Born\": \"1980-03-04\", \"Modified\": "
                  "\"2024-04-01T00:00:00Z\"}");
    CHECK_INT(u.decision, MDM_DECISION_UPDATED);
    CHECK_INT(u.entity_id, s.entity_id);
    CHECK_INT(fx_scalar(db, "SELECT version FROM source_record WHERE source_key = 'C1'"), 2);
    CHECK_STR(fx_golden(db, u.entity_id, "last_name"), "Smith-Jones");
    CHECK_STR(fx_text(db, "SELECT type FROM outbox ORDER BY seq DESC LIMIT 1"), "updated");
    mdm_db_close(db);
}

static void test_reject(void)
{
    mdm_db *db = fx_connect();
    long long records = fx_scalar(db, "SELECT count(*) FROM source_record");
    mdm_ingest_result r =
        fx_ingest(db, "crm",
                  "{\"Id\": \"C7\", \"First\": \"Ann\", \"Mail\": \"not-an-email\", \"Born\": "
                  "\"1980-02-30\", \"Tel\": \"12\", \"Modified\": \"yesterday\"}");
    CHECK_INT(r.decision, MDM_DECISION_REJECTED);
    CHECK(r.reject_id > 0);
    /* an unreadable source time refuses the record; the impossible birth date alone would
     * not (below) */
    CHECK_INT(json_array_size(r.errors), 1);
    /* the reasons name the field and its place in the source's own layout */
    const char *want[][2] = {{"source_updated_at", "/Modified"}};
    for (size_t i = 0; i < 1; i++) {
        json_t *e = json_array_get(r.errors, i);
        CHECK_STR(json_string_value(json_object_get(e, "field")), want[i][0]);
        CHECK_STR(json_string_value(json_object_get(e, "pointer")), want[i][1]);
        CHECK(json_string_length(json_object_get(e, "reason")) > 5);
    }
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record"), records);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM record_reject"), 1);
    CHECK_STR(fx_text(db, "SELECT source_key FROM record_reject"), "C7");
    CHECK_INT(fx_scalar(db, "SELECT jsonb_array_length(reasons) FROM record_reject"), 1);
    CHECK_STR(fx_text(db, "SELECT payload::jsonb->>'Born' FROM record_reject"), "1980-02-30");
    /* the same bad payload again is the same reject row */
    mdm_ingest_result_clear(&r);
    r = fx_ingest(db, "crm",
                  "{\"Id\": \"C7\", \"First\": \"Ann\", \"Mail\": \"not-an-email\", \"Born\": "
                  "\"1980-02-30\", \"Tel\": \"12\", \"Modified\": \"yesterday\"}");
    CHECK_INT(r.decision, MDM_DECISION_REJECTED);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM record_reject"), 1);
    mdm_ingest_result_clear(&r);
    /* a bad e-mail or phone alone is kept and flagged, never matched on */
    r = fx_ingest(db, "crm",
                  "{\"Id\": \"C8\", \"First\": \"Ann\", \"Last\": \"Lee\", \"Mail\": "
                  "\"not-an-email\", \"Tel\": \"12\"}");
    CHECK_INT(r.decision, MDM_DECISION_CREATED);
    CHECK_INT(fx_scalar(db, "SELECT jsonb_array_length(normalized->'issues') FROM source_record"
                            " WHERE source_key = 'C8'"),
              2);
    CHECK_STR(fx_text(db, "SELECT normalized->'issues'->0->>'pointer' FROM source_record"
                          " WHERE source_key = 'C8'"),
              "/Mail");
    CHECK_INT(fx_scalar(db, "SELECT jsonb_array_length(normalized->'keys'->'emails') FROM"
                            " source_record WHERE source_key = 'C8'"),
              0);
    mdm_ingest_result_clear(&r);
    /* an impossible birth date is left out and flagged; the record is kept */
    r = fx_ingest(db, "crm",
                  "{\"Id\": \"C9\", \"First\": \"Ann\", \"Last\": \"Lee\", \"Born\": "
                  "\"1980-02-30\"}");
    CHECK_INT(r.decision, MDM_DECISION_CREATED);
    CHECK_STR(fx_text(db, "SELECT (normalized->'issues'->0->>'pointer') || ' ' || "
                          "(normalized->'issues'->0->>'value') || ' ' || "
                          "coalesce(normalized->>'birth_date', 'none') FROM source_record"
                          " WHERE source_key = 'C9'"),
              "/Born 1980-02-30 none");
    mdm_ingest_result_clear(&r);
    /* no key and nothing to match on */
    mdm_ingest_result r2 = fx_ingest(db, "web", "{\"gender\": \"f\"}");
    CHECK_INT(r2.decision, MDM_DECISION_REJECTED);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM record_reject"), 2);
    mdm_ingest_result_clear(&r2);
    /* unknown source */
    mdm_ingest_result r3;
    mdm_err err;
    json_t *rec = json_pack("{s:s}", "source_key", "x");
    CHECK_INT(mdm_ingest(db, fx_ctx, "fax", rec, "test", &r3, &err), MDM_ENOTFOUND);
    json_decref(rec);
    mdm_db_close(db);
}

static void test_delete(void)
{
    mdm_db *db = fx_connect();
    mdm_ingest_result a =
        fx_ingest(db, "pos",
                  "{\"source_key\": \"P1\", \"first_name\": \"Zoe\","
                  " \"last_name\": \"Quinn\", \"phones\": [\"+44 20 7946 0958\"]}");
    CHECK_INT(a.decision, MDM_DECISION_CREATED);
    mdm_ingest_result d;
    mdm_err err;
    CHECK_INT(mdm_ingest_delete(db, fx_ctx, "pos", "P1", "test", NULL, &d, &err), MDM_OK);
    CHECK_INT(d.decision, MDM_DECISION_DELETED);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'retired'",
                        a.entity_id),
              1);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM outbox WHERE entity_id = $1 AND type = 'deleted'",
                        a.entity_id),
              1);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM blocking_key WHERE record_id = $1", a.record_id),
              0);
    CHECK_STR(fx_text(db, "SELECT deleted::text FROM source_record WHERE source_key = 'P1'"),
              "true");
    /* deleting again changes nothing; an unknown key is not found */
    CHECK_INT(mdm_ingest_delete(db, fx_ctx, "pos", "P1", "test", NULL, &d, &err), MDM_OK);
    CHECK_INT(d.decision, MDM_DECISION_UNCHANGED);
    CHECK_INT(mdm_ingest_delete(db, fx_ctx, "pos", "nope", "test", NULL, &d, &err), MDM_ENOTFOUND);
    /* a delete through the source's own op column; the entity keeps its other member */
    mdm_ingest_result x = fx_ingest(db, "crm",
                                    "{\"Id\": \"C20\", \"First\": \"Ivy\", \"Last\": \"Long\","
                                    " \"Mail\": \"ivy@long.example\", \"Born\": \"1990-01-02\"}");
    mdm_ingest_result y = fx_ingest(db, "web",
                                    "{\"source_key\": \"W20\", \"first_name\": \"Ivy\","
                                    " \"last_name\": \"Long\", \"emails\": [\"ivy@long.example\"],"
                                    " \"birth_date\": \"1990-01-02\"}");
    CHECK_INT(y.entity_id, x.entity_id);
    mdm_ingest_result z = fx_ingest(db, "crm", "{\"Id\": \"C20\", \"Action\": \"DELETE\"}");
    CHECK_INT(z.decision, MDM_DECISION_DELETED);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'",
                        x.entity_id),
              1);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active",
                        x.entity_id),
              1);
    /* a record revived after its delete gets an entity again */
    mdm_ingest_result v =
        fx_ingest(db, "pos",
                  "{\"source_key\": \"P1\", \"first_name\": \"Zoe\","
                  " \"last_name\": \"Quinn\", \"phones\": [\"+44 20 7946 0958\"]}");
    CHECK_INT(v.decision, MDM_DECISION_CREATED);
    CHECK(v.entity_id != a.entity_id);
    mdm_db_close(db);
}

/* Counts of every table ingest writes, as one string. */
static void snapshot(mdm_db *db, char *out, size_t cap)
{
    snprintf(
        out, cap, "%s",
        fx_text(db,
                "SELECT concat_ws(',', (SELECT count(*) FROM source_record),"
                " (SELECT count(*) FROM source_record_history),"
                " (SELECT count(*) FROM entity), (SELECT count(*) FROM entity_version),"
                " (SELECT count(*) FROM membership), (SELECT count(*) FROM link_event),"
                " (SELECT count(*) FROM blocking_key), (SELECT count(*) FROM record_pending),"
                " (SELECT count(*) FROM golden_value), (SELECT count(*) FROM outbox),"
                " (SELECT count(*) FROM review_item),"
                " (SELECT string_agg(id || ':' || version || ':' || status, ';' ORDER BY id) FROM "
                "entity))"));
}

static void test_rollback_at_every_statement(void)
{
    mdm_db *db = fx_connect();
    /* a record that links to an existing entity, which touches every table */
    const char *rec = "{\"source_key\": \"W30\", \"first_name\": \"Robert\", \"last_name\":"
                      " \"Smith-Jones\", \"emails\": [\"bob.smith@example.com\"],"
                      " \"birth_date\": \"1980-03-04\"}";
    char before[4096], after[4096];
    snapshot(db, before, sizeof before);
    int failures = 0, n;
    for (n = 1; n < 200; n++) {
        json_t *j = json_loads(rec, 0, NULL);
        mdm_ingest_result r;
        mdm_err err;
        mdm_db_fail_after(n);
        mdm_status st = mdm_ingest(db, fx_ctx, "web", j, "test", &r, &err);
        mdm_db_fail_after(0);
        json_decref(j);
        mdm_ingest_result_clear(&r);
        if (st == MDM_OK)
            break;
        failures++;
        snapshot(db, after, sizeof after);
        if (strcmp(before, after) != 0) {
            fprintf(stderr, "statement %d left a trace:\n %s\n %s\n", n, before, after);
            CHECK(0);
            break;
        }
    }
    CHECK(failures >= 10); /* the transaction has many statements; each was failed once */
    snapshot(db, after, sizeof after);
    CHECK(strcmp(before, after) != 0); /* and the last run went through */
    CHECK_STR(fx_text(db, "SELECT decision FROM (SELECT 'linked' AS decision) x"), "linked");
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM membership m JOIN source_record r ON r.id ="
                            " m.record_id WHERE r.source_key = 'W30' AND m.active"),
              1);
    mdm_db_close(db);
}

/* The deployment's record counters (mdm/counters.h) for a record sent over HTTP are
 * written by the record's own transaction, with its COMMIT: a transaction that fails at
 * any statement counts nothing, and the counter rows of a committed one carry its
 * transaction id (xmin), as the record's row does. */
static long long http_count(mdm_db *db, const char *via, const char *result)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(n), 0) FROM record_counter WHERE via = '%s' AND result = '%s'",
             via, result);
    return fx_scalar(db, sql);
}

static void test_counted_in_transaction(void)
{
    mdm_db *db = fx_connect();
    const char *rec = "{\"source_key\": \"W40\", \"first_name\": \"Robert\", \"last_name\":"
                      " \"Smith\", \"emails\": [\"bob.smith@example.com\"],"
                      " \"birth_date\": \"1980-03-04\"}";
    long long received = http_count(db, "http", "received");
    long long total = fx_scalar(db, "SELECT coalesce(sum(n), 0) FROM record_counter");
    int failures = 0;
    mdm_status st = MDM_EDB;
    mdm_ingest_result r = {0};
    for (int n = 1; n < 200 && st != MDM_OK; n++) {
        json_t *j = json_loads(rec, 0, NULL);
        mdm_err err;
        mdm_ingest_result_clear(&r);
        mdm_db_fail_after(n);
        st = mdm_ingest_as(db, fx_ctx, "web", j, "api:test", "source", "http", &r, &err);
        mdm_db_fail_after(0);
        json_decref(j);
        if (st != MDM_OK) {
            failures++;
            CHECK_INT(http_count(db, "http", "received"), received);
        }
    }
    CHECK_INT(st, MDM_OK);
    CHECK(failures >= 5);
    /* the last statement before the COMMIT carries the counts: failing the COMMIT left
     * nothing either (checked above), and now they are there once */
    CHECK_INT(http_count(db, "http", "received"), received + 1);
    CHECK_INT(http_count(db, "http", mdm_decision_name(r.decision)), 1);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM record_counter c WHERE c.via = 'http' AND"
                            " c.xmin = (SELECT xmin FROM source_record WHERE source_key = 'W40')"),
              2);
    mdm_ingest_result_clear(&r);

    /* a refused record: counted with its record_reject row */
    json_t *bad = json_loads("{\"source_key\": \"W41\", \"birth_date\": \"1980-02-30\","
                             " \"source_updated_at\": \"yesterday\"}",
                             0, NULL);
    mdm_err err;
    CHECK_INT(mdm_ingest_as(db, fx_ctx, "web", bad, "api:test", "source", "batch", &r, &err),
              MDM_OK);
    json_decref(bad);
    CHECK_INT(r.decision, MDM_DECISION_REJECTED);
    CHECK_INT(http_count(db, "batch", "received"), 1);
    CHECK_INT(http_count(db, "batch", "rejected"), 1);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM record_counter c WHERE c.via = 'batch' AND"
                            " c.xmin = (SELECT xmin FROM record_reject WHERE source_key = 'W41')"),
              2);
    mdm_ingest_result_clear(&r);

    /* a delete, and the same record through mdm_ingest, which counts nothing */
    CHECK_INT(mdm_ingest_delete(db, fx_ctx, "web", "W40", "api:test", "http", &r, &err), MDM_OK);
    CHECK_INT(http_count(db, "http", "deleted"), 1);
    CHECK_INT(http_count(db, "http", "received"), received + 2);
    mdm_ingest_result again = fx_ingest(db, "web", rec);
    CHECK(again.decision != (mdm_decision)-1);
    CHECK_INT(fx_scalar(db, "SELECT coalesce(sum(n), 0) FROM record_counter"), total + 6);
    mdm_ingest_result_clear(&again);
    mdm_db_close(db);
}

int main(void)
{
    fx_setup(NULL);
    RUN(test_map_and_idempotent);
    RUN(test_stale_and_update);
    RUN(test_reject);
    RUN(test_delete);
    RUN(test_rollback_at_every_statement);
    RUN(test_counted_in_transaction);
    fx_teardown();
    TEST_END();
}
