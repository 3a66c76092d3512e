/* Steward merge, unmerge, split, pins and assertions on real ingested records, and the
 * queue's match decisions that use them: versions checked, never_link obeyed, an
 * unmerge restoring both golden records exactly (values, lineage, times, pins), labels
 * and audit rows written, and a merge that fails at any statement leaving nothing. */
#include "common/mem.h"
#include "mdm/audit.h"
#include "mdm/query.h"
#include "stewardship/merge.h"
#include "stewardship/queue.h"
#include "tests/integration/core_fixture.h"

static mdm_db *db;
static const mdm_merge_actor alice = {"alice", "steward", "same loyalty card"};
static const mdm_queue_actor q_alice = {"alice", "steward"};

static long long person(const char *key, const char *first, const char *last, const char *email,
                        const char *born)
{
    char *rec = mdm_xasprintf("{\"source_key\": \"%s\", \"first_name\": \"%s\", \"last_name\":"
                              " \"%s\", \"emails\": [\"%s\"], \"birth_date\": \"%s\"}",
                              key, first, last, email, born);
    mdm_ingest_result r = fx_ingest(db, "web", rec);
    free(rec);
    return r.entity_id;
}

static long long record_of(const char *key)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT id FROM source_record WHERE source = 'web' AND source_key = '%s'", key);
    return fx_scalar(db, sql);
}

static int version(long long id)
{
    return (int)fx_count1(db, "SELECT version FROM entity WHERE id = $1", id);
}

/* Everything a golden record is, as one text: golden JSON, and every golden_value row
 * with lineage and time, and the pins. */
static char *state(long long id)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *p[1] = {ids};
    return mdm_xstrdup(fx_text_p(
        db,
        "SELECT concat_ws(' | ', (SELECT golden::text FROM entity WHERE id = $1::bigint),"
        " (SELECT string_agg(concat_ws(',', attr, value::text, source_record_id, rule,"
        "   chosen_at::text), ';' ORDER BY attr) FROM golden_value WHERE entity_id = $1::bigint),"
        " (SELECT string_agg(concat_ws(',', attr, value::text, actor, created_at::text), ';'"
        "   ORDER BY attr) FROM golden_pin WHERE entity_id = $1::bigint))",
        1, p));
}

static long long e_ann, e_bea, e_cy, e_dan, e_eli, e_fay;

