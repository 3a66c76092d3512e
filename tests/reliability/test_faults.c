/* Fault-injection sweep over the write paths: for every n, the n-th database statement of
 * an operation fails (mdm_db_fail_after); the database must then be byte-for-byte what it
 * was before (every row of every table: no partial golden record, no orphan outbox event,
 * no audit row), and the same operation attempted again without a fault must succeed and
 * leave the store consistent (SQL invariants below, and no advisory lock left held).
 * Paths: ingest of a new person, ingest that links, consent events, manual merge, split,
 * record delete, subject erasure, outbox fan-out into deliveries, and a delivery
 * attempt (to a closed port: recorded as a retry).
 *
 * MDM_FAULT_MAX (default 400) bounds n; each path reports how many failure points it
 * had ("ingest-new: 37 faults"), which also proves the sweep reached the success path. */
#include "tests/integration/core_fixture.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/publish.h"
#include "mdm/subject.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

/* md5 of every row of every table of the public schema, one line per table. Identifiers
 * come from the catalogue (format %I), never from data. */
static const mdm_audit_actor fault_actor = {"cli:fault", "admin"};

static const char snapshot_sql[] =
    "SELECT string_agg(t.table_name || '=' || (xpath('/row/h/text()', query_to_xml(format("
    "  'SELECT md5(coalesce(string_agg(x::text, ''|'' ORDER BY x::text), '''')) AS h FROM %I x',"
    "  t.table_name), false, true, '')))[1]::text, E'\\n' ORDER BY t.table_name)"
    " FROM information_schema.tables t"
    " WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'";

/* Cheap per-round fingerprint: for every table, its row count and the number of rows
 * written (inserted or updated: xmin) by transactions that started after `since` (the
 * snapshot xmax taken before the operation). A failed operation must leave every count
 * as it was and no new row. (Counting committed transaction ids instead would also see
 * autovacuum's ANALYZE.) The full md5 snapshot runs every round under MDM_SOAK and every
 * 8th round otherwise. */
static const char fp_create_sql[] =
    "CREATE FUNCTION pg_temp.mdm_fp(since bigint) RETURNS text LANGUAGE plpgsql AS $$"
    " DECLARE t text; r text := ''; c bigint; n bigint;"
    " BEGIN"
    "  FOR t IN SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    "           AND table_type = 'BASE TABLE' ORDER BY 1 LOOP"
    "   EXECUTE format('SELECT count(*), count(*) FILTER (WHERE xmin::text::bigint >= $1)"
    "                   FROM %I', t) INTO c, n USING since % 4294967296;"
    "   r := r || t || '=' || c || ':' || n || ' ';"
    "  END LOOP;"
    "  RETURN r;"
    " END $$";
static const char xmax_sql[] = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text";
static const char fp_sql[] = "SELECT pg_temp.mdm_fp($1::bigint)";

/* Consistency rules that hold after every committed write; each query counts violations. */
static const struct {
    const char *name, *sql;
} invariants[] = {
    {"active entity without an active member",
     "SELECT count(*) FROM entity e WHERE e.status = 'active' AND NOT EXISTS"
     " (SELECT 1 FROM membership m WHERE m.entity_id = e.id AND m.active)"},
    {"active membership of a retired entity",
     "SELECT count(*) FROM membership m JOIN entity e ON e.id = m.entity_id"
     " WHERE m.active AND e.status = 'retired'"},
    {"live record without an active membership",
     "SELECT count(*) FROM source_record r WHERE NOT r.deleted AND NOT EXISTS"
     " (SELECT 1 FROM membership m WHERE m.record_id = r.id AND m.active)"},
    {"outbox event ahead of its entity's version",
     "SELECT count(*) FROM outbox o JOIN entity e ON e.id = o.entity_id"
     " WHERE o.entity_version > e.version"},
    {"entity without its current version in history",
     "SELECT count(*) FROM entity e WHERE e.status = 'active' AND NOT EXISTS"
     " (SELECT 1 FROM entity_version v WHERE v.entity_id = e.id AND v.version = e.version)"},
    {"retired entity whose survivor chain ends nowhere",
     "SELECT count(*) FROM entity e JOIN entity s ON s.id = e.survivor_id"
     " WHERE s.status NOT IN ('active', 'retired', 'erased')"},
    {"active golden record without values",
     "SELECT count(*) FROM entity e WHERE e.status = 'active' AND e.golden = '{}'::jsonb"},
};

