/* Consent on a real PostgreSQL: derivation (latest wins, ties, expiry, defaults, as_of,
 * contact points, the "all" channel), idempotency, validation, merge and split
 * recomputation with consent_changed emitted only on change, the streamed audit export
 * (row counts, RFC 4180 CSV, NDJSON), and subject access export and erasure.
 *
 * Every golden record, source record and membership is the resolver's: each person of
 * the suite has a name, e-mail and birth date of their own, so records of one person
 * link (mdm_ingest) and records of two never do; merges and splits are steward actions
 * (stewardship/merge.h). */
#include "common/mem.h"
#include "mdm/consent.h"
#include "mdm/consent_audit.h"
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "mdm/publish.h"
#include "mdm/subject.h"
#include "mdm/tombstone.h"
#include "stewardship/merge.h"
#include "stewardship/queue.h"
#include "tests/integration/core_fixture.h"

#include <stdarg.h>
#include <stdlib.h>

static mdm_db *db;
static const mdm_audit_actor dpo_actor = {"cli:dpo", "compliance"};

/* Fixture helpers --------------------------------------------------------------------- */

static PGresult *q(const char *sql, int n, ...)
{
    const char *params[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 16; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    PGresult *res = NULL;
    mdm_err err = {0};
    if (mdm_db_exec_params(db, sql, n, params, &res, &err) != MDM_OK) {
        fprintf(stderr, "fixture query failed: %s\n  %s\n", err.msg, sql);
        exit(1);
    }
    return res;
}

static long long q_ll(const char *sql, int n, ...)
{
    const char *params[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 16; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    PGresult *res = NULL;
    mdm_err err = {0};
    if (mdm_db_exec_params(db, sql, n, params, &res, &err) != MDM_OK) {
        fprintf(stderr, "fixture query failed: %s\n  %s\n", err.msg, sql);
        exit(1);
    }
    long long v = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return v;
}

static const char *num(long long v)
{
    static char ring[8][24];
    static int next;
    char *s = ring[next++ % 8];
    snprintf(s, 24, "%lld", v);
    return s;
}

static const char *const suite_config =
    "{\"sources\": [{\"code\": \"crm\", \"kind\": \"crm\"}, {\"code\": \"shop\", \"kind\":"
    " \"commerce\"}]}";
static const mdm_merge_actor steward = {"steward1", "steward", NULL};

/* The people of the suite: person n's golden record (0 before its first record). */
#define MAX_PEOPLE 64
static long long people[MAX_PEOPLE];
static int npeople;

/* Ingests a record of person n for (source, key); exits unless the resolver decided
 * want. Returns the record id; *entity (may be NULL) the golden record. */
static long long ingest_person(int n, const char *source, const char *key, mdm_decision want,
                               long long *entity)
{
    char last[16], email[48], born[16];
    snprintf(last, sizeof last, "Zq%c%c", 'a' + n % 26, 'a' + n / 26 % 26);
    snprintf(email, sizeof email, "casey.%d@consent.example", n);
    snprintf(born, sizeof born, "19%02d-%02d-%02d", 40 + n % 50, 1 + n % 12, 1 + n % 28);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:[s], s:s}", "source_key", key, "first_name", "Casey",
                            "last_name", last, "emails", email, "birth_date", born);
    char *json = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    mdm_ingest_result r = fx_put(db, source, json, want);
    free(json);
    if (entity)
        *entity = r.entity_id;
    return r.record_id;
}

/* A new person's first record (source, key): its record id; *entity its golden record. */
static long long person(const char *source, const char *key, long long *entity)
{
    if (npeople == MAX_PEOPLE)
        exit(1);
    int n = npeople++;
    long long rec = ingest_person(n, source, key, MDM_DECISION_CREATED, &people[n]);
    *entity = people[n];
    return rec;
}

/* Another record of the person whose golden record is entity: the resolver links it. */
static long long member(long long entity, const char *source, const char *key)
{
    for (int n = 0; n < npeople; n++)
        if (people[n] == entity)
            return ingest_person(n, source, key, MDM_DECISION_LINKED, NULL);
    fprintf(stderr, "fixture: no person has golden record %lld\n", entity);
    exit(1);
}

static long long changes(long long entity)
{
    return q_ll("SELECT count(*) FROM outbox WHERE type = 'consent_changed' AND entity_id = $1", 1,
                num(entity));
}

typedef struct ingest_ctx {
    long long record;
    const char *source, *key;
    json_t *consents;
    json_t *result; /* mdm_consent_record when record == 0 */
    long long recompute[4];
} ingest_ctx;

static mdm_status ingest_fn(mdm_db *d, void *arg, mdm_err *err)
{
    ingest_ctx *c = arg;
    mdm_status st = MDM_OK;
    if (c->consents)
        st = c->record ? mdm_consent_ingest(d, c->record, c->source, c->key, c->consents, err)
                       : mdm_consent_record(d, c->source, c->key, c->consents, &dpo_actor,
                                            &c->result, err);
    for (int i = 0; i < 4 && st == MDM_OK && c->recompute[i]; i++)
        st = mdm_consent_recompute(d, c->recompute[i], err);
    return st;
}

/* Ingests one consent given as JSON text for a stored record; returns the status. */
static mdm_status give(long long record, const char *source, const char *key, const char *json,
                       mdm_err *err)
{
    json_t *c = json_loads(json, 0, NULL);
    if (!c) {
        fprintf(stderr, "bad fixture JSON: %s\n", json);
        exit(1);
    }
    json_t *arr = json_is_array(c) ? c : json_pack("[o]", c);
    ingest_ctx ctx = {record, source, key, arr, NULL, {0}};
    mdm_status st = mdm_db_run_tx(db, "test_ingest", ingest_fn, &ctx, err);
    json_decref(arr);
    json_decref(ctx.result);
    return st;
}

static mdm_status recompute(long long a, long long b)
{
    mdm_err err = {0};
    ingest_ctx ctx = {0, NULL, NULL, NULL, NULL, {a, b, 0, 0}};
    mdm_status st = mdm_db_run_tx(db, "test_recompute", ingest_fn, &ctx, &err);
    if (st != MDM_OK)
        fprintf(stderr, "recompute: %s\n", err.msg);
    return st;
}

/* The entry of state for (purpose, channel, contact point); borrowed. */
static json_t *entry(json_t *state, const char *purpose, const char *channel, const char *cp)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(state, "consents"), i, e)
    {
        const char *ecp = json_string_value(json_object_get(e, "contact_point"));
        if (!strcmp(json_string_value(json_object_get(e, "purpose")), purpose) &&
            !strcmp(json_string_value(json_object_get(e, "channel")), channel) &&
            ((!cp && !ecp) || (cp && ecp && !strcmp(cp, ecp))))
            return e;
    }
    return NULL;
}

/* The derived status of (purpose, channel[, cp]) of entity as of as_of (NULL = now), or
 * "(absent)" / "(error)"; the text lives until the next call. */