static void test_manual_merge_and_exact_unmerge(void)
{
    mdm_err err;
    e_ann = person("W1", "Ann", "Archer", "ann@archer.example", "1980-01-01");
    e_bea = person("W2", "Bea", "Boyle", "bea@boyle.example", "1981-02-02");
    CHECK(e_ann > 0 && e_bea > 0 && e_ann != e_bea);
    /* a pin on the younger entity, which the survivor inherits */
    json_t *v = json_string("Beatrice");
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e_bea, version(e_bea), "first_name", v, &alice, NULL, &err),
              MDM_OK);
    json_decref(v);
    CHECK_STR(fx_golden(db, e_bea, "first_name"), "Beatrice");
    char *ann_before = state(e_ann), *bea_before = state(e_bea);
    int ann_v = version(e_ann);

    json_t *res = NULL;
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_ann, ann_v + 5, e_bea, &alice, &res, &err),
              MDM_ESTALE);
    CHECK(strstr(err.msg, "version") != NULL);
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_ann, ann_v, e_ann, &alice, &res, &err), MDM_EINVAL);
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_bea, 0, e_ann, &alice, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "survivor")), e_ann); /* older id lives */
    CHECK_INT(json_integer_value(json_object_get(res, "retired")), e_bea);
    json_decref(res);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", e_ann), 2);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'retired'", e_bea),
        1);
    CHECK_STR(fx_golden(db, e_ann, "first_name"), "Beatrice"); /* the inherited pin wins */
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM merge_snapshot WHERE survivor_id = $1", e_ann),
              1);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_label WHERE origin = 'merge'"
                        " AND label = 'match' AND record_a = $1",
                        record_of("W1") < record_of("W2") ? record_of("W1") : record_of("W2")),
              1);
    CHECK_INT(
        fx_count1(db,
                  "SELECT count(*) FROM audit_log a JOIN audit_personal p ON p.audit_id = a.id"
                  " WHERE a.action = 'entity.merge' AND a.target = 'entity:' || $1"
                  " AND p.value = 'same loyalty card' AND a.reason NOT LIKE '%loyalty%'",
                  e_ann),
        1);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM outbox WHERE entity_id = $1 AND type = 'merged'",
                        e_ann),
              1);
    /* merging again is a conflict */
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_ann, 0, e_bea, &alice, NULL, &err), MDM_ECONFLICT);

    /* undo at a stale survivor version (either id names the survivor): refused, nothing
     * changes; at the current one it runs */
    int merged_v = version(e_ann);
    CHECK_INT(mdm_merge_unmerge(db, fx_ctx, e_bea, 0, merged_v - 1, &alice, &res, &err),
              MDM_ESTALE);
    CHECK_INT(version(e_ann), merged_v);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'retired'", e_bea),
        1);
    /* undo: both golden records exactly as before (values, lineage, times, pins) */
    CHECK_INT(mdm_merge_unmerge(db, fx_ctx, e_bea, 0, merged_v, &alice, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "restored")), e_bea);
    CHECK_INT(json_integer_value(json_object_get(res, "version")), version(e_ann));
    json_decref(res);
    char *ann_after = state(e_ann), *bea_after = state(e_bea);
    CHECK_STR(ann_after, ann_before);
    CHECK_STR(bea_after, bea_before);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'"
                        " AND survivor_id IS NULL",
                        e_bea),
              1);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", e_bea), 1);
    CHECK(version(e_ann) > ann_v); /* versions only move forward */
    CHECK_INT(mdm_merge_unmerge(db, fx_ctx, e_ann, 0, 0, &alice, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "already undone") != NULL);
    /* an undone merge is "not the same person": never_link between the parts */
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_assertion WHERE kind = 'never_link'"
                        " AND record_a = $1",
                        record_of("W1") < record_of("W2") ? record_of("W1") : record_of("W2")),
              1);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM audit_log WHERE action = 'entity.unmerge'"
                        " AND target = 'entity:' || $1",
                        e_bea),
              1);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM link_event WHERE action = 'unmerge'"
                        " AND entity_id = $1",
                        e_ann),
              1);
    free(ann_before);
    free(bea_before);
    free(ann_after);
    free(bea_after);
}

/* Members of an entity as one text ("12,15"). */
static char *members(long long id)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *p[1] = {ids};
    return mdm_xstrdup(fx_text_p(db,
                                 "SELECT coalesce(string_agg(record_id::text, ',' ORDER BY"
                                 " record_id), '') FROM membership WHERE entity_id = $1::bigint"
                                 " AND active",
                                 1, p));
}

/* A record bridging two entities merges them automatically; the merge keeps a snapshot,
 * and unmerge brings back both golden records exactly as they were at the merge: the
 * retired one as it was before the bridging record arrived, the survivor as it was with
 * the bridging record linked. */
