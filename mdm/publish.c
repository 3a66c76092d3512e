/* Push delivery: configuration, fan-out, delivery workers (libcurl, HMAC-SHA256 via
 * libcrypto), backoff, dead letters, replay, subscription management and metrics.
 * The invariants are stated in publish.h; the comments here explain the how. */
#include "mdm/publish.h"

#include "common/log.h"
#include "mdm/audit.h"
#include "mdm/egress.h"
#include "mdm/locks.h"
#include "mdm/outbox.h"
#include "mdm/trace.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_KEEP                                                                              \
    200                          /* bytes of the receiver's answer kept in last_response: an       \
                                  * excerpt, since the receiver may be anything */
#define FANOUT_MIN_INTERVAL 50   /* ms between two fan-outs by one process */
#define FANOUT_LIMIT        1000 /* outbox events read per fan-out */

static const char *const event_types[] = {
    "created",
    "updated",
    "merged",
    "split",
    "consent_changed",
    "deleted",
    "household.created",
    "household.changed",
    "household.retired", /* opt-in (048) */
};
static const char *const delivery_states[] = {"pending", "acknowledged", "rejected", "dead",
                                              "skipped"};

/* Process-wide counters for metrics. */
static atomic_long n_attempts, n_failures, n_acknowledged, n_rejected, n_dead, n_skipped;

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
/* Configuration                                                                       */

static bool is_event_type(const char *t)
{
    for (size_t i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
        if (strcmp(t, event_types[i]) == 0)
            return true;
    return false;
}

typedef struct int_key {
    const char *name;
    size_t offset;
    int min, max, def;
} int_key;

static const int_key publish_int_keys[] = {
    {"workers", offsetof(mdm_publish_opts, workers), 1, 64, 2},
    {"batch", offsetof(mdm_publish_opts, batch), 1, 1000, 32},
    {"poll_ms", offsetof(mdm_publish_opts, poll_ms), 10, 60000, 200},
    {"timeout_ms", offsetof(mdm_publish_opts, timeout_ms), 50, 600000, 10000},
    {"connect_timeout_ms", offsetof(mdm_publish_opts, connect_timeout_ms), 50, 600000, 3000},
    {"backoff_base_ms", offsetof(mdm_publish_opts, backoff_base_ms), 1, 3600000, 1000},
    {"backoff_max_ms", offsetof(mdm_publish_opts, backoff_max_ms), 1, 86400000, 3600000},
    {"max_attempts", offsetof(mdm_publish_opts, max_attempts), 1, 100, 8},
};
#define N_INT_KEYS (sizeof publish_int_keys / sizeof publish_int_keys[0])

mdm_status mdm_publish_opts_load(const mdm_config *cfg, mdm_publish_opts *o, mdm_err *err)
{
    memset(o, 0, sizeof *o);
    o->enabled = true;
    for (size_t i = 0; i < N_INT_KEYS; i++)
        *(int *)((char *)o + publish_int_keys[i].offset) = publish_int_keys[i].def;
    json_t *sec = mdm_config_section(cfg, "publish");
    if (!sec)
        return MDM_OK;
    const char *where = cfg->path[0] ? cfg->path : "configuration";
    const char *key;
    json_t *v;
    json_object_foreach(sec, key, v)
    {
        char ptr[160];
        snprintf(ptr, sizeof ptr, "/publish/%s", key);
        if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v))
                return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                         "%s: publish.enabled must be "
                                         "true or false",
                                         where);
            o->enabled = json_is_true(v);
            continue;
        }
        if (strcmp(key, "allowed_networks") == 0) {
            mdm_status st = mdm_egress_load(v, ptr, &o->egress, err);
            if (st != MDM_OK)
                return st;
            continue;
        }
        const int_key *k = NULL;
        for (size_t i = 0; i < N_INT_KEYS; i++)
            if (strcmp(publish_int_keys[i].name, key) == 0)
                k = &publish_int_keys[i];
        if (!k)
            return mdm_err_set_field(err, MDM_EINVAL, ptr, "%s: unknown key \"publish.%s\"", where,
                                     key);
        if (!json_is_integer(v) || json_integer_value(v) < k->min || json_integer_value(v) > k->max)
            return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                     "%s: publish.%s must be an integer from %d to %d", where, key,
                                     k->min, k->max);
        *(int *)((char *)o + k->offset) = (int)json_integer_value(v);
    }
    if (o->backoff_max_ms < o->backoff_base_ms)
        return mdm_err_set_field(err, MDM_EINVAL, "/publish/backoff_max_ms",
                                 "%s: publish.backoff_max_ms must not be below "
                                 "publish.backoff_base_ms",
                                 where);
    return MDM_OK;
}

static bool valid_source_code(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Checks one mapping object; ptr is the JSON pointer of the mapping itself. */
static mdm_status check_mapping(const json_t *m, const char *ptr, const char *where, mdm_err *err)
{
    char p[256];
    if (!json_is_object(m)) {
        return mdm_err_set_field(
            err, MDM_EINVAL, ptr,
            "%s: mapping must be an object {\"TheirField\": \"canonical.path\"}", where);
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)m, key, v)
    {
        snprintf(p, sizeof p, "%.100s/%.120s", ptr, key);
        const char *s = json_string_value(v);
        if (!*key || key[0] == '.' || key[strlen(key) - 1] == '.')
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: mapping target \"%s\" is not a "
                                     "field name",
                                     where, key);
        if (!s || !*s)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: mapping of \"%s\" must be a non-empty string path", where,
                                     key);
        if (s[0] == '$' && strcmp(s, "$source_key") != 0 && strcmp(s, "$source_keys") != 0 &&
            strcmp(s, "$entity_id") != 0)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: mapping source \"%s\" is not $source_key, "
                                     "$source_keys or $entity_id",
                                     where, s);
    }
    return MDM_OK;
}

static mdm_status check_event_types(const json_t *a, const char *ptr, const char *where,
                                    mdm_err *err)
{
    if (!json_is_array(a) || json_array_size(a) == 0)
        return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                 "%s: event_types must be a non-empty array of event types", where);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || !is_event_type(json_string_value(v))) {
            char p[256];
            snprintf(p, sizeof p, "%.100s/%zu", ptr, i);
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: unknown event type; use created, updated, merged, "
                                     "split, consent_changed, deleted, household.created, "
                                     "household.changed or household.retired",
                                     where);
        }
    }
    return MDM_OK;
}

/* Validates a subscription object. from_config allows secret_env and requires secret
 * (or secret_env); create requires source, url, secret; an update requires nothing. */
static mdm_status check_subscription(const json_t *o, const char *ptr, const char *where,
                                     bool from_config, bool create, mdm_err *err)
{
    static const char *const keys[] = {
        "source",  "url",    "secret",       "secret_env", "event_types",
        "mapping", "active", "max_attempts", "scope",      "max_delay_seconds"};
    char p[256];
    if (!json_is_object(o))
        return mdm_err_set_field(err, MDM_EINVAL, ptr, "%s: a subscription must be an object",
                                 where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (strcmp(key, keys[i]) == 0)
                known = true;
        if (!from_config && strcmp(key, "secret_env") == 0)
            known = false;
        snprintf(p, sizeof p, "%.100s/%.120s", ptr, key);
        if (!known)
            return mdm_err_set_field(err, MDM_EINVAL, p, "%s: unknown subscription field \"%s\"",
                                     where, key);
    }
    const json_t *source = json_object_get(o, "source");
    snprintf(p, sizeof p, "%.100s/source", ptr);
    if (source && (!json_is_string(source) || !valid_source_code(json_string_value(source))))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: source must be a source system code such as \"crm\"", where);
    if (create && !source)
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: source is required", where);
    const json_t *url = json_object_get(o, "url");
    snprintf(p, sizeof p, "%.100s/url", ptr);
    char why[160];
    if (url && !json_is_string(url))
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: url must be an http:// or https:// URL",
                                 where);
    if (url && !mdm_egress_url_ok(json_string_value(url), why, sizeof why))
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: %s", where, why);
    if (create && !url)
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: url is required", where);
    const json_t *secret = json_object_get(o, "secret");
    const json_t *secret_env = json_object_get(o, "secret_env");
    snprintf(p, sizeof p, "%.100s/secret", ptr);
    if (secret && secret_env)
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: give secret or secret_env, not both",
                                 where);
    if (secret_env) {
        snprintf(p, sizeof p, "%.100s/secret_env", ptr);
        const char *name = json_string_value(secret_env);
        const char *val = name ? getenv(name) : NULL;
        if (!name)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: secret_env must be the name of "
                                     "an environment variable",
                                     where);
        if (!val || strlen(val) < 16)
            return mdm_err_set_field(err, MDM_EINVAL, p,
                                     "%s: environment variable %s must hold a secret of at "
                                     "least 16 characters",
                                     where, name);
    } else if (secret) {
        if (!json_is_string(secret) || strlen(json_string_value(secret)) < 16)
            return mdm_err_set_field(
                err, MDM_EINVAL, p, "%s: secret must be a string of at least 16 characters", where);
    } else if (create) {
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: secret is required%s", where,
                                 from_config ? " (or secret_env)" : "");
    }
    const json_t *types = json_object_get(o, "event_types");
    snprintf(p, sizeof p, "%.100s/event_types", ptr);
    if (types && check_event_types(types, p, where, err) != MDM_OK)
        return MDM_EINVAL;
    const json_t *mapping = json_object_get(o, "mapping");
    snprintf(p, sizeof p, "%.100s/mapping", ptr);
    if (mapping && check_mapping(mapping, p, where, err) != MDM_OK)
        return MDM_EINVAL;
    const json_t *active = json_object_get(o, "active");
    snprintf(p, sizeof p, "%.100s/active", ptr);
    if (active && !json_is_boolean(active))
        return mdm_err_set_field(err, MDM_EINVAL, p, "%s: active must be true or false", where);
    const json_t *ma = json_object_get(o, "max_attempts");
    snprintf(p, sizeof p, "%.100s/max_attempts", ptr);
    if (ma && (!json_is_integer(ma) || json_integer_value(ma) < 1 || json_integer_value(ma) > 100))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: max_attempts must be an integer from 1 to 100", where);
    const json_t *md = json_object_get(o, "max_delay_seconds");
    snprintf(p, sizeof p, "%.100s/max_delay_seconds", ptr);
    if (md && !json_is_null(md) &&
        (!json_is_integer(md) || json_integer_value(md) < 1 || json_integer_value(md) > 2592000))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: max_delay_seconds must be an integer from 1 to 2592000 "
                                 "(30 days), or null for no limit",
                                 where);
    const json_t *scope = json_object_get(o, "scope");
    snprintf(p, sizeof p, "%.100s/scope", ptr);
    if (scope && (!json_is_string(scope) || (strcmp(json_string_value(scope), "source") != 0 &&
                                             strcmp(json_string_value(scope), "all") != 0)))
        return mdm_err_set_field(err, MDM_EINVAL, p,
                                 "%s: scope must be \"source\" (customers with a record from the "
                                 "subscription's source) or \"all\"",
                                 where);
    return MDM_OK;
}

