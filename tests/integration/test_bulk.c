/* Bulk resolution (mdm/bulk.h) on a real PostgreSQL: generated retail records of the five
 * demo systems are loaded unresolved, then resolved set-based. Checked: every record ends
 * in exactly one golden record; the golden records are exactly what a recompute gives;
 * events, versions, keys and consent state are written like the incremental path writes
 * them; quality against the generator's truth; new records join settled golden
 * records; a run that fails at any statement leaves nothing, and the next one ends as an
 * uninterrupted run. */
#include "core_fixture.h"
#include "matching/synth.h"
#include "mdm/bulk.h"
#include "mdm/config.h"
#include "mdm/locks.h"
#include "mdm/pending.h"
#include "mdm/resolve.h"
#include "mdm/score.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static long total_records;

/* demo/mdm.json (loaded as mdm does: its model.path names demo/model.json) with
 * resolve.bulk_min 1 */
static char *demo_config(void)
{
    mdm_err err = {0};
    mdm_config *cfg = mdm_config_load("demo/mdm.json", &err);
    if (!cfg) {
        fprintf(stderr, "demo/mdm.json: %s\n", err.msg);
        exit(1);
    }
    json_object_set_new(json_object_get(cfg->root, "resolve"), "bulk_min", json_integer(1));
    char *s = json_dumps(cfg->root, JSON_COMPACT);
    mdm_config_free(cfg);
    return s;
}

static void load_file(mdm_db *db, const char *source, const char *path)
{
    mdm_err err = {0};
    mdm_load_stats ls;
    if (mdm_ingest_load(db, fx_ctx, source, path, "csv", 0, NULL, "cli:test", "admin", &ls, &err) !=
        MDM_OK) {
        fprintf(stderr, "load %s: %s\n", path, err.msg);
        exit(1);
    }
}

static void load_all(mdm_db *db)
{
    char path[512];
    for (int s = 0; s < 5; s++) {
        snprintf(path, sizeof path, "%s/%s.csv", dir, mdm_synth_sources[s]);
        load_file(db, mdm_synth_sources[s], path);
    }
}

static void wipe(mdm_db *db)
{
    mdm_err err;
    if (mdm_db_command(db,
                       "TRUNCATE source_record, source_record_history, record_reject, entity, "
                       "entity_version, membership, link_event, blocking_key, record_pending, "
                       "golden_value, golden_pin, review_item, outbox, consent_event, "
                       "consent_state CASCADE",
                       &err) != MDM_OK) {
        fprintf(stderr, "wipe: %s\n", err.msg);
        exit(1);
    }
}

/* Everything that must not depend on ids or on how the run was cut: per golden record its
 * sorted cross-references and golden values, and the counts. */
static char *state(mdm_db *db)
{
    PGresult *res = NULL;
    mdm_err err;
    const char *sql =
        "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') || E'\\n' || "
        "(SELECT count(*) FROM record_pending) || ' unresolved' FROM "
        "(SELECT (SELECT string_agg(sr.source || ':' || sr.source_key, '|' ORDER BY sr.source, "
        " sr.source_key) FROM membership m JOIN source_record sr ON sr.id = m.record_id "
        " WHERE m.entity_id = e.id AND m.active) || ' ' || e.golden::text AS x "
        " FROM entity e WHERE e.status = 'active') t";
    if (mdm_db_exec_params(db, sql, 0, NULL, &res, &err) != MDM_OK) {
        fprintf(stderr, "state: %s\n", err.msg);
        return mdm_xstrdup("");
    }
    char *s = mdm_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return s;
}

static mdm_status bulk(mdm_db *db, int chunk, mdm_bulk_stats *bs)
{
    mdm_err err = {0};
    mdm_status st = mdm_bulk_resolve(db, fx_ctx, 2, chunk, NULL, bs, &err);
    if (st != MDM_OK && st != MDM_EDB)
        fprintf(stderr, "bulk: %s\n", err.msg);
    return st;
}

typedef struct recompute_all {
    long entities, changed;
} recompute_all;

static mdm_status recompute_tx(mdm_db *db, void *arg, mdm_err *err)
{
    recompute_all *r = arg;
    r->entities = r->changed = 0;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec_params(
        db, "SELECT id FROM entity WHERE status = 'active' ORDER BY id FOR UPDATE", 0, NULL, &res,
        err);
    if (st != MDM_OK)
        return st;
    for (int i = 0; i < PQntuples(res) && st == MDM_OK; i++) {
        int changed = 0;
        st = mdm_golden_recompute(db, fx_ctx, strtoll(PQgetvalue(res, i, 0), NULL, 10), NULL,
                                  "check", &changed, err);
        r->entities++;
        r->changed += changed;
    }
    PQclear(res);
    return st;
}