static void test_automatic_merge_exact_unmerge(void)
{
    mdm_err err;
    mdm_ingest_result a = fx_ingest(db, "web",
                                    "{\"source_key\": \"AM1\", \"first_name\": \"Nina\","
                                    " \"last_name\": \"Vasquez\", \"birth_date\": \"1973-07-08\","
                                    " \"emails\": [\"nina@vasquez.example\"]}");
    mdm_ingest_result b = fx_ingest(db, "web",
                                    "{\"source_key\": \"AM2\", \"first_name\": \"Nina\","
                                    " \"last_name\": \"Vasquez\", \"birth_date\": \"1973-07-08\","
                                    " \"phones\": [\"+1 212 555 0199\"]}");
    CHECK(a.entity_id > 0 && b.entity_id > 0 && a.entity_id != b.entity_id);
    char *b_before = state(b.entity_id), *b_members = members(b.entity_id);
    char *a_members = members(a.entity_id);
    int b_version = version(b.entity_id);
    long long snaps = fx_scalar(db, "SELECT count(*) FROM merge_snapshot");

    mdm_ingest_result c = fx_ingest(db, "web",
                                    "{\"source_key\": \"AM3\", \"first_name\": \"Nina\","
                                    " \"last_name\": \"Vasquez\", \"birth_date\": \"1973-07-08\","
                                    " \"emails\": [\"nina@vasquez.example\"],"
                                    " \"phones\": [\"+1 212 555 0199\"]}");
    CHECK_INT(c.decision, MDM_DECISION_MERGED);
    CHECK_INT(c.entity_id, a.entity_id); /* the older id survives */
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM merge_snapshot"), snaps + 1);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM merge_snapshot WHERE retired_id = $1"
                        " AND actor = 'test' AND reason LIKE 'bridged by record %'",
                        b.entity_id),
              1);
    /* the survivor as the snapshot saw it: A's record and the bridging one */
    char *a_with_c = mdm_xasprintf("%s,%lld", a_members, (long long)c.record_id);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)a.entity_id);
    const char *pa[1] = {ids};
    char *a_snap_golden = mdm_xstrdup(fx_text_p(db,
                                                "SELECT (before -> $1::text -> 'golden')::text FROM"
                                                " merge_snapshot WHERE survivor_id = $1::bigint"
                                                " ORDER BY id DESC LIMIT 1",
                                                1, pa));
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active",
                        a.entity_id),
              3);

    json_t *res = NULL;
    CHECK_INT(mdm_merge_unmerge(db, fx_ctx, b.entity_id, 0, 0, &alice, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "restored")), b.entity_id);
    CHECK_INT(json_integer_value(json_object_get(res, "survivor")), a.entity_id);
    json_decref(res);
    char *b_after = state(b.entity_id), *b_members_after = members(b.entity_id);
    char *a_members_after = members(a.entity_id);
    CHECK_STR(b_after, b_before); /* golden JSON, every value with lineage and time, pins */
    CHECK_STR(b_members_after, b_members);
    CHECK_STR(a_members_after, a_with_c);
    CHECK_STR(fx_text_p(db, "SELECT golden::text FROM entity WHERE id = $1::bigint", 1, pa),
              a_snap_golden);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'"
                        " AND survivor_id IS NULL",
                        b.entity_id),
              1);
    CHECK(version(b.entity_id) > b_version); /* versions only move forward */
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM audit_log WHERE action = 'entity.unmerge'"
                        " AND target = 'entity:' || $1 AND actor = 'alice'",
                        b.entity_id),
              1);
    /* undone once only */
    CHECK_INT(mdm_merge_unmerge(db, fx_ctx, b.entity_id, 0, 0, &alice, NULL, &err), MDM_ECONFLICT);
    /* and for good: the bridging record sent again (changed) does not merge them again */
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_assertion WHERE kind = 'never_link'"
                        " AND $1 IN (record_a, record_b)",
                        b.record_id),
              2);
    mdm_ingest_result c2 = fx_ingest(db, "web",
                                     "{\"source_key\": \"AM3\", \"first_name\": \"Nina\","
                                     " \"last_name\": \"Vasquez\", \"birth_date\": \"1973-07-08\","
                                     " \"emails\": [\"nina@vasquez.example\"],"
                                     " \"phones\": [\"+1 212 555 0199\", \"+1 212 555 0100\"]}");
    CHECK_INT(c2.decision, MDM_DECISION_UPDATED);
    CHECK_INT(c2.entity_id, a.entity_id);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'",
                        b.entity_id),
              1);
    free(b_before);
    free(b_members);
    free(a_members);
    free(a_with_c);
    free(a_snap_golden);
    free(b_after);
    free(b_members_after);
    free(a_members_after);
}