static const char *state_of(long long entity, const char *as_of, const char *purpose,
                            const char *channel, const char *cp, int *granted)
{
    static char out[32];
    json_t *st = NULL;
    mdm_err err = {0};
    if (mdm_consent_state(db, entity, as_of, &st, &err) != MDM_OK) {
        fprintf(stderr, "state: %s\n", err.msg);
        return "(error)";
    }
    json_t *e = entry(st, purpose, channel, cp);
    snprintf(out, sizeof out, "%s",
             e ? json_string_value(json_object_get(e, "status")) : "(absent)");
    if (granted)
        *granted = e ? json_is_true(json_object_get(e, "granted")) : -1;
    json_decref(st);
    return out;
}

#define GRANT(purpose, channel, at)                                                                \
    "{\"purpose\":\"" purpose "\",\"channel\":\"" channel "\",\"status\":\"granted\","             \
    "\"captured_at\":\"" at "\",\"lawful_basis\":\"consent\"}"
#define WITHDRAW(purpose, channel, at)                                                             \
    "{\"purpose\":\"" purpose "\",\"channel\":\"" channel "\",\"status\":\"withdrawn\","           \
    "\"captured_at\":\"" at "\"}"

/* Derivation ----------------------------------------------------------------------------- */

static void test_grant_withdraw_grant(void)
{
    mdm_err err = {0};
    long long e = 0;
    long long crm = person("crm", "C-100", &e), shop = member(e, "shop", "W-100");
    int granted = -1;
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, &granted), "none");
    CHECK_INT(granted, 0);

    CHECK_INT(give(crm, "crm", "C-100", GRANT("marketing", "email", "2026-01-10T09:00:00Z"), &err),
              MDM_OK);
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, &granted), "granted");
    CHECK_INT(granted, 1);
    CHECK_INT(changes(e), 1);

    CHECK_INT(
        give(shop, "shop", "W-100", WITHDRAW("marketing", "email", "2026-02-01T10:00:00Z"), &err),
        MDM_OK);
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, &granted), "withdrawn");
    CHECK_INT(granted, 0);
    CHECK_INT(changes(e), 2);
    /* the audit columns tell what the service believed when the withdrawal arrived */
    PGresult *r = q("SELECT state_before, state_after FROM consent_event WHERE source = 'shop' "
                    "AND source_key = 'W-100'",
                    0);
    CHECK_STR(PQgetvalue(r, 0, 0), "granted");
    CHECK_STR(PQgetvalue(r, 0, 1), "withdrawn");
    PQclear(r);

    CHECK_INT(give(crm, "crm", "C-100", GRANT("marketing", "email", "2026-03-01T08:00:00Z"), &err),
              MDM_OK);
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, &granted), "granted");
    CHECK_INT(granted, 1);
    CHECK_INT(changes(e), 3);

    /* a late-arriving older withdrawal changes nothing and emits nothing */
    CHECK_INT(
        give(shop, "shop", "W-100", WITHDRAW("marketing", "email", "2026-01-20T00:00:00Z"), &err),
        MDM_OK);
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, NULL), "granted");
    CHECK_INT(changes(e), 3);
    r = q("SELECT state_before, state_after FROM consent_event WHERE source = 'shop' AND "
          "source_key = 'W-100' AND captured_at = '2026-01-20T00:00:00Z'",
          0);
    CHECK_STR(PQgetvalue(r, 0, 0), "granted");
    CHECK_STR(PQgetvalue(r, 0, 1), "granted");
    PQclear(r);

    /* as_of: what did we believe at each moment */
    CHECK_STR(state_of(e, "2026-01-01", "marketing", "email", NULL, &granted), "none");
    CHECK_INT(granted, 0);
    CHECK_STR(state_of(e, "2026-01-15", "marketing", "email", NULL, NULL), "granted");
    CHECK_STR(state_of(e, "2026-01-25T12:00:00+01:00", "marketing", "email", NULL, NULL),
              "withdrawn");
    CHECK_STR(state_of(e, "2026-02-15", "marketing", "email", NULL, NULL), "withdrawn");
    CHECK_STR(state_of(e, "2026-03-01T08:00:00Z", "marketing", "email", NULL, NULL), "granted");
    CHECK_STR(state_of(e, "2026-03-01T07:59:59Z", "marketing", "email", NULL, NULL), "withdrawn");
    /* other channels and purposes are untouched */
    CHECK_STR(state_of(e, NULL, "marketing", "sms", NULL, NULL), "none");
    CHECK_STR(state_of(e, NULL, "profiling", "email", NULL, NULL), "none");
    /* the winning event is named */
    json_t *st = NULL;
    CHECK_INT(mdm_consent_state(db, e, NULL, &st, &err), MDM_OK);
    json_t *en = entry(st, "marketing", "email", NULL);
    CHECK_STR(json_string_value(json_object_get(en, "source")), "crm");
    CHECK_STR(json_string_value(json_object_get(en, "captured_at")), "2026-03-01T08:00:00.000000Z");
    CHECK_STR(json_string_value(json_object_get(en, "lawful_basis")), "consent");
    /* 3 purposes x 4 channels (the wildcard "all" is not a channel of the state) */
    CHECK_INT(json_array_size(json_object_get(st, "consents")), 12);
    json_decref(st);
    CHECK_INT(mdm_consent_state(db, e, "March 3rd", &st, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/as_of");
    CHECK_INT(mdm_consent_state(db, 987654321, NULL, &st, &err), MDM_ENOTFOUND);
}

static void test_ties(void)
{
    mdm_err err = {0};
    /* the same instant: withdrawn wins whichever arrives first */
    for (int order = 0; order < 2; order++) {
        long long e = 0;
        char k1[16], k2[16];
        snprintf(k1, sizeof k1, "T%d-a", order);
        snprintf(k2, sizeof k2, "T%d-b", order);
        long long a = person("crm", k1, &e), b = member(e, "shop", k2);
        const char *g = GRANT("marketing", "sms", "2026-04-01T12:00:00Z");
        const char *w = WITHDRAW("marketing", "sms", "2026-04-01T14:00:00+02:00");
        if (order == 0) {
            CHECK_INT(give(a, "crm", k1, g, &err), MDM_OK);
            CHECK_INT(give(b, "shop", k2, w, &err), MDM_OK);
        } else {
            CHECK_INT(give(b, "shop", k2, w, &err), MDM_OK);
            CHECK_INT(give(a, "crm", k1, g, &err), MDM_OK);
        }
        CHECK_STR(state_of(e, NULL, "marketing", "sms", NULL, NULL), "withdrawn");
    }
    /* denied beats granted at the same instant too */
    long long e = 0;
    long long a = person("crm", "T-den", &e);
    CHECK_INT(give(a, "crm", "T-den",
                   "[" GRANT("profiling", "email",
                             "2026-04-02T00:00:00Z") ","
                                                     "{\"purpose\":\"profiling\",\"channel\":"
                                                     "\"email\",\"status\":\"denied\","
                                                     "\"captured_at\":\"2026-04-02T00:00:00Z\"}]",
                   &err),
              MDM_OK);
    CHECK_STR(state_of(e, NULL, "profiling", "email", NULL, NULL), "denied");
}

static void test_expiry(void)
{
    mdm_err err = {0};
    long long e = 0;
    long long a = person("crm", "X-1", &e);
    CHECK_INT(give(a, "crm", "X-1",
                   "{\"purpose\":\"third_party\",\"channel\":\"post\",\"status\":\"granted\","
                   "\"captured_at\":\"2025-01-01T00:00:00Z\",\"expires_at\":\"2025-07-01\"}",
                   &err),
              MDM_OK);
    int granted = -1;
    CHECK_STR(state_of(e, "2025-03-01", "third_party", "post", NULL, &granted), "granted");
    CHECK_INT(granted, 1);
    CHECK_STR(state_of(e, "2025-07-01T00:00:00Z", "third_party", "post", NULL, &granted),
              "expired");
    CHECK_INT(granted, 0);
    CHECK_STR(state_of(e, NULL, "third_party", "post", NULL, &granted), "expired");
    CHECK_INT(granted, 0);
    /* an expired grant emits no consent_changed of its own: the stored state is expired */
    CHECK_INT(changes(e), 1);
    json_t *st = NULL;
    CHECK_INT(mdm_consent_state(db, e, NULL, &st, &err), MDM_OK);
    CHECK_STR(
        json_string_value(json_object_get(entry(st, "third_party", "post", NULL), "expires_at")),
        "2025-07-01T00:00:00.000000Z");
    json_decref(st);
}

static void test_configured_default(void)
{
    mdm_err err = {0};
    json_t *cfg = json_loads("{\"purposes\":[\"marketing\",\"service\"],"
                             "\"channels\":[\"email\",\"sms\",\"all\"],"
                             "\"defaults\":{\"service\":\"granted\"}}",
                             0, NULL);
    CHECK_INT(mdm_consent_configure(cfg, &err), MDM_OK);
    json_decref(cfg);
    long long e = 0;
    long long a = person("crm", "D-1", &e);
    int granted = -1;
    CHECK_STR(state_of(e, NULL, "service", "email", NULL, &granted), "none");
    CHECK_INT(granted, 1);
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, &granted), "none");
    CHECK_INT(granted, 0);
    CHECK_STR(state_of(e, NULL, "profiling", "email", NULL, NULL), "(absent)");
    /* unknown purpose and channel are refused with the allowed values */
    CHECK_INT(give(a, "crm", "D-1", GRANT("profiling", "email", "2026-01-01"), &err),
              MDM_EUNPROCESSABLE);
    CHECK_STR(err.field, "/consents/0/purpose");
    CHECK(strstr(err.msg, "marketing, service") != NULL);
    CHECK_INT(give(a, "crm", "D-1",
                   "[" GRANT("service", "email", "2026-01-01") "," GRANT("service", "post",
                                                                         "2026-01-01") "]",
                   &err),
              MDM_EUNPROCESSABLE);
    CHECK_STR(err.field, "/consents/1/channel");
    CHECK(strstr(err.msg, "email, sms, all") != NULL);
    CHECK_INT(q_ll("SELECT count(*) FROM consent_event WHERE source_key = 'D-1'", 0), 0);
    /* an explicit withdrawal overrides a granted default */
    CHECK_INT(give(a, "crm", "D-1", WITHDRAW("service", "all", "2026-01-02"), &err), MDM_OK);
    CHECK_STR(state_of(e, NULL, "service", "sms", NULL, &granted), "withdrawn");
    CHECK_INT(granted, 0);
    CHECK_INT(mdm_consent_configure(NULL, &err), MDM_OK);
}

