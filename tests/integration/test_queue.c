/* Review queue on a real PostgreSQL: listing with filters, every sort and cursor paging;
 * claim/assign with optimistic concurrency; no_match and defer decisions (assertions,
 * labels, audit rows); superseded items; bulk decisions; two stewards racing for one
 * item. Fixtures are written with plain SQL so the queue is tested on its own. */
#include "common/mem.h"
#include "mdm/audit.h"
#include "mdm/db.h"
#include "mdm/migrate.h"
#include "stewardship/queue.h"
#include "tests/test.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

static const char *url;
static mdm_db *db;
static const mdm_queue_actor alice = {"alice", "steward"};
static const mdm_queue_actor bob = {"bob", "steward"};
static const mdm_queue_actor root = {"root", "admin"};

static long long q1(const char *sql, const char *a, const char *b)
{
    const char *params[] = {a, b};
    PGresult *res = NULL;
    mdm_err err;
    if (mdm_db_exec_params(db, sql, (a ? 1 : 0) + (b ? 1 : 0), params, &res, &err) != MDM_OK) {
        fprintf(stderr, "%s: %s\n", sql, err.msg);
        exit(1);
    }
    long long v =
        PQntuples(res) && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return v;
}

static long long record(const char *key, const char *first, const char *last)
{
    char *norm = mdm_xasprintf("{\"first_name\": \"%s\", \"last_name\": \"%s\"}", first, last);
    long long id =
        q1("INSERT INTO source_record (source, source_key, raw, normalized, content_hash)"
           " VALUES ('crm', $1, $2::jsonb, $2::jsonb, md5($2::text)) RETURNING id",
           key, norm);
    free(norm);
    return id;
}

/* An entity holding the given records (0-terminated), golden = the first one's name. */
static long long entity(long long first, ...)
{
    char rid[24];
    snprintf(rid, sizeof rid, "%lld", first);
    long long e = q1("INSERT INTO entity (golden) SELECT normalized FROM source_record"
                     " WHERE id = $1 RETURNING id",
                     rid, NULL);
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", e);
    va_list ap;
    va_start(ap, first);
    for (long long r = first; r; r = va_arg(ap, long long)) {
        snprintf(rid, sizeof rid, "%lld", r);
        q1("INSERT INTO membership (record_id, entity_id) VALUES ($1, $2) RETURNING id", rid, eid);
    }
    va_end(ap);
    return e;
}

static long long item_re(long long rec, long long ent, double p)
{
    char r[24], e[24], ps[32];
    snprintf(r, sizeof r, "%lld", rec);
    snprintf(e, sizeof e, "%lld", ent);
    snprintf(ps, sizeof ps, "%g", p);
    char *sql =
        mdm_xasprintf("INSERT INTO review_item (kind, record_id, entity_id, score,"
                      " probability, explanation) VALUES ('record_entity', $1, $2, 3.5, %s,"
                      " '[{\"field\": \"last_name\", \"level\": \"exact\", \"weight\": 4.2}]')"
                      " RETURNING id",
                      ps);
    long long id = q1(sql, r, e);
    free(sql);
    return id;
}

static long long item_ee(long long a, long long b, double p)
{
    char x[24], y[24], ps[32];
    snprintf(x, sizeof x, "%lld", a);
    snprintf(y, sizeof y, "%lld", b);
    snprintf(ps, sizeof ps, "%g", p);
    char *sql =
        mdm_xasprintf("INSERT INTO review_item (kind, entity_id, other_entity_id, score,"
                      " probability) VALUES ('entity_entity', $1, $2, 2.0, %s) RETURNING id",
                      ps);
    long long id = q1(sql, x, y);
    free(sql);
    return id;
}

static long long count_sql(const char *sql, long long id)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", id);
    return q1(sql, s, NULL);
}

static int version_of(long long id)
{
    return (int)count_sql("SELECT version FROM review_item WHERE id = $1", id);
}

