/* The delivery queue (mdm/publish_delivery.h): owner of delivery and publish_cursor.
 * Fan-out of outbox events into delivery rows, the claim and the recorded outcomes of a
 * worker's round, the administration of deliveries (list, replay) and their erasure.
 * The invariants are stated in publish_delivery.h; the comments here explain the how. */
#include "mdm/publish_delivery.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/locks.h"
#include "mdm/outbox.h"
#include "mdm/publish_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const delivery_states[] = {"pending", "acknowledged", "rejected", "dead",
                                              "skipped"};

/* ---------------------------------------------------------------------------------- */
/* Statements                                                                          */

static const mdm_db_stmt st_fan_trylock = {
    "publish_fan_trylock", "SELECT pg_try_advisory_lock(" MDM_LOCK_FANOUT ") AS ok", 0};
static const mdm_db_stmt st_fan_unlock = {"publish_fan_unlock",
                                          "SELECT pg_advisory_unlock(" MDM_LOCK_FANOUT ")", 0};
static const mdm_db_stmt st_cursor_get = {"publish_cursor_get",
                                          "SELECT last_seq FROM publish_cursor WHERE id = 1", 0};
static const mdm_db_stmt st_cursor_lock = {
    "publish_cursor_lock", "SELECT last_seq FROM publish_cursor WHERE id = 1 FOR UPDATE", 0};
/* Scope (issue 17 item 11, data minimization): scope 'source' sends an event only when
 * its entity has an active member record from the subscription's source, or, when it
 * has no active member left (retired, erased), had one. o = outbox, s = subscription. */
#define IN_SCOPE                                                                                   \
    "(s.scope = 'all' OR EXISTS (SELECT 1 FROM membership m JOIN source_record r "                 \
    "ON r.id = m.record_id WHERE m.entity_id = o.entity_id AND m.active AND r.source = s.source) " \
    "OR (NOT EXISTS (SELECT 1 FROM membership a WHERE a.entity_id = o.entity_id AND a.active) "    \
    "AND EXISTS (SELECT 1 FROM membership m JOIN source_record r ON r.id = m.record_id "           \
    "WHERE m.entity_id = o.entity_id AND r.source = s.source)))"
/* A household event (o.household_id set, o.entity_id NULL) is in scope 'source' when a
 * golden record its payload names (members, or those who left) has or had a record from
 * the subscription's source. */
#define HOUSEHOLD_IN_SCOPE                                                                         \
    "(s.scope = 'all' OR EXISTS (SELECT 1 FROM membership m JOIN source_record r "                 \
    "ON r.id = m.record_id WHERE r.source = s.source AND m.entity_id IN ("                         \
    "SELECT (x->>'entity_id')::bigint FROM jsonb_array_elements(o.payload->'members') x "          \
    "UNION ALL SELECT l::bigint FROM jsonb_array_elements_text(o.payload->'left') l)))"
#define EVENT_IN_SCOPE                                                                             \
    "((o.household_id IS NULL AND " IN_SCOPE                                                       \
    ") OR (o.household_id IS NOT NULL AND " HOUSEHOLD_IN_SCOPE "))"

static const mdm_db_stmt st_fan_insert = {
    "publish_fan_insert",
    "INSERT INTO delivery (subscription_id, seq, entity_id, household_id) "
    "SELECT s.id, o.seq, o.entity_id, o.household_id FROM outbox o "
    "JOIN subscription s ON s.active AND o.type = ANY (s.event_types) "
    "WHERE o.seq > $1 AND o.seq <= $2 AND " EVENT_IN_SCOPE " ORDER BY o.seq, s.id "
    "ON CONFLICT (subscription_id, seq) DO NOTHING",
    2};
static const mdm_db_stmt st_cursor_set = {
    "publish_cursor_set",
    "UPDATE publish_cursor SET last_seq = $1, updated_at = now() WHERE id = 1", 1};