static void test_assertions(void)
{
    mdm_err err;
    e_cy = person("W3", "Cy", "Cole", "cy@cole.example", "1982-03-03");
    long long w1 = record_of("W1"), w3 = record_of("W3");
    json_t *stored = NULL;
    CHECK_INT(mdm_merge_assert(db, "never_link", w3, w1, &alice, &stored, &err), MDM_OK);
    /* the reply is the stored row: its id is what DELETE /v1/assertions/{id} takes */
    CHECK(json_integer_value(json_object_get(stored, "id")) > 0);
    CHECK_INT(json_integer_value(json_object_get(stored, "record_a")), w1 < w3 ? w1 : w3);
    CHECK_STR(json_string_value(json_object_get(stored, "actor")), "alice");
    json_decref(stored);
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_ann, 0, e_cy, &alice, NULL, &err), MDM_ECONFLICT);
    CHECK(strstr(err.msg, "never_link") != NULL);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'", e_cy), 1);
    CHECK_INT(mdm_merge_assert(db, "maybe", w3, w1, &alice, NULL, &err), MDM_EINVAL);
    CHECK_INT(mdm_merge_assert(db, "never_link", w3, w3, &alice, NULL, &err), MDM_EINVAL);
    CHECK_INT(mdm_merge_assert(db, "never_link", w3, 999999, &alice, NULL, &err), MDM_ENOTFOUND);
    /* the stewards change their mind: always_link replaces the pair's assertion */
    CHECK_INT(mdm_merge_assert(db, "always_link", w1, w3, &alice, NULL, &err), MDM_OK);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_assertion WHERE record_a = $1"
                        " AND kind = 'always_link'",
                        w1 < w3 ? w1 : w3),
              1);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_assertion WHERE kind = 'never_link'"
                        " AND $1 IN (record_a, record_b)",
                        w3),
              0); /* replaced, not added */
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_label WHERE origin = 'assertion'"
                        " AND record_a = $1",
                        w1 < w3 ? w1 : w3),
              2);
    CHECK_INT(fx_scalar(db, "SELECT count(*) FROM audit_log WHERE action LIKE 'assertion.%'"), 2);
}

static void test_split(void)
{
    mdm_err err;
    e_dan = person("W4", "Dan", "Dunn", "dan@dunn.example", "1983-04-04");
    e_eli = person("W5", "Eli", "Eton", "eli@eton.example", "1984-05-05");
    e_fay = person("W6", "Fay", "Ford", "fay@ford.example", "1985-06-06");
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_dan, 0, e_eli, &alice, NULL, &err), MDM_OK);
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_dan, 0, e_fay, &alice, NULL, &err), MDM_OK);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", e_dan), 3);
    long long w4 = record_of("W4"), w5 = record_of("W5"), w6 = record_of("W6");
    int64_t eli_only[] = {w5};
    int64_t everyone[] = {w4, w5, w6};
    int64_t stranger[] = {record_of("W1")};
    json_t *res = NULL;
    CHECK_INT(
        mdm_merge_split(db, fx_ctx, e_dan, version(e_dan) - 1, eli_only, 1, 0, &alice, &res, &err),
        MDM_ESTALE);
    CHECK_INT(mdm_merge_split(db, fx_ctx, e_dan, 0, everyone, 3, 0, &alice, &res, &err),
              MDM_EINVAL);
    CHECK_INT(mdm_merge_split(db, fx_ctx, e_dan, 0, stranger, 1, 0, &alice, &res, &err),
              MDM_EINVAL);
    CHECK_STR(err.field, "/records");
    CHECK_INT(
        mdm_merge_split(db, fx_ctx, e_dan, version(e_dan), eli_only, 1, 0, &alice, &res, &err),
        MDM_OK);
    long long eli_now = json_integer_value(json_object_get(res, "moved_to"));
    json_decref(res);
    CHECK(eli_now > 0 && eli_now != e_dan);
    CHECK_INT(fx_count1(db, "SELECT entity_id FROM membership WHERE record_id = $1 AND active", w5),
              eli_now);
    CHECK_STR(fx_golden(db, eli_now, "first_name"), "Eli");
    /* the split says "not the same person": never_link to both others, labelled */
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_assertion WHERE kind = 'never_link'"
                        " AND (record_a = $1 OR record_b = $1)",
                        w5),
              2);
    CHECK_INT(
        fx_count1(db,
                  "SELECT count(*) FROM steward_label WHERE origin = 'split'"
                  " AND label = 'no_match' AND auto_linked AND (record_a = $1 OR record_b = $1)",
                  w5),
        2);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM audit_log WHERE action = 'entity.split'"
                        " AND target = 'entity:' || $1",
                        e_dan),
              1);
    /* and therefore merging them back is refused */
    CHECK_INT(mdm_merge_manual(db, fx_ctx, e_dan, 0, eli_now, &alice, NULL, &err), MDM_ECONFLICT);
    /* split into another, existing entity: Fay joins Cy */
    int64_t fay_only[] = {w6};
    CHECK_INT(mdm_merge_split(db, fx_ctx, e_dan, 0, fay_only, 1, e_cy, &alice, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "moved_to")), e_cy);
    json_decref(res);
    CHECK_INT(fx_count1(db, "SELECT entity_id FROM membership WHERE record_id = $1 AND active", w6),
              e_cy);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", e_dan), 1);
}

