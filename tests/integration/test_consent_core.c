/* Consent and erasure through the service core (mdm_ingest, mdm_golden_merge,
 * mdm_golden_split) rather than hand-made rows: consents[] of ingested records, state
 * across sources, merge unions and split gives back each part's events with
 * consent_changed only on change, a vocabulary refusal rejects the record, and a record
 * re-sent under an erased key is flagged instead of re-creating the person, by the
 * single-record ingest and by the bulk COPY load alike. */
#include "tests/integration/core_fixture.h"

#include "mdm/consent.h"
#include "mdm/subject.h"

#include <unistd.h>

static const mdm_audit_actor dpo_actor = {"cli:dpo", "compliance"};

static long long changes(mdm_db *db, long long entity)
{
    return fx_count1(db,
                     "SELECT count(*) FROM outbox WHERE type = 'consent_changed' AND "
                     "entity_id = $1",
                     entity);
}

static const char *status_of(mdm_db *db, long long entity, const char *purpose, const char *channel)
{
    static char out[32];
    json_t *st = NULL;
    mdm_err err = {0};
    if (mdm_consent_state(db, entity, NULL, &st, &err) != MDM_OK)
        return "(error)";
    snprintf(out, sizeof out, "(absent)");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "consents"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "purpose")), purpose) &&
            !strcmp(json_string_value(json_object_get(e, "channel")), channel) &&
            json_is_null(json_object_get(e, "contact_point")))
            snprintf(out, sizeof out, "%s", json_string_value(json_object_get(e, "status")));
    }
    json_decref(st);
    return out;
}

typedef struct golden_ctx {
    long long a, b, record, out;
} golden_ctx;

static mdm_status merge_fn(mdm_db *db, void *arg, mdm_err *err)
{
    golden_ctx *c = arg;
    int64_t survivor = 0;
    mdm_status st =
        mdm_golden_merge(db, fx_ctx, c->a, c->b, "manual", "steward", "test", 1.0, &survivor, err);
    c->out = survivor;
    return st;
}

static mdm_status split_fn(mdm_db *db, void *arg, mdm_err *err)
{
    golden_ctx *c = arg;
    int64_t r = c->record, n = 0;
    mdm_status st = mdm_golden_split(db, fx_ctx, c->a, &r, 1, "steward", "test", &n, err);
    c->out = n;
    return st;
}