/* Only the head of each (subscription, entity) and (subscription, household) chain is
 * claimable: per-entity and per-household order (a NULL id matches no other row). */
static const mdm_db_stmt st_claim = {
    "publish_claim",
    "SELECT d.id FROM delivery d JOIN subscription s ON s.id = d.subscription_id AND s.active "
    "WHERE d.state = 'pending' AND d.next_attempt_at <= now() "
    "AND NOT EXISTS (SELECT 1 FROM delivery p WHERE p.subscription_id = d.subscription_id "
    "AND p.entity_id = d.entity_id AND p.state = 'pending' AND p.seq < d.seq) "
    "AND NOT EXISTS (SELECT 1 FROM delivery p WHERE p.subscription_id = d.subscription_id "
    "AND p.household_id = d.household_id AND p.state = 'pending' AND p.seq < d.seq "
    "AND p.household_id IS NOT NULL) "
    "ORDER BY d.next_attempt_at, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED",
    1};

/* The receiving system's own keys for golden record X (active memberships, or the last
 * ones when it has none left): a JSON array, NULL when it holds none. */
#define OWN_KEYS(X)                                                                                \
    "coalesce((SELECT json_agg(DISTINCT r.source_key) FROM membership m "                          \
    "JOIN source_record r ON r.id = m.record_id "                                                  \
    "WHERE m.entity_id = " X " AND m.active AND r.source = s.source), "                            \
    "(SELECT json_agg(DISTINCT r.source_key) FROM membership m "                                   \
    "JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = " X " "                        \
    "AND r.source = s.source AND NOT EXISTS (SELECT 1 FROM membership a "                          \
    "WHERE a.entity_id = " X " AND a.active)))"

/* What a claimed delivery needs: the event, the subscription, the receiving system's
 * own keys for the entity (OWN_KEYS), or for a household event those of every golden
 * record its payload names ({"ID": [keys]}), and the attributes it owns or already
 * holds. */
/* clang-format off */
static const mdm_db_stmt st_details = {
    "publish_details",
    "SELECT d.id, d.seq, d.entity_id, d.household_id, d.attempts, s.id AS sub_id, s.source, "
    "s.url, s.secret, "
    "CASE WHEN s.previous_secret_until > now() THEN s.previous_secret END AS previous_secret, "
    "s.mapping::text AS mapping, s.max_attempts, o.event_id, o.type, o.entity_version, "
    "o.traceparent, d.replayed, "
    /* what the previous delivery of the golden record left with the receiver */
    "(SELECT CASE WHEN p.state IN ('acknowledged', 'skipped') THEN p.content_hash END "
    " FROM delivery p WHERE p.entity_id = d.entity_id AND p.subscription_id = d.subscription_id "
    " AND p.seq < d.seq ORDER BY p.seq DESC LIMIT 1) AS sent_hash, "
    "o.payload::text AS payload, "
    "mdm_ts(o.created_at) AS occurred_at, "
    "coalesce(" OWN_KEYS("d.entity_id") "::text, '[]') AS source_keys, "
    "CASE WHEN d.household_id IS NOT NULL THEN (SELECT coalesce(json_object_agg(x.id, "
    " coalesce(" OWN_KEYS("x.id") ", '[]'::json)), '{}'::json)::text FROM (SELECT DISTINCT id "
    " FROM (SELECT (v->>'entity_id')::bigint AS id "
    " FROM jsonb_array_elements(o.payload->'members') v "
    " UNION ALL SELECT j::bigint FROM jsonb_array_elements_text(o.payload->'joined') j "
    " UNION ALL SELECT l::bigint FROM jsonb_array_elements_text(o.payload->'left') l) u) x) "
    "END AS member_keys, "
    "(SELECT coalesce(json_agg(g.attr ORDER BY g.attr), '[]')::text FROM golden_value g "
    " WHERE g.entity_id = d.entity_id AND EXISTS (SELECT 1 FROM membership m "
    " JOIN source_record r ON r.id = m.record_id WHERE m.entity_id = d.entity_id AND m.active "
    " AND NOT r.deleted AND r.source = s.source "
    " AND (r.id = g.source_record_id OR r.normalized -> g.attr = g.value))) AS held "
    "FROM unnest($1::bigint[]) AS c(id) JOIN delivery d ON d.id = c.id "
    "JOIN subscription s ON s.id = d.subscription_id "
    "JOIN outbox o ON o.seq = d.seq ORDER BY d.id",
    1};
