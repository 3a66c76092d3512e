/* Outbox writes and the change-feed read.
 *
 * Visibility: every writer takes a shared transaction-level advisory lock on
 * MDM_LOCK_OUTBOX before inserting (mdm_outbox_emit); the reader briefly takes the same lock
 * in exclusive mode (pg_advisory_xact_lock in its own short transaction) and, holding it,
 * notes the highest committed seq. Acquiring the lock waits for every writer transaction
 * that already holds a seq to commit or abort, so every seq up to that high-water mark is
 * final; the read is bounded by it (seqs handed out later may commit out of order).
 * Writers never wait on each other (shared mode), only on the instant of a barrier. */
#include "mdm/outbox.h"

#include "common/mem.h"
#include "mdm/locks.h"
#include "mdm/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mdm_db_stmt stmt_lock_shared = {
    "outbox_lock_shared", "SELECT pg_advisory_xact_lock_shared(" MDM_LOCK_OUTBOX ")", 0};
static const mdm_db_stmt stmt_emit = {
    "outbox_emit",
    "INSERT INTO outbox (type, entity_id, entity_version, payload, traceparent) "
    "VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING seq",
    5};
/* An event that carries the golden record also carries its data-quality scores, computed
 * by the definition the entity reply uses (sql/056_quality_scores.sql) from the state this
 * transaction has written so far: the caller runs it after the golden record's writes. */
static const mdm_db_stmt stmt_emit_quality = {
    "outbox_emit_quality",
    "INSERT INTO outbox (type, entity_id, entity_version, payload, traceparent) "
    "VALUES ($1, $2, $3, $4::jsonb || jsonb_build_object('quality', "
    "mdm_quality_entity($2::bigint)), $5) RETURNING seq",
    5};
/* each event with its golden record's data-quality scores, by the definition the entity
 * reply uses (mdm_quality_golden, sql/056_quality_scores.sql) over the members just
 * written: the members are new, and every one is in bulk_member */
static const mdm_db_stmt stmt_emit_staged = {
    "outbox_emit_staged",
    "INSERT INTO outbox (type, entity_id, entity_version, payload) "
    "SELECT 'created', e.id, 1, jsonb_build_object('id', e.id, 'version', 1, 'golden', "
    "e.golden::jsonb, 'quality', mdm_quality_golden(e.golden::jsonb, q.ns, q.ts)) "
    "FROM bulk_entity e LEFT JOIN (SELECT b.entity_id, "
    "array_agg(s.normalized ORDER BY s.id) AS ns, "
    "array_agg(COALESCE(s.source_updated_at, s.received_at) ORDER BY s.id) AS ts "
    "FROM bulk_member b JOIN source_record s ON s.id = b.record_id AND NOT s.deleted "
    "GROUP BY b.entity_id) q ON q.entity_id = e.id ORDER BY e.id",
    0};
static const mdm_db_stmt stmt_emit_household = {
    "outbox_emit_household",
    "INSERT INTO outbox (type, household_id, entity_version, payload, traceparent) "
    "VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING seq",
    5};
static const mdm_db_stmt stmt_read = {
    "outbox_read",
    "SELECT seq, event_id, type, entity_id, household_id, entity_version, "
    "payload::text AS payload, "
    "mdm_ts(created_at) AS created_at "
    "FROM outbox WHERE seq > $1 AND seq <= $3 ORDER BY seq LIMIT $2",
    3};
static const mdm_db_stmt stmt_high_water = {"outbox_high_water",
                                            "SELECT coalesce(max(seq), 0) AS seq FROM outbox", 0};

static bool valid_type(const char *type, bool household)
{
    static const char *const types[] = {"created", "updated",         "merged",
                                        "split",   "consent_changed", "deleted"};
    static const char *const htypes[] = {"household.created", "household.changed",
                                         "household.retired"};
    const char *const *t = household ? htypes : types;
    size_t n = household ? sizeof htypes / sizeof htypes[0] : sizeof types / sizeof types[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(type, t[i]) == 0)
            return true;
    return false;
}