static void test_ingest_merge_split(void)
{
    mdm_db *db = fx_connect();
    mdm_ingest_result w = fx_ingest(
        db, "web",
        "{\"source_key\": \"W1\", \"first_name\": \"Augusta\", \"last_name\": \"Lovelace\","
        " \"birth_date\": \"1985-12-10\", \"emails\": [\"augusta@lovelace.example\"],"
        " \"consents\": [{\"purpose\": \"marketing\", \"channel\": \"email\", \"status\":"
        " \"granted\", \"captured_at\": \"2026-01-10T09:00:00Z\", \"lawful_basis\": "
        "\"consent\"}]}");
    CHECK_INT(w.decision, MDM_DECISION_CREATED);
    long long e1 = w.entity_id;
    CHECK_STR(status_of(db, e1, "marketing", "email"), "granted");
    CHECK_INT(changes(db, e1), 1);
    /* the same person from the shop till withdraws later */
    mdm_ingest_result p = fx_ingest(
        db, "pos",
        "{\"source_key\": \"P1\", \"first_name\": \"Augusta\", \"last_name\": \"Lovelace\","
        " \"birth_date\": \"1985-12-10\", \"emails\": [\"augusta@lovelace.example\"],"
        " \"consents\": [{\"purpose\": \"marketing\", \"channel\": \"email\", \"status\":"
        " \"withdrawn\", \"captured_at\": \"2026-02-01T10:00:00Z\"}]}");
    CHECK_INT(p.decision, MDM_DECISION_LINKED);
    CHECK_INT(p.entity_id, e1);
    CHECK_STR(status_of(db, e1, "marketing", "email"), "withdrawn");
    CHECK_INT(changes(db, e1), 2);
    /* re-sending the same record changes nothing */
    mdm_ingest_result again = fx_ingest(
        db, "pos",
        "{\"source_key\": \"P1\", \"first_name\": \"Augusta\", \"last_name\": \"Lovelace\","
        " \"birth_date\": \"1985-12-10\", \"emails\": [\"augusta@lovelace.example\"],"
        " \"consents\": [{\"purpose\": \"marketing\", \"channel\": \"email\", \"status\":"
        " \"withdrawn\", \"captured_at\": \"2026-02-01T10:00:00Z\"}]}");
    CHECK_INT(again.decision, MDM_DECISION_UNCHANGED);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM consent_event"), 2);
    CHECK_INT(changes(db, e1), 2);

    /* someone the matcher keeps apart, with a profiling grant */
    mdm_ingest_result o = fx_ingest(
        db, "web",
        "{\"source_key\": \"W2\", \"first_name\": \"Charles\", \"last_name\": \"Babbage\","
        " \"birth_date\": \"1971-12-26\", \"emails\": [\"charles@babbage.example\"],"
        " \"consents\": [{\"purpose\": \"profiling\", \"channel\": \"sms\", \"status\":"
        " \"granted\", \"captured_at\": \"2026-03-01\"}]}");
    CHECK_INT(o.decision, MDM_DECISION_CREATED);
    long long e2 = o.entity_id;
    CHECK(e2 != e1);
    CHECK_STR(status_of(db, e2, "profiling", "sms"), "granted");

    /* a steward merges them: the events are united, once */
    long long c1 = changes(db, e1);
    golden_ctx m = {e1, e2, 0, 0};
    mdm_err err = {0};
    CHECK_INT(mdm_db_run_tx(db, "merge", merge_fn, &m, &err), MDM_OK);
    CHECK_INT(m.out, e1);
    CHECK_STR(status_of(db, e1, "marketing", "email"), "withdrawn");
    CHECK_STR(status_of(db, e1, "profiling", "sms"), "granted");
    CHECK_INT(changes(db, e1), c1 + 1);
    CHECK_STR(status_of(db, e2, "profiling", "sms"), "granted"); /* retired id: survivor */

    /* and splits W2 back off: each part has exactly its own events again */
    golden_ctx s = {e1, 0, o.record_id, 0};
    CHECK_INT(mdm_db_run_tx(db, "split", split_fn, &s, &err), MDM_OK);
    long long e3 = s.out;
    CHECK(e3 > 0 && e3 != e1);
    CHECK_STR(status_of(db, e1, "marketing", "email"), "withdrawn");
    CHECK_STR(status_of(db, e1, "profiling", "sms"), "none");
    CHECK_STR(status_of(db, e3, "profiling", "sms"), "granted");
    CHECK_STR(status_of(db, e3, "marketing", "email"), "none");
    CHECK_INT(changes(db, e1), c1 + 2);
    CHECK_INT(changes(db, e3), 1);

    /* a consent outside the vocabulary rejects the record with the field named */
    mdm_ingest_result bad = {0};
    json_t *rec = json_loads("{\"source_key\": \"W3\", \"first_name\": \"Grace\", \"last_name\":"
                             " \"Hopper\", \"consents\": [{\"purpose\": \"telepathy\", "
                             "\"channel\": \"email\", \"status\": \"granted\", \"captured_at\":"
                             " \"2026-01-01\"}]}",
                             0, NULL);
    CHECK_INT(mdm_ingest(db, fx_ctx, "web", rec, "test", &bad, &err), MDM_OK);
    CHECK_INT(bad.decision, MDM_DECISION_REJECTED);
    char *errs = json_dumps(bad.errors, 0);
    CHECK(errs && strstr(errs, "/consents/0/purpose") && strstr(errs, "one of: marketing"));
    free(errs);
    mdm_ingest_result_clear(&bad);
    json_decref(rec);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record WHERE source_key = 'W3'"), 0);
    mdm_db_close(db);
}