static void test_resolves_everything_like_a_recompute(void)
{
    mdm_db *db = fx_connect();
    load_all(db);
    mdm_bulk_stats bs;
    CHECK_INT(bulk(db, 100, &bs), MDM_OK);
    CHECK_INT(bs.records, total_records);
    CHECK_INT(bs.created + bs.linked + bs.deferred, total_records);
    CHECK_INT(bs.linked, 0);
    CHECK_INT(bs.deferred, 0);
    CHECK(bs.entities > total_records / 4 && bs.entities < total_records);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM record_pending"), 0);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM membership WHERE active"), total_records);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity WHERE status = 'active'"), bs.entities);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity e WHERE status = 'active' AND NOT EXISTS "
                            "(SELECT 1 FROM membership m WHERE m.entity_id = e.id AND m.active)"),
              0);
    /* a version, a 'created' event, a consent state and link events per golden record */
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity_version WHERE version = 1"), bs.entities);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM outbox WHERE type = 'created' AND "
                            "entity_version = 1"),
              bs.entities);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM consent_state"), bs.entities);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM link_event WHERE action = 'create'"),
              bs.entities);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM link_event WHERE action = 'link'"),
              total_records - bs.entities);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity e WHERE golden <> '{}' AND NOT EXISTS "
                            "(SELECT 1 FROM golden_value v WHERE v.entity_id = e.id)"),
              0);
    /* the golden records are exactly what survivorship computes: a recompute changes none */
    recompute_all ra = {0};
    mdm_err err = {0};
    CHECK_INT(mdm_db_run_tx(db, "recompute", recompute_tx, &ra, &err), MDM_OK);
    CHECK_INT(ra.entities, bs.entities);
    CHECK_INT(ra.changed, 0);
    CHECK_INT(fx_scalar(db, "SELECT max(version) FROM entity"), 1);
    /* the blocking keys are the ones incremental resolution computes */
    PGresult *res = NULL;
    CHECK_INT(
        mdm_db_exec_params(db,
                           "SELECT sr.normalized, (SELECT coalesce(json_agg(key ORDER BY key), "
                           "'[]') FROM blocking_key WHERE record_id = sr.id) FROM "
                           "source_record sr ORDER BY sr.id LIMIT 60",
                           0, NULL, &res, &err),
        MDM_OK);
    int same = 0;
    for (int i = 0; res && i < PQntuples(res); i++) {
        json_t *canon = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        json_t *stored = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        json_t *keys = mdm_score_keys(fx_ctx, canon);
        size_t n = 0;
        int64_t *ids = mdm_score_key_ids(keys, &n);
        bool eq = n > 0 && n == json_array_size(stored);
        for (size_t k = 0; eq && k < n; k++)
            eq = ids[k] == (int64_t)json_integer_value(json_array_get(stored, k));
        same += eq;
        free(ids);
        json_decref(canon);
        json_decref(stored);
        json_decref(keys);
    }
    CHECK_INT(same, 60);
    PQclear(res);
    /* C computes a key's id as SQL does (migration 017 converted stored keys in SQL) */
    const char *samples[] = {"em:ann.lee@example.org", "nm:L000|a", "pc:DE10115|k", "", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        const char *p[1] = {samples[i]};
        CHECK_INT(mdm_db_exec_params(db, "SELECT ('x' || left(md5($1), 16))::bit(64)::bigint", 1, p,
                                     &res, &err),
                  MDM_OK);
        CHECK_INT(res ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0, mdm_score_key_id(samples[i]));
        PQclear(res);
    }
    mdm_db_close(db);
}