/* The event types whose payload holds the golden record, and so its scores. */
static bool with_quality(const char *type)
{
    return !strcmp(type, "created") || !strcmp(type, "updated") || !strcmp(type, "merged") ||
           !strcmp(type, "split");
}

mdm_status mdm_outbox_lock_writer(mdm_db *db, mdm_err *err)
{
    return mdm_db_exec(db, &stmt_lock_shared, NULL, NULL, err);
}

mdm_status mdm_outbox_emit_staged(mdm_db *db, mdm_err *err)
{
    return mdm_db_exec(db, &stmt_emit_staged, NULL, NULL, err);
}

/* The span of the request that causes the event (mdm/trace.h), or NULL outside one
 * (loads and resolves from the command line): its deliveries continue that trace. */
static const char *current_traceparent(char buf[MDM_TRACEPARENT_LEN + 1])
{
    const mdm_trace *t = mdm_trace_current();
    if (!t)
        return NULL;
    mdm_trace_format(t, buf);
    return buf;
}

mdm_status mdm_outbox_emit_calls(mdm_outbox_call *o, const char *type, int64_t entity_id,
                                 int entity_version, const json_t *payload, mdm_db_call calls[2],
                                 mdm_err *err)
{
    memset(o, 0, sizeof *o);
    if (!valid_type(type, false))
        return mdm_err_set(err, MDM_EINTERNAL, "unknown outbox event type \"%s\"", type);
    mdm_db_id(o->id, entity_id);
    snprintf(o->ver, sizeof o->ver, "%d", entity_version);
    o->body = json_dumps(payload, JSON_COMPACT);
    if (!o->body)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot serialize outbox payload");
    o->params[0] = type;
    o->params[1] = o->id;
    o->params[2] = o->ver;
    o->params[3] = o->body;
    o->params[4] = current_traceparent(o->trace);
    /* the shared lock, then the insert that takes a seq: in this order */
    calls[0] = (mdm_db_call){.stmt = &stmt_lock_shared};
    calls[1] = (mdm_db_call){.stmt = with_quality(type) ? &stmt_emit_quality : &stmt_emit,
                             .params = o->params};
    return MDM_OK;
}

void mdm_outbox_call_free(mdm_outbox_call *o)
{
    free(o->body);
    o->body = NULL;
}

mdm_status mdm_outbox_emit(mdm_db *db, const char *type, int64_t entity_id, int entity_version,
                           const json_t *payload, int64_t *seq_out, mdm_err *err)
{
    mdm_outbox_call o;
    mdm_db_call calls[2];
    mdm_status st = mdm_outbox_emit_calls(&o, type, entity_id, entity_version, payload, calls, err);
    if (st == MDM_OK)
        st = mdm_db_exec_pipeline(db, calls, 2, err);
    mdm_outbox_call_free(&o);
    if (st != MDM_OK)
        return st;
    if (seq_out)
        *seq_out = mdm_db_get_ll(calls[1].res, 0, "seq", 0);
    PQclear(calls[0].res);
    PQclear(calls[1].res);
    return MDM_OK;
}

mdm_status mdm_outbox_emit_household(mdm_db *db, const char *type, int64_t household_id,
                                     int version, const json_t *payload, int64_t *seq_out,
                                     mdm_err *err)
{
    if (!valid_type(type, true))
        return mdm_err_set(err, MDM_EINTERNAL, "unknown household event type \"%s\"", type);
    char id[MDM_DB_ID_LEN], ver[16];
    mdm_db_id(id, household_id);
    snprintf(ver, sizeof ver, "%d", version);
    char *body = json_dumps(payload, JSON_COMPACT);
    if (!body)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot serialize outbox payload");
    char trace[MDM_TRACEPARENT_LEN + 1];
    const char *params[] = {type, id, ver, body, current_traceparent(trace)};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_lock_shared, NULL, NULL, err);
    if (st == MDM_OK)
        st = mdm_db_exec(db, &stmt_emit_household, params, &res, err);
    free(body);
    if (st != MDM_OK)
        return st;
    if (seq_out)
        *seq_out = mdm_db_get_ll(res, 0, "seq", 0);
    PQclear(res);
    return MDM_OK;
}