static void test_validation(void)
{
    static const struct {
        const char *json, *field, *needle;
    } cases[] = {
        {"{\"purpose\":\"spam\",\"channel\":\"email\",\"status\":\"granted\",\"captured_at\":"
         "\"2026-01-01\"}",
         "/consents/0/purpose", "one of: marketing, profiling, third_party"},
        {"{\"purpose\":\"marketing\",\"channel\":\"pigeon\",\"status\":\"granted\","
         "\"captured_at\":\"2026-01-01\"}",
         "/consents/0/channel", "one of: email, sms, phone, post, all"},
        {"{\"channel\":\"email\",\"status\":\"granted\",\"captured_at\":\"2026-01-01\"}",
         "/consents/0/purpose", "purpose must be given"},
        {"{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"maybe\","
         "\"captured_at\":\"2026-01-01\"}",
         "/consents/0/status", "granted, denied, withdrawn"},
        {"{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\"}",
         "/consents/0/captured_at", "must be given"},
        {"{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
         "\"captured_at\":\"2026-02-30\"}",
         "/consents/0/captured_at", "ISO 8601"},
        {"{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
         "\"captured_at\":\"2999-01-01\"}",
         "/consents/0/captured_at", "future"},
        {"{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
         "\"captured_at\":\"2026-01-01\",\"expires_at\":\"2025-01-01\"}",
         "/consents/0/expires_at", "after captured_at"},
        {"{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
         "\"captured_at\":\"2026-01-01\",\"colour\":\"red\"}",
         "/consents/0/colour", "unknown key \"consents[0].colour\""},
        {"{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
         "\"captured_at\":\"2026-01-01\",\"evidence\":42}",
         "/consents/0/evidence", "string"},
        {"[" GRANT("marketing", "email", "2026-01-01") ",7]", "/consents/1", "object"},
    };
    long long e = 0;
    long long a = person("crm", "V-1", &e);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mdm_err err = {0};
        mdm_status st = give(a, "crm", "V-1", cases[i].json, &err);
        char label[600];
        snprintf(label, sizeof label, "validation case %zu: status %d field %s msg %s", i, st,
                 err.field, err.msg);
        mdm_test_case(st == MDM_EUNPROCESSABLE && !strcmp(err.field, cases[i].field) &&
                          strstr(err.msg, cases[i].needle),
                      label);
    }
    CHECK_INT(q_ll("SELECT count(*) FROM consent_event WHERE source_key = 'V-1'", 0), 0);
    /* consents that are not an array */
    json_t *bad = json_pack("{s:s}", "purpose", "marketing");
    ingest_ctx ctx = {a, "crm", "V-1", bad, NULL, {0}};
    mdm_err err = {0};
    CHECK_INT(mdm_db_run_tx(db, "t", ingest_fn, &ctx, &err), MDM_EUNPROCESSABLE);
    CHECK_STR(err.field, "/consents");
    json_decref(bad);
}