/* clang-format on */

/* All outcomes of one round in one statement: a JSON array of rows. */
static const mdm_db_stmt st_record = {
    "publish_record",
    "UPDATE delivery d SET state = u.state, attempts = u.attempts, "
    "next_attempt_at = clock_timestamp() + make_interval(secs => u.delay_ms / 1000), "
    "last_status = u.status, last_response = u.response, "
    "content_hash = coalesce(u.content_hash, d.content_hash), "
    "last_attempt_at = CASE WHEN u.attempted THEN now() ELSE d.last_attempt_at END, "
    "done_at = CASE WHEN u.state = 'pending' THEN NULL ELSE now() END, updated_at = now() "
    "FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, state text, attempts int, "
    "delay_ms double precision, status int, response text, attempted boolean, "
    "content_hash text) "
    "WHERE d.id = u.id",
    1};

static const mdm_db_stmt st_remaining = {
    "publish_remaining",
    "SELECT (SELECT count(*) FROM delivery d JOIN subscription s ON s.id = d.subscription_id "
    "AND s.active WHERE d.state = 'pending') AS pending, "
    "(SELECT coalesce(max(seq), 0) FROM outbox) - (SELECT last_seq FROM publish_cursor) "
    "AS unfanned",
    0};

/* ---------------------------------------------------------------------------------- */
/* Fan-out                                                                             */

typedef struct fan_ctx {
    long long upto;
    int created;
} fan_ctx;

static mdm_status fan_tx(mdm_db *db, void *arg, mdm_err *err)
{
    fan_ctx *c = arg;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_cursor_lock, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    long long cur = mdm_db_get_ll(res, 0, "last_seq", 0);
    PQclear(res);
    c->created = 0;
    if (c->upto <= cur)
        return MDM_OK;
    char a[MDM_DB_ID_LEN], b[MDM_DB_ID_LEN];
    const char *p[] = {mdm_db_id(a, cur), mdm_db_id(b, c->upto)};
    st = mdm_db_exec(db, &st_fan_insert, p, &res, err);
    if (st != MDM_OK)
        return st;
    c->created = atoi(PQcmdTuples(res));
    PQclear(res);
    const char *p1[] = {b};
    return mdm_db_exec(db, &st_cursor_set, p1, NULL, err);
}