static const char *status_of(long long id)
{
    static char buf[32];
    char s[24];
    snprintf(s, sizeof s, "%lld", id);
    const char *params[] = {s};
    PGresult *res = NULL;
    mdm_err err;
    buf[0] = '\0';
    if (mdm_db_exec_params(db, "SELECT status FROM review_item WHERE id = $1", 1, params, &res,
                           &err) == MDM_OK) {
        snprintf(buf, sizeof buf, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
    }
    return buf;
}

/* Fixture ids */
static long long r_ann, r_anne, r_bob1, r_bob2, r_cy, r_dee1, r_dee2, r_eve, r_fay1, r_fay2;
static long long e_ann, e_anne, e_bob, e_cy, e_dee, e_eve, e_fay, e_fay2;
static long long i_ann, i_cy, i_dee, i_eve, i_fay;

static void fixtures(void)
{
    q1("INSERT INTO source_system (code, name, kind) VALUES ('crm', 'CRM', 'crm') RETURNING 1",
       NULL, NULL);
    r_ann = record("1", "Ann", "Lee");
    r_anne = record("2", "Anne", "Lee");
    r_bob1 = record("3", "Bob", "Ray");
    r_bob2 = record("4", "Robert", "Ray");
    r_cy = record("5", "Cy", "Vance");
    r_dee1 = record("6", "Dee", "Orr");
    r_dee2 = record("7", "Dee", "Orr");
    r_eve = record("8", "Eve", "Holt");
    r_fay1 = record("9", "Fay", "Wu");
    r_fay2 = record("10", "Faye", "Wu");
    e_ann = entity(r_ann, 0LL);
    e_anne = entity(r_anne, 0LL);
    e_bob = entity(r_bob1, r_bob2, 0LL);
    e_cy = entity(r_cy, 0LL);
    e_dee = entity(r_dee1, 0LL);
    long long e_dee2 = entity(r_dee2, 0LL);
    e_eve = entity(r_eve, 0LL);
    e_fay = entity(r_fay1, 0LL);
    e_fay2 = entity(r_fay2, 0LL);
    i_ann = item_re(r_ann, e_anne, 0.5); /* most uncertain: first by priority */
    i_cy = item_re(r_cy, e_bob, 0.9);    /* cy vs the two bob records */
    i_dee = item_ee(e_dee, e_dee2, 0.7);
    i_eve = item_re(r_eve, e_ann, 0.65);
    i_fay = item_re(r_fay1, e_fay2, 0.8);
    (void)e_eve;
    (void)e_fay;
}

static void test_priority(void)
{
    CHECK_NEAR(mdm_queue_priority(0.5, 1, 0), 60.0, 1e-9);
    CHECK_NEAR(mdm_queue_priority(1.0, 1, 0), 0.0, 1e-9);
    CHECK_NEAR(mdm_queue_priority(0.0, 1, 0), 0.0, 1e-9);
    CHECK_NEAR(mdm_queue_priority(0.75, 1, 0), 30.0, 1e-9);
    CHECK_NEAR(mdm_queue_priority(0.5, 32, 0), 85.0, 1e-9);
    CHECK_NEAR(mdm_queue_priority(0.5, 1000, 28), 100.0, 1e-9);
    CHECK_NEAR(mdm_queue_priority(0.5, 1, 7), 67.5, 1e-9);
    CHECK(mdm_queue_priority(0.6, 4, 0) > mdm_queue_priority(0.6, 2, 0));
    CHECK(mdm_queue_priority(0.6, 2, 3) > mdm_queue_priority(0.6, 2, 1));
    CHECK_NEAR(mdm_queue_priority(-1, -5, -2), 0.0, 1e-9); /* clamped, never NaN */
}

static int ids_of(json_t *items, long long *out, int max)
{
    size_t i;
    json_t *it;
    int n = 0;
    json_array_foreach(items, i, it)
    {
        if (n < max)
            out[n] = json_integer_value(json_object_get(it, "id"));
        n++;
    }
    return n;
}

static void test_list_and_priority_order(void)
{
    mdm_err err;
    json_t *items = NULL;
    char *next = NULL;
    mdm_queue_filter f = {0};
    CHECK_INT(mdm_queue_list(db, &f, &items, &next, &err), MDM_OK);
    long long ids[16];
    CHECK_INT(ids_of(items, ids, 16), 5);
    CHECK(next == NULL);
    /* priority: uncertainty first, then cluster size */
    CHECK_INT(ids[0], i_ann);
    double last = 1e9;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        double p = json_real_value(json_object_get(it, "priority"));
        CHECK(p <= last && p > 0);
        last = p;
        if (json_integer_value(json_object_get(it, "id")) == i_cy) {
            CHECK_STR(json_string_value(json_object_get(it, "a_label")), "Cy Vance");
            CHECK_STR(json_string_value(json_object_get(it, "b_label")), "Bob Ray");
            CHECK_STR(json_string_value(json_object_get(it, "status")), "open");
            CHECK_INT(json_integer_value(json_object_get(it, "version")), 1);
            /* three records move or join: the priority formula with size 3 */
            CHECK_NEAR(json_real_value(json_object_get(it, "priority")),
                       mdm_queue_priority(0.9, 3, 0), 0.01);
        }
    }
    json_decref(items);

    mdm_queue_filter k = {.kind = "entity_entity"};
    CHECK_INT(mdm_queue_list(db, &k, &items, NULL, &err), MDM_OK);
    CHECK_INT(ids_of(items, ids, 16), 1);
    CHECK_INT(ids[0], i_dee);
    json_decref(items);

    mdm_queue_filter e = {.entity_id = e_ann};
    CHECK_INT(mdm_queue_list(db, &e, &items, NULL, &err), MDM_OK);
    CHECK_INT(ids_of(items, ids, 16), 1);
    CHECK_INT(ids[0], i_eve);
    json_decref(items);

    mdm_queue_filter pr = {.min_probability = 0.6,
                           .has_min = 1,
                           .max_probability = 0.8,
                           .has_max = 1,
                           .sort = "probability"};
    CHECK_INT(mdm_queue_list(db, &pr, &items, NULL, &err), MDM_OK);
    CHECK_INT(ids_of(items, ids, 16), 3);
    CHECK_INT(ids[0], i_eve);
    CHECK_INT(ids[1], i_dee);
    CHECK_INT(ids[2], i_fay);
    json_decref(items);

    mdm_queue_filter bad = {.status = "open,bogus"};
    CHECK_INT(mdm_queue_list(db, &bad, &items, NULL, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/status");
    mdm_queue_filter bads = {.sort = "name"};
    CHECK_INT(mdm_queue_list(db, &bads, &items, NULL, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/sort");
    mdm_queue_filter badc = {.cursor = "zz"};
    CHECK_INT(mdm_queue_list(db, &badc, &items, NULL, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/cursor");
    mdm_queue_filter badk = {.kind = "person"};
    CHECK_INT(mdm_queue_list(db, &badk, &items, NULL, &err), MDM_EINVAL);
    mdm_queue_filter badl = {.limit = 501};
    CHECK_INT(mdm_queue_list(db, &badl, &items, NULL, &err), MDM_EINVAL);
}

/* Every sort, pages of 2: each item once, in the sort's order; a cursor is tied to its
 * sort. */
static void test_paging_every_sort(void)
{
    static const char *const sorts[] = {"priority", "created", "-created", "probability",
                                        "-probability"};
    mdm_err err;
    for (int s = 0; s < 5; s++) {
        json_t *all = NULL;
        mdm_queue_filter f = {.sort = sorts[s], .limit = 100};
        CHECK_INT(mdm_queue_list(db, &f, &all, NULL, &err), MDM_OK);
        long long want[16], got[16];
        int nwant = ids_of(all, want, 16);
        json_decref(all);
        int ngot = 0, pages = 0;
        char *cursor = NULL;
        do {
            json_t *page = NULL;
            char *next = NULL;
            mdm_queue_filter p = {.sort = sorts[s], .limit = 2, .cursor = cursor};
            CHECK_INT(mdm_queue_list(db, &p, &page, &next, &err), MDM_OK);
            ngot += ids_of(page, got + ngot, 16 - ngot);
            json_decref(page);
            free(cursor);
            cursor = next;
            pages++;
        } while (cursor && pages < 10);
        CHECK_INT(ngot, nwant);
        CHECK_INT(pages, (nwant + 1) / 2);
        for (int i = 0; i < nwant && i < ngot; i++)
            if (!mdm_test_case(got[i] == want[i], sorts[s]))
                break;
    }
    /* a cursor of one sort is refused by another */
    json_t *page = NULL;
    char *next = NULL;
    mdm_queue_filter p = {.sort = "created", .limit = 1};
    CHECK_INT(mdm_queue_list(db, &p, &page, &next, &err), MDM_OK);
    json_decref(page);
    CHECK(next != NULL);
    mdm_queue_filter q = {.sort = "priority", .cursor = next};
    CHECK_INT(mdm_queue_list(db, &q, &page, NULL, &err), MDM_EINVAL);
    free(next);
}

static void test_get_item(void)
{
    mdm_err err;
    json_t *it = NULL;
    CHECK_INT(mdm_queue_get(db, i_cy, &it, &err), MDM_OK);
    json_t *a = json_object_get(it, "a"), *b = json_object_get(it, "b");
    CHECK_STR(json_string_value(json_object_get(a, "type")), "record");
    CHECK_STR(json_string_value(json_object_get(json_object_get(a, "fields"), "first_name")), "Cy");
    CHECK_INT(json_integer_value(json_object_get(a, "entity_id")), e_cy);
    CHECK_STR(json_string_value(json_object_get(b, "type")), "entity");
    CHECK_INT(json_array_size(json_object_get(b, "members")), 2);
    json_t *ex = json_array_get(json_object_get(it, "explanation"), 0);
    CHECK_STR(json_string_value(json_object_get(ex, "field")), "last_name");
    CHECK_NEAR(json_real_value(json_object_get(ex, "weight")), 4.2, 1e-9);
    json_decref(it);
    CHECK_INT(mdm_queue_get(db, i_dee, &it, &err), MDM_OK);
    CHECK_STR(json_string_value(json_object_get(json_object_get(it, "a"), "type")), "entity");
    json_decref(it);
    CHECK_INT(mdm_queue_get(db, 999999, &it, &err), MDM_ENOTFOUND);
}

static void test_claim_and_assign(void)
{
    mdm_err err;
    json_t *it = NULL;
    CHECK_INT(mdm_queue_claim(db, i_cy, 1, &alice, &it, &err), MDM_OK);
    CHECK_STR(json_string_value(json_object_get(it, "status")), "claimed");
    CHECK_STR(json_string_value(json_object_get(it, "assignee")), "alice");
    CHECK_INT(json_integer_value(json_object_get(it, "version")), 2);
    json_decref(it);
    /* claiming again is a no-op */
    CHECK_INT(mdm_queue_claim(db, i_cy, 2, &alice, NULL, &err), MDM_OK);
    CHECK_INT(version_of(i_cy), 2);
    /* bob: stale version, then someone else's item */
    CHECK_INT(mdm_queue_claim(db, i_cy, 1, &bob, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "version 2, not 1") != NULL);
    CHECK_INT(mdm_queue_claim(db, i_cy, 2, &bob, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "claimed by alice") != NULL);
    CHECK_INT(version_of(i_cy), 2);
    /* assignee filter */
    json_t *items = NULL;
    long long ids[8];
    mdm_queue_filter mine = {.assignee = "alice"};
    CHECK_INT(mdm_queue_list(db, &mine, &items, NULL, &err), MDM_OK);
    CHECK_INT(ids_of(items, ids, 8), 1);
    json_decref(items);
    mdm_queue_filter nobody = {.assignee = "-"};
    CHECK_INT(mdm_queue_list(db, &nobody, &items, NULL, &err), MDM_OK);
    CHECK_INT(ids_of(items, ids, 8), 4);
    json_decref(items);
    /* an admin may reassign; releasing makes it open again */
    CHECK_INT(mdm_queue_assign(db, i_cy, 2, "bob", &root, NULL, &err), MDM_OK);
    CHECK_INT(mdm_queue_assign(db, i_cy, 3, NULL, &bob, &it, &err), MDM_OK);
    CHECK_STR(json_string_value(json_object_get(it, "status")), "open");
    CHECK(json_is_null(json_object_get(it, "assignee")));
    json_decref(it);
    CHECK_INT(version_of(i_cy), 4);
    CHECK_INT(count_sql("SELECT count(*) FROM audit_log WHERE target = 'review_item:' || $1"
                        " AND action IN ('review.claim', 'review.assign')",
                        i_cy),
              3);
    CHECK_INT(mdm_queue_claim(db, 424242, 1, &alice, NULL, &err), MDM_ENOTFOUND);
    mdm_queue_actor nobody_at_all = {"", "steward"};
    CHECK_INT(mdm_queue_claim(db, i_cy, 4, &nobody_at_all, NULL, &err), MDM_EINVAL);
}

static void test_no_match_record_entity(void)
{
    mdm_err err;
    json_t *res = NULL;
    mdm_queue_decision d = {i_cy, 4, "no_match", "different birth dates on the cards"};
    CHECK_INT(mdm_queue_decide(db, NULL, &d, &alice, &res, &err), MDM_OK);
    CHECK_STR(json_string_value(json_object_get(res, "status")), "decided");
    CHECK_INT(json_integer_value(json_object_get(res, "assertions")), 2);
    CHECK_INT(json_integer_value(json_object_get(res, "version")), 5);
    json_decref(res);
    /* never_link between Cy and both Bob records, ordered pairs */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM steward_assertion WHERE kind = 'never_link' AND actor = 'alice'"
             " AND ((record_a = $1 AND record_b IN (%lld, %lld)) OR (record_b = $1 AND record_a IN"
             " (%lld, %lld)))",
             r_bob1, r_bob2, r_bob1, r_bob2);
    CHECK_INT(count_sql(sql, r_cy), 2);
    CHECK_INT(count_sql("SELECT count(*) FROM steward_label WHERE review_id = $1"
                        " AND label = 'no_match' AND NOT auto_linked",
                        i_cy),
              2);
    CHECK_INT(
        count_sql(
            "SELECT count(*) FROM audit_log JOIN audit_personal p ON p.audit_id = audit_log.id"
            " WHERE target = 'review_item:' || $1 AND action = 'review.decide'"
            " AND p.value = 'different birth dates on the cards'"
            " AND after->>'decision' = 'no_match'",
            i_cy),
        1);
    CHECK_STR(status_of(i_cy), "decided");
    /* final: nothing more, and the entities are untouched */
    d.version = 5;
    CHECK_INT(mdm_queue_decide(db, NULL, &d, &alice, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "already decided") != NULL);
    CHECK_INT(count_sql("SELECT count(*) FROM membership WHERE active AND entity_id = $1", e_bob),
              2);
    /* not on the default list any more, but with status=decided */
    json_t *items = NULL;
    long long ids[8];
    mdm_queue_filter dec = {.status = "decided"};
    CHECK_INT(mdm_queue_list(db, &dec, &items, NULL, &err), MDM_OK);
    CHECK_INT(ids_of(items, ids, 8), 1);
    CHECK_INT(ids[0], i_cy);
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "decided_by")), "alice");
    json_decref(items);
}

static void test_defer_then_decide_entity_entity(void)
{
    mdm_err err;
    json_t *res = NULL;
    mdm_queue_decision bad = {i_dee, 1, "maybe", NULL};
    CHECK_INT(mdm_queue_decide(db, NULL, &bad, &bob, NULL, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/decision");
    mdm_queue_decision d = {i_dee, 1, "defer", "ask the store"};
    CHECK_INT(mdm_queue_decide(db, NULL, &d, &bob, &res, &err), MDM_OK);
    CHECK_STR(json_string_value(json_object_get(res, "status")), "deferred");
    json_decref(res);
    CHECK_STR(status_of(i_dee), "deferred");
    json_t *items = NULL;
    long long ids[8];
    mdm_queue_filter def = {.status = "deferred"};
    CHECK_INT(mdm_queue_list(db, &def, &items, NULL, &err), MDM_OK);
    CHECK_INT(ids_of(items, ids, 8), 1);
    json_decref(items);
    /* deferred items are still decidable, at their new version */
    mdm_queue_decision stale = {i_dee, 1, "no_match", NULL};
    CHECK_INT(mdm_queue_decide(db, NULL, &stale, &bob, NULL, &err), MDM_ECONFLICT);
    mdm_queue_decision nm = {i_dee, 2, "no_match", NULL};
    CHECK_INT(mdm_queue_decide(db, NULL, &nm, &bob, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "assertions")), 1);
    json_decref(res);
    CHECK_STR(status_of(i_dee), "decided");
}

static void test_superseded(void)
{
    mdm_err err;
    /* Anne's entity is merged away behind the queue's back; Fay's record joins its
     * proposed entity directly */
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE entity SET status = 'retired', survivor_id = %lld"
             " WHERE id = $1 RETURNING id",
             e_ann);
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", e_anne);
    q1(sql, eid, NULL);
    snprintf(sql, sizeof sql,
             "UPDATE membership SET entity_id = %lld WHERE record_id = $1"
             " AND active RETURNING id",
             e_fay2);
    char rid[24];
    snprintf(rid, sizeof rid, "%lld", r_fay1);
    q1(sql, rid, NULL);
    long closed = 0;
    CHECK_INT(mdm_queue_refresh(db, &closed, &err), MDM_OK);
    CHECK_INT(closed, 2);
    CHECK_STR(status_of(i_ann), "superseded");
    CHECK_STR(status_of(i_fay), "superseded");
    CHECK_STR(status_of(i_eve), "open");
    CHECK_INT(count_sql("SELECT count(*) FROM review_item WHERE id = $1 AND reason LIKE"
                        " '%is already in entity%'",
                        i_fay),
              1);
    CHECK_INT(count_sql("SELECT count(*) FROM audit_log WHERE action = 'review.supersede'"
                        " AND actor = 'system' AND target = 'review_item:' || $1",
                        i_ann),
              1);
    mdm_queue_decision d = {i_ann, version_of(i_ann), "no_match", NULL};
    CHECK_INT(mdm_queue_decide(db, NULL, &d, &alice, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "superseded") != NULL);
    CHECK_INT(mdm_queue_refresh(db, &closed, &err), MDM_OK);
    CHECK_INT(closed, 0);
    /* decide closes an item whose entity was retired just before */
    snprintf(eid, sizeof eid, "%lld", e_ann);
    q1("UPDATE entity SET status = 'retired', survivor_id = NULL WHERE id = $1 RETURNING id", eid,
       NULL);
    mdm_queue_decision e = {i_eve, version_of(i_eve), "no_match", NULL};
    CHECK_INT(mdm_queue_decide(db, NULL, &e, &alice, NULL, &err), MDM_ECONFLICT);
    CHECK_STR(status_of(i_eve), "superseded");
}

static void test_bulk(void)
{
    mdm_err err;
    long long a = item_re(record("20", "Gus", "Ito"), e_bob, 0.7);
    long long b = item_re(record("21", "Hal", "Ito"), e_bob, 0.7);
    long long c = item_re(record("22", "Ida", "Ito"), e_bob, 0.7);
    /* each new record needs an entity of its own, as resolution would give it */
    for (long long id = a; id <= c; id++) {
        char s[24];
        snprintf(s, sizeof s, "%lld", id);
        q1("INSERT INTO entity (golden) VALUES ('{}') RETURNING id", NULL, NULL);
        q1("INSERT INTO membership (record_id, entity_id) SELECT r.record_id,"
           " (SELECT max(id) FROM entity) FROM review_item r WHERE r.id = $1 RETURNING id",
           s, NULL);
    }
    mdm_queue_decision ds[] = {
        {a, 1, "no_match", "bulk"},
        {b, 7, "no_match", "bulk"}, /* stale */
        {c, 1, "defer", NULL},
    };
    json_t *results = NULL;
    CHECK_INT(mdm_queue_decide_bulk(db, NULL, ds, 3, &alice, &results, &err), MDM_ECONFLICT);
    CHECK_INT(json_array_size(results), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(results, 0), "status")), "decided");
    json_t *e1 = json_object_get(json_array_get(results, 1), "error");
    CHECK_INT(json_integer_value(json_object_get(e1, "status")), 409);
    CHECK_STR(json_string_value(json_object_get(e1, "code")), "econflict");
    CHECK_STR(json_string_value(json_object_get(json_array_get(results, 2), "status")), "deferred");
    json_decref(results);
    CHECK_STR(status_of(a), "decided");
    CHECK_STR(status_of(b), "open");
    CHECK_STR(status_of(c), "deferred");
    CHECK_INT(mdm_queue_decide_bulk(db, NULL, ds, 0, &alice, &results, &err), MDM_EINVAL);
    /* match waits for the golden-record core: refused cleanly, nothing changed */
    mdm_queue_decision m = {b, 1, "match", NULL};
    CHECK(mdm_queue_decide(db, NULL, &m, &alice, NULL, &err) != MDM_OK);
    CHECK_STR(status_of(b), "open");
    CHECK_INT(version_of(b), 1);
}