static char *snapshot(mdm_db *db)
{
    PGresult *res = NULL;
    mdm_err err;
    if (mdm_db_exec_params(db, snapshot_sql, 0, NULL, &res, &err) != MDM_OK) {
        fprintf(stderr, "snapshot: %s\n", err.msg);
        exit(1);
    }
    char *s = mdm_xstrdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return s;
}

/* Session-level advisory locks left behind by a failed operation would stop every other
 * process (the fan-out lock, the migration lock): none may be held once an operation
 * returned, on any connection of this database. */
static const char locks_sql[] =
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

static int check_invariants(mdm_db *db, const char *path, long n)
{
    int bad = 0;
    long long locks = fx_scalar(db, locks_sql);
    if (locks != 0) {
        fprintf(stderr, "%s (n=%ld): %lld advisory lock(s) still held\n", path, n, locks);
        bad++;
    }
    for (size_t i = 0; i < sizeof invariants / sizeof *invariants; i++) {
        long long v = fx_scalar(db, invariants[i].sql);
        if (v != 0) {
            fprintf(stderr, "%s (n=%ld): %lld x %s\n", path, n, v, invariants[i].name);
            bad++;
        }
    }
    return bad;
}

/* One write under test: prepare() makes the state it needs (with the n of this round, so
 * every round has fresh data), run() is the operation. */
typedef struct op {
    const char *name;
    void (*prepare)(mdm_db *db, long n, void *state);
    mdm_status (*run)(mdm_db *db, void *state, mdm_err *err);
} op;

static long max_faults(void)
{
    const char *s = getenv("MDM_FAULT_MAX");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? v : 400;
}

/* Runs the sweep of one operation; returns the number of failure points. */
static long sweep(const op *o, void *state)
{
    mdm_db *db = fx_connect();
    {
        PGresult *res = NULL;
        mdm_err e;
        if (mdm_db_exec_params(db, fp_create_sql, 0, NULL, &res, &e) != MDM_OK) {
            fprintf(stderr, "fingerprint function: %s\n", e.msg);
            exit(1);
        }
        PQclear(res);
    }
    long n, faults = 0, cap = max_faults();
    int ok = 0;
    bool soak = getenv("MDM_SOAK") && *getenv("MDM_SOAK") && strcmp(getenv("MDM_SOAK"), "0");
    for (n = 1; n <= cap; n++) {
        o->prepare(db, n, state);
        bool full = soak || n % 8 == 1;
        char *before = full ? snapshot(db) : NULL;
        char xmax[32];
        snprintf(xmax, sizeof xmax, "%s", fx_text(db, xmax_sql));
        const char *xp[1] = {xmax};
        char *fp_before = mdm_xstrdup(fx_text_p(db, fp_sql, 1, xp));
        mdm_err err = {0};
        mdm_db_fail_after(n);
        mdm_status st = o->run(db, state, &err);
        mdm_db_fail_after(0);
        if (st == MDM_OK) {
            ok = 1;
            free(before);
            free(fp_before);
            break;
        }
        faults++;
        const char *fp_after = fx_text_p(db, fp_sql, 1, xp);
        if (strcmp(fp_before, fp_after) != 0) {
            fprintf(stderr,
                    "%s: failure at statement %ld (%s) left rows behind:\n before %s\n after  %s\n",
                    o->name, n, err.msg, fp_before, fp_after);
            CHECK(0);
            free(before);
            free(fp_before);
            break;
        }
        free(fp_before);
        char *after = full ? snapshot(db) : NULL;
        if (full && strcmp(before, after) != 0) {
            fprintf(stderr, "%s: failure at statement %ld left a trace (%s)\n", o->name, n,
                    err.msg);
            CHECK(0);
            free(before);
            free(after);
            break;
        }
        free(after);
        free(before);
        if (st != MDM_EDB || strstr(err.msg, "injected") == NULL) {
            fprintf(stderr, "%s: statement %ld: expected the injected error, got %s: %s\n", o->name,
                    n, mdm_status_name(st), err.msg);
            CHECK(0);
            break;
        }
        /* the next attempt, without a fault, succeeds; then the round's data is spent */
        mdm_err e2 = {0};
        st = o->run(db, state, &e2);
        if (st != MDM_OK) {
            fprintf(stderr, "%s: retry after fault %ld failed: %s\n", o->name, n, e2.msg);
            CHECK(0);
            break;
        }
        if (check_invariants(db, o->name, n)) {
            CHECK(0);
            break;
        }
    }
    CHECK(ok);
    CHECK(faults >= 3);
    CHECK_INT(check_invariants(db, o->name, n), 0);
    printf("%s: %ld faults, each rolled back, retried and committed\n", o->name, faults);
    mdm_db_close(db);
    return faults;
}