mdm_status mdm_publish_fanout(mdm_db *db, int limit, int *created, mdm_err *err)
{
    *created = 0;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_fan_trylock, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    bool locked = strcmp(mdm_db_get(res, 0, "ok", "f"), "t") == 0;
    PQclear(res);
    if (!locked)
        return MDM_OK;
    st = mdm_db_exec(db, &st_cursor_get, NULL, &res, err);
    if (st != MDM_OK)
        goto out_unlock;
    long long cursor = mdm_db_get_ll(res, 0, "last_seq", 0);
    PQclear(res);
    json_t *events = NULL;
    int64_t next = cursor;
    /* the barrier read: every seq up to next is final */
    st = mdm_outbox_read(db, cursor, limit, &events, &next, err);
    json_decref(events);
    if (st != MDM_OK || next <= cursor)
        goto out_unlock;
    fan_ctx c = {next, 0};
    st = mdm_db_run_tx(db, "publish_fanout", fan_tx, &c, err);
    if (st == MDM_OK) {
        *created = c.created;
        mdm_log(MDM_LOG_DEBUG, "event=publish_fanout upto=%lld deliveries=%d", (long long)next,
                c.created);
    }
out_unlock:;
    /* A session lock that fails to be released while the connection lives (a transaction
     * left aborted, a cancelled statement) would stay held for the connection's life and
     * stop the fan-out of every process: clear the transaction state and release again. */
    mdm_err e2;
    if (mdm_db_exec(db, &st_fan_unlock, NULL, NULL, &e2) != MDM_OK) {
        mdm_log(MDM_LOG_WARN, "event=publish_fan_unlock_failed msg=\"%s\" retry=1", e2.msg);
        if (PQtransactionStatus(mdm_db_conn(db)) != PQTRANS_IDLE)
            PQclear(PQexec(mdm_db_conn(db), "ROLLBACK"));
        if (mdm_db_exec(db, &st_fan_unlock, NULL, NULL, &e2) != MDM_OK)
            mdm_log(MDM_LOG_ERROR, "event=publish_fan_unlock_failed msg=\"%s\" retry=2", e2.msg);
    }
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* The delivery queue: claim, record outcomes                                          */

mdm_status mdm_publish_claim(mdm_db *db, int batch, PGresult **out, mdm_err *err)
{
    *out = NULL;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", batch);
    const char *p1[] = {lim};
    PGresult *claim = NULL;
    mdm_status st = mdm_db_exec(db, &st_claim, p1, &claim, err);
    if (st != MDM_OK)
        return st;
    int n = PQntuples(claim);
    if (n == 0) {
        PQclear(claim);
        return MDM_OK;
    }
    int64_t *id = mdm_xcalloc((size_t)n, sizeof *id);
    for (int i = 0; i < n; i++)
        id[i] = mdm_db_get_ll(claim, i, "id", 0);
    PQclear(claim);
    mdm_buf ids = {0};
    mdm_db_id_array(&ids, id, (size_t)n);
    free(id);
    const char *p2[] = {ids.data};
    st = mdm_db_exec(db, &st_details, p2, out, err);
    mdm_buf_free(&ids);
    return st;
}

mdm_status mdm_publish_record(mdm_db *db, const json_t *rows, mdm_err *err)
{
    if (json_array_size(rows) == 0)
        return MDM_OK;
    char *text = json_dumps(rows, JSON_COMPACT);
    if (!text)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot serialize delivery outcomes");
    const char *params[] = {text};
    mdm_status st = mdm_db_exec(db, &st_record, params, NULL, err);
    free(text);
    return st;
}

mdm_status mdm_publish_all_done(mdm_db *db, bool *done, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_remaining, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *done = mdm_db_get_ll(res, 0, "pending", 1) == 0 && mdm_db_get_ll(res, 0, "unfanned", 1) <= 0;
    PQclear(res);
    return MDM_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Administration: list, replay                                                        */

/* clang-format off */
static const mdm_db_stmt st_list = {
    "publish_list",
    "SELECT id, subscription_id, seq, entity_id, household_id, state, attempts, "
    "mdm_ts(next_attempt_at) AS next_attempt_at, "
    "mdm_ts(last_attempt_at) AS last_attempt_at, "
    "last_status, last_response, "
    "mdm_ts(created_at) AS created_at, "
    "mdm_ts(done_at) AS done_at "
    "FROM delivery WHERE id > $1 AND ($2::text IS NULL OR state = $2) "
    "AND ($3::bigint = 0 OR subscription_id = $3) ORDER BY id LIMIT $4",
    4};
/* clang-format on */

static bool is_delivery_state(const char *s)
{
    for (size_t i = 0; i < sizeof delivery_states / sizeof delivery_states[0]; i++)
        if (strcmp(s, delivery_states[i]) == 0)
            return true;
    return false;
}

mdm_status mdm_publish_list(mdm_db *db, const char *state, int64_t subscription_id,
                            int64_t after_id, int limit, json_t **out, mdm_err *err)
{
    *out = NULL;
    if (state && !is_delivery_state(state))
        return mdm_err_set_field(err, MDM_EINVAL, "state",
                                 "unknown delivery state \"%s\"; use pending, acknowledged, "
                                 "rejected, dead or skipped",
                                 state);
    if (limit < 1 || limit > 1001)
        return mdm_err_set_field(err, MDM_EINVAL, "limit", "limit must be from 1 to 1001");
    char a[MDM_DB_ID_LEN], s[MDM_DB_ID_LEN], l[16];
    snprintf(l, sizeof l, "%d", limit);
    const char *params[] = {mdm_db_id(a, after_id), state, mdm_db_id(s, subscription_id), l};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_list, params, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *arr = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = json_object();
        mdm_publish_set_int(o, "id", res, r);
        mdm_publish_set_int(o, "subscription_id", res, r);
        mdm_publish_set_int(o, "seq", res, r);
        mdm_publish_set_int(o, "entity_id", res, r);
        mdm_publish_set_int(o, "household_id", res, r);
        mdm_publish_set_str(o, "state", res, r);
        mdm_publish_set_int(o, "attempts", res, r);
        mdm_publish_set_str(o, "next_attempt_at", res, r);
        mdm_publish_set_str(o, "last_attempt_at", res, r);
        mdm_publish_set_int(o, "last_status", res, r);
        mdm_publish_set_str(o, "last_response", res, r);
        mdm_publish_set_str(o, "created_at", res, r);
        mdm_publish_set_str(o, "done_at", res, r);
        json_array_append_new(arr, o);
    }
    PQclear(res);
    *out = arr;
    return MDM_OK;
}

static const mdm_db_stmt st_replay_dead = {
    "publish_replay_dead",
    "UPDATE delivery SET state = 'pending', attempts = 0, next_attempt_at = now(), "
    "done_at = NULL, replayed = true, updated_at = now() WHERE state IN ('dead', 'rejected') "
    "AND ($1::bigint = 0 OR subscription_id = $1)",
    1};
static const mdm_db_stmt st_sub_exists = {"publish_sub_exists",
                                          "SELECT id FROM subscription WHERE id = $1", 1};
/* Only up to the fan-out cursor: later events are fanned out in order by the workers. */
static const mdm_db_stmt st_replay_from = {
    "publish_replay_from",
    "INSERT INTO delivery (subscription_id, seq, entity_id, household_id, replayed) "
    "SELECT s.id, o.seq, o.entity_id, o.household_id, true FROM outbox o "
    "JOIN subscription s ON s.id = $1 "
    "AND o.type = ANY (s.event_types) WHERE o.seq >= $2 AND " EVENT_IN_SCOPE " "
    "AND o.seq <= (SELECT last_seq FROM publish_cursor) ORDER BY o.seq "
    "ON CONFLICT (subscription_id, seq) DO UPDATE SET state = 'pending', attempts = 0, "
    "next_attempt_at = now(), done_at = NULL, replayed = true, updated_at = now()",
    2};

typedef struct replay_ctx {
    int64_t sub, from;
    long count;
    const mdm_audit_actor *who;
} replay_ctx;

/* The audit row of a replay that requeued something (a replay of nothing writes no row). */
static mdm_status audit_replay(mdm_db *db, const replay_ctx *c, bool dead, mdm_err *err)
{
    if (c->count == 0)
        return MDM_OK;
    char target[48];
    if (c->sub)
        snprintf(target, sizeof target, "subscription:%lld", (long long)c->sub);
    else
        snprintf(target, sizeof target, "subscription:all");
    json_t *after =
        dead ? json_pack("{s:s,s:I}", "replay", "dead", "deliveries", (json_int_t)c->count)
             : json_pack("{s:s,s:I,s:I}", "replay", "from_seq", "from_seq", (json_int_t)c->from,
                         "deliveries", (json_int_t)c->count);
    mdm_status st = mdm_audit_append(db, c->who->name, c->who->role, "deliveries.replay", target,
                                     NULL, NULL, after, err);
    json_decref(after);
    return st;
}

static mdm_status replay_dead_tx(mdm_db *db, void *arg, mdm_err *err)
{
    replay_ctx *c = arg;
    char s[MDM_DB_ID_LEN];
    const char *params[] = {mdm_db_id(s, c->sub)};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_replay_dead, params, &res, err);
    if (st != MDM_OK)
        return st;
    c->count = atol(PQcmdTuples(res));
    PQclear(res);
    return audit_replay(db, c, true, err);
}