mdm_status mdm_publish_validate_config(const mdm_config *cfg, mdm_err *err)
{
    mdm_publish_opts o;
    mdm_status st = mdm_publish_opts_load(cfg, &o, err);
    if (st != MDM_OK)
        return st;
    json_t *subs = mdm_config_section(cfg, "subscriptions");
    if (!subs)
        return MDM_OK;
    const char *where = cfg->path[0] ? cfg->path : "configuration";
    size_t i;
    json_t *s;
    json_array_foreach(subs, i, s)
    {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/subscriptions/%zu", i);
        st = check_subscription(s, ptr, where, true, true, err);
        if (st != MDM_OK)
            return st;
        for (size_t j = 0; j < i; j++) {
            json_t *t = json_array_get(subs, j);
            if (json_equal(json_object_get(t, "source"), json_object_get(s, "source")) &&
                json_equal(json_object_get(t, "url"), json_object_get(s, "url")))
                return mdm_err_set_field(err, MDM_EINVAL, ptr,
                                         "%s: subscriptions %zu and %zu have the same source "
                                         "and url",
                                         where, j, i);
        }
    }
    return MDM_OK;
}

void mdm_publish_mask_secrets(json_t *config_json)
{
    size_t i;
    json_t *sub;
    json_array_foreach(json_object_get(config_json, "subscriptions"), i, sub)
    {
        if (json_is_object(sub) && json_object_get(sub, "secret"))
            json_object_set_new(sub, "secret", json_string("***"));
    }
}

static const mdm_db_stmt st_sync_upsert = {
    "publish_sync_upsert",
    "INSERT INTO subscription (source, url, secret, event_types, mapping, active, max_attempts, "
    "scope, max_delay_seconds, origin) VALUES ($1, $2, $3, "
    "ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::jsonb, $6::boolean, $7::int, $8, "
    "$9::int, 'config') "
    "ON CONFLICT (source, url) DO UPDATE SET secret = EXCLUDED.secret, "
    "event_types = EXCLUDED.event_types, mapping = EXCLUDED.mapping, active = EXCLUDED.active, "
    "max_attempts = EXCLUDED.max_attempts, scope = EXCLUDED.scope, "
    "max_delay_seconds = EXCLUDED.max_delay_seconds, origin = 'config', updated_at = now() "
    "WHERE (subscription.secret, subscription.event_types, subscription.mapping, "
    "subscription.active, subscription.max_attempts, subscription.scope, "
    "subscription.max_delay_seconds, subscription.origin) "
    "IS DISTINCT FROM (EXCLUDED.secret, EXCLUDED.event_types, EXCLUDED.mapping, "
    "EXCLUDED.active, EXCLUDED.max_attempts, EXCLUDED.scope, EXCLUDED.max_delay_seconds, "
    "'config') "
    "RETURNING id, (xmax = 0) AS created",
    9};
static const mdm_db_stmt st_sync_retire = {
    "publish_sync_retire",
    "UPDATE subscription SET active = false, updated_at = now() WHERE origin = 'config' AND "
    "active AND (source, url) NOT IN (SELECT x.source, x.url FROM "
    "jsonb_to_recordset($1::jsonb) AS x(source text, url text)) RETURNING id",
    1};

/* One audit row for a subscription the configuration created, changed or retired
 * (actor "config"): the subscription as mdm_publish_sub_get shows it (no secret). */
static mdm_status audit_config_sub(mdm_db *db, int64_t id, const char *action, mdm_err *err)
{
    json_t *after = NULL;
    mdm_status st = mdm_publish_sub_get(db, id, &after, err);
    if (st != MDM_OK)
        return st;
    char target[48];
    snprintf(target, sizeof target, "subscription:%lld", (long long)id);
    st = mdm_audit_append(db, "config", "system", action, target, "configuration applied", NULL,
                          after, err);
    json_decref(after);
    return st;
}

typedef struct sync_ctx {
    const mdm_config *cfg;
    int max_attempts;
    int count;
} sync_ctx;

static mdm_status sync_tx(mdm_db *db, void *arg, mdm_err *err)
{
    sync_ctx *c = arg;
    json_t *subs = mdm_config_section(c->cfg, "subscriptions");
    json_t *keys = json_array();
    mdm_status st = MDM_OK;
    size_t i;
    json_t *s;
    c->count = 0;
    json_array_foreach(subs, i, s)
    {
        const char *secret = json_string_value(json_object_get(s, "secret"));
        if (!secret)
            secret = getenv(json_string_value(json_object_get(s, "secret_env")));
        json_t *types = json_object_get(s, "event_types");
        char *types_s = types ? json_dumps(types, JSON_COMPACT) : NULL;
        json_t *mapping = json_object_get(s, "mapping");
        char *mapping_s = mapping ? json_dumps(mapping, JSON_COMPACT) : NULL;
        json_t *ma = json_object_get(s, "max_attempts");
        char ma_s[16];
        snprintf(ma_s, sizeof ma_s, "%d", ma ? (int)json_integer_value(ma) : c->max_attempts);
        json_t *active = json_object_get(s, "active");
        json_t *md = json_object_get(s, "max_delay_seconds");
        char md_s[16] = "";
        if (json_is_integer(md))
            snprintf(md_s, sizeof md_s, "%d", (int)json_integer_value(md));
        const char *params[] = {
            json_string_value(json_object_get(s, "source")),
            json_string_value(json_object_get(s, "url")),
            secret,
            types_s ? types_s
                    : "[\"created\",\"updated\",\"merged\",\"split\",\"consent_changed\","
                      "\"deleted\"]",
            mapping_s ? mapping_s : "{}",
            active && json_is_false(active) ? "false" : "true",
            ma_s,
            json_object_get(s, "scope") ? json_string_value(json_object_get(s, "scope")) : "source",
            md_s[0] ? md_s : NULL};
        PGresult *res = NULL;
        st = mdm_db_exec(db, &st_sync_upsert, params, &res, err);
        free(types_s);
        free(mapping_s);
        if (st == MDM_OK && PQntuples(res) == 1)
            st = audit_config_sub(db, mdm_db_get_ll(res, 0, "id", 0),
                                  strcmp(mdm_db_get(res, 0, "created", "f"), "t")
                                      ? "subscription.update"
                                      : "subscription.create",
                                  err);
        PQclear(res);
        if (st != MDM_OK) {
            if (st == MDM_ECONFLICT)
                mdm_err_set_field(err, MDM_ECONFLICT, "/subscriptions",
                                  "subscription %zu names source \"%s\", which is not a known "
                                  "source system",
                                  i, params[0]);
            goto out_free;
        }
        json_array_append_new(keys, json_pack("{s:O,s:O}", "source", json_object_get(s, "source"),
                                              "url", json_object_get(s, "url")));
        c->count++;
    }
    char *keys_s = json_dumps(keys, JSON_COMPACT);
    const char *p2[] = {keys_s};
    PGresult *gone = NULL;
    st = mdm_db_exec(db, &st_sync_retire, p2, &gone, err);
    free(keys_s);
    for (int r = 0; st == MDM_OK && r < PQntuples(gone); r++)
        st = audit_config_sub(db, mdm_db_get_ll(gone, r, "id", 0), "subscription.delete", err);
    PQclear(gone);
out_free:
    json_decref(keys);
    return st;
}

mdm_status mdm_publish_sync_config(mdm_db *db, const mdm_config *cfg, int *count, mdm_err *err)
{
    mdm_status st = mdm_publish_validate_config(cfg, err);
    if (st != MDM_OK)
        return st;
    mdm_publish_opts o;
    st = mdm_publish_opts_load(cfg, &o, err);
    if (st != MDM_OK)
        return st;
    sync_ctx c = {cfg, o.max_attempts, 0};
    st = mdm_db_run_tx(db, "publish_sync", sync_tx, &c, err);
    if (st == MDM_OK && count)
        *count = c.count;
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Helpers: signature, backoff, mapping                                               */

/* HMAC-SHA256(key, the n parts one after the other) into md; false on a library error. */
static bool hmac_sha256(const unsigned char *key, size_t keylen, const char *const *parts,
                        const size_t *lens, int n, unsigned char md[32])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    bool ok = ctx && EVP_MAC_init(ctx, key, keylen, params);
    for (int i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i], lens[i]);
    ok = ok && EVP_MAC_final(ctx, md, &outl, 32) && outl == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        memset(md, 0, 32);
    return ok;
}