static void test_pins(void)
{
    mdm_err err;
    json_t *res = NULL;
    json_t *v = json_string("Daniel");
    CHECK_INT(
        mdm_merge_pin(db, fx_ctx, e_dan, version(e_dan) + 1, "first_name", v, &alice, &res, &err),
        MDM_ESTALE);
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e_dan, 0, "shoe_size", v, &alice, &res, &err), MDM_EINVAL);
    CHECK_STR(err.field, "/attr");
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e_dan, version(e_dan), "first_name", v, &alice, &res, &err),
              MDM_OK);
    CHECK_STR(json_string_value(json_object_get(json_object_get(res, "golden"), "first_name")),
              "Daniel");
    json_decref(res);
    json_decref(v);
    CHECK_STR(fx_golden(db, e_dan, "first_name"), "Daniel");
    json_t *ent = NULL;
    CHECK_INT(mdm_query_get(db, e_dan, &ent, NULL, &err), MDM_OK);
    json_t *lin = json_object_get(json_object_get(ent, "lineage"), "first_name");
    CHECK(json_is_true(json_object_get(lin, "pinned")));
    json_decref(ent);
    CHECK_INT(
        fx_count1(db,
                  "SELECT count(*) FROM audit_log a JOIN audit_personal p ON p.audit_id = a.id"
                  " WHERE a.action = 'entity.pin' AND a.target = 'entity:' || $1"
                  " AND p.value = '\"Daniel\"' AND a.after->'pin'->>'sha256' = p.sha256",
                  e_dan),
        1);
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e_dan, 0, "first_name", NULL, &alice, NULL, &err), MDM_OK);
    CHECK_STR(fx_golden(db, e_dan, "first_name"), "Dan");
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e_dan, 0, "first_name", NULL, &alice, NULL, &err),
              MDM_ENOTFOUND);
    json_t *list = json_pack("[s]", "dan@work.example");
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e_dan, 0, "emails", list, &alice, NULL, &err), MDM_OK);
    json_decref(list);
    json_t *nul = json_null();
    CHECK_INT(mdm_merge_pin(db, fx_ctx, e_dan, 0, "last_name", nul, &alice, NULL, &err),
              MDM_EINVAL);
    json_decref(nul);
}

/* Ingests a canonical "web" record that the resolver sends to review (fx_put): its
 * review item. */