static void test_erase_then_stale_copy(void)
{
    mdm_db *db = fx_connect();
    const char *rec = "{\"source_key\": \"E1\", \"first_name\": \"Hedwig\", \"last_name\":"
                      " \"Kiesler-Markey\", \"birth_date\": \"1964-11-09\", \"emails\":"
                      " [\"hedy@kiesler.example\"], \"consents\": [{\"purpose\": \"marketing\","
                      " \"channel\": \"email\", \"status\": \"granted\", \"captured_at\":"
                      " \"2026-01-01\", \"contact_point\": \"hedy@kiesler.example\"}]}";
    mdm_ingest_result r = fx_ingest(db, "web", rec);
    CHECK_INT(r.decision, MDM_DECISION_CREATED);
    json_t *res = NULL;
    mdm_err err = {0};
    CHECK_INT(mdm_subject_erase(db, r.entity_id, 0, "dpo", "request 1", &dpo_actor, &res, &err),
              MDM_OK);
    json_decref(res);
    const char *find = "SELECT (SELECT count(*) FROM source_record x WHERE x::text ILIKE "
                       "'%kiesler%') + (SELECT count(*) FROM entity x WHERE x::text ILIKE "
                       "'%kiesler%') + (SELECT count(*) FROM golden_value x WHERE x::text ILIKE "
                       "'%kiesler%') + (SELECT count(*) FROM blocking_key x WHERE x::text "
                       "ILIKE '%kiesler%') + (SELECT count(*) FROM consent_event x "
                       "WHERE x::text ILIKE '%kiesler%') + (SELECT count(*) FROM outbox x "
                       "WHERE x::text ILIKE '%kiesler%') + (SELECT count(*) FROM "
                       "source_record_history x WHERE x::text ILIKE '%kiesler%') + (SELECT "
                       "count(*) FROM entity_version x WHERE x::text ILIKE '%kiesler%')";
    CHECK_INT(fx_scalar(db, find), 0);
    /* the same stale copy comes back from the web shop: flagged, not re-created */
    long long entities = fx_scalar(db, "SELECT count(*) FROM entity");
    mdm_ingest_result again = fx_ingest(db, "web", rec);
    CHECK_INT(again.decision, MDM_DECISION_REJECTED);
    char *why = json_dumps(again.errors, 0);
    CHECK(why && strstr(why, "erased subject"));
    free(why);
    mdm_ingest_result_clear(&again);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity"), entities);
    CHECK_INT(fx_scalar(db, find), 0);
    CHECK_INT(fx_scalar(db,
                        "SELECT count(*) FROM record_reject WHERE source = 'web' AND "
                        "source_key = 'E1' AND reasons @> '[{\"reason\": \"erased_subject\"}]'"),
              1);
    CHECK_STR(fx_text(db, "SELECT status FROM entity WHERE id = (SELECT entity_id FROM "
                          "erasure_tombstone)"),
              "erased");
    mdm_db_close(db);
}

/* count of rows of the tables that hold personal data whose text contains `needle` */
static long long personal_hits(mdm_db *db, const char *needle)
{
    static const char *const tables[] = {
        "source_record", "source_record_history", "entity", "entity_version", "golden_value",
        "blocking_key",  "consent_event",         "outbox", "record_reject"};
    long long n = 0;
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM %s x WHERE x::text ILIKE '%%' || $1 || '%%'", tables[i]);
        const char *p[1] = {needle};
        const char *t = fx_text_p(db, sql, 1, p);
        n += t ? strtoll(t, NULL, 10) : 1000000;
    }
    return n;
}

/* `mdm load` path: a file holding the erased subject's old key (twice, across two chunks)
 * and one new person; the stale copies are flagged in record_reject like the single
 * ingest does, the new person is loaded, nothing personal of the erased subject comes back. */