void mdm_publish_sign(const char *secret, long long timestamp, const char *body, size_t len,
                      char out[68])
{
    char ts[24];
    int tslen = snprintf(ts, sizeof ts, "%lld.", timestamp);
    unsigned char md[32];
    const char *parts[] = {ts, body};
    const size_t lens[] = {(size_t)tslen, len};
    hmac_sha256((const unsigned char *)secret, strlen(secret), parts, lens, 2, md);
    memcpy(out, "v1=", 3);
    for (unsigned int i = 0; i < 32; i++)
        snprintf(out + 3 + (size_t)2 * i, 3, "%02x", md[i]);
    out[67] = '\0';
}

void mdm_publish_sign_standard(const char *secret, const char *msg_id, long long timestamp,
                               const char *body, size_t len, char out[48])
{
    /* the key: the bytes a "whsec_" secret's base64 tail encodes, else the secret's own */
    unsigned char key[256];
    size_t keylen = 0;
    const char *b64 = strncmp(secret, "whsec_", 6) == 0 ? secret + 6 : NULL;
    size_t b64len = b64 ? strlen(b64) : 0;
    if (b64 && b64len > 0 && b64len % 4 == 0 && b64len / 4 * 3 <= sizeof key) {
        int n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)b64len);
        if (n > 0) /* EVP_DecodeBlock counts the bytes of the padding too */
            keylen = (size_t)n - (b64[b64len - 1] == '=') - (b64[b64len - 2] == '=');
    }
    const unsigned char *k = keylen ? key : (const unsigned char *)secret;
    if (!keylen)
        keylen = strlen(secret);
    char ts[24];
    int tslen = snprintf(ts, sizeof ts, ".%lld.", timestamp);
    unsigned char md[32];
    const char *parts[] = {msg_id, ts, body};
    const size_t lens[] = {strlen(msg_id), (size_t)tslen, len};
    hmac_sha256(k, keylen, parts, lens, 3, md);
    snprintf(out, 4, "v1,");
    EVP_EncodeBlock((unsigned char *)out + 3, md, 32); /* 44 characters and a NUL */
    OPENSSL_cleanse(key, sizeof key);
}

long mdm_publish_backoff_ms(const mdm_publish_opts *o, int attempts, double r)
{
    double d = o->backoff_base_ms;
    for (int i = 1; i < attempts && d < o->backoff_max_ms; i++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    if (r < 0)
        r = 0;
    if (r >= 1)
        r = 0.999999;
    return (long)(d / 2 + r * (d / 2));
}

/* Borrowed value at a dotted path ("addresses.0.postal_code"), or NULL. */
static json_t *path_get(const json_t *root, const char *path)
{
    const json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        size_t n = strcspn(p, ".");
        char seg[128];
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end = NULL;
            long idx = strtol(seg, &end, 10);
            cur = (*seg && !*end && idx >= 0) ? json_array_get(cur, (size_t)idx) : NULL;
        } else {
            return NULL;
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return (json_t *)cur;
}

/* Sets value at a dotted target ("Address.Zip"), creating objects on the way. */
static void path_set(json_t *root, const char *target, json_t *value)
{
    json_t *cur = root;
    const char *p = target;
    for (;;) {
        size_t n = strcspn(p, ".");
        char *seg = mdm_xstrndup(p, n);
        if (p[n] == '\0') {
            json_object_set(cur, seg, value);
            free(seg);
            return;
        }
        json_t *next = json_object_get(cur, seg);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(cur, seg, next);
        }
        free(seg);
        cur = next;
        p += n + 1;
    }
}

json_t *mdm_publish_map(const json_t *mapping, const json_t *record, const json_t *source_keys,
                        int64_t entity_id)
{
    if (!json_is_object(mapping) || json_object_size(mapping) == 0)
        return json_is_object(record) ? json_deep_copy(record) : json_object();
    json_t *out = json_object();
    const char *target;
    json_t *v;
    json_object_foreach((json_t *)mapping, target, v)
    {
        const char *src = json_string_value(v);
        if (!src)
            continue;
        if (strcmp(src, "$source_key") == 0) {
            json_t *k = json_array_get(source_keys, 0);
            if (k)
                path_set(out, target, k);
        } else if (strcmp(src, "$source_keys") == 0) {
            json_t *keys = source_keys ? json_deep_copy(source_keys) : json_array();
            path_set(out, target, keys);
            json_decref(keys);
        } else if (strcmp(src, "$entity_id") == 0) {
            json_t *id = json_integer((json_int_t)entity_id);
            path_set(out, target, id);
            json_decref(id);
        } else {
            json_t *val = path_get(record, src);
            if (val && !json_is_null(val)) {
                json_t *copy = json_deep_copy(val);
                path_set(out, target, copy);
                json_decref(copy);
            }
        }
    }
    return out;
}

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
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", cur);
    snprintf(b, sizeof b, "%lld", c->upto);
    const char *p[] = {a, b};
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
/* Delivery worker                                                                     */

struct mdm_publisher {
    mdm_db *db;
    CURL *curl;
    mdm_publish_opts o;
    uint64_t rng;
    mdm_buf response;
    long retry_after_ms;
    long long last_fanout_ms;
    const atomic_bool *stop; /* set: leave the rest of a round pending (mdm serve shutdown) */
    char refused[192];       /* why the socket callback refused an address, "" = none */
};

/* CURLOPT_OPENSOCKETFUNCTION: every address libcurl connects to (the pinned one, or a
 * proxy's) is checked against the egress policy again. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    mdm_publisher *p = clientp;
    if (!mdm_egress_allowed(&p->o.egress, &a->addr, p->refused, sizeof p->refused))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double rng_next(mdm_publisher *p)
{
    /* xorshift64*: jitter only, no need for cryptographic quality */
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return (double)((p->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    mdm_publisher *p = arg;
    size_t len = size * n;
    if (p->response.len < RESPONSE_KEEP) {
        size_t keep = RESPONSE_KEEP - p->response.len;
        mdm_buf_append(&p->response, data, len < keep ? len : keep);
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    mdm_publisher *p = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char *end = NULL;
        long secs = strtol(data + 12, &end, 10);
        if (end != data + 12 && secs > 0 && secs < 86400)
            p->retry_after_ms = secs * 1000;
    }
    return len;
}

mdm_publisher *mdm_publisher_new(const char *url, const mdm_publish_opts *o, mdm_err *err)
{
    mdm_db *db = mdm_db_connect(url, err);
    if (!db)
        return NULL;
    CURL *curl = curl_easy_init();
    if (!curl) {
        mdm_db_close(db);
        mdm_err_set(err, MDM_EINTERNAL, "cannot create a curl handle");
        return NULL;
    }
    mdm_publisher *p = mdm_xcalloc(1, sizeof *p);
    p->db = db;
    p->curl = curl;
    p->o = *o;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    p->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)p ^ 1;
    p->last_fanout_ms = -FANOUT_MIN_INTERVAL;
    return p;
}

void mdm_publisher_free(mdm_publisher *p)
{
    if (!p)
        return;
    curl_easy_cleanup(p->curl);
    mdm_db_close(p->db);
    mdm_buf_free(&p->response);
    free(p);
}

typedef struct outcome {
    const char *state;     /* acknowledged, rejected, skipped, pending (retry), dead */
    long status;           /* HTTP status, 0 = none */
    char *response;        /* owned */
    long delay_ms;         /* next attempt, for pending */
    bool attempted;        /* counts as an attempt */
    bool unreachable;      /* transport failure: defer the subscription's other rows */
    char trace_id[33];     /* the trace the attempt belongs to (its traceparent header) */
    char content_hash[65]; /* of what the receiver was sent or already has; "" = none */
} outcome;

/* The canonical record in an outbox payload: payload.golden, payload.record or the
 * payload itself. */
/* body (a JSON object's text, consumed) with "quality": scores appended. The scores are
 * three-decimal numbers: printed with 15 significant digits they read as PostgreSQL wrote
 * them (0.833, not jansson's default 0.83299999999999996), without touching how the rest of
 * the message prints its numbers. */
static char *with_scores(char *body, const json_t *scores)
{
    char *q = json_dumps(scores, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    size_t n = strlen(body);
    if (!q || n < 2 || body[n - 1] != '}') {
        free(q);
        return body;
    }
    mdm_buf b = {0};
    mdm_buf_printf(&b, "%.*s%s\"quality\":%s}", (int)(n - 1), body, n > 2 ? "," : "", q);
    free(q);
    free(body);
    return mdm_buf_steal(&b);
}

static const json_t *payload_record(const json_t *payload)
{
    const json_t *g = json_object_get(payload, "golden");
    if (json_is_object(g))
        return g;
    g = json_object_get(payload, "record");
    if (json_is_object(g))
        return g;
    return payload;
}

/* Builds the message body of one claimed row; NULL when there is nothing to send
 * (an update whose every attribute the receiver owns or holds). */
/* SHA-256 (hex) of what a subscriber learns about the golden record: the record as its
 * mapping sends it and its own keys. Not the envelope's ids, seq or times, and not the
 * withheld names: an attribute its mapping sends that it comes to hold leaves the mapped
 * record, and one it does not map does not concern it. */
static void content_hash(const json_t *mapped, const json_t *keys, char out[65])
{
    json_t *c = json_pack("{s:O, s:O}", "record", mapped, "source_keys", keys);
    char *text = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = '\0';
    if (text && EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) && n == 32)
        for (int i = 0; i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(text);
}

/* The golden ids of a household payload's list (members: objects with entity_id; joined
 * and left: numbers) with the receiving system's keys of each from keys ({"ID": [..]}). */
static json_t *household_list(const json_t *list, const json_t *keys, bool with_role)
{
    json_t *out = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const json_t *id = json_is_object(v) ? json_object_get(v, "entity_id") : v;
        if (!json_is_integer(id))
            continue;
        char k[24];
        snprintf(k, sizeof k, "%lld", (long long)json_integer_value(id));
        const json_t *own = json_object_get(keys, k);
        json_t *item =
            json_pack("{s:I, s:o}", "entity_id", (json_int_t)json_integer_value(id), "source_keys",
                      json_is_array(own) ? json_incref((json_t *)own) : json_array());
        if (!item)
            continue;
        const json_t *role = json_object_get(v, "role");
        if (with_role && json_is_string(role))
            json_object_set(item, "role", (json_t *)role);
        json_array_append_new(out, item);
    }
    return out;
}