static mdm_status wait_for_writers(mdm_db *db, void *ctx, mdm_err *err)
{
    mdm_status st = mdm_db_command(db, "SELECT pg_advisory_xact_lock(" MDM_LOCK_OUTBOX ")", err);
    if (st != MDM_OK)
        return st;
    PGresult *res = NULL;
    st = mdm_db_exec(db, &stmt_high_water, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *(long long *)ctx = mdm_db_get_ll(res, 0, "seq", 0);
    PQclear(res);
    return MDM_OK;
}

mdm_status mdm_outbox_high_water(mdm_db *db, int64_t *seq, mdm_err *err)
{
    long long high_water = 0;
    mdm_status st = mdm_db_run_tx(db, "outbox_barrier", wait_for_writers, &high_water, err);
    *seq = st == MDM_OK ? (int64_t)high_water : 0;
    return st;
}

mdm_status mdm_outbox_read(mdm_db *db, int64_t after, int limit, json_t **events, int64_t *next,
                           mdm_err *err)
{
    *events = NULL;
    *next = after;
    long long high_water = 0;
    mdm_status st = mdm_db_run_tx(db, "outbox_barrier", wait_for_writers, &high_water, err);
    if (st != MDM_OK)
        return st;
    char a[MDM_DB_ID_LEN], l[16], hw[MDM_DB_ID_LEN];
    mdm_db_id(a, after);
    snprintf(l, sizeof l, "%d", limit);
    mdm_db_id(hw, high_water);
    const char *params[] = {a, l, hw};
    PGresult *res = NULL;
    st = mdm_db_exec(db, &stmt_read, params, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *arr = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *payload = json_loads(mdm_db_get(res, r, "payload", "null"), JSON_DECODE_ANY, NULL);
        long long seq = mdm_db_get_ll(res, r, "seq", 0);
        json_t *ev = json_pack(
            "{s:I, s:s, s:s, s:i, s:o, s:s}", "seq", (json_int_t)seq, "event_id",
            mdm_db_get(res, r, "event_id", ""), "type", mdm_db_get(res, r, "type", ""),
            "entity_version", (int)mdm_db_get_ll(res, r, "entity_version", 0), "payload",
            payload ? payload : json_null(), "created_at", mdm_db_get(res, r, "created_at", ""));
        /* an entity event names its entity, a household event its household */
        if (mdm_db_get(res, r, "household_id", NULL))
            json_object_set_new(ev, "household_id",
                                json_integer(mdm_db_get_ll(res, r, "household_id", 0)));
        else
            json_object_set_new(ev, "entity_id",
                                json_integer(mdm_db_get_ll(res, r, "entity_id", 0)));
        json_array_append_new(arr, ev);
        *next = seq;
    }
    PQclear(res);
    *events = arr;
    return MDM_OK;
}

static const mdm_db_stmt stmt_head = {"outbox_head",
                                      "SELECT coalesce(max(seq), 0) AS seq FROM outbox", 0};

mdm_status mdm_outbox_head(mdm_db *db, int64_t *seq, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_head, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *seq = mdm_db_get_ll(res, 0, "seq", 0);
    PQclear(res);
    return MDM_OK;
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_outbox_erase = {
    "subject_erase_outbox",
    "UPDATE outbox SET payload = '{\"erased\": true}' WHERE entity_id = ANY($1::bigint[])", 1};

mdm_status mdm_outbox_erase(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    return mdm_db_exec(db, &stmt_outbox_erase, params, NULL, err);
}
