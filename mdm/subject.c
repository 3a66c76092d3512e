/* Subject access export and erasure. Both work on the "subject set": the live golden
 * record, every entity retired into it (transitively), and its active member records.
 * Records that were split off to another person are not in the set: they are someone
 * else's. Every statement takes the set as bigint[] parameters. */
#include "mdm/subject.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/assertion.h"
#include "mdm/audit.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/household.h"
#include "mdm/ingest.h"
#include "mdm/outbox.h"
#include "mdm/pending.h"
#include "mdm/publish_delivery.h"
#include "mdm/reject.h"
#include "mdm/relation.h"
#include "mdm/resolve.h"
#include "mdm/review.h"
#include "mdm/tombstone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entity that lives on for id, with its status. */
static const mdm_db_stmt stmt_live = {
    "subject_live",
    "WITH RECURSIVE up(id, survivor_id, status, depth) AS ("
    " SELECT id, survivor_id, status, 0 FROM entity WHERE id = $1::bigint"
    " UNION ALL SELECT e.id, e.survivor_id, e.status, up.depth + 1 FROM entity e"
    " JOIN up ON e.id = up.survivor_id WHERE up.depth < 64) "
    "SELECT id, status FROM up WHERE survivor_id IS NULL",
    1};

/* The statements built from these macros read as SQL only when left unwrapped. */
/* clang-format off */
#define SUBJECT_SET                                                                                \
    "WITH RECURSIVE s(id) AS (SELECT $1::bigint UNION SELECT e.id FROM entity e JOIN s ON "        \
    "e.survivor_id = s.id), "                                                                      \
    "recs AS (SELECT m.record_id AS id FROM membership m WHERE m.entity_id = $1::bigint AND "      \
    "m.active), "                                                                                  \
    "keys AS (SELECT r.id, r.source, r.source_key FROM source_record r WHERE r.id IN (SELECT id "  \
    "FROM recs)) "

#define AGG(expr, order, from)                                                                     \
    "(SELECT coalesce(jsonb_agg(" expr " ORDER BY " order "), '[]') " from ")"

static const mdm_db_stmt stmt_export = {
    "subject_export",
    SUBJECT_SET
    "SELECT jsonb_build_object("
    "'generated_at', mdm_ts(clock_timestamp()), "
    "'golden', (SELECT mdm_row_json(e) FROM entity e WHERE e.id = $1::bigint), "
    "'retired_ids', " AGG("id", "id", "FROM s WHERE id <> $1::bigint") ", "
    "'golden_values', " AGG("mdm_row_json(g)", "g.attr",
                            "FROM golden_value g WHERE g.entity_id = $1::bigint") ", "
    "'pins', " AGG("mdm_row_json(p)", "p.attr", "FROM golden_pin p WHERE p.entity_id = $1::bigint") ", "
    "'versions', " AGG("mdm_row_json(v)", "v.entity_id, v.version",
                       "FROM entity_version v WHERE v.entity_id IN (SELECT id FROM s)") ", "
    "'records', " AGG("mdm_row_json(r) || jsonb_build_object('history', "
                          AGG("mdm_row_json(h)", "h.id",
                              "FROM source_record_history h WHERE h.record_id = r.id") ")",
                      "r.id", "FROM source_record r WHERE r.id IN (SELECT id FROM recs)") ", "
    "'memberships', " AGG("mdm_row_json(m)", "m.id",
                          "FROM membership m WHERE m.entity_id IN (SELECT id FROM s)"
                          " OR m.record_id IN (SELECT id FROM recs)") ", "
    "'consent_events', " AGG("mdm_row_json(c)", "c.id",
                             "FROM consent_event c JOIN keys k"
                             " ON c.source = k.source AND c.source_key = k.source_key") ", "
    "'link_history', " AGG("mdm_row_json(l)", "l.id",
                           "FROM link_event l WHERE l.entity_id IN (SELECT id FROM s)"
                           " OR l.other_entity_id IN (SELECT id FROM s)"
                           " OR l.record_id IN (SELECT id FROM recs)") ", "
    "'review_items', " AGG("mdm_row_json(i)", "i.id",
                           "FROM review_item i WHERE i.entity_id IN (SELECT id FROM s)"
                           " OR i.other_entity_id IN (SELECT id FROM s)"
                           " OR i.record_id IN (SELECT id FROM recs)") ", "
    "'assertions', " AGG("mdm_row_json(a)", "a.id",
                         "FROM steward_assertion a WHERE a.record_a IN (SELECT id FROM recs)"
                         " OR a.record_b IN (SELECT id FROM recs)") ", "
    "'rejects', " AGG("mdm_row_json(x)", "x.id",
                      "FROM record_reject x JOIN keys k"
                      " ON x.source = k.source AND x.source_key = k.source_key") ", "
    /* the personal values the audit log keeps about the subject (steward reasons, pinned
     * values: 022_audit_personal.sql), with the audit row each belongs to; the same rows
     * an erasure deletes */
    "'audit_values', " AGG("jsonb_build_object('audit_id', a.id, 'at', mdm_ts(a.at), 'action', a.action,"
                           " 'actor', a.actor, 'target', a.target, 'value', p.value)",
                           "p.id",
                           "FROM audit_personal p JOIN audit_log a ON a.id = p.audit_id"
                           " WHERE p.entity_ids && ARRAY(SELECT id FROM s)"
                           " OR p.record_ids && ARRAY(SELECT id FROM recs)") ", "
    "'merge_snapshots', " AGG("mdm_row_json(ms)", "ms.id",
                              "FROM merge_snapshot ms WHERE ms.survivor_id IN (SELECT id FROM s)"
                              " OR ms.retired_id IN (SELECT id FROM s)") ", "
    "'split_snapshots', " AGG("mdm_row_json(ss)", "ss.id",
                              "FROM split_snapshot ss WHERE ss.entity_id IN (SELECT id FROM s)"
                              " OR ss.other_id IN (SELECT id FROM s)") ", "
    "'outbox', " AGG("mdm_row_json(o)", "o.seq",
                     "FROM outbox o WHERE o.entity_id IN (SELECT id FROM s)") ", "
    "'deliveries', " AGG("jsonb_build_object('id', d.id, 'subscription_id', d.subscription_id,"
                         " 'source', sub.source, 'url', sub.url, 'seq', d.seq, 'state', d.state,"
                         " 'attempts', d.attempts, 'last_status', d.last_status,"
                         " 'updated_at', mdm_ts(d.updated_at))",
                         "d.id",
                         "FROM delivery d JOIN subscription sub ON sub.id = d.subscription_id"
                         " WHERE d.entity_id IN (SELECT id FROM s)") ")::text AS doc",
    1};