/* The message of a household event: the household, its version, and every member (with
 * its role), every golden record that joined and every one that left, each with the
 * receiving system's own keys for it (empty when that system holds none). Ids, roles
 * and keys only: household payloads carry no personal data. */
static char *build_household_body(const PGresult *res, int r, mdm_err *err)
{
    json_t *payload = json_loads(mdm_db_get(res, r, "payload", "{}"), 0, NULL);
    json_t *keys = json_loads(mdm_db_get(res, r, "member_keys", "{}"), 0, NULL);
    char *body = NULL;
    if (!json_is_object(payload) || !json_is_object(keys)) {
        mdm_err_set(err, MDM_EINTERNAL, "delivery %s: unreadable stored JSON",
                    mdm_db_get(res, r, "id", "?"));
        goto out_free;
    }
    json_t *msg = json_pack(
        "{s:s, s:I, s:s, s:I, s:i, s:s, s:s, s:o, s:o, s:o}", "event_id",
        mdm_db_get(res, r, "event_id", ""), "seq", (json_int_t)mdm_db_get_ll(res, r, "seq", 0),
        "type", mdm_db_get(res, r, "type", ""), "household_id",
        (json_int_t)mdm_db_get_ll(res, r, "household_id", 0), "household_version",
        (int)mdm_db_get_ll(res, r, "entity_version", 0), "occurred_at",
        mdm_db_get(res, r, "occurred_at", ""), "source", mdm_db_get(res, r, "source", ""),
        "members", household_list(json_object_get(payload, "members"), keys, true), "joined",
        household_list(json_object_get(payload, "joined"), keys, false), "left",
        household_list(json_object_get(payload, "left"), keys, false));
    body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!body)
        mdm_err_set(err, MDM_EINTERNAL, "cannot build the delivery message");
out_free:
    json_decref(payload);
    json_decref(keys);
    return body;
}

/* The message for one claimed delivery, or NULL: skipped (nothing to send; *unchanged
 * when an "updated" event would tell the receiver what it already has) or, with err set,
 * unreadable stored data. hash receives the content's hash when a message was built or
 * found unchanged. */
static char *build_body(const PGresult *res, int r, char hash[65], bool *unchanged, mdm_err *err)
{
    hash[0] = '\0';
    *unchanged = false;
    if (mdm_db_get(res, r, "household_id", NULL))
        return build_household_body(res, r, err);
    json_t *payload = json_loads(mdm_db_get(res, r, "payload", "{}"), JSON_DECODE_ANY, NULL);
    json_t *keys = json_loads(mdm_db_get(res, r, "source_keys", "[]"), 0, NULL);
    json_t *held = json_loads(mdm_db_get(res, r, "held", "[]"), 0, NULL);
    json_t *mapping = json_loads(mdm_db_get(res, r, "mapping", "{}"), 0, NULL);
    char *body = NULL;
    if (!payload || !keys || !held || !mapping) {
        mdm_err_set(err, MDM_EINTERNAL, "delivery %s: unreadable stored JSON",
                    mdm_db_get(res, r, "id", "?"));
        goto out_free;
    }
    /* an event scrubbed by a subject erasure (mdm/subject.c) carries nothing to send; the
     * erasure's own deleted event tells the systems */
    if (json_is_true(json_object_get(payload, "erased")) &&
        strcmp(mdm_db_get(res, r, "type", ""), "deleted") != 0)
        goto out_free; /* NULL: skipped */
    const json_t *rec = payload_record(payload);
    json_t *record = json_is_object(rec) ? json_deep_copy(rec) : json_object();
    json_t *withheld = json_array();
    size_t i;
    json_t *attr;
    json_array_foreach(held, i, attr)
    {
        const char *a = json_string_value(attr);
        if (a && json_object_get(record, a)) {
            json_object_del(record, a);
            json_array_append(withheld, attr);
        }
    }
    const char *type = mdm_db_get(res, r, "type", "");
    int64_t entity_id = mdm_db_get_ll(res, r, "entity_id", 0);
    if (strcmp(type, "updated") == 0 && json_object_size(record) == 0 &&
        json_array_size(withheld) > 0) {
        json_decref(record);
        json_decref(withheld);
        goto out_free; /* NULL: skipped */
    }
    json_t *mapped = mdm_publish_map(mapping, record, keys, entity_id);
    json_decref(record);
    content_hash(mapped, keys, hash);
    const char *sent = mdm_db_get(res, r, "sent_hash", NULL);
    if (strcmp(type, "updated") == 0 && hash[0] && sent && strcmp(sent, hash) == 0 &&
        strcmp(mdm_db_get(res, r, "replayed", "f"), "t") != 0) {
        json_decref(mapped);
        json_decref(withheld);
        *unchanged = true;
        goto out_free; /* NULL: skipped */
    }
    const json_t *quality = NULL; /* the golden record's data-quality scores, if it has them */
    json_t *msg = json_pack(
        "{s:s, s:I, s:s, s:I, s:i, s:s, s:s, s:O, s:o, s:o}", "event_id",
        mdm_db_get(res, r, "event_id", ""), "seq", (json_int_t)mdm_db_get_ll(res, r, "seq", 0),
        "type", type, "entity_id", (json_int_t)entity_id, "entity_version",
        (int)mdm_db_get_ll(res, r, "entity_version", 0), "occurred_at",
        mdm_db_get(res, r, "occurred_at", ""), "source", mdm_db_get(res, r, "source", ""),
        "source_keys", keys, "record", mapped, "withheld", withheld);
    if (rec != payload && json_is_object(payload)) {
        /* the golden record's data-quality scores (events that carry it) */
        quality = json_object_get(payload, "quality");
        json_t *details = json_deep_copy(payload);
        json_object_del(details, "golden");
        json_object_del(details, "record");
        json_object_del(details, "quality");
        if (json_object_size(details) > 0)
            json_object_set(msg, "details", details);
        json_decref(details);
    }
    body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (body && json_is_object(quality))
        body = with_scores(body, quality);
    if (!body)
        mdm_err_set(err, MDM_EINTERNAL, "cannot build the delivery message");
out_free:
    json_decref(payload);
    json_decref(keys);
    json_decref(held);
    json_decref(mapping);
    return body;
}

/* A copy of s[0..n) that PostgreSQL, JSON and a terminal accept: valid UTF-8 kept, any
 * other byte (and NUL) replaced by '?', control characters by a space. Receivers answer
 * whatever they like. */
static char *clean_text(const char *s, size_t n)
{
    char *out = mdm_xmalloc(n + 1);
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = u[i] < 0x80         ? 1
                     : (u[i] >> 5) == 6  ? 2
                     : (u[i] >> 4) == 14 ? 3
                     : (u[i] >> 3) == 30 ? 4
                                         : 0;
        bool ok = len > 0 && i + len <= n && u[i] != 0;
        for (size_t k = 1; ok && k < len; k++)
            ok = (u[i + k] & 0xC0) == 0x80;
        if (ok && len == 2 && u[i] < 0xC2)
            ok = false; /* overlong */
        if (ok && len == 3 &&
            ((u[i] == 0xE0 && u[i + 1] < 0xA0) || (u[i] == 0xED && u[i + 1] >= 0xA0)))
            ok = false; /* overlong, surrogate */
        if (ok && len == 4 &&
            ((u[i] == 0xF0 && u[i + 1] < 0x90) || u[i] > 0xF4 ||
             (u[i] == 0xF4 && u[i + 1] >= 0x90)))
            ok = false;
        if (!ok) {
            out[o++] = '?';
            i++;
            continue;
        }
        if (len == 1 && (u[i] < 0x20 || u[i] == 0x7f)) {
            out[o++] = ' '; /* control characters (escape sequences) never reach a terminal */
            i++;
            continue;
        }
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
    return out;
}