static void test_idempotent_and_standalone(void)
{
    mdm_err err = {0};
    /* posted before the record exists: stored, not linked */
    json_t *c = json_loads("[" GRANT("marketing", "phone", "2026-05-01T10:00:00Z") "]", 0, NULL);
    ingest_ctx ctx = {0, "shop", "S-1", c, NULL, {0}};
    CHECK_INT(mdm_db_run_tx(db, "t", ingest_fn, &ctx, &err), MDM_OK);
    CHECK(json_is_null(json_object_get(ctx.result, "record_id")));
    CHECK_INT(json_integer_value(json_object_get(ctx.result, "stored")), 1);
    json_decref(ctx.result);
    ctx.result = NULL;
    /* the same event again, with the same instant written differently: stored once */
    json_t *c2 =
        json_loads("[" GRANT("marketing", "phone", "2026-05-01T12:00:00+02:00") "]", 0, NULL);
    ctx.consents = c2;
    CHECK_INT(mdm_db_run_tx(db, "t", ingest_fn, &ctx, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(ctx.result, "stored")), 0);
    CHECK_INT(json_integer_value(json_object_get(ctx.result, "duplicates")), 1);
    json_decref(ctx.result);
    json_decref(c);
    json_decref(c2);
    CHECK_INT(q_ll("SELECT count(*) FROM consent_event WHERE source_key = 'S-1'", 0), 1);
    /* the record arrives and is linked: the earlier event counts for its golden record */
    long long e = 0;
    person("shop", "S-1", &e);
    CHECK_STR(state_of(e, NULL, "marketing", "phone", NULL, NULL), "granted");
    CHECK_INT(changes(e), 1);
    CHECK_INT(recompute(e, 0), MDM_OK);
    CHECK_INT(changes(e), 1);
    /* unknown source */
    c = json_loads("[" GRANT("marketing", "phone", "2026-05-01T10:00:00Z") "]", 0, NULL);
    ingest_ctx bad = {0, "nosuch", "S-1", c, NULL, {0}};
    CHECK_INT(mdm_db_run_tx(db, "t", ingest_fn, &bad, &err), MDM_EUNPROCESSABLE);
    CHECK_STR(err.field, "/source");
    json_decref(c);
    /* recompute of an unknown entity */
    CHECK_INT(recompute(876543210, 0), MDM_ENOTFOUND);
}

static void test_rollback(void)
{
    mdm_err err = {0};
    long long e = 0;
    long long a = person("crm", "R-1", &e);
    long long before = q_ll("SELECT count(*) FROM outbox", 0);
    /* fail each statement of the ingest in turn: nothing of it may remain */
    for (int n = 1; n <= 40; n++) {
        mdm_db_fail_after(n);
        mdm_status st = give(a, "crm", "R-1", GRANT("marketing", "post", "2026-06-01"), &err);
        mdm_db_fail_after(0);
        if (st == MDM_OK)
            break; /* n exceeded the number of statements: the ingest committed */
        CHECK_INT(q_ll("SELECT count(*) FROM consent_event WHERE source_key = 'R-1'", 0), 0);
        CHECK_INT(q_ll("SELECT count(*) FROM outbox", 0), before);
    }
    CHECK_INT(q_ll("SELECT count(*) FROM consent_event WHERE source_key = 'R-1'", 0), 1);
    CHECK_STR(state_of(e, NULL, "marketing", "post", NULL, NULL), "granted");
}

static void test_contact_points(void)
{
    mdm_err err = {0};
    long long e = 0;
    long long a = person("crm", "CP-1", &e), b = member(e, "shop", "CP-2");
    CHECK_INT(give(a, "crm", "CP-1",
                   "{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
                   "\"captured_at\":\"2026-01-01\",\"contact_point\":\" Ann@Example.COM \"}",
                   &err),
              MDM_OK);
    /* the address-level grant covers only that address */
    CHECK_STR(state_of(e, NULL, "marketing", "email", "ann@example.com", NULL), "granted");
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, NULL), "none");
    CHECK_STR(state_of(e, NULL, "marketing", "sms", "ann@example.com", NULL), "(absent)");
    /* a later channel-wide withdrawal covers every address */
    CHECK_INT(give(b, "shop", "CP-2", WITHDRAW("marketing", "email", "2026-02-01"), &err), MDM_OK);
    CHECK_STR(state_of(e, NULL, "marketing", "email", "ann@example.com", NULL), "withdrawn");
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, NULL), "withdrawn");
    /* a later grant for one address: that address only */
    CHECK_INT(give(b, "shop", "CP-2",
                   "{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
                   "\"captured_at\":\"2026-03-01\",\"contact_point\":\"bob@example.com\"}",
                   &err),
              MDM_OK);
    CHECK_STR(state_of(e, NULL, "marketing", "email", "bob@example.com", NULL), "granted");
    CHECK_STR(state_of(e, NULL, "marketing", "email", "ann@example.com", NULL), "withdrawn");
    CHECK_STR(state_of(e, NULL, "marketing", "email", NULL, NULL), "withdrawn");
    CHECK_STR(state_of(e, "2026-02-15", "marketing", "email", "bob@example.com", NULL), "(absent)");
    /* phone contact points lose their punctuation; the "all" channel covers every channel */
    CHECK_INT(give(a, "crm", "CP-1",
                   "[{\"purpose\":\"profiling\",\"channel\":\"sms\",\"status\":\"granted\","
                   "\"captured_at\":\"2026-01-01\",\"contact_point\":\"+1 (555) 010-0199\"},"
                   "{\"purpose\":\"profiling\",\"channel\":\"all\",\"status\":\"withdrawn\","
                   "\"captured_at\":\"2026-01-05\"}]",
                   &err),
              MDM_OK);
    CHECK_STR(state_of(e, NULL, "profiling", "sms", "+15550100199", NULL), "withdrawn");
    CHECK_STR(state_of(e, NULL, "profiling", "post", NULL, NULL), "withdrawn");
    CHECK_STR(state_of(e, "2026-01-03", "profiling", "sms", "+15550100199", NULL), "granted");
    CHECK_STR(state_of(e, "2026-01-03", "profiling", "sms", NULL, NULL), "none");
}