static long long review_of(const char *json)
{
    return fx_put(db, "web", json, MDM_DECISION_REVIEW).review_id;
}

/* the address of the second Ivy Ives */
#define HOME                                                                                       \
    "\"addresses\": [{\"line1\": \"14 Oak Street\", \"postal_code\": \"98102\", \"city\":"         \
    " \"Seattle\"}]"

static void test_queue_match_decisions(void)
{
    mdm_err err;
    json_t *res = NULL;
    /* record alone in its golden record (name and birth date exact, nothing else shared:
     * a possible match): a match merges the golden records (undoable) */
    long long e_gus = person("W7", "Gus", "Gale", "gus@gale.example", "1986-07-07");
    long long i1 = review_of("{\"source_key\": \"W8\", \"first_name\": \"Gus\", \"last_name\":"
                             " \"Gale\", \"birth_date\": \"1986-07-07\"}");
    CHECK(i1 > 0);
    long long e_gus2 = fx_count1(db,
                                 "SELECT entity_id FROM membership WHERE record_id = $1"
                                 " AND active",
                                 record_of("W8"));
    mdm_queue_decision d1 = {i1, 1, "match", "same card"};
    CHECK_INT(mdm_queue_decide(db, NULL, &d1, &q_alice, &res, &err), MDM_EINTERNAL);
    CHECK_INT(mdm_queue_decide(db, fx_ctx, &d1, &q_alice, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "entity_id")), e_gus);
    json_decref(res);
    CHECK_INT(fx_count1(db, "SELECT entity_id FROM membership WHERE record_id = $1 AND active",
                        record_of("W8")),
              e_gus);
    CHECK_INT(fx_count1(db, "SELECT count(*) FROM merge_snapshot WHERE retired_id = $1", e_gus2),
              1);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM steward_label WHERE review_id = $1"
                        " AND label = 'match'",
                        i1),
              1);
    /* entity_entity: two golden records with different tax ids, bridged by an update of
     * a record of the first that brings the second's phone and address; the match
     * merges them */
    long long e_ivy = fx_ingest(db, "web",
                                "{\"source_key\": \"W9\", \"first_name\": \"Ivy\", \"last_name\":"
                                " \"Ives\", \"emails\": [\"ivy@ives.example\"], \"tax_id\":"
                                " \"111-22-3333\"}")
                          .entity_id;
    long long e_ivy2 = fx_ingest(db, "web",
                                 "{\"source_key\": \"W9b\", \"first_name\": \"Ivy\", \"last_name\":"
                                 " \"Ives\", \"phones\": [\"+12065550166\"], " HOME ", \"tax_id\":"
                                 " \"444-55-6666\"}")
                           .entity_id;
    fx_ingest(db, "web",
              "{\"source_key\": \"W9c\", \"first_name\": \"Ivy\", \"last_name\": \"Ives\","
              " \"emails\": [\"ivy@ives.example\"]}");
    long long i3 = fx_ingest(db, "web",
                             "{\"source_key\": \"W9c\", \"first_name\": \"Ivy\", \"last_name\":"
                             " \"Ives\", \"emails\": [\"ivy@ives.example\"], \"phones\":"
                             " [\"+12065550166\"], " HOME "}")
                       .review_id;
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM review_item WHERE id = $1 AND kind ="
                        " 'entity_entity'",
                        i3),
              1);
    mdm_queue_decision d3 = {i3, 1, "match", NULL};
    CHECK_INT(mdm_queue_decide(db, fx_ctx, &d3, &q_alice, &res, &err), MDM_OK);
    long long joined = json_integer_value(json_object_get(res, "entity_id"));
    json_decref(res);
    CHECK_INT(joined, e_ivy < e_ivy2 ? e_ivy : e_ivy2);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", joined),
        3);
    /* a move of one record out of a two-record golden record into another: Jo's second
     * record goes to review, a third record joins it, then the steward matches it */
    long long e_jo = person("W10", "Jo", "Jay", "jo@jay.example", "1989-10-10");
    long long i4 = review_of("{\"source_key\": \"W12\", \"first_name\": \"Jo\", \"last_name\":"
                             " \"Jay\", \"birth_date\": \"1989-10-10\", \"phones\":"
                             " [\"+12065550188\"]}");
    CHECK(i4 > 0);
    long long e_jo2 = fx_ingest(db, "web",
                                "{\"source_key\": \"W13\", \"first_name\": \"Jo\", \"last_name\":"
                                " \"Jay\", \"birth_date\": \"1989-10-10\", \"phones\":"
                                " [\"+12065550188\"]}")
                          .entity_id;
    CHECK_INT(fx_count1(db, "SELECT entity_id FROM membership WHERE record_id = $1 AND active",
                        record_of("W12")),
              e_jo2);
    mdm_queue_decision d4 = {i4, 1, "match", NULL};
    CHECK_INT(mdm_queue_decide(db, fx_ctx, &d4, &q_alice, &res, &err), MDM_OK);
    CHECK_INT(json_integer_value(json_object_get(res, "entity_id")), e_jo);
    json_decref(res);
    CHECK_INT(fx_count1(db, "SELECT entity_id FROM membership WHERE record_id = $1 AND active",
                        record_of("W12")),
              e_jo);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM membership WHERE entity_id = $1 AND active", e_jo2), 1);
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM audit_log WHERE action = 'record.move'"
                        " AND target = 'entity:' || $1",
                        e_jo),
              1);
    /* a match that a never_link assertion forbids is refused and changes nothing */
    long long e_kim = person("W11", "Kim", "Kerr", "kim@kerr.example", "1990-11-11");
    long long i5 = review_of("{\"source_key\": \"W14\", \"first_name\": \"Kim\", \"last_name\":"
                             " \"Kerr\", \"birth_date\": \"1990-11-11\"}");
    CHECK(i5 > 0);
    CHECK_INT(
        mdm_merge_assert(db, "never_link", record_of("W14"), record_of("W11"), &alice, NULL, &err),
        MDM_OK);
    int v5 = (int)fx_count1(db, "SELECT version FROM review_item WHERE id = $1", i5);
    mdm_queue_decision d5 = {i5, v5, "match", NULL};
    CHECK_INT(mdm_queue_decide(db, fx_ctx, &d5, &q_alice, NULL, &err), MDM_ECONFLICT);
    CHECK_INT(fx_count1(db, "SELECT version FROM review_item WHERE id = $1", i5), v5);
    CHECK_INT(
        fx_count1(db, "SELECT count(*) FROM entity WHERE id = $1 AND status = 'active'", e_kim), 1);
    CHECK(fx_count1(db, "SELECT entity_id FROM membership WHERE record_id = $1 AND active",
                    record_of("W14")) != e_kim);
}