/* Sends one message; fills the outcome (not the final state for retries). */
static void send_one(mdm_publisher *p, const PGresult *res, int r, const char *body, outcome *out)
{
    const char *secret = mdm_db_get(res, r, "secret", "");
    long long ts = (long long)time(NULL);
    char sig[68];
    mdm_publish_sign(secret, ts, body, strlen(body), sig);
    /* Standard Webhooks: the event id, the time, and one signature per valid secret (two
     * while a rotated secret's window lasts) */
    const char *event_id = mdm_db_get(res, r, "event_id", "");
    const char *previous = mdm_db_get(res, r, "previous_secret", NULL);
    char std_sig[48], std_prev[48] = "";
    mdm_publish_sign_standard(secret, event_id, ts, body, strlen(body), std_sig);
    if (previous && *previous)
        mdm_publish_sign_standard(previous, event_id, ts, body, strlen(body), std_prev);
    /* the attempt is a span of the trace of the request that caused the event, or starts
     * a trace when no request did (mdm/trace.h) */
    mdm_trace cause, span;
    if (mdm_trace_parse(mdm_db_get(res, r, "traceparent", NULL), &cause))
        mdm_trace_child(&cause, &span);
    else
        mdm_trace_start(&span);
    char traceparent[MDM_TRACEPARENT_LEN + 1];
    mdm_trace_format(&span, traceparent);
    snprintf(out->trace_id, sizeof out->trace_id, "%s", span.trace_id);
    char *own[] = {
        mdm_xasprintf("traceparent: %s", traceparent),
        mdm_xasprintf("Idempotency-Key: %s", event_id),
        mdm_xasprintf("X-MDM-Event: %s", mdm_db_get(res, r, "type", "")),
        mdm_xasprintf("X-MDM-Seq: %s", mdm_db_get(res, r, "seq", "")),
        mdm_xasprintf("X-MDM-Delivery: %s", mdm_db_get(res, r, "id", "")),
        mdm_xasprintf("X-MDM-Attempt: %lld", mdm_db_get_ll(res, r, "attempts", 0) + 1),
        mdm_xasprintf("X-MDM-Timestamp: %lld", ts),
        mdm_xasprintf("X-MDM-Signature: %s", sig),
        mdm_xasprintf("webhook-id: %s", event_id),
        mdm_xasprintf("webhook-timestamp: %lld", ts),
        mdm_xasprintf("webhook-signature: %s%s%s", std_sig, *std_prev ? " " : "", std_prev),
    };
    const char *fixed[] = {"Content-Type: application/json",
                           "Expect:", "User-Agent: mdm-publish/1"};
    struct curl_slist *hdr = NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        hdr = curl_slist_append(hdr, fixed[i]);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) { /* curl keeps its own copies */
        hdr = curl_slist_append(hdr, own[i]);
        free(own[i]);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = p->curl;
    mdm_buf_reset(&p->response);
    p->retry_after_ms = 0;
    const char *url = mdm_db_get(res, r, "url", "");
    /* SSRF guard (mdm/egress.h): resolved once here, checked, and the connection pinned
     * to the checked address */
    char pin[400], why[256];
    if (!mdm_egress_pin(&p->o.egress, url, pin, sizeof pin, why, sizeof why)) {
        curl_slist_free_all(hdr);
        out->attempted = true;
        atomic_fetch_add(&n_attempts, 1);
        out->state = "pending";
        out->status = 0;
        out->response = mdm_xasprintf("refused: %s", why);
        out->unreachable = true;
        return;
    }
    struct curl_slist *resolve = NULL;
    if (pin[0]) {
        /* drop what an earlier delivery pinned for this host:port, then pin this one */
        char *drop = mdm_xasprintf("-%.*s", (int)(strrchr(pin, ':') - pin), pin);
        if (pin[strlen(pin) - 1] == ']') /* IPv6: the address holds colons */
            drop[strcspn(drop, "[") - 1] = '\0';
        resolve = curl_slist_append(resolve, drop);
        resolve = curl_slist_append(resolve, pin);
        free(drop);
    }
    p->refused[0] = '\0';
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, p);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)p->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_RESOLVE, NULL);
    curl_slist_free_all(resolve);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdr);
    out->attempted = true;
    atomic_fetch_add(&n_attempts, 1);
    if (rc != CURLE_OK) {
        out->state = "pending";
        out->status = 0;
        out->response = p->refused[0] ? mdm_xasprintf("refused: %s", p->refused)
                                      : mdm_xasprintf("transport error: %s",
                                                      errbuf[0] ? errbuf : curl_easy_strerror(rc));
        out->unreachable = true;
        return;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    out->status = code;
    out->response = clean_text(p->response.data ? p->response.data : "", p->response.len);
    if (code >= 200 && code < 300)
        out->state = "acknowledged";
    else if (code == 422)
        out->state = "rejected";
    else
        out->state = "pending";
}

/* Adds one outcome row for st_record. */
static void outcome_add(json_t *rows, const char *id, int attempts, const outcome *o)
{
    char *resp = clean_text(o->response ? o->response : "", strlen(o->response ? o->response : ""));
    json_t *row = json_pack("{s:I, s:s, s:i, s:I, s:o, s:s, s:b, s:o}", "id",
                            (json_int_t)strtoll(id, NULL, 10), "state", o->state, "attempts",
                            attempts, "delay_ms", (json_int_t)o->delay_ms, "status",
                            o->status ? json_integer(o->status) : json_null(), "response", resp,
                            "attempted", o->attempted, "content_hash",
                            o->content_hash[0] ? json_string(o->content_hash) : json_null());
    free(resp);
    if (row)
        json_array_append_new(rows, row);
}

static mdm_status outcomes_record(mdm_db *db, json_t *rows, mdm_err *err)
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

typedef struct step_ctx {
    mdm_publisher *p;
    int processed;
} step_ctx;

static mdm_status step_tx(mdm_db *db, void *arg, mdm_err *err)
{
    step_ctx *c = arg;
    mdm_publisher *p = c->p;
    c->processed = 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", p->o.batch);
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
    mdm_buf ids = {0};
    mdm_buf_putc(&ids, '{');
    for (int i = 0; i < n; i++)
        mdm_buf_printf(&ids, "%s%s", i ? "," : "", mdm_db_get(claim, i, "id", "0"));
    mdm_buf_putc(&ids, '}');
    PQclear(claim);
    const char *p2[] = {ids.data};
    PGresult *res = NULL;
    st = mdm_db_exec(db, &st_details, p2, &res, err);
    mdm_buf_free(&ids);
    if (st != MDM_OK)
        return st;
    /* subscriptions found unreachable in this round, with the delay chosen */
    long long down_sub[64];
    long down_delay[64];
    int ndown = 0;
    json_t *rows = json_array();
    for (int r = 0; r < PQntuples(res) && st == MDM_OK; r++) {
        /* shutting down: the rows not sent stay pending, untouched, for the next worker */
        if (p->stop && atomic_load(p->stop))
            break;
        const char *id = mdm_db_get(res, r, "id", "0");
        long long sub = mdm_db_get_ll(res, r, "sub_id", 0);
        int attempts = (int)mdm_db_get_ll(res, r, "attempts", 0);
        int max_attempts = (int)mdm_db_get_ll(res, r, "max_attempts", 8);
        outcome o = {0};
        int d;
        for (d = 0; d < ndown && down_sub[d] != sub; d++)
            ;
        if (d < ndown) {
            o.state = "pending";
            o.delay_ms = down_delay[d];
            o.response = mdm_xstrdup("deferred: the receiver was unreachable in this round");
            outcome_add(rows, id, attempts, &o);
            free(o.response);
            c->processed++;
            continue;
        }
        bool unchanged;
        char *body = build_body(res, r, o.content_hash, &unchanged, err);
        if (!body && unchanged) {
            o.state = "skipped";
            o.response = mdm_xstrdup("unchanged for this system: what its mapping sends is "
                                     "what it was last sent");
        } else if (!body && err && err->code != MDM_OK && err->msg[0]) {
            /* unreadable stored data: keep it pending with backoff, never lose it */
            o.state = "pending";
            o.response = mdm_xstrdup(err->msg);
            o.attempted = true;
        } else if (!body) {
            o.state = "skipped";
            o.response = mdm_xstrdup("nothing to send: the receiver owns or holds every "
                                     "attribute, or the event was erased");
        } else {
            send_one(p, res, r, body, &o);
            free(body);
            mdm_log(MDM_LOG_DEBUG,
                    "event=delivery_sent id=%s subscription=%lld seq=%s status=%ld trace_id=%s", id,
                    sub, mdm_db_get(res, r, "seq", "?"), o.status, o.trace_id);
        }
        if (err)
            mdm_err_clear(err);
        int new_attempts = attempts + (o.attempted ? 1 : 0);
        if (strcmp(o.state, "pending") == 0) {
            atomic_fetch_add(&n_failures, 1);
            if (new_attempts >= max_attempts) {
                o.state = "dead";
                atomic_fetch_add(&n_dead, 1);
                mdm_log(MDM_LOG_WARN,
                        "event=delivery_dead id=%s subscription=%lld seq=%s "
                        "attempts=%d status=%ld trace_id=%s",
                        id, sub, mdm_db_get(res, r, "seq", "?"), new_attempts, o.status,
                        o.trace_id[0] ? o.trace_id : "-");
            } else {
                o.delay_ms = mdm_publish_backoff_ms(&p->o, new_attempts, rng_next(p));
                if (p->retry_after_ms > o.delay_ms)
                    o.delay_ms = p->retry_after_ms;
                mdm_log(MDM_LOG_INFO,
                        "event=delivery_retry id=%s subscription=%lld seq=%s "
                        "attempt=%d status=%ld delay_ms=%ld trace_id=%s",
                        id, sub, mdm_db_get(res, r, "seq", "?"), new_attempts, o.status, o.delay_ms,
                        o.trace_id[0] ? o.trace_id : "-");
                if (o.unreachable && ndown < 64) {
                    down_sub[ndown] = sub;
                    down_delay[ndown++] = o.delay_ms;
                }
            }
        } else if (strcmp(o.state, "acknowledged") == 0) {
            atomic_fetch_add(&n_acknowledged, 1);
        } else if (strcmp(o.state, "rejected") == 0) {
            atomic_fetch_add(&n_rejected, 1);
            mdm_log(MDM_LOG_WARN,
                    "event=delivery_rejected id=%s subscription=%lld seq=%s status=%ld "
                    "trace_id=%s",
                    id, sub, mdm_db_get(res, r, "seq", "?"), o.status, o.trace_id);
        } else {
            atomic_fetch_add(&n_skipped, 1);
        }
        outcome_add(rows, id, new_attempts, &o);
        free(o.response);
        c->processed++;
    }
    if (st == MDM_OK)
        st = outcomes_record(db, rows, err);
    json_decref(rows);
    PQclear(res);
    return st;
}