static void test_merge_split(void)
{
    mdm_err err = {0};
    long long e1 = 0, e2 = 0;
    long long a = person("crm", "M-A", &e1), b = person("shop", "M-B", &e2);
    CHECK_INT(give(a, "crm", "M-A",
                   "[" GRANT("marketing", "email", "2026-01-01") "," GRANT("profiling", "email",
                                                                           "2026-01-01") "]",
                   &err),
              MDM_OK);
    CHECK_INT(give(b, "shop", "M-B",
                   "[" WITHDRAW("marketing", "email", "2026-02-01") "," GRANT("third_party", "sms",
                                                                              "2026-02-01") "]",
                   &err),
              MDM_OK);
    CHECK_STR(state_of(e1, NULL, "marketing", "email", NULL, NULL), "granted");
    CHECK_STR(state_of(e2, NULL, "marketing", "email", NULL, NULL), "withdrawn");
    long long c1 = changes(e1), c2 = changes(e2);

    /* a steward merges e2 into e1: the events are united */
    json_t *res = NULL;
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e1, 0, e2, &steward, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "survivor")), e1);
    json_decref(res);
    CHECK_STR(state_of(e1, NULL, "marketing", "email", NULL, NULL), "withdrawn");
    CHECK_STR(state_of(e1, NULL, "profiling", "email", NULL, NULL), "granted");
    CHECK_STR(state_of(e1, NULL, "third_party", "sms", NULL, NULL), "granted");
    /* the retired id answers for its survivor */
    CHECK_STR(state_of(e2, NULL, "third_party", "sms", NULL, NULL), "granted");
    CHECK_INT(changes(e1), c1 + 1);
    CHECK_INT(changes(e2), c2);
    CHECK_INT(q_ll("SELECT count(*) FROM consent_state WHERE entity_id = $1", 1, num(e2)), 0);
    /* recomputing again changes nothing */
    CHECK_INT(recompute(e1, 0), MDM_OK);
    CHECK_INT(changes(e1), c1 + 1);
    PGresult *r = q("SELECT payload FROM outbox WHERE entity_id = $1 AND type = "
                    "'consent_changed' ORDER BY seq DESC LIMIT 1",
                    1, num(e1));
    json_t *payload = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    CHECK_STR(
        json_string_value(json_object_get(json_object_get(payload, "state"), "marketing/email")),
        "withdrawn");
    CHECK_STR(
        json_string_value(json_object_get(json_object_get(payload, "previous"), "marketing/email")),
        "granted");
    json_decref(payload);

    /* the steward splits b off into a new golden record: each part gets back exactly its
     * own events */
    int64_t moved[1] = {b};
    CHECK_INT(mdm_merge_split(db, fx_ctx, e1, 0, moved, 1, 0, &steward, &res, &err), MDM_OK);
    long long e3 = json_integer_value(json_object_get(res, "moved_to"));
    json_decref(res);
    CHECK(e3 > e2);
    json_t *s1 = NULL, *s3 = NULL;
    CHECK_INT(mdm_consent_state(db, e1, NULL, &s1, &err), MDM_OK);
    CHECK_INT(mdm_consent_state(db, e3, NULL, &s3, &err), MDM_OK);
    size_t i;
    json_t *en;
    int n1 = 0, n3 = 0;
    json_array_foreach(json_object_get(s1, "consents"), i, en)
    {
        if (json_is_null(json_object_get(en, "source")))
            continue;
        n1++;
        CHECK_STR(json_string_value(json_object_get(en, "source_key")), "M-A");
    }
    json_array_foreach(json_object_get(s3, "consents"), i, en)
    {
        if (json_is_null(json_object_get(en, "source")))
            continue;
        n3++;
        CHECK_STR(json_string_value(json_object_get(en, "source_key")), "M-B");
    }
    CHECK_INT(n1, 2); /* marketing/email, profiling/email */
    CHECK_INT(n3, 2); /* marketing/email, third_party/sms */
    json_decref(s1);
    json_decref(s3);
    CHECK_STR(state_of(e1, NULL, "marketing", "email", NULL, NULL), "granted");
    CHECK_STR(state_of(e3, NULL, "marketing", "email", NULL, NULL), "withdrawn");
    CHECK_INT(changes(e1), c1 + 2);
    CHECK_INT(changes(e3), 1);
    CHECK_INT(recompute(e1, e3), MDM_OK);
    CHECK_INT(changes(e1), c1 + 2);
    CHECK_INT(changes(e3), 1);
}

/* Audit export ------------------------------------------------------------------------------ */

/* Parses RFC 4180 CSV text: returns the number of records (header included) or -1 when
 * malformed; every record must have ncols fields. *fields_out receives the fields of
 * record `want_row` (when >= 0) as a JSON array. */
static long csv_parse(const char *s, size_t ncols, long want_row, json_t **fields_out)
{
    long records = 0;
    size_t fields = 0;
    mdm_buf field = {0};
    json_t *row = json_array();
    for (;;) {
        mdm_buf_reset(&field);
        mdm_buf_puts(&field, "");
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s)
                    goto bad;
                if (*s == '"') {
                    if (s[1] == '"') {
                        mdm_buf_putc(&field, '"');
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                mdm_buf_putc(&field, *s++);
            }
        } else {
            while (*s && *s != ',' && *s != '\r' && *s != '\n') {
                if (*s == '"')
                    goto bad;
                mdm_buf_putc(&field, *s++);
            }
        }
        fields++;
        json_array_append_new(row, json_string(field.data));
        if (*s == ',') {
            s++;
            continue;
        }
        if (s[0] != '\r' || s[1] != '\n')
            goto bad;
        s += 2;
        if (fields != ncols)
            goto bad;
        if (records == want_row && fields_out)
            *fields_out = json_copy(row);
        json_array_clear(row);
        records++;
        fields = 0;
        if (!*s)
            break;
    }
    mdm_buf_free(&field);
    json_decref(row);
    return records;
bad:
    mdm_buf_free(&field);
    json_decref(row);
    return -1;
}

static char *export_all(const char *from, const char *to, mdm_consent_format fmt, long long *rows,
                        mdm_status *status)
{
    mdm_err err = {0};
    mdm_consent_audit *a = NULL;
    mdm_buf out = {0};
    mdm_buf_puts(&out, "");
    *status = mdm_consent_audit_open(db, from, to, fmt, &a, &err);
    if (*status != MDM_OK)
        return mdm_buf_steal(&out);
    bool done = false;
    while (!done && (*status = mdm_consent_audit_next(a, &out, &done, &err)) == MDM_OK)
        ;
    *rows = mdm_consent_audit_rows(a);
    mdm_consent_audit_close(a);
    return mdm_buf_steal(&out);
}

static void test_audit_export(void)
{
    mdm_err err = {0};
    long long e = 0;
    long long a = person("crm", "AU-1", &e);
    CHECK_INT(give(a, "crm", "AU-1",
                   "{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
                   "\"captured_at\":\"2026-01-01\",\"lawful_basis\":\"consent\","
                   "\"evidence\":\"form \\\"signup\\\", page 2\\r\\nline two\"}",
                   &err),
              MDM_OK);
    /* 30 events posted on their own (no record) in three batches; the range asks for the
     * second batch by the time it was received */
    char from[40] = "", to[40] = "";
    for (int batch = 0, i = 0; batch < 3; batch++) {
        json_t *arr = json_array();
        for (int k = 0; k < (batch == 1 ? 15 : 10 - 5 * (batch == 2)); k++, i++) {
            char at[40];
            snprintf(at, sizeof at, "2025-0%d-1%dT10:00:00Z", 1 + i % 6, i % 10);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "purpose",
                                                 "marketing", "channel", "sms", "status", "granted",
                                                 "captured_at", at, "evidence", "a,b"));
        }
        ingest_ctx ctx = {0, "shop", "AU-2", arr, NULL, {0}};
        CHECK_INT(mdm_db_run_tx(db, "t", ingest_fn, &ctx, &err), MDM_OK);
        json_decref(ctx.result);
        json_decref(arr);
        if (batch < 2)
            snprintf(batch ? to : from, sizeof from, "%.39s",
                     fx_text(db, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC',"
                                 " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"));
    }
    long long want = 15;
    CHECK_INT(q_ll("SELECT count(*) FROM consent_event WHERE source_key = 'AU-2'", 0), 30);
    long long rows = 0;
    mdm_status st;
    char *csv = export_all(from, to, MDM_CONSENT_CSV, &rows, &st);
    CHECK_INT(st, MDM_OK);
    CHECK_INT(rows, want);
    json_t *header = NULL;
    CHECK_INT(csv_parse(csv, 17, 0, &header), want + 1);
    CHECK_STR(json_string_value(json_array_get(header, 0)), "event_id");
    CHECK_STR(json_string_value(json_array_get(header, 14)), "state_after");
    CHECK_STR(json_string_value(json_array_get(header, 15)), "captured_by");
    CHECK_STR(json_string_value(json_array_get(header, 16)), "captured_role");
    json_decref(header);
    free(csv);
    /* the whole log: the quoted evidence parses back intact; order is received_at, id */
    long long total = q_ll("SELECT count(*) FROM consent_event", 0);
    csv = export_all(NULL, NULL, MDM_CONSENT_CSV, &rows, &st);
    CHECK_INT(rows, total);
    CHECK_INT(csv_parse(csv, 17, -1, NULL), total + 1);
    long long au1 = q_ll("SELECT count(*) FROM consent_event WHERE received_at < "
                         "(SELECT received_at FROM consent_event WHERE source_key = 'AU-1')",
                         0);
    json_t *row = NULL;
    csv_parse(csv, 17, au1 + 1, &row);
    CHECK_STR(json_string_value(json_array_get(row, 3)), "AU-1");
    CHECK_STR(json_string_value(json_array_get(row, 1)), num(e));
    CHECK_STR(json_string_value(json_array_get(row, 12)), "form \"signup\", page 2\r\nline two");
    CHECK_STR(json_string_value(json_array_get(row, 13)), "none");
    CHECK_STR(json_string_value(json_array_get(row, 14)), "granted");
    json_decref(row);
    free(csv);
    /* NDJSON: one object per line */
    char *nd = export_all(from, to, MDM_CONSENT_NDJSON, &rows, &st);
    CHECK_INT(rows, want);
    long lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(nd, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        CHECK(o != NULL);
        CHECK_STR(json_string_value(json_object_get(o, "source_key")), "AU-2");
        CHECK_STR(json_string_value(json_object_get(o, "evidence")), "a,b");
        CHECK(json_is_null(json_object_get(o, "golden_id")));
        CHECK(json_is_integer(json_object_get(o, "event_id")));
        lines++;
        json_decref(o);
    }
    CHECK_INT(lines, want);
    free(nd);
    /* bad range */
    mdm_consent_audit *au = NULL;
    CHECK_INT(mdm_consent_audit_open(db, "last week", NULL, MDM_CONSENT_CSV, &au, &err),
              MDM_EINVAL);
    CHECK_STR(err.field, "/from");
    CHECK(au == NULL);
    /* the connection is usable again after an export */
    CHECK_INT(q_ll("SELECT 1", 0), 1);
}