/* ---- operations ---------------------------------------------------------------------- */

typedef struct st {
    char rec[1024];
    const char *source;
    int64_t a, b;   /* entities */
    int64_t ids[2]; /* records */
    char key[64];
    json_t *consents;
} st;

static int64_t ingest_entity(mdm_db *db, const char *source, const char *json, int64_t *record)
{
    mdm_ingest_result r = fx_ingest(db, source, json);
    if ((int)r.decision < 0 || r.entity_id == 0) {
        fprintf(stderr, "set-up ingest failed: %s\n", json);
        exit(1);
    }
    if (record)
        *record = r.record_id;
    int64_t id = r.entity_id;
    mdm_ingest_result_clear(&r);
    return id;
}

static mdm_status run_ingest(mdm_db *db, void *state, mdm_err *err)
{
    st *s = state;
    json_t *j = json_loads(s->rec, 0, NULL);
    mdm_ingest_result r = {0};
    mdm_status rc = mdm_ingest(db, fx_ctx, s->source, j, "fault", &r, err);
    if (rc == MDM_OK && (r.decision == MDM_DECISION_REJECTED || r.entity_id == 0)) {
        mdm_err_set(err, MDM_EINTERNAL, "ingest decided %d", (int)r.decision);
        rc = MDM_EINTERNAL;
    }
    mdm_ingest_result_clear(&r);
    json_decref(j);
    return rc;
}

/* Every round of every sweep gets its own people: n is replaced by a global serial. */
static long serial;

static void prep_new(mdm_db *db, long round, void *state)
{
    (void)db;
    (void)round;
    long n = ++serial;
    st *s = state;
    s->source = "web";
    snprintf(s->rec, sizeof s->rec,
             "{\"source_key\": \"N%ld\", \"first_name\": \"Quentin%ld\", \"last_name\":"
             " \"Ortega%ld\", \"emails\": [\"q%ld@new.example.com\"], \"phones\":"
             " [\"+1 415 555 %04ld\"], \"birth_date\": \"1971-02-03\"}",
             n, n, n, n, n % 10000);
}

static void prep_link(mdm_db *db, long round, void *state)
{
    (void)round;
    long n = ++serial;
    st *s = state;
    char rec[1024];
    snprintf(rec, sizeof rec,
             "{\"source_key\": \"L%ld\", \"first_name\": \"Rosalind\", \"last_name\":"
             " \"Vance%ld\", \"emails\": [\"ros%ld@link.example.com\"], \"birth_date\":"
             " \"1980-03-04\"}",
             n, n, n);
    ingest_entity(db, "web", rec, NULL);
    s->source = "pos";
    snprintf(s->rec, sizeof s->rec,
             "{\"source_key\": \"LP%ld\", \"first_name\": \"Rosalind\", \"last_name\":"
             " \"Vance%ld\", \"emails\": [\"ros%ld@link.example.com\"], \"birth_date\":"
             " \"1980-03-04\", \"consents\": [{\"purpose\": \"marketing\", \"channel\":"
             " \"email\", \"status\": \"granted\", \"captured_at\": \"2026-01-0%ldT10:00:00Z\"}]}",
             n, n, n, 1 + n % 9);
}