mdm_status mdm_publisher_step(mdm_publisher *p, int *processed, mdm_err *err)
{
    if (processed)
        *processed = 0;
    long long t = now_ms();
    if (t - p->last_fanout_ms >= FANOUT_MIN_INTERVAL) {
        p->last_fanout_ms = t;
        int created = 0;
        mdm_status st = mdm_publish_fanout(p->db, FANOUT_LIMIT, &created, err);
        if (st != MDM_OK)
            return st;
    }
    step_ctx c = {p, 0};
    mdm_status st = mdm_db_run_tx(p->db, "publish_deliver", step_tx, &c, err);
    if (st == MDM_OK && processed)
        *processed = c.processed;
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* Runners                                                                             */

typedef struct run_shared {
    const char *url;
    const mdm_publish_opts *o;
    bool drain;
    long long deadline; /* monotonic ms, 0 = none */
    atomic_long processed;
    atomic_int failed; /* first error wins */
    mdm_err err;
    pthread_mutex_t mu;
} run_shared;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void run_fail(run_shared *s, const mdm_err *e)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->failed)) {
        s->err = *e;
        atomic_store(&s->failed, 1);
    }
    pthread_mutex_unlock(&s->mu);
}

/* True when nothing is pending for an active subscription and nothing waits for fan-out. */
static mdm_status all_done(mdm_db *db, bool *done, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_remaining, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    *done = mdm_db_get_ll(res, 0, "pending", 1) == 0 && mdm_db_get_ll(res, 0, "unfanned", 1) <= 0;
    PQclear(res);
    return MDM_OK;
}

static void *run_thread(void *arg)
{
    run_shared *s = arg;
    mdm_err err = {0};
    mdm_publisher *p = mdm_publisher_new(s->url, s->o, &err);
    if (!p) {
        run_fail(s, &err);
        return NULL;
    }
    int idle_rounds = 0;
    while (!atomic_load(&s->failed)) {
        int n = 0;
        mdm_status st = mdm_publisher_step(p, &n, &err);
        if (st != MDM_OK) {
            run_fail(s, &err);
            break;
        }
        atomic_fetch_add(&s->processed, n);
        if (n > 0) {
            idle_rounds = 0;
            continue;
        }
        if (!s->drain) {
            /* a second idle round makes sure the last fan-out was not throttled */
            if (++idle_rounds >= 2)
                break;
            sleep_ms(FANOUT_MIN_INTERVAL);
            continue;
        }
        bool done = false;
        if (all_done(p->db, &done, &err) != MDM_OK) {
            run_fail(s, &err);
            break;
        }
        if (done)
            break;
        if (s->deadline && now_ms() > s->deadline)
            break;
        sleep_ms(p->o.poll_ms < 20 ? p->o.poll_ms : 20);
    }
    mdm_publisher_free(p);
    return NULL;
}

mdm_status mdm_publish_run(const char *url, const mdm_publish_opts *o, int nthreads, bool drain,
                           int timeout_ms, long *processed, mdm_err *err)
{
    if (nthreads < 1)
        nthreads = 1;
    run_shared s = {.url = url, .o = o, .drain = drain};
    s.deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    atomic_init(&s.processed, 0);
    atomic_init(&s.failed, 0);
    pthread_mutex_init(&s.mu, NULL);
    pthread_t *t = mdm_xcalloc((size_t)nthreads, sizeof *t);
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&t[i], NULL, run_thread, &s) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    pthread_mutex_destroy(&s.mu);
    if (processed)
        *processed = atomic_load(&s.processed);
    if (started == 0)
        return mdm_err_set(err, MDM_EINTERNAL, "cannot start delivery threads");
    if (atomic_load(&s.failed)) {
        if (err)
            *err = s.err;
        return s.err.code != MDM_OK ? s.err.code : MDM_EINTERNAL;
    }
    if (drain && s.deadline && now_ms() > s.deadline) {
        mdm_db *db = mdm_db_connect(url, err);
        if (!db)
            return err ? err->code : MDM_EDB;
        bool done = false;
        mdm_status st = all_done(db, &done, err);
        mdm_db_close(db);
        if (st != MDM_OK)
            return st;
        if (!done)
            return mdm_err_set(err, MDM_ERETRY, "deliveries still pending after %d ms", timeout_ms);
    }
    return MDM_OK;
}

/* Read by workers between deliveries of a round, without the mutex. */
static atomic_bool bg_stop_flag;

/* Background workers of mdm serve. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop;
    pthread_t *threads;
    int n;
    char *url;
    mdm_publish_opts o;
    bool synced;           /* configured subscriptions written to the database */
    const mdm_config *cfg; /* borrowed from mdm_publish_start's caller */
} bg = {PTHREAD_MUTEX_INITIALIZER,
        PTHREAD_COND_INITIALIZER,
        false,
        false,
        NULL,
        0,
        NULL,
        {0},
        false,
        NULL};

/* Syncs the configured subscriptions once, when the start could not reach the database. */
static bool bg_sync(mdm_db *db)
{
    pthread_mutex_lock(&bg.mu);
    bool ok = bg.synced;
    if (!ok) {
        mdm_err err = {0};
        int count = 0;
        ok = mdm_publish_sync_config(db, bg.cfg, &count, &err) == MDM_OK;
        if (ok)
            mdm_log(MDM_LOG_INFO, "event=publish_subscriptions_synced configured=%d", count);
        else
            mdm_log(MDM_LOG_ERROR, "event=publish_sync_failed code=%s msg=\"%s\"",
                    mdm_status_name(err.code), err.msg);
        bg.synced = ok;
    }
    pthread_mutex_unlock(&bg.mu);
    return ok;
}

/* Waits up to ms or until mdm_publish_stop; true when stopping. */
static bool bg_wait(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&bg.mu);
    if (!bg.stop)
        pthread_cond_timedwait(&bg.cv, &bg.mu, &ts);
    bool stop = bg.stop;
    pthread_mutex_unlock(&bg.mu);
    return stop;
}

static bool bg_stopping(void)
{
    pthread_mutex_lock(&bg.mu);
    bool stop = bg.stop;
    pthread_mutex_unlock(&bg.mu);
    return stop;
}

static void *bg_thread(void *arg)
{
    (void)arg;
    mdm_publisher *p = NULL;
    while (!bg_stopping()) {
        mdm_err err = {0};
        if (!p) {
            p = mdm_publisher_new(bg.url, &bg.o, &err);
            if (p)
                p->stop = &bg_stop_flag;
            if (!p) {
                mdm_log(MDM_LOG_WARN, "event=publish_worker_connect_failed msg=\"%s\"", err.msg);
                bg_wait(bg.o.poll_ms * 10L);
                continue;
            }
        }
        if (!bg_sync(p->db)) {
            bg_wait(bg.o.poll_ms * 10L);
            continue;
        }
        int n = 0;
        mdm_status st = mdm_publisher_step(p, &n, &err);
        if (st != MDM_OK) {
            mdm_log(MDM_LOG_WARN, "event=publish_step_failed code=%s msg=\"%s\"",
                    mdm_status_name(st), err.msg);
            if (!mdm_db_ok(p->db)) {
                mdm_publisher_free(p);
                p = NULL;
            }
            bg_wait(bg.o.poll_ms);
        } else if (n == 0) {
            bg_wait(bg.o.poll_ms);
        }
    }
    mdm_publisher_free(p);
    return NULL;
}

mdm_status mdm_publish_start(const mdm_config *cfg, int nthreads, mdm_err *err)
{
    mdm_publish_opts o;
    mdm_status st = mdm_publish_opts_load(cfg, &o, err);
    if (st != MDM_OK)
        return st;
    if (!o.enabled) {
        mdm_log(MDM_LOG_INFO, "event=publish_disabled");
        return MDM_OK;
    }
    st = mdm_publish_validate_config(cfg, err);
    if (st != MDM_OK)
        return st;
    /* Sync the configured subscriptions now when the database answers (a bad one, such as
     * an unknown source, stops the start); otherwise the first worker that connects does. */
    int count = -1;
    mdm_err cerr = {0};
    mdm_db *db = mdm_db_connect(cfg->database_url, &cerr);
    if (db) {
        st = mdm_publish_sync_config(db, cfg, &count, err);
        mdm_db_close(db);
        if (st != MDM_OK)
            return st;
    } else {
        mdm_log(MDM_LOG_WARN, "event=publish_start_without_db msg=\"%s\"", cerr.msg);
    }
    pthread_mutex_lock(&bg.mu);
    if (bg.running) {
        pthread_mutex_unlock(&bg.mu);
        return mdm_err_set(err, MDM_ECONFLICT, "delivery workers already running");
    }
    bg.running = true;
    bg.stop = false;
    atomic_store(&bg_stop_flag, false);
    bg.synced = count >= 0;
    bg.cfg = cfg;
    bg.o = o;
    bg.url = mdm_xstrdup(cfg->database_url);
    bg.n = nthreads > 0 ? nthreads : o.workers;
    bg.threads = mdm_xcalloc((size_t)bg.n, sizeof *bg.threads);
    int started = 0;
    for (int i = 0; i < bg.n; i++)
        if (pthread_create(&bg.threads[started], NULL, bg_thread, NULL) == 0)
            started++;
    bg.n = started;
    pthread_mutex_unlock(&bg.mu);
    mdm_log(MDM_LOG_INFO, "event=publish_started workers=%d subscriptions_configured=%d", started,
            count);
    if (started == 0) {
        mdm_publish_stop();
        return mdm_err_set(err, MDM_EINTERNAL, "cannot start delivery threads");
    }
    return MDM_OK;
}

void mdm_publish_stop(void)
{
    pthread_mutex_lock(&bg.mu);
    if (!bg.running) {
        pthread_mutex_unlock(&bg.mu);
        return;
    }
    bg.stop = true;
    atomic_store(&bg_stop_flag, true);
    pthread_cond_broadcast(&bg.cv);
    pthread_mutex_unlock(&bg.mu);
    for (int i = 0; i < bg.n; i++)
        pthread_join(bg.threads[i], NULL);
    pthread_mutex_lock(&bg.mu);
    free(bg.threads);
    free(bg.url);
    bg.threads = NULL;
    bg.url = NULL;
    bg.n = 0;
    bg.running = false;
    pthread_mutex_unlock(&bg.mu);
    mdm_log(MDM_LOG_INFO, "event=publish_stopped");
}