typedef struct race {
    long long id;
    const mdm_queue_actor *who;
    mdm_status st;
} race;

static void *racer(void *arg)
{
    race *r = arg;
    mdm_err err;
    mdm_db *own = mdm_db_connect(url, &err);
    if (!own) {
        r->st = MDM_EDB;
        return NULL;
    }
    mdm_queue_decision d = {r->id, 1, "no_match", NULL};
    r->st = mdm_queue_decide(own, NULL, &d, r->who, NULL, &err);
    mdm_db_close(own);
    return NULL;
}

static void test_two_stewards_race(void)
{
    for (int round = 0; round < 5; round++) {
        char key[16];
        snprintf(key, sizeof key, "race%d", round);
        long long rec = record(key, "Jo", "Race");
        entity(rec, 0LL);
        long long id = item_re(rec, e_bob, 0.7);
        race r[2] = {{id, &alice, MDM_OK}, {id, &bob, MDM_OK}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, racer, &r[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        int ok = (r[0].st == MDM_OK) + (r[1].st == MDM_OK);
        int conflict = (r[0].st == MDM_ECONFLICT) + (r[1].st == MDM_ECONFLICT);
        CHECK_INT(ok, 1);
        CHECK_INT(conflict, 1);
        CHECK_INT(count_sql("SELECT count(*) FROM audit_log WHERE action = 'review.decide'"
                            " AND target = 'review_item:' || $1",
                            id),
                  1);
    }
}

static void test_label_report(void)
{
    mdm_err err;
    long long pairs =
        q1("SELECT count(DISTINCT (record_a, record_b)) FROM steward_label", NULL, NULL);
    long long decided = q1("SELECT count(*) FROM review_item WHERE status = 'decided'", NULL, NULL);
    long long sure = q1("SELECT count(*) FROM review_item WHERE status = 'decided'"
                        " AND probability >= 0.7",
                        NULL, NULL);
    CHECK(pairs >= 10);
    json_t *r = NULL;
    CHECK_INT(mdm_queue_label_report(db, &r, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(r, "pairs")), pairs);
    CHECK_INT(json_integer_value(json_object_get(r, "no_match")), pairs);
    CHECK(json_is_null(json_object_get(json_object_get(r, "auto"), "precision")));
    json_t *rv = json_object_get(r, "review");
    CHECK_INT(json_integer_value(json_object_get(rv, "decided")), decided);
    json_t *t07 = json_array_get(json_object_get(rv, "thresholds"), 2);
    CHECK_NEAR(json_real_value(json_object_get(t07, "threshold")), 0.7, 1e-9);
    CHECK_INT(json_integer_value(json_object_get(t07, "linked")), sure);
    CHECK_NEAR(json_real_value(json_object_get(t07, "precision")), 0.0, 1e-9);
    json_decref(r);
    /* an automatic link split apart, one confirmed, one made by hand; the latest label of
     * a pair wins */
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO steward_label (record_a, record_b, label, auto_linked, origin, actor)"
             " VALUES (%lld, %lld, 'no_match', true, 'split', 'a'), (%lld, %lld, 'match', true,"
             " 'assertion', 'a'), (%lld, %lld, 'match', false, 'merge', 'a'),"
             " (%lld, %lld, 'match', true, 'assertion', 'a') RETURNING 1",
             r_fay1 < r_fay2 ? r_fay1 : r_fay2, r_fay1 < r_fay2 ? r_fay2 : r_fay1, r_ann, r_anne,
             r_ann, r_eve, r_dee1, r_dee2);
    q1(sql, NULL, NULL);
    CHECK_INT(mdm_queue_label_report(db, &r, &err), MDM_OK);
    json_t *a = json_object_get(r, "auto");
    CHECK_INT(json_integer_value(json_object_get(r, "pairs")), pairs + 3);
    CHECK_INT(json_integer_value(json_object_get(a, "pairs")), 3);
    CHECK_INT(json_integer_value(json_object_get(a, "confirmed")), 2);
    CHECK_INT(json_integer_value(json_object_get(a, "rejected")), 1);
    CHECK_NEAR(json_real_value(json_object_get(a, "precision")), 2.0 / 3.0, 1e-9);
    CHECK_INT(json_integer_value(json_object_get(r, "missed")), 1);
    CHECK_NEAR(json_real_value(json_object_get(r, "recall")), 2.0 / 3.0, 1e-9);
    json_decref(r);
}

static void test_audit_chain_intact(void)
{
    mdm_audit_check chk;
    mdm_err err;
    CHECK_INT(mdm_audit_verify(db, &chk, NULL, &err), MDM_OK);
    CHECK(chk.intact);
    CHECK(chk.rows >= 15);
}

int main(void)
{
    url = getenv("MDM_DATABASE_URL");
    const char *sql_dir = getenv("MDM_SQL_DIR");
    if (!url || !sql_dir)
        return 1;
    mdm_err err;
    db = mdm_db_connect(url, &err);
    if (!db || mdm_migrate_run(db, sql_dir, false, NULL, NULL, &err) != MDM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    fixtures();
    RUN(test_priority);
    RUN(test_list_and_priority_order);
    RUN(test_paging_every_sort);
    RUN(test_get_item);
    RUN(test_claim_and_assign);
    RUN(test_no_match_record_entity);
    RUN(test_defer_then_decide_entity_entity);
    RUN(test_superseded);
    RUN(test_bulk);
    RUN(test_two_stewards_race);
    RUN(test_label_report);
    RUN(test_audit_chain_intact);
    mdm_db_close(db);
    TEST_END();
}