static void tables(char *out, size_t cap)
{
    snprintf(out, cap, "%s",
             fx_text(db, "SELECT concat_ws(',', (SELECT count(*) FROM entity WHERE status ="
                         " 'active'), (SELECT count(*) FROM membership WHERE active),"
                         " (SELECT count(*) FROM merge_snapshot), (SELECT count(*) FROM audit_log),"
                         " (SELECT count(*) FROM steward_label), (SELECT count(*) FROM outbox),"
                         " (SELECT count(*) FROM link_event), (SELECT count(*) FROM golden_value),"
                         " (SELECT max(version) FROM entity))"));
}

/* A manual merge failing at its n-th statement, for every n, leaves no trace. */
static void test_merge_rolls_back_at_every_statement(void)
{
    long long a = person("W12", "Lou", "Lamb", "lou@lamb.example", "1991-12-12");
    long long b = person("W13", "Max", "Moss", "max@moss.example", "1992-01-13");
    char before[256], after[256];
    tables(before, sizeof before);
    mdm_err err;
    int n = 1, ok = 0;
    for (; n < 200 && !ok; n++) {
        mdm_db_fail_after(n);
        mdm_status st = mdm_merge_manual(db, fx_ctx, a, 0, b, &alice, NULL, &err);
        mdm_db_fail_after(0);
        if (st == MDM_OK) {
            ok = 1;
            break;
        }
        tables(after, sizeof after);
        if (!mdm_test_case(strcmp(before, after) == 0, "rolled back completely"))
            fprintf(stderr, "  failing statement %d: %s -> %s\n", n, before, after);
    }
    CHECK(ok);
    CHECK(n > 10);
}