/* ---------------------------------------------------------------------------------- */
/* Management                                                                          */

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

static void set_str_or_null(json_t *o, const char *key, const PGresult *res, int r)
{
    const char *v = mdm_db_get(res, r, key, NULL);
    json_object_set_new(o, key, v ? json_string(v) : json_null());
}

static void set_int_or_null(json_t *o, const char *key, const PGresult *res, int r)
{
    const char *v = mdm_db_get(res, r, key, NULL);
    json_object_set_new(o, key, v ? json_integer(strtoll(v, NULL, 10)) : json_null());
}

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
    char a[24], s[24], l[16];
    snprintf(a, sizeof a, "%lld", (long long)after_id);
    snprintf(s, sizeof s, "%lld", (long long)subscription_id);
    snprintf(l, sizeof l, "%d", limit);
    const char *params[] = {a, state, s, l};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_list, params, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *arr = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = json_object();
        set_int_or_null(o, "id", res, r);
        set_int_or_null(o, "subscription_id", res, r);
        set_int_or_null(o, "seq", res, r);
        set_int_or_null(o, "entity_id", res, r);
        set_int_or_null(o, "household_id", res, r);
        set_str_or_null(o, "state", res, r);
        set_int_or_null(o, "attempts", res, r);
        set_str_or_null(o, "next_attempt_at", res, r);
        set_str_or_null(o, "last_attempt_at", res, r);
        set_int_or_null(o, "last_status", res, r);
        set_str_or_null(o, "last_response", res, r);
        set_str_or_null(o, "created_at", res, r);
        set_str_or_null(o, "done_at", res, r);
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

static mdm_status check_who(const mdm_audit_actor *who, mdm_err *err)
{
    if (!who || !who->name || !*who->name || !who->role || !*who->role)
        return mdm_err_set_field(err, MDM_EINVAL, "/actor",
                                 "this change needs the acting user and role for the audit log");
    return MDM_OK;
}

static mdm_status replay_dead_tx(mdm_db *db, void *arg, mdm_err *err)
{
    replay_ctx *c = arg;
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)c->sub);
    const char *params[] = {s};
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
    mdm_status st0 = check_who(who, err);
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
    char s[24], f[24];
    snprintf(s, sizeof s, "%lld", (long long)c->sub);
    snprintf(f, sizeof f, "%lld", (long long)c->from);
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
    mdm_status st0 = check_who(who, err);
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

/* Subscriptions */

/* clang-format off */
#define SUB_COLS                                                                                   \
    "id, source, url, event_types::text[] AS event_types, mapping::text AS mapping, active, "     \
    "max_attempts, scope, max_delay_seconds, origin, mdm_ts(created_at) AS created_at, "          \
    "mdm_ts(updated_at) AS updated_at, secret <> '' AS secret_set, "                               \
    "array_to_json(event_types)::text AS types_json"

static const mdm_db_stmt st_sub_list = {
    "publish_sub_list", "SELECT " SUB_COLS " FROM subscription ORDER BY id", 0};
static const mdm_db_stmt st_sub_get = {
    "publish_sub_get", "SELECT " SUB_COLS " FROM subscription WHERE id = $1", 1};
/* clang-format on */
static const mdm_db_stmt st_sub_insert = {
    "publish_sub_insert",
    "INSERT INTO subscription (source, url, secret, event_types, mapping, active, max_attempts, "
    "scope, max_delay_seconds, origin) VALUES ($1, $2, $3, CASE WHEN $4::jsonb IS NULL THEN "
    "'{created,updated,merged,split,consent_changed,deleted}'::text[] "
    "ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END, coalesce($5::jsonb, '{}'), "
    "coalesce($6::boolean, true), coalesce($7::int, 8), coalesce($8, 'source'), "
    "nullif($9::text, '')::int, 'api') RETURNING id",
    9};
static const mdm_db_stmt st_sub_update = {
    "publish_sub_update",
    "UPDATE subscription SET url = coalesce($2, url), secret = coalesce($3, secret), "
    "event_types = CASE WHEN $4::jsonb IS NULL THEN event_types "
    "ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END, "
    "mapping = coalesce($5::jsonb, mapping), active = coalesce($6::boolean, active), "
    "max_attempts = coalesce($7::int, max_attempts), scope = coalesce($8, scope), "
    "max_delay_seconds = CASE WHEN $9::text IS NULL THEN max_delay_seconds "
    "ELSE nullif($9::text, '')::int END, "
    "updated_at = now() WHERE id = $1 RETURNING id",
    9};
static const mdm_db_stmt st_sub_deactivate = {
    "publish_sub_deactivate",
    "UPDATE subscription SET active = false, updated_at = now() WHERE id = $1 RETURNING id", 1};

static json_t *sub_row(const PGresult *res, int r)
{
    json_t *o = json_object();
    set_int_or_null(o, "id", res, r);
    set_str_or_null(o, "source", res, r);
    /* a URL stored before userinfo was refused shows its credentials masked */
    const char *u = mdm_db_get(res, r, "url", "");
    const char *auth = strstr(u, "://");
    size_t alen = auth ? strcspn(auth + 3, "/?#") : 0;
    const char *at = auth ? memchr(auth + 3, '@', alen) : NULL;
    if (at) {
        char *masked = mdm_xasprintf("%.*s***%s", (int)(auth + 3 - u), u, at);
        json_object_set_new(o, "url", json_string(masked));
        free(masked);
    } else {
        set_str_or_null(o, "url", res, r);
    }
    json_t *types = json_loads(mdm_db_get(res, r, "types_json", "[]"), 0, NULL);
    json_object_set_new(o, "event_types", types ? types : json_array());
    json_t *mapping = json_loads(mdm_db_get(res, r, "mapping", "{}"), 0, NULL);
    json_object_set_new(o, "mapping", mapping ? mapping : json_object());
    json_object_set_new(o, "active",
                        json_boolean(strcmp(mdm_db_get(res, r, "active", "f"), "t") == 0));
    set_int_or_null(o, "max_attempts", res, r);
    set_str_or_null(o, "scope", res, r);
    set_int_or_null(o, "max_delay_seconds", res, r);
    set_str_or_null(o, "origin", res, r);
    set_str_or_null(o, "created_at", res, r);
    set_str_or_null(o, "updated_at", res, r);
    json_object_set_new(o, "secret_set",
                        json_boolean(strcmp(mdm_db_get(res, r, "secret_set", "f"), "t") == 0));
    return o;
}

mdm_status mdm_publish_sub_list(mdm_db *db, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_sub_list, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *arr = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(arr, sub_row(res, r));
    PQclear(res);
    *out = arr;
    return MDM_OK;
}

mdm_status mdm_publish_sub_get(mdm_db *db, int64_t id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)id);
    const char *params[] = {s};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_sub_get, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no subscription %lld", (long long)id);
    }
    *out = sub_row(res, 0);
    PQclear(res);
    return MDM_OK;
}

/* Text parameters of a create/update body; dumped JSON is owned by the struct. */
typedef struct sub_params {
    char *types, *mapping;
    char max_attempts[16], max_delay[16];
    const char *v[9];
} sub_params;

static void sub_params_fill(sub_params *sp, const json_t *body)
{
    memset(sp, 0, sizeof *sp);
    const json_t *t = json_object_get(body, "event_types");
    const json_t *m = json_object_get(body, "mapping");
    const json_t *a = json_object_get(body, "active");
    const json_t *ma = json_object_get(body, "max_attempts");
    sp->types = t ? json_dumps(t, JSON_COMPACT) : NULL;
    sp->mapping = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (ma)
        snprintf(sp->max_attempts, sizeof sp->max_attempts, "%d", (int)json_integer_value(ma));
    sp->v[0] = json_string_value(json_object_get(body, "source"));
    sp->v[1] = json_string_value(json_object_get(body, "url"));
    sp->v[2] = json_string_value(json_object_get(body, "secret"));
    sp->v[3] = sp->types;
    sp->v[4] = sp->mapping;
    sp->v[5] = a ? (json_is_true(a) ? "true" : "false") : NULL;
    sp->v[6] = ma ? sp->max_attempts : NULL;
    sp->v[7] = json_string_value(json_object_get(body, "scope"));
    /* max_delay_seconds: absent keeps it, null clears it ("" below), a number sets it */
    const json_t *md = json_object_get(body, "max_delay_seconds");
    if (json_is_integer(md))
        snprintf(sp->max_delay, sizeof sp->max_delay, "%d", (int)json_integer_value(md));
    sp->v[8] = md ? sp->max_delay : NULL;
}

static void sub_params_free(sub_params *sp)
{
    free(sp->types);
    free(sp->mapping);
}

static mdm_status sub_create(mdm_db *db, const json_t *body, json_t **out, mdm_err *err)
{
    *out = NULL;
    mdm_status st = check_subscription(body, "", "subscription", false, true, err);
    if (st != MDM_OK)
        return st;
    sub_params sp;
    sub_params_fill(&sp, body);
    PGresult *res = NULL;
    st = mdm_db_exec(db, &st_sub_insert, sp.v, &res, err);
    sub_params_free(&sp);
    if (st == MDM_ECONFLICT)
        return mdm_err_set(err, MDM_ECONFLICT,
                           "a subscription for this source and url exists already, or the "
                           "source system is unknown");
    if (st != MDM_OK)
        return st;
    int64_t id = mdm_db_get_ll(res, 0, "id", 0);
    PQclear(res);
    return mdm_publish_sub_get(db, id, out, err);
}