/* clang-format on */

static const mdm_db_stmt stmt_tombstone = {
    "subject_tombstone",
    "SELECT (SELECT mdm_row_json(t)::text FROM erasure_tombstone t WHERE t.entity_id = $1::bigint"
    " ORDER BY t.id DESC LIMIT 1) AS t, mdm_ts(clock_timestamp()) AS generated_at",
    1};

static mdm_status find_live(mdm_db *db, int64_t id, int64_t *live, char status[16], mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, id);
    const char *params[] = {ids};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_live, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no subject %lld", (long long)id);
    }
    *live = mdm_db_get_ll(res, 0, "id", 0);
    snprintf(status, 16, "%s", mdm_db_get(res, 0, "status", ""));
    PQclear(res);
    return MDM_OK;
}

/* A JSON value from the first cell of a one-row result; NULL when there is none. */
static json_t *cell_json(const PGresult *res, const char *col)
{
    const char *text = mdm_db_get(res, 0, col, NULL);
    return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

static mdm_status tombstone_doc(mdm_db *db, int64_t subject, int64_t live, json_t **out,
                                mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, live);
    const char *params[] = {ids};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_tombstone, params, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *t = cell_json(res, "t");
    *out = json_pack("{s:I,s:I,s:s,s:o,s:s}", "subject_id", (json_int_t)subject, "entity_id",
                     (json_int_t)live, "status", "erased", "tombstone", t ? t : json_null(),
                     "generated_at", mdm_db_get(res, 0, "generated_at", ""));
    PQclear(res);
    return MDM_OK;
}

typedef struct export_ctx {
    int64_t subject;
    json_t *doc;
} export_ctx;

static mdm_status export_fn(mdm_db *db, void *arg, mdm_err *err)
{
    export_ctx *c = arg;
    json_decref(c->doc); /* a retried transaction starts over */
    c->doc = NULL;
    mdm_status st =
        mdm_db_command(db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", err);
    if (st == MDM_OK)
        st = mdm_db_command(db, "SET LOCAL TimeZone = 'UTC'", err);
    if (st != MDM_OK)
        return st;
    int64_t live;
    char status[16];
    if ((st = find_live(db, c->subject, &live, status, err)) != MDM_OK)
        return st;
    if (!strcmp(status, "erased"))
        return tombstone_doc(db, c->subject, live, &c->doc, err);
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, live);
    const char *params[] = {ids};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_export, params, &res, err)) != MDM_OK)
        return st;
    json_t *doc = cell_json(res, "doc");
    PQclear(res);
    if (!doc)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot read the subject document");
    json_t *state = NULL;
    st = mdm_consent_state(db, live, NULL, &state, err);
    if (st != MDM_OK) {
        json_decref(doc);
        return st;
    }
    json_t *events = json_incref(json_object_get(doc, "consent_events"));
    json_object_del(doc, "consent_events");
    json_object_set_new(
        doc, "consent",
        json_pack("{s:o,s:o}", "events", events ? events : json_array(), "state", state));
    json_object_set_new(doc, "subject_id", json_integer(c->subject));
    json_object_set_new(doc, "entity_id", json_integer(live));
    json_object_set_new(doc, "status", json_string(status));
    c->doc = doc;
    return MDM_OK;
}