/* Pairwise precision and recall against truth.csv (loaded into a table). */
static void test_quality_against_truth(void)
{
    mdm_db *db = fx_connect();
    char path[512];
    snprintf(path, sizeof path, "%s/truth.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) {
        mdm_db_close(db);
        return;
    }
    mdm_buf copy = {0};
    char line[256];
    bool header = true;
    while (fgets(line, sizeof line, f)) {
        if (header) {
            header = false;
            continue;
        }
        for (char *p = line; *p; p++)
            if (*p == ',')
                *p = '\t';
        mdm_buf_puts(&copy, line);
    }
    fclose(f);
    mdm_err err = {0};
    CHECK_INT(mdm_db_command(db,
                             "BEGIN; CREATE TABLE truth (source text, record_id text, "
                             "person_id text)",
                             &err),
              MDM_OK);
    CHECK_INT(mdm_db_copy_in(db, "COPY truth FROM STDIN", copy.data, copy.len, &err), MDM_OK);
    CHECK_INT(mdm_db_command(db, "COMMIT", &err), MDM_OK);
    mdm_buf_free(&copy);
    const char *q =
        "WITH m AS (SELECT t.person_id, mb.entity_id FROM truth t JOIN source_record sr ON "
        " sr.source = t.source AND sr.source_key = t.record_id JOIN membership mb ON "
        " mb.record_id = sr.id AND mb.active), "
        "tp AS (SELECT sum(c * (c - 1) / 2) n FROM (SELECT count(*) c FROM m GROUP BY person_id, "
        " entity_id) x), "
        "pp AS (SELECT sum(c * (c - 1) / 2) n FROM (SELECT count(*) c FROM m GROUP BY entity_id) "
        "x), "
        "ap AS (SELECT sum(c * (c - 1) / 2) n FROM (SELECT count(*) c FROM m GROUP BY person_id) "
        "x) "
        "SELECT round(1000 * tp.n / pp.n) || ' ' || round(1000 * tp.n / ap.n) FROM tp, pp, ap";
    int precision = 0, recall = 0;
    CHECK_INT(sscanf(fx_text(db, q), "%d %d", &precision, &recall), 2);
    printf("# bulk: pairwise precision %.3f, recall %.3f\n", precision / 1000.0, recall / 1000.0);
    /* floors for the harder generator (namesakes, twins, family e-mails, several errors in
     * one record); issue 15 raises them as the engine learns those cases */
    CHECK(precision >= 930);
    CHECK(recall >= 700);
    CHECK_INT(mdm_db_command(db, "DROP TABLE truth", &err), MDM_OK);
    mdm_db_close(db);
}

/* Copies of settled records under new keys join their golden records, which are
 * recomputed (version 2, an 'updated' event). */
static void test_new_records_join_settled_ones(void)
{
    mdm_db *db = fx_connect();
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/crm.csv", dir);
    snprintf(out, sizeof out, "%s/crm-again.csv", dir);
    FILE *fi = fopen(in, "r"), *fo = fopen(out, "w");
    CHECK(fi && fo);
    if (!fi || !fo) {
        if (fi)
            fclose(fi);
        if (fo)
            fclose(fo);
        mdm_db_close(db);
        return;
    }
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, fi) && n <= 40) {
        if (n++ == 0)
            fputs(line, fo);
        else
            fprintf(fo, "AGAIN-%s", line); /* same content, new customer id */
    }
    fclose(fi);
    fclose(fo);
    long long before = fx_scalar(db, "SELECT count(*) FROM entity WHERE status = 'active'");
    load_file(db, "crm", out);
    mdm_bulk_stats bs;
    CHECK_INT(bulk(db, 0, &bs), MDM_OK);
    CHECK_INT(bs.records, 40);
    CHECK(bs.settled >= 40);
    CHECK(bs.linked >= 38);
    CHECK_INT(bs.linked + bs.created + bs.deferred, 40);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM entity WHERE status = 'active'") - before,
              bs.entities);
    /* each copy sits with its original */
    CHECK(fx_scalar(db, "SELECT count(*) FROM source_record a JOIN source_record b ON "
                        "b.source = 'crm' AND b.source_key = 'AGAIN-' || a.source_key "
                        "JOIN membership ma ON ma.record_id = a.id AND ma.active "
                        "JOIN membership mb ON mb.record_id = b.id AND mb.active "
                        "WHERE a.source = 'crm' AND ma.entity_id = mb.entity_id") >= 38);
    CHECK(fx_scalar(db, "SELECT count(*) FROM outbox WHERE type = 'updated' AND "
                        "entity_version = 2") >= 1);
    recompute_all ra = {0};
    mdm_err err = {0};
    CHECK_INT(mdm_db_run_tx(db, "recompute", recompute_tx, &ra, &err), MDM_OK);
    CHECK_INT(ra.changed, 0);
    /* what bulk left (a copy bridging golden records) goes through the incremental path */
    long resolved = -1;
    CHECK_INT(mdm_pending_resolve(fx_url, fx_ctx, 0, 1, NULL, &resolved, &err), MDM_OK);
    CHECK_INT(resolved, bs.deferred);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM record_pending"), 0);
    CHECK_INT(bulk(db, 0, &bs), MDM_OK);
    CHECK_INT(bs.records, 0);
    mdm_db_close(db);
}