mdm_status mdm_publish_replay_dead(mdm_db *db, int64_t subscription_id, const mdm_audit_actor *who,
                                   long *count, mdm_err *err)
{
    if (count)
        *count = 0;
    mdm_status st0 = mdm_publish_check_who(who, err);
    if (st0 != MDM_OK)
        return st0;
    replay_ctx c = {subscription_id, 0, 0, who};
    mdm_status st = mdm_db_run_tx(db, "publish_replay_dead", replay_dead_tx, &c, err);
    if (count)
        *count = st == MDM_OK ? c.count : 0;
    if (st == MDM_OK)
        mdm_log(MDM_LOG_INFO, "event=publish_replay_dead subscription=%lld deliveries=%ld",
                (long long)subscription_id, c.count);
    return st;
}

static mdm_status replay_from_tx(mdm_db *db, void *arg, mdm_err *err)
{
    replay_ctx *c = arg;
    char s[MDM_DB_ID_LEN], f[MDM_DB_ID_LEN];
    mdm_db_id(s, c->sub);
    mdm_db_id(f, c->from);
    const char *p1[] = {s};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_sub_exists, p1, &res, err);
    if (st != MDM_OK)
        return st;
    int found = PQntuples(res);
    PQclear(res);
    if (!found)
        return mdm_err_set(err, MDM_ENOTFOUND, "no subscription %lld", (long long)c->sub);
    const char *p2[] = {s, f};
    st = mdm_db_exec(db, &st_replay_from, p2, &res, err);
    if (st != MDM_OK)
        return st;
    c->count = atol(PQcmdTuples(res));
    PQclear(res);
    return audit_replay(db, c, false, err);
}