static mdm_status sub_update(mdm_db *db, int64_t id, const json_t *body, json_t **out, mdm_err *err)
{
    *out = NULL;
    mdm_status st = check_subscription(body, "", "subscription", false, false, err);
    if (st != MDM_OK)
        return st;
    if (json_object_get(body, "source"))
        return mdm_err_set_field(err, MDM_EINVAL, "/source",
                                 "the source of a subscription cannot change; create another");
    sub_params sp;
    sub_params_fill(&sp, body);
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)id);
    sp.v[0] = s;
    PGresult *res = NULL;
    st = mdm_db_exec(db, &st_sub_update, sp.v, &res, err);
    sub_params_free(&sp);
    if (st == MDM_ECONFLICT)
        return mdm_err_set(err, MDM_ECONFLICT,
                           "a subscription for this source and url exists already");
    if (st != MDM_OK)
        return st;
    int n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        return mdm_err_set(err, MDM_ENOTFOUND, "no subscription %lld", (long long)id);
    return mdm_publish_sub_get(db, id, out, err);
}

static mdm_status sub_delete(mdm_db *db, int64_t id, mdm_err *err)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)id);
    const char *params[] = {s};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_sub_deactivate, params, &res, err);
    if (st != MDM_OK)
        return st;
    int n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        return mdm_err_set(err, MDM_ENOTFOUND, "no subscription %lld", (long long)id);
    return MDM_OK;
}

/* Subscription writes with their audit row, in one transaction: the row holds the
 * subscription as mdm_publish_sub_get shows it (never the secret, only secret_set). */
typedef struct sub_tx {
    char op; /* 'c'reate, 'u'pdate, 'd'elete */
    int64_t id;
    const json_t *body;
    const mdm_audit_actor *who;
    json_t *out;
} sub_tx;

static mdm_status sub_tx_fn(mdm_db *db, void *arg, mdm_err *err)
{
    sub_tx *c = arg;
    json_decref(c->out);
    c->out = NULL;
    json_t *before = NULL, *after = NULL;
    mdm_status st = MDM_OK;
    if (c->op != 'c' && (st = mdm_publish_sub_get(db, c->id, &before, err)) != MDM_OK)
        return st;
    const char *action = "subscription.create";
    if (c->op == 'c') {
        st = sub_create(db, c->body, &c->out, err);
        if (st == MDM_OK)
            c->id = json_integer_value(json_object_get(c->out, "id"));
    } else if (c->op == 'u') {
        action = "subscription.update";
        st = sub_update(db, c->id, c->body, &c->out, err);
    } else {
        action = "subscription.delete";
        st = sub_delete(db, c->id, err);
    }
    if (st == MDM_OK && c->op == 'd')
        st = mdm_publish_sub_get(db, c->id, &after, err);
    if (st == MDM_OK) {
        char target[48];
        snprintf(target, sizeof target, "subscription:%lld", (long long)c->id);
        st = mdm_audit_append(db, c->who->name, c->who->role, action, target, NULL, before,
                              c->op == 'd' ? after : c->out, err);
    }
    json_decref(before);
    json_decref(after);
    return st;
}

static mdm_status sub_write(mdm_db *db, char op, int64_t id, const json_t *body,
                            const mdm_audit_actor *who, json_t **out, mdm_err *err)
{
    if (out)
        *out = NULL;
    mdm_status st0 = check_who(who, err);
    if (st0 != MDM_OK)
        return st0;
    sub_tx c = {op, id, body, who, NULL};
    mdm_status st = mdm_db_run_tx(db, "subscription_write", sub_tx_fn, &c, err);
    if (st == MDM_OK && out)
        *out = c.out;
    else
        json_decref(c.out);
    return st;
}

mdm_status mdm_publish_sub_create(mdm_db *db, const json_t *body, const mdm_audit_actor *who,
                                  json_t **out, mdm_err *err)
{
    return sub_write(db, 'c', 0, body, who, out, err);
}

mdm_status mdm_publish_sub_update(mdm_db *db, int64_t id, const json_t *body,
                                  const mdm_audit_actor *who, json_t **out, mdm_err *err)
{
    return sub_write(db, 'u', id, body, who, out, err);
}

mdm_status mdm_publish_sub_delete(mdm_db *db, int64_t id, const mdm_audit_actor *who, mdm_err *err)
{
    return sub_write(db, 'd', id, NULL, who, NULL, err);
}

/* Metrics */

static const mdm_db_stmt st_metrics = {
    "publish_metrics",
    "SELECT s.id, s.source, "
    "count(d.id) FILTER (WHERE d.state = 'pending') AS pending, "
    "count(d.id) FILTER (WHERE d.state = 'dead') AS dead, "
    "count(d.id) FILTER (WHERE d.state = 'rejected') AS rejected, "
    "coalesce(extract(epoch FROM now() - min(o.created_at) FILTER (WHERE d.state = 'pending')), "
    "0)::double precision AS oldest_pending_age_seconds "
    "FROM subscription s LEFT JOIN delivery d ON d.subscription_id = s.id "
    "AND d.state IN ('pending', 'dead', 'rejected') LEFT JOIN outbox o ON o.seq = d.seq "
    "WHERE s.active GROUP BY s.id, s.source ORDER BY s.id",
    0};
static const mdm_db_stmt st_fanout_lag = {
    "publish_fanout_lag",
    "SELECT greatest((SELECT coalesce(max(seq), 0) FROM outbox) - "
    "(SELECT last_seq FROM publish_cursor), 0) AS lag",
    0};

mdm_status mdm_publish_metrics(mdm_db *db, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &st_metrics, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    json_t *subs = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = json_object();
        set_int_or_null(o, "id", res, r);
        set_str_or_null(o, "source", res, r);
        set_int_or_null(o, "pending", res, r);
        set_int_or_null(o, "dead", res, r);
        set_int_or_null(o, "rejected", res, r);
        json_object_set_new(
            o, "oldest_pending_age_seconds",
            json_real(strtod(mdm_db_get(res, r, "oldest_pending_age_seconds", "0"), NULL)));
        json_array_append_new(subs, o);
    }
    PQclear(res);
    st = mdm_db_exec(db, &st_fanout_lag, NULL, &res, err);
    if (st != MDM_OK) {
        json_decref(subs);
        return st;
    }
    long long lag = mdm_db_get_ll(res, 0, "lag", 0);
    PQclear(res);
    *out = json_pack(
        "{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "subscriptions", subs, "fanout_lag_events",
        (json_int_t)lag, "attempts_total", (json_int_t)atomic_load(&n_attempts), "failures_total",
        (json_int_t)atomic_load(&n_failures), "acknowledged_total",
        (json_int_t)atomic_load(&n_acknowledged), "rejected_total",
        (json_int_t)atomic_load(&n_rejected), "dead_total", (json_int_t)atomic_load(&n_dead),
        "skipped_total", (json_int_t)atomic_load(&n_skipped));
    return MDM_OK;
}

mdm_status mdm_publish_metrics_text(mdm_db *db, mdm_buf *out, mdm_err *err)
{
    json_t *m = NULL;
    mdm_status st = mdm_publish_metrics(db, &m, err);
    if (st != MDM_OK)
        return st;
    static const struct {
        const char *key, *help;
    } counters[] = {
        {"attempts_total", "HTTP delivery attempts made by this process"},
        {"failures_total", "delivery attempts that failed (will be retried or went dead)"},
        {"acknowledged_total", "deliveries acknowledged by receivers"},
        {"rejected_total", "deliveries rejected by receivers (422)"},
        {"dead_total", "deliveries that went dead after max_attempts"},
        {"skipped_total", "deliveries skipped: nothing left to send"},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        mdm_buf_printf(out,
                       "# HELP mdm_publish_%s %s\n# TYPE mdm_publish_%s counter\n"
                       "mdm_publish_%s %lld\n",
                       counters[i].key, counters[i].help, counters[i].key, counters[i].key,
                       (long long)json_integer_value(json_object_get(m, counters[i].key)));
    mdm_buf_printf(out,
                   "# HELP mdm_publish_fanout_lag_events outbox events not yet fanned out\n"
                   "# TYPE mdm_publish_fanout_lag_events gauge\n"
                   "mdm_publish_fanout_lag_events %lld\n",
                   (long long)json_integer_value(json_object_get(m, "fanout_lag_events")));
    static const char *const gauges[] = {"pending", "dead", "rejected"};
    json_t *subs = json_object_get(m, "subscriptions");
    mdm_buf_puts(out, "# HELP mdm_publish_deliveries deliveries by state\n"
                      "# TYPE mdm_publish_deliveries gauge\n");
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        size_t i;
        json_t *s;
        json_array_foreach(subs, i, s) mdm_buf_printf(
            out, "mdm_publish_deliveries{subscription=\"%lld\",source=\"%s\",state=\"%s\"} %lld\n",
            (long long)json_integer_value(json_object_get(s, "id")),
            json_string_value(json_object_get(s, "source")), gauges[g],
            (long long)json_integer_value(json_object_get(s, gauges[g])));
    }
    mdm_buf_puts(out, "# HELP mdm_publish_lag_seconds age of the oldest pending delivery\n"
                      "# TYPE mdm_publish_lag_seconds gauge\n");
    size_t i;
    json_t *s;
    json_array_foreach(subs, i, s)
        mdm_buf_printf(out, "mdm_publish_lag_seconds{subscription=\"%lld\",source=\"%s\"} %.3f\n",
                       (long long)json_integer_value(json_object_get(s, "id")),
                       json_string_value(json_object_get(s, "source")),
                       json_real_value(json_object_get(s, "oldest_pending_age_seconds")));
    json_decref(m);
    return MDM_OK;
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_publish_erase = {
    "subject_erase_deliveries",
    "UPDATE delivery SET last_response = NULL WHERE entity_id = ANY($1::bigint[])", 1};

mdm_status mdm_publish_erase(mdm_db *db, const char *entities, mdm_err *err)
{
    const char *params[] = {entities};
    return mdm_db_exec(db, &stmt_publish_erase, params, NULL, err);
}