/* Subject access and erasure ------------------------------------------------------------------ */

static const char *const erased_values[] = {"Zelda", "Quarrington", "zelda.q@example.org",
                                            "5550199911", "Wobble"};

/* Rows of every table of the schema whose text (every column, jsonb and arrays included)
 * contains value, case-insensitively; *where names the first table hit. */
static long long search_everywhere(const char *value, char *where, size_t wlen)
{
    PGresult *tables = q("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                         "ORDER BY tablename",
                         0);
    long long hits = 0;
    for (int i = 0; i < PQntuples(tables); i++) {
        const char *t = PQgetvalue(tables, i, 0);
        char *ident = PQescapeIdentifier(mdm_db_conn(db), t, strlen(t));
        char *sql = mdm_xasprintf("SELECT count(*) FROM %s x WHERE strpos(lower(x::text), "
                                  "lower($1)) > 0",
                                  ident);
        long long n = q_ll(sql, 1, value);
        if (n > 0 && hits == 0)
            snprintf(where, wlen, "%s", t);
        hits += n;
        free(sql);
        PQfreemem(ident);
    }
    PQclear(tables);
    return hits;
}

static void test_subject_export_and_erase(void)
{
    mdm_err err = {0};
    /* Zelda: records from both systems (one updated: its old version in the history), a
     * copy the resolver kept apart that a steward merged, a possible match the steward
     * accepted from the review queue, a record version refused by validation, a pin, a
     * never_link with a reason, consent, the events the pipeline emitted and their
     * deliveries to a subscriber. Every value here is the pipeline's or a steward's. */
    const char *zelda = "\"first_name\": \"Zelda\", \"last_name\": \"Quarrington\","
                        " \"birth_date\": \"1980-02-02\"";
    char *json = mdm_xasprintf("{\"source_key\": \"ZQ-1\", %s, \"emails\":"
                               " [\"zelda.q@example.org\"], \"phones\": [\"+1 555 019 9900\"],"
                               " \"addresses\": [{\"line1\": \"17 Wobble Lane\", \"city\":"
                               " \"Springfield\", \"postal_code\": \"62704\"}]}",
                               zelda);
    mdm_ingest_result z1 = fx_put(db, "crm", json, MDM_DECISION_CREATED);
    free(json);
    long long e = z1.entity_id, r1 = z1.record_id;
    json = mdm_xasprintf("{\"source_key\": \"ZQ-1\", %s, \"emails\": [\"zelda.q@example.org\"],"
                         " \"phones\": [\"+1 555 019 9911\"], \"addresses\": [{\"line1\": \"17"
                         " Wobble Lane\", \"city\": \"Springfield\", \"postal_code\":"
                         " \"62704\"}]}",
                         zelda);
    fx_put(db, "crm", json, MDM_DECISION_UPDATED);
    free(json);
    json = mdm_xasprintf("{\"source_key\": \"ZQ-2\", %s, \"emails\": [\"ZELDA.Q@example.org\"]}",
                         zelda);
    long long r2 = fx_put(db, "shop", json, MDM_DECISION_LINKED).record_id;
    free(json);
    long long e0 = fx_put(db, "shop",
                          "{\"source_key\": \"ZQ-3\", \"first_name\": \"Zelda\", \"last_name\":"
                          " \"Quarrington-Old\"}",
                          MDM_DECISION_CREATED)
                       .entity_id;
    json_t *res = NULL;
    const mdm_merge_actor mover = {"steward1", "steward", "same Zelda, moved"};
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e, 0, e0, &mover, &res, &err), MDM_OK);
    json_decref(res);
    json = mdm_xasprintf("{\"source_key\": \"ZQ-4\", %s}", zelda);
    mdm_ingest_result z4 = fx_put(db, "crm", json, MDM_DECISION_REVIEW);
    free(json);
    mdm_queue_decision yes = {z4.review_id, 1, "match", "same card"};
    const mdm_queue_actor decider = {"steward1", "steward"};
    CHECK_INT(mdm_queue_decide(db, fx_ctx, &yes, &decider, NULL, &err), MDM_OK);
    fx_put(db, "crm",
           "{\"source_key\": \"ZQ-1\", \"last_name\": \"Quarrington\", \"consents\":"
           " [{\"purpose\": \"spam\", \"channel\": \"email\", \"status\": \"granted\","
           " \"captured_at\": \"2026-01-01\"}]}",
           MDM_DECISION_REJECTED);
    json_t *pin = json_string("Zelda");
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e, 0, "first_name", pin, &steward, NULL, &err), MDM_OK);
    json_decref(pin);
    /* another person, who must keep every byte */
    mdm_ingest_result otto = fx_put(db, "crm",
                                    "{\"source_key\": \"OT-1\", \"first_name\": \"Otto\","
                                    " \"last_name\": \"Brennan\", \"birth_date\": \"1951-05-05\"}",
                                    MDM_DECISION_CREATED);
    long long eo = otto.entity_id, ro = otto.record_id;
    const mdm_merge_actor apart = {"steward1", "steward", "Zelda is not Otto"};
    CHECK_INT(mdm_merge_assert(db, "never_link", r1, ro, &apart, NULL, &err), MDM_OK);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s}", "source", "shop", "url", "http://127.0.0.1:9/hook",
                  "secret", "s3cret-s3cret-s3cret-s3cret", "scope", "all");
    const mdm_audit_actor admin = {"cli:admin", "admin"};
    json_t *sub = NULL;
    CHECK_INT(mdm_publish_sub_create(db, body, &admin, &sub, &err), MDM_OK);
    json_decref(body);
    json_decref(sub);
    int fanned = 0;
    CHECK_INT(mdm_publish_fanout(db, 1000, &fanned, &err), MDM_OK);
    CHECK(fanned > 0);
    CHECK_INT(give(r1, "crm", "ZQ-1",
                   "{\"purpose\":\"marketing\",\"channel\":\"email\",\"status\":\"granted\","
                   "\"captured_at\":\"2026-01-01\",\"contact_point\":\"zelda.q@example.org\","
                   "\"evidence\":\"signed by Zelda Quarrington\"}",
                   &err),
              MDM_OK);
    CHECK_INT(give(r2, "shop", "ZQ-2", WITHDRAW("profiling", "sms", "2026-01-02"), &err), MDM_OK);
    CHECK_INT(give(ro, "crm", "OT-1", GRANT("marketing", "post", "2026-01-03"), &err), MDM_OK);

    /* subject access: everything, from the live id and from the retired one */
    json_t *doc = NULL;
    CHECK_INT(mdm_subject_export(db, e0, &doc, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(doc, "entity_id")), e);
    CHECK_INT(json_integer_value(json_object_get(doc, "subject_id")), e0);
    CHECK_STR(json_string_value(json_object_get(doc, "status")), "active");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(doc, "golden"), "golden"), "first_name")),
              "Zelda");
    CHECK_INT(json_integer_value(json_array_get(json_object_get(doc, "retired_ids"), 0)), e0);
    json_t *records = json_object_get(doc, "records");
    CHECK_INT(json_array_size(records), 4); /* ZQ-1, ZQ-2, the merged ZQ-3, the matched ZQ-4 */
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_array_get(records, 0), "raw"), "last_name")),
              "Quarrington");
    CHECK_INT(json_array_size(json_object_get(json_array_get(records, 0), "history")), 2);
    json_t *consent = json_object_get(doc, "consent");
    CHECK_INT(json_array_size(json_object_get(consent, "events")), 2);
    CHECK_STR(json_string_value(json_object_get(entry(json_object_get(consent, "state"),
                                                      "marketing", "email", "zelda.q@example.org"),
                                                "status")),
              "granted");
    /* three golden records created, one link, two merges */
    CHECK_INT(json_array_size(json_object_get(doc, "link_history")), 6);
    CHECK(json_array_size(json_object_get(doc, "versions")) >= 3);
    CHECK(json_array_size(json_object_get(doc, "golden_values")) >= 4);
    CHECK_INT(json_array_size(json_object_get(doc, "pins")), 1);
    CHECK_INT(json_array_size(json_object_get(doc, "review_items")), 1);
    CHECK_INT(json_array_size(json_object_get(doc, "assertions")), 1);
    CHECK_INT(json_array_size(json_object_get(doc, "rejects")), 1);
    CHECK_INT(json_array_size(json_object_get(doc, "merge_snapshots")), 2);
    CHECK(json_array_size(json_object_get(doc, "outbox")) >= 2);
    /* every delivery the fan-out made of the subject's golden records' events */
    json_t *deliveries = json_object_get(doc, "deliveries");
    CHECK(json_array_size(deliveries) > 0);
    CHECK_INT(json_array_size(deliveries),
              q_ll("SELECT count(*) FROM delivery WHERE entity_id IN ($1, $2, $3)", 3, num(e),
                   num(e0), num(z4.entity_id)));
    CHECK(json_object_get(json_array_get(deliveries, 0), "secret") == NULL);
    char *text = json_dumps(doc, 0);
    CHECK(strstr(text, "Brennan") == NULL); /* nothing of the other person */
    CHECK(strstr(text, "s3cret") == NULL);
    free(text);
    json_decref(doc);
    CHECK_INT(mdm_subject_export(db, 999999999, &doc, &err), MDM_ENOTFOUND);

    /* erasure */
    long long events_before = q_ll("SELECT count(*) FROM consent_event", 0);
    char where[64];
    long long otto_before = search_everywhere("Brennan", where, sizeof where);
    long long otto_keys =
        q_ll("SELECT count(*) FROM blocking_key WHERE record_id = $1", 1, num(ro));
    CHECK(otto_before >= 2 && otto_keys >= 1);
    res = NULL;
    CHECK_INT(mdm_subject_erase(db, e, 0, "", NULL, &dpo_actor, &res, &err), MDM_EINVAL);
    CHECK_INT(mdm_subject_erase(db, e0, 0, "dpo@company.example", "GDPR art. 17 request 4711",
                                &dpo_actor, &res, &err),
              MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "entity_id")), e);
    CHECK(json_is_false(json_object_get(res, "already_erased")));
    CHECK_INT(json_array_size(json_object_get(res, "records")), 4);
    CHECK_INT(json_array_size(json_object_get(res, "erased_ids")), 3); /* and ZQ-3's, ZQ-4's */
    long long tomb = json_integer_value(json_object_get(res, "tombstone_id"));
    CHECK(tomb > 0);
    json_decref(res);
    /* no personal value survives anywhere */
    for (size_t i = 0; i < sizeof erased_values / sizeof *erased_values; i++) {
        char table[64] = "";
        long long hits = search_everywhere(erased_values[i], table, sizeof table);
        if (hits)
            fprintf(stderr, "erased value \"%s\" still found %lld times (first in %s)\n",
                    erased_values[i], hits, table);
        CHECK_INT(hits, 0);
    }
    /* the other person is intact, blocking keys included */
    CHECK_INT(search_everywhere("Brennan", where, sizeof where), otto_before);
    CHECK_INT(q_ll("SELECT count(*) FROM blocking_key WHERE record_id = $1", 1, num(ro)),
              otto_keys);
    CHECK_STR(state_of(eo, NULL, "marketing", "post", NULL, NULL), "granted");
    /* the audit trail stays, without personal data */
    CHECK_INT(q_ll("SELECT count(*) FROM consent_event", 0), events_before);
    CHECK_INT(q_ll("SELECT count(*) FROM consent_event WHERE source_key = 'ZQ-1' AND "
                   "contact_point = '[erased]' AND evidence = '[erased]' AND status = 'granted'",
                   0),
              1);
    CHECK_INT(q_ll("SELECT count(*) FROM link_event WHERE entity_id = $1 AND action = 'erase'", 1,
                   num(e)),
              1);
    CHECK_INT(q_ll("SELECT count(*) FROM source_record WHERE erased AND deleted AND source_key"
                   " LIKE 'ZQ-%'",
                   0),
              4);
    /* every source system is told */
    PGresult *r =
        q("SELECT payload::text FROM outbox WHERE entity_id = $1 AND type = 'deleted'", 1, num(e));
    CHECK_INT(PQntuples(r), 1);
    json_t *payload = PQntuples(r) ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
    PQclear(r);
    json_t *told = json_object_get(payload, "records");
    CHECK_INT(json_array_size(told), 4);
    char seen[128] = "";
    for (size_t k = 0; k < json_array_size(told); k++) {
        json_t *o = json_array_get(told, k);
        size_t l = strlen(seen);
        snprintf(seen + l, sizeof seen - l, "%s%s:%s", k ? " " : "",
                 json_string_value(json_object_get(o, "source")),
                 json_string_value(json_object_get(o, "source_key")));
    }
    CHECK_STR(seen, "crm:ZQ-1 shop:ZQ-2 shop:ZQ-3 crm:ZQ-4");
    CHECK_INT(json_integer_value(json_object_get(payload, "tombstone_id")), tomb);
    json_decref(payload);
    /* the export now holds only the tombstone */
    CHECK_INT(mdm_subject_export(db, e, &doc, &err), MDM_OK);
    CHECK_INT(json_object_size(doc), 5);
    CHECK_STR(json_string_value(json_object_get(doc, "status")), "erased");
    json_t *t = json_object_get(doc, "tombstone");
    CHECK_INT(json_integer_value(json_object_get(t, "id")), tomb);
    CHECK_STR(json_string_value(json_object_get(t, "requester")), "dpo@company.example");
    CHECK_INT(json_array_size(json_object_get(t, "key_hashes")), 4);
    CHECK(json_object_get(doc, "records") == NULL && json_object_get(doc, "consent") == NULL);
    json_decref(doc);
    CHECK_INT(mdm_subject_export(db, e0, &doc, &err), MDM_OK);
    CHECK_STR(json_string_value(json_object_get(doc, "status")), "erased");
    json_decref(doc);
    CHECK_INT(mdm_consent_state(db, e, NULL, &doc, &err), MDM_ENOTFOUND);
    /* erasing again changes nothing */
    long long outbox_n = q_ll("SELECT count(*) FROM outbox", 0);
    CHECK_INT(mdm_subject_erase(db, e, 0, "dpo@company.example", NULL, &dpo_actor, &res, &err),
              MDM_OK);
    CHECK(json_is_true(json_object_get(res, "already_erased")));
    CHECK_INT(json_integer_value(json_object_get(res, "tombstone_id")), tomb);
    json_decref(res);
    CHECK_INT(q_ll("SELECT count(*) FROM outbox", 0), outbox_n);
    CHECK_INT(q_ll("SELECT count(*) FROM erasure_tombstone", 0), 1);
    /* a stale copy sent again is flagged, not silently re-created */
    bool flagged = false;
    int64_t tid = 0;
    CHECK_INT(mdm_tombstone_check_reingest(db, "crm", "ZQ-1", &flagged, &tid, &err), MDM_OK);
    CHECK(flagged);
    CHECK_INT(tid, tomb);
    CHECK_INT(q_ll("SELECT count(*) FROM record_reject WHERE source = 'crm' AND source_key = "
                   "'ZQ-1' AND reasons @> '[{\"reason\":\"erased_subject\"}]'",
                   0),
              1);
    CHECK_INT(mdm_tombstone_check_reingest(db, "crm", "OT-1", &flagged, &tid, &err), MDM_OK);
    CHECK(!flagged);
    CHECK_INT(tid, 0);
    CHECK_INT(mdm_tombstone_check_reingest(db, "shop", "ZQ-1", &flagged, &tid, &err), MDM_OK);
    CHECK(!flagged); /* the key is per source */
    CHECK_INT(give(0, "shop", "ZQ-2", GRANT("marketing", "email", "2026-02-01"), &err),
              MDM_ECONFLICT);
    CHECK_STR(err.field, "/source_key");
}