mdm_status mdm_subject_export(mdm_db *db, int64_t subject_id, json_t **out, mdm_err *err)
{
    export_ctx c = {subject_id, NULL};
    *out = NULL;
    mdm_status st = mdm_db_run_tx(db, "subject_export", export_fn, &c, err);
    if (st != MDM_OK) {
        json_decref(c.doc);
        return st;
    }
    *out = c.doc;
    return MDM_OK;
}

/* Erasure ------------------------------------------------------------------------------ */

static const mdm_db_stmt stmt_lock = {
    "subject_lock", "SELECT status, version FROM entity WHERE id = $1::bigint FOR UPDATE", 1};
static const mdm_db_stmt stmt_sets = {
    "subject_sets",
    SUBJECT_SET
    "SELECT (SELECT array_agg(id ORDER BY id) FROM s)::text AS ents, "
    "coalesce((SELECT array_agg(id ORDER BY id) FROM keys), '{}')::text AS recs, "
    "coalesce((SELECT array_agg(encode(sha256(convert_to(source || chr(31) || source_key, "
    "'UTF8')), 'hex') ORDER BY id) FROM keys), '{}')::text AS hashes, "
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('record_id', id, 'source', source, "
    "'source_key', source_key, 'key_hash', encode(sha256(convert_to(source || chr(31) || "
    "source_key, 'UTF8')), 'hex')) ORDER BY id), '[]') FROM keys)::text AS keys",
    1};

typedef struct erase_ctx {
    int64_t subject;
    int version; /* the caller's view of the live entity's version, 0 = no check */
    const char *requester, *reason;
    const mdm_audit_actor *who;
    json_t *result;
} erase_ctx;

static mdm_status erase_fn(mdm_db *db, void *arg, mdm_err *err)
{
    erase_ctx *c = arg;
    json_decref(c->result);
    c->result = NULL;
    int64_t live;
    char status[16];
    mdm_status st = find_live(db, c->subject, &live, status, err);
    if (st != MDM_OK)
        return st;
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, live);
    const char *one[] = {ids, NULL, NULL, NULL, NULL};
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_lock, one, &res, err)) != MDM_OK)
        return st;
    bool erased = !strcmp(mdm_db_get(res, 0, "status", ""), "erased");
    int current = (int)mdm_db_get_ll(res, 0, "version", 0);
    PQclear(res);
    /* optimistic concurrency (If-Match): erasing an erased subject stays a no-op answer */
    if (!erased && c->version > 0 && c->version != current) {
        mdm_err_set(err, MDM_ESTALE, "entity %lld is at version %d, not %d", (long long)live,
                    current, c->version);
        mdm_err_detail(err, "reload the entity and try again");
        return MDM_ESTALE;
    }
    if (erased) {
        json_t *doc = NULL;
        if ((st = tombstone_doc(db, c->subject, live, &doc, err)) != MDM_OK)
            return st;
        json_t *t = json_object_get(doc, "tombstone");
        c->result = json_pack("{s:I,s:O,s:O,s:b}", "entity_id", (json_int_t)live, "tombstone_id",
                              json_object_get(t, "id"), "records",
                              json_object_get(t, "source_keys"), "already_erased", 1);
        json_decref(doc);
        return MDM_OK;
    }
    if ((st = mdm_db_exec(db, &stmt_sets, one, &res, err)) != MDM_OK)
        return st;
    char *ents = mdm_xstrdup(mdm_db_get(res, 0, "ents", "{}"));
    char *recs = mdm_xstrdup(mdm_db_get(res, 0, "recs", "{}"));
    char *hashes = mdm_xstrdup(mdm_db_get(res, 0, "hashes", "{}"));
    char *keys = mdm_xstrdup(mdm_db_get(res, 0, "keys", "[]"));
    PQclear(res);
    res = NULL;
    json_t *payload = NULL;
    /* each owner erases its own rows (docs/ARCHITECTURE.md, table owners), in this order:
     * the member records, then what names entities or records, then the entities */
    st = mdm_ingest_erase(db, recs, err);
    if (st == MDM_OK)
        st = mdm_pending_remove_ids(db, recs, err);
    if (st == MDM_OK)
        st = mdm_reject_erase(db, recs, err);
    if (st == MDM_OK)
        st = mdm_resolve_erase(db, recs, err);
    if (st == MDM_OK)
        st = mdm_consent_erase_records(db, recs, err);
    if (st == MDM_OK)
        st = mdm_assertion_erase(db, recs, err);
    if (st == MDM_OK)
        st = mdm_audit_erase(db, ents, recs, err);
    if (st == MDM_OK)
        st = mdm_golden_erase_events(db, ents, recs, err);
    if (st == MDM_OK)
        st = mdm_review_erase(db, ents, recs, err);
    if (st == MDM_OK)
        st = mdm_golden_erase_values(db, ents, err);
    if (st == MDM_OK)
        st = mdm_outbox_erase(db, ents, err);
    if (st == MDM_OK)
        st = mdm_publish_erase(db, ents, err);
    if (st == MDM_OK)
        st = mdm_golden_erase_snapshots(db, ents, err);
    if (st == MDM_OK)
        st = mdm_consent_erase_entities(db, ents, err);
    if (st == MDM_OK) /* steward reasons about the subject's relationships */
        st = mdm_relation_erase(db, ents, err);
    if (st == MDM_OK) /* a steward's placement of the subject in a household */
        st = mdm_household_erase(db, ents, err);
    int version = 0;
    if (st == MDM_OK)
        st = mdm_golden_mark_erased(db, live, &version, err);
    if (st != MDM_OK)
        goto out_free;
    int64_t tomb = 0;
    if ((st = mdm_tombstone_insert(db, live, keys, hashes, c->requester, c->reason, &tomb, err)) !=
        MDM_OK)
        goto out_free;
    if ((st = mdm_golden_erase_event(db, live, c->requester, tomb, err)) != MDM_OK)
        goto out_free;
    /* every source system is told which of its records to delete */
    json_t *records = json_loads(keys, 0, NULL), *tell = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r)
    {
        json_array_append_new(tell, json_pack("{s:O,s:O}", "source", json_object_get(r, "source"),
                                              "source_key", json_object_get(r, "source_key")));
    }
    json_t *erased_ids = json_array();
    for (char *p = ents + 1; *p && *p != '}';) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        json_array_append_new(erased_ids, json_integer(v));
        p = *end == ',' ? end + 1 : end;
    }
    payload =
        json_pack("{s:I,s:s,s:I,s:O,s:o}", "entity_id", (json_int_t)live, "reason", "erasure",
                  "tombstone_id", (json_int_t)tomb, "erased_ids", erased_ids, "records", tell);
    st = mdm_outbox_emit(db, "deleted", live, version, payload, NULL, err);
    if (st == MDM_OK) {
        /* ids and counts only: the requester and the reason stay in the tombstone, which
         * can be corrected; the audit row never can */
        char target[48];
        snprintf(target, sizeof target, "entity:%lld", (long long)live);
        json_t *before = json_pack("{s:s,s:i}", "status", status, "version", version - 1);
        json_t *after = json_pack("{s:s,s:i,s:I,s:O,s:I}", "status", "erased", "version", version,
                                  "tombstone_id", (json_int_t)tomb, "erased_ids", erased_ids,
                                  "records", (json_int_t)json_array_size(tell));
        st = mdm_audit_append(db, c->who->name, c->who->role, "subject.erase", target, NULL, before,
                              after, err);
        json_decref(before);
        json_decref(after);
    }
    if (st == MDM_OK) {
        c->result = json_pack("{s:I,s:I,s:o,s:O,s:b,s:i}", "entity_id", (json_int_t)live,
                              "tombstone_id", (json_int_t)tomb, "records", records, "erased_ids",
                              erased_ids, "already_erased", 0, "version", version);
        records = NULL;
        mdm_log(MDM_LOG_INFO, "event=subject_erased entity=%lld tombstone=%lld records=%zu",
                (long long)live, (long long)tomb, json_array_size(tell));
    }
    json_decref(erased_ids);
    json_decref(records);
out_free:
    json_decref(payload);
    PQclear(res);
    free(ents);
    free(recs);
    free(hashes);
    free(keys);
    return st;
}

mdm_status mdm_subject_erase(mdm_db *db, int64_t subject_id, int version, const char *requester,
                             const char *reason, const mdm_audit_actor *who, json_t **result,
                             mdm_err *err)
{
    if (result)
        *result = NULL;
    if (!requester || !*requester)
        return mdm_err_set_field(err, MDM_EINVAL, "/requester",
                                 "an erasure needs a requester (who asked for it)");
    if (!who || !who->name || !*who->name || !who->role || !*who->role)
        return mdm_err_set_field(err, MDM_EINVAL, "/actor",
                                 "an erasure needs the acting user and role for the audit log");
    erase_ctx c = {subject_id, version, requester, reason && *reason ? reason : NULL, who, NULL};
    mdm_status st = mdm_db_run_tx(db, "subject_erase", erase_fn, &c, err);
    if (st != MDM_OK || !result)
        json_decref(c.result);
    else
        *result = c.result;
    return st;
}