/* An item whose entity changed since it was scored is re-scored under the model, once. */
static void test_rescore(void)
{
    mdm_err err;
    long long ex = person("W30", "Nora", "Nash", "nora@nash.example", "1970-01-01");
    /* a near first name, surname and birth date: the resolver asks */
    long long item = review_of("{\"source_key\": \"W31\", \"first_name\": \"Norah\","
                               " \"last_name\": \"Nash\", \"birth_date\": \"1970-01-01\"}");
    CHECK(item > 0);
    char was[64];
    snprintf(was, sizeof was, "%s",
             fx_text(db, "SELECT probability || '/' || score FROM review_item ORDER BY id DESC"
                         " LIMIT 1"));
    long n = -1;
    CHECK_INT(mdm_queue_rescore(db, fx_ctx, &n, &err), MDM_OK);
    CHECK_INT(n, 0); /* nothing changed since */
    /* a record spelled as the asking one joins the golden record by e-mail */
    CHECK_INT(fx_ingest(db, "web",
                        "{\"source_key\": \"W32\", \"first_name\": \"Norah\", \"last_name\":"
                        " \"Nash\", \"emails\": [\"nora@nash.example\"], \"birth_date\":"
                        " \"1970-01-01\"}")
                  .entity_id,
              ex);
    CHECK_INT(mdm_queue_rescore(db, fx_ctx, &n, &err), MDM_OK);
    CHECK_INT(n, 1);
    CHECK_INT(fx_count1(db, "SELECT version FROM review_item WHERE id = $1", item), 2);
    const char *p[2] = {NULL, was};
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", item);
    p[0] = ids;
    /* its best pair is now Norah against Norah: more likely */
    CHECK_STR(fx_text_p(db,
                        "SELECT (probability > split_part($2, '/', 1)::float8 AND score >"
                        " split_part($2, '/', 2)::float8 AND jsonb_array_length(explanation) > 0)"
                        "::text FROM review_item WHERE id = $1::bigint",
                        2, p),
              "true");
    CHECK_INT(fx_count1(db,
                        "SELECT count(*) FROM audit_log WHERE action = 'review.rescore'"
                        " AND target = 'review_item:' || $1",
                        item),
              1);
    CHECK_INT(mdm_queue_rescore(db, fx_ctx, &n, &err), MDM_OK);
    CHECK_INT(n, 0);
    CHECK_INT(mdm_queue_rescore(db, NULL, &n, &err), MDM_EINTERNAL);
}

static void test_audit_intact(void)
{
    mdm_audit_check chk;
    mdm_err err;
    CHECK_INT(mdm_audit_verify(db, &chk, NULL, &err), MDM_OK);
    CHECK(chk.intact);
    CHECK(chk.rows >= 12);
}

int main(void)
{
    fx_setup(NULL);
    db = fx_connect();
    RUN(test_manual_merge_and_exact_unmerge);
    RUN(test_automatic_merge_exact_unmerge);
    RUN(test_assertions);
    RUN(test_split);
    RUN(test_pins);
    RUN(test_queue_match_decisions);
    RUN(test_merge_rolls_back_at_every_statement);
    RUN(test_rescore);
    RUN(test_audit_intact);
    mdm_db_close(db);
    fx_teardown();
    TEST_END();
}