/* A run that fails at the n-th statement is resumed by the next run: same final state as
 * an uninterrupted run, nothing lost or duplicated. */
static void test_resume_after_failure(void)
{
    mdm_db *db = fx_connect();
    wipe(db);
    load_all(db);
    mdm_bulk_stats bs;
    CHECK_INT(bulk(db, 150, &bs), MDM_OK);
    char *clean = state(db);
    const long cuts[] = {3, 9, 14, 30, 47, 80};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        wipe(db);
        load_all(db);
        mdm_db_fail_after(cuts[i]);
        mdm_status st = bulk(db, 150, &bs);
        mdm_db_fail_after(0);
        char what[64];
        snprintf(what, sizeof what, "bulk run cut at statement %ld fails", cuts[i]);
        mdm_test_case(st != MDM_OK, what);
        CHECK_INT(bulk(db, 150, &bs), MDM_OK);
        char *again = state(db);
        snprintf(what, sizeof what, "resumed after a cut at statement %ld: same state", cuts[i]);
        mdm_test_case(strcmp(again, clean) == 0, what);
        free(again);
        CHECK_INT(fx_scalar(db, "SELECT count(*) FROM membership WHERE active"), total_records);
        CHECK_INT(fx_scalar(db, "SELECT count(*) FROM (SELECT record_id FROM membership WHERE "
                                "active GROUP BY record_id HAVING count(*) > 1) d"),
                  0);
    }
    free(clean);
    mdm_db_close(db);
}

static atomic_int ingest_done;

static void *ingest_one(void *arg)
{
    (void)arg;
    mdm_db *db = fx_connect();
    mdm_ingest_result r = fx_ingest(
        db, "crm",
        "{\"customer_id\": \"GATE-1\", \"first_name\": \"Ada\", \"last_name\": \"Gatewood\", "
        "\"email\": \"ada.gatewood@example.com\", \"birth_date\": \"1970-01-02\"}");
    atomic_store(&ingest_done, r.decision == MDM_DECISION_CREATED ? 1 : -1);
    mdm_ingest_result_clear(&r);
    mdm_db_close(db);
    return NULL;
}

/* While a bulk run holds the gate, a single ingest waits (it never writes a record the
 * run has read), and goes through once the run ends. */
static void test_ingest_waits_for_a_bulk_run(void)
{
    mdm_db *bulk_db = fx_connect();
    mdm_err err = {0};
    CHECK_INT(mdm_db_command(bulk_db, "SELECT pg_advisory_lock(" MDM_LOCK_BULK ")", &err), MDM_OK);
    pthread_t t;
    atomic_store(&ingest_done, 0);
    CHECK_INT(pthread_create(&t, NULL, ingest_one, NULL), 0);
    usleep(500000);
    CHECK_INT(atomic_load(&ingest_done), 0); /* still waiting */
    CHECK_INT(mdm_db_command(bulk_db, "SELECT pg_advisory_unlock(" MDM_LOCK_BULK ")", &err),
              MDM_OK);
    pthread_join(t, NULL);
    CHECK_INT(atomic_load(&ingest_done), 1);
    CHECK_INT(fx_scalar(bulk_db, "SELECT count(*) FROM source_record WHERE source_key = 'GATE-1' "
                                 "AND EXISTS (SELECT 1 FROM membership m WHERE "
                                 "m.record_id = source_record.id AND m.active) AND NOT EXISTS "
                                 "(SELECT 1 FROM record_pending p WHERE p.record_id = "
                                 "source_record.id)"),
              1);
    mdm_db_close(bulk_db);
}

int main(void)
{
    char *cfg = demo_config();
    fx_setup(cfg);
    free(cfg);
    snprintf(dir, sizeof dir, "/tmp/mdm-test-bulk-%d", (int)getpid());
    mdm_synth_opts o;
    mdm_synth_defaults(&o);
    o.people = 300;
    o.seed = 17;
    o.out_dir = dir;
    mdm_synth_stats ss;
    mdm_err err;
    if (mdm_synth_write(&o, &ss, &err) != MDM_OK) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return 1;
    }
    total_records = ss.records;
    RUN(test_resolves_everything_like_a_recompute);
    RUN(test_quality_against_truth);
    RUN(test_new_records_join_settled_ones);
    RUN(test_resume_after_failure);
    RUN(test_ingest_waits_for_a_bulk_run);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    fx_teardown();
    TEST_END();
}