static void prep_two(mdm_db *db, long round, void *state)
{
    (void)round;
    long n = ++serial;
    st *s = state;
    char rec[1024];
    snprintf(rec, sizeof rec,
             "{\"source_key\": \"MA%ld\", \"first_name\": \"Abigail\", \"last_name\":"
             " \"North%ld\", \"emails\": [\"abi%ld@a.example.com\"], \"consents\": [{\"purpose\":"
             " \"marketing\", \"channel\": \"email\", \"status\": \"granted\", \"captured_at\":"
             " \"2026-02-01T09:00:00Z\"}]}",
             n, n, n);
    s->a = ingest_entity(db, "web", rec, &s->ids[0]);
    snprintf(rec, sizeof rec,
             "{\"source_key\": \"MB%ld\", \"first_name\": \"Bartholomew\", \"last_name\":"
             " \"South%ld\", \"phones\": [\"+44 20 7946 %04ld\"], \"consents\": [{\"purpose\":"
             " \"marketing\", \"channel\": \"email\", \"status\": \"withdrawn\", \"captured_at\":"
             " \"2026-02-02T09:00:00Z\"}]}",
             n, n, n % 10000);
    s->b = ingest_entity(db, "pos", rec, &s->ids[1]);
}

typedef struct merge_ctx {
    st *s;
    int64_t out;
} merge_ctx;

static mdm_status merge_tx(mdm_db *db, void *ctx, mdm_err *err)
{
    merge_ctx *m = ctx;
    return mdm_golden_merge(db, fx_ctx, m->s->a, m->s->b, "manual", "steward:fault", "sweep", 1.0,
                            &m->out, err);
}

static mdm_status run_merge(mdm_db *db, void *state, mdm_err *err)
{
    merge_ctx m = {state, 0};
    return mdm_db_run_tx(db, "fault_merge", merge_tx, &m, err);
}

static void prep_split(mdm_db *db, long n, void *state)
{
    prep_two(db, n, state);
    merge_ctx m = {state, 0};
    mdm_err err;
    if (run_merge(db, state, &err) != MDM_OK) {
        fprintf(stderr, "set-up merge failed: %s\n", err.msg);
        exit(1);
    }
    ((st *)state)->a = m.out ? m.out : ((st *)state)->a;
}

static mdm_status split_tx(mdm_db *db, void *ctx, mdm_err *err)
{
    st *s = ctx;
    int64_t entity = s->a < s->b ? s->a : s->b, fresh = 0;
    return mdm_golden_split(db, fx_ctx, entity, &s->ids[1], 1, "steward:fault", "sweep", &fresh,
                            err);
}

static mdm_status run_split(mdm_db *db, void *state, mdm_err *err)
{
    return mdm_db_run_tx(db, "fault_split", split_tx, state, err);
}

static void prep_consent(mdm_db *db, long round, void *state)
{
    st *s = state;
    prep_two(db, round, state);
    long n = serial;
    snprintf(s->key, sizeof s->key, "MA%ld", n);
    json_decref(s->consents);
    char ev[512];
    snprintf(ev, sizeof ev,
             "[{\"purpose\": \"profiling\", \"channel\": \"all\", \"status\": \"denied\","
             " \"captured_at\": \"2026-03-01T10:00:00Z\"}, {\"purpose\": \"marketing\","
             " \"channel\": \"email\", \"status\": \"withdrawn\", \"captured_at\":"
             " \"2026-03-0%ldT11:00:00Z\", \"contact_point\": \"abi%ld@a.example.com\"}]",
             2 + n % 7, n);
    s->consents = json_loads(ev, 0, NULL);
}

static mdm_status consent_tx(mdm_db *db, void *ctx, mdm_err *err)
{
    st *s = ctx;
    json_t *res = NULL;
    mdm_status rc = mdm_consent_record(db, "web", s->key, s->consents, &fault_actor, &res, err);
    json_decref(res);
    return rc;
}

static mdm_status run_consent(mdm_db *db, void *state, mdm_err *err)
{
    return mdm_db_run_tx(db, "fault_consent", consent_tx, state, err);
}

static mdm_status run_delete(mdm_db *db, void *state, mdm_err *err)
{
    st *s = state;
    mdm_ingest_result r = {0};
    mdm_status rc = mdm_ingest_delete(db, fx_ctx, "web", s->key, "fault", NULL, &r, err);
    mdm_ingest_result_clear(&r);
    return rc;
}