mdm_status mdm_publish_replay_from(mdm_db *db, int64_t subscription_id, int64_t from_seq,
                                   const mdm_audit_actor *who, long *count, mdm_err *err)
{
    if (count)
        *count = 0;
    mdm_status st0 = mdm_publish_check_who(who, err);
    if (st0 != MDM_OK)
        return st0;
    if (subscription_id <= 0)
        return mdm_err_set_field(err, MDM_EINVAL, "subscription_id",
                                 "a subscription id is required to replay from a seq");
    if (from_seq < 0)
        return mdm_err_set_field(err, MDM_EINVAL, "from_seq", "from_seq must not be negative");
    replay_ctx c = {subscription_id, from_seq, 0, who};
    mdm_status st = mdm_db_run_tx(db, "publish_replay_from", replay_from_tx, &c, err);
    if (count)
        *count = st == MDM_OK ? c.count : 0;
    if (st == MDM_OK)
        mdm_log(MDM_LOG_INFO,
                "event=publish_replay_from subscription=%lld from_seq=%lld deliveries=%ld",
                (long long)subscription_id, (long long)from_seq, c.count);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Erasure (mdm/subject.c)                                                             */

static const mdm_db_stmt stmt_publish_erase = {
    "subject_erase_deliveries",
    "UPDATE delivery SET last_response = NULL WHERE entity_id = ANY($1::bigint[])", 1};

mdm_status mdm_publish_erase(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    return mdm_db_exec(db, &stmt_publish_erase, params, NULL, err);
}