static void test_erase_then_bulk_load(void)
{
    mdm_db *db = fx_connect();
    mdm_ingest_result r =
        fx_ingest(db, "crm",
                  "{\"Id\": \"C7\", \"First\": \"Hypatia\", \"Last\": \"Alexandrou-Theon\","
                  " \"Mail\": \"hypatia@museion.example\", \"Born\": \"1965-12-10\","
                  " \"Modified\": \"2026-01-01T00:00:00Z\"}");
    CHECK_INT(r.decision, MDM_DECISION_CREATED);
    json_t *res = NULL;
    mdm_err err = {0};
    /* at a stale version (If-Match): refused, nothing erased */
    CHECK_INT(mdm_subject_erase(db, r.entity_id, r.entity_version + 1, "dpo", "request 2",
                                &dpo_actor, &res, &err),
              MDM_ESTALE);
    CHECK(res == NULL);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM erasure_tombstone WHERE requester = 'dpo' AND "
                            "reason = 'request 2'"),
              0);
    CHECK(personal_hits(db, "alexandrou") > 0);
    CHECK_INT(mdm_subject_erase(db, r.entity_id, r.entity_version, "dpo", "request 2", &dpo_actor,
                                &res, &err),
              MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "version")),
              fx_count1(db, "SELECT version FROM entity WHERE id = $1", r.entity_id));
    long long tomb = (long long)json_integer_value(json_object_get(res, "tombstone_id"));
    CHECK(tomb > 0);
    json_decref(res);
    CHECK_INT(personal_hits(db, "alexandrou"), 0);
    CHECK_INT(personal_hits(db, "museion.example"), 0);

    char path[] = "/tmp/mdm_erased_load_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("Id,First,Last,Mail,Born,Modified\n"
          "C7,Hypatia,Alexandrou-Theon,hypatia@museion.example,1965-12-10,2026-02-01T00:00:00Z\n"
          "C8,Rosalind,Franklin-Wilkins,rosalind@helix.example,1966-12-09,2026-02-01T00:00:00Z\n"
          "C7,Hypatia T,Alexandrou-Theon,hypatia@museion.example,1965-12-10,2026-03-01T00:00:00Z\n",
          f);
    fclose(f);
    long long records = fx_scalar(db, "SELECT count(*) FROM source_record");
    mdm_load_stats ls;
    CHECK_INT(
        mdm_ingest_load(db, fx_ctx, "crm", path, "csv", 2, NULL, "cli:test", "admin", &ls, &err),
        MDM_OK);
    CHECK_INT(ls.rows, 3);
    CHECK_INT(ls.erased, 2);
    CHECK_INT(ls.inserted, 1);
    CHECK_INT(ls.updated, 0);
    CHECK_INT(ls.rejected, 0);
    /* flagged: one row per stale copy, with the tombstone, file and line, no payload */
    const char *tp[1] = {NULL};
    char tombs[24];
    snprintf(tombs, sizeof tombs, "%lld", tomb);
    tp[0] = tombs;
    char want[256];
    snprintf(want, sizeof want,
             "(withheld: the key belongs to an erased subject) %s:2|"
             "(withheld: the key belongs to an erased subject) %s:4",
             path, path);
    CHECK_STR(fx_text_p(db,
                        "SELECT string_agg(payload, '|' ORDER BY id) FROM record_reject WHERE "
                        "source = 'crm' AND source_key = 'C7' AND reasons @> "
                        "jsonb_build_array(jsonb_build_object('reason', 'erased_subject', "
                        "'tombstone_id', $1::bigint))",
                        1, tp),
              want);
    /* only the new person became a source record; the erased one stays erased */
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record"), records + 1);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record WHERE source = 'crm' AND "
                            "source_key = 'C7' AND (NOT deleted OR id IN (SELECT record_id "
                            "FROM record_pending))"),
              0);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM source_record WHERE source = 'crm' AND "
                            "source_key = 'C8' AND NOT deleted AND id IN (SELECT record_id "
                            "FROM record_pending)"),
              1);
    CHECK_INT(personal_hits(db, "alexandrou"), 0);
    CHECK_INT(personal_hits(db, "museion.example"), 0);
    CHECK(personal_hits(db, "franklin-wilkins") > 0);
    unlink(path);
    mdm_db_close(db);
}

int main(void)
{
    fx_setup(NULL);
    RUN(test_ingest_merge_split);
    RUN(test_erase_then_stale_copy);
    RUN(test_erase_then_bulk_load);
    fx_teardown();
    TEST_END();
}