static mdm_status run_erase(mdm_db *db, void *state, mdm_err *err)
{
    st *s = state;
    json_t *res = NULL;
    mdm_status rc = mdm_subject_erase(db, s->a, 0, "dpo:fault", "sweep", &fault_actor, &res, err);
    json_decref(res);
    return rc;
}

/* Delivery: a subscription of "web" to a port where nothing listens, so every attempt is
 * a quick connection refusal that the worker records as a retry. */
static mdm_publisher *publisher;

static void prep_publish(mdm_db *db, long round, void *state)
{
    prep_new(db, round, state);
    if (run_ingest(db, state, &(mdm_err){0}) != MDM_OK) {
        fprintf(stderr, "set-up ingest failed\n");
        exit(1);
    }
}

static mdm_status fanout_tx(mdm_db *db, void *ctx, mdm_err *err)
{
    int created = 0;
    (void)ctx;
    mdm_status rc = mdm_publish_fanout(db, 100, &created, err);
    if (rc == MDM_OK && created < 1)
        return mdm_err_set(err, MDM_EINTERNAL, "fan-out created %d deliveries", created);
    return rc;
}

static mdm_status run_fanout(mdm_db *db, void *state, mdm_err *err)
{
    (void)state;
    return fanout_tx(db, NULL, err);
}

static mdm_status run_deliver(mdm_db *db, void *state, mdm_err *err)
{
    (void)db;
    (void)state;
    int processed = 0;
    mdm_status rc = mdm_publisher_step(publisher, &processed, err);
    if (rc == MDM_OK && processed < 1)
        return mdm_err_set(err, MDM_EINTERNAL, "the delivery step processed nothing");
    return rc;
}

static void publish_setup(void)
{
    mdm_db *db = fx_connect();
    json_t *sub =
        json_pack("{s:s, s:s, s:s, s:s}", "source", "pos", "url", "http://127.0.0.1:9/hook",
                  "secret", "fault-sweep-secret-0123456789", "scope", "all");
    json_t *out = NULL;
    mdm_err err;
    if (mdm_publish_sub_create(db, sub, &fault_actor, &out, &err) != MDM_OK) {
        fprintf(stderr, "subscription: %s\n", err.msg);
        exit(1);
    }
    json_decref(out);
    json_decref(sub);
    mdm_publish_opts o;
    if (mdm_publish_opts_load(NULL, &o, &err) != MDM_OK)
        exit(1);
    /* the receiver listens on loopback, which deliveries refuse by default */
    json_t *nets = json_pack("[s]", "127.0.0.1/32");
    if (mdm_egress_load(nets, "/publish/allowed_networks", &o.egress, &err) != MDM_OK)
        exit(1);
    json_decref(nets);
    o.connect_timeout_ms = 500;
    o.timeout_ms = 1000;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 1;
    publisher = mdm_publisher_new(fx_url, &o, &err);
    if (!publisher) {
        fprintf(stderr, "publisher: %s\n", err.msg);
        exit(1);
    }
    mdm_db_close(db);
}

static long total;

static void sweep_all(void)
{
    static const op ops[] = {
        {"ingest-new", prep_new, run_ingest},
        {"ingest-link+consent", prep_link, run_ingest},
        {"consent-events", prep_consent, run_consent},
        {"merge", prep_two, run_merge},
        {"split", prep_split, run_split},
        {"delete", prep_consent, run_delete},
        {"erase", prep_two, run_erase},
        {"fan-out", prep_publish, run_fanout},
        {"delivery", prep_publish, run_deliver},
    };
    publish_setup();
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        st s = {0};
        total += sweep(&ops[i], &s);
        json_decref(s.consents);
    }
    printf("fault sweep: %ld injected failures in all\n", total);
}

int main(void)
{
    mdm_log_threshold = MDM_LOG_ERROR; /* thousands of merges would flood the log */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx_setup(NULL);
    RUN(sweep_all);
    mdm_publisher_free(publisher);
    fx_teardown();
    curl_global_cleanup();
    TEST_END();
}