/* The text state of the HTTP entity read (mdm_consent_state_call + _text, pipelined)
 * is the JSON state of mdm_consent_state, member for member, for every entity the
 * suite made (contact points, expiries, ties, merges) and for strings that need
 * escaping. */
static void test_state_text(void)
{
    mdm_err err = {0};
    long long e = 0;
    const char *odd = "Q\"uote\\back/slash \xc3\xa9\xe2\x82\xac";
    long long a = person("crm", odd, &e);
    CHECK_INT(give(a, "crm", odd,
                   "{\"purpose\":\"marketing\",\"channel\":\"post\",\"status\":\"granted\","
                   "\"captured_at\":\"2026-01-01\",\"expires_at\":\"2099-01-01\","
                   "\"lawful_basis\":\"contract \\\"B\\\" \\u00fc\"}",
                   &err),
              MDM_OK);
    PGresult *ids = q("SELECT DISTINCT m.entity_id FROM membership m JOIN entity x ON "
                      "x.id = m.entity_id AND x.status = 'active' WHERE m.active ORDER BY 1",
                      0);
    int compared = 0, same = 0, with_events = 0;
    for (int i = 0; i < PQntuples(ids); i++) {
        long long id = strtoll(PQgetvalue(ids, i, 0), NULL, 10);
        json_t *want = NULL;
        if (mdm_consent_state(db, id, NULL, &want, &err) != MDM_OK)
            continue; /* erased subjects */
        mdm_db_call call;
        mdm_consent_state_call(id, &call);
        CHECK_INT(mdm_db_exec_pipeline(db, &call, 1, &err), MDM_OK);
        mdm_buf text = {0};
        mdm_consent_state_text(call.res, id, &text);
        json_t *got = json_loads(text.data, 0, NULL);
        CHECK(got != NULL);
        const char *as_of = json_string_value(json_object_get(got, "as_of"));
        CHECK(as_of && strlen(as_of) == 27 && as_of[10] == 'T' && as_of[26] == 'Z');
        json_object_del(got, "as_of");
        json_object_del(want, "as_of");
        compared++;
        same += json_equal(got, want);
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(want, "consents"), k, c)
        {
            if (!json_is_null(json_object_get(c, "event_id"))) {
                with_events++;
                break;
            }
        }
        if (!json_equal(got, want))
            fprintf(stderr, "entity %lld: text %s\n", id, text.data);
        json_decref(got);
        json_decref(want);
        mdm_buf_free(&text);
    }
    PQclear(ids);
    CHECK_INT(same, compared);
    CHECK(compared >= 5);
    CHECK(with_events >= 5);
    /* the odd strings survive the escaping */
    mdm_db_call call;
    mdm_consent_state_call(e, &call);
    CHECK_INT(mdm_db_exec_pipeline(db, &call, 1, &err), MDM_OK);
    mdm_buf text = {0};
    mdm_consent_state_text(call.res, e, &text);
    json_t *got = json_loads(text.data, 0, NULL);
    json_t *en = entry(got, "marketing", "post", NULL);
    CHECK_STR(json_string_value(json_object_get(en, "source_key")), odd);
    CHECK_STR(json_string_value(json_object_get(en, "lawful_basis")), "contract \"B\" \xc3\xbc");
    CHECK_STR(json_string_value(json_object_get(en, "status")), "granted");
    json_decref(got);
    mdm_buf_free(&text);
}

int main(void)
{
    fx_setup(suite_config);
    db = fx_connect();
    RUN(test_grant_withdraw_grant);
    RUN(test_ties);
    RUN(test_expiry);
    RUN(test_configured_default);
    RUN(test_validation);
    RUN(test_idempotent_and_standalone);
    RUN(test_rollback);
    RUN(test_contact_points);
    RUN(test_merge_split);
    RUN(test_audit_export);
    RUN(test_subject_export_and_erase);
    RUN(test_state_text);
    mdm_db_close(db);
    fx_teardown();
    TEST_END();
}
