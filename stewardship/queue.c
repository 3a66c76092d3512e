/* Review queue: listing with keyset paging, claim/assign, decisions, refresh.
 *
 * Invariants: every write locks the item row (FOR UPDATE) and checks its version before
 * changing anything; every steward-visible change bumps the version and writes one audit
 * row in the same transaction; decided and superseded items never change again. */
#include "stewardship/queue.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/assertion.h"
#include "mdm/audit.h"
#include "mdm/golden.h"
#include "mdm/locks.h"
#include "mdm/query.h"
#include "mdm/relation.h"
#include "mdm/resolve.h"
#include "mdm/review.h"
#include "mdm/score.h"
#include "stewardship/merge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_LOCK "SELECT pg_try_advisory_xact_lock(" MDM_LOCK_QUEUE_REFRESH ") AS got"

/* The summary columns of an item as one JSON text column "j". */
#define LABEL_OF(golden)                                                                           \
    "coalesce(nullif(" golden "->>'full_name', ''), nullif(concat_ws(' ', " golden                 \
    "->>'first_name', " golden "->>'last_name'), ''), '')"
#define SUMMARY                                                                                    \
    "json_build_object('id', r.id, 'kind', r.kind, 'record_id', r.record_id,"                      \
    " 'entity_id', r.entity_id, 'other_entity_id', r.other_entity_id, 'score', r.score,"           \
    " 'probability', r.probability, 'priority', r.priority, 'status', r.status,"                   \
    " 'assignee', r.assignee, 'decision', r.decision, 'reason', r.reason,"                         \
    " 'decided_by', r.decided_by, 'decided_at', mdm_ts(r.decided_at), 'version', r.version,"       \
    " 'guard', CASE WHEN jsonb_typeof(r.explanation) = 'object' THEN r.explanation->>'guard' END," \
    " 'created_at', mdm_ts(r.created_at), 'updated_at', mdm_ts(r.updated_at),"                     \
    " 'scored_at', mdm_ts(r.scored_at),"                                                           \
    " 'a_label', CASE WHEN r.kind = 'record_entity' THEN"                                          \
    "   (SELECT " LABEL_OF(                                                                        \
        "s.normalized") " FROM source_record s WHERE s.id = r.record_id)"                          \
                        "   ELSE (SELECT " LABEL_OF(                                               \
                            "e.golden") " FROM entity e WHERE e.id = r.entity_id) END,"            \
                                        " 'b_label', CASE WHEN r.kind = 'record_entity' THEN"      \
                                        "   (SELECT " LABEL_OF(                                    \
                                            "e.golden") " FROM entity e WHERE e.id = r.entity_id)" \
                                                        "   ELSE (SELECT " LABEL_OF(               \
                                                            "e.golden") " FROM entity e WHERE "    \
                                                                        "e.id = "                  \
                                                                        "r.other_entity_id) END"   \
                                                                        ")::text AS j"

/* The filters of a listing; src, older, newer: the parameter numbers of the source filter
 * and of the age bounds in days (they differ between the list and the count). */
/* quality: bounds on the data-quality scores (mdm_quality_within, sql/056): an item passes
 * when its record (record_entity) or a golden record on either side scores within them */
#define FILTERS(src, older, newer, quality)                                                        \
    "   AND ($2::text IS NULL OR ($2 = '-' AND r.assignee IS NULL) OR r.assignee = $2)"            \
    "   AND ($3::text IS NULL OR r.kind = $3)"                                                     \
    "   AND ($4::bigint = 0 OR r.entity_id = $4 OR r.other_entity_id = $4)"                        \
    "   AND ($5::float8 IS NULL OR r.probability >= $5)"                                           \
    "   AND ($6::float8 IS NULL OR r.probability <= $6)"                                           \
    "   AND (" src "::text IS NULL"                                                                \
    "     OR EXISTS (SELECT 1 FROM source_record s WHERE s.id = r.record_id AND s.source = " src   \
    ")"                                                                                            \
    "     OR EXISTS (SELECT 1 FROM membership m JOIN source_record s ON s.id = m.record_id"        \
    "       WHERE m.active AND m.entity_id IN (r.entity_id, r.other_entity_id)"                    \
    "         AND s.source = " src "))"                                                            \
    "   AND (" older "::float8 IS NULL"                                                            \
    "     OR r.created_at <= now() - " older "::float8 * interval '1 day')"                        \
    "   AND (" newer "::float8 IS NULL OR r.created_at > now() - " newer                           \
    "::float8 * interval '1 day')"                                                                 \
    "   AND (" quality "::jsonb IS NULL"                                                           \
    "     OR EXISTS (SELECT 1 FROM unnest(ARRAY[r.entity_id, r.other_entity_id]) x(id)"            \
    "       WHERE x.id IS NOT NULL AND mdm_quality_within(mdm_quality_entity(x.id), " quality      \
    "::jsonb))"                                                                                    \
    "     OR EXISTS (SELECT 1 FROM source_record s WHERE s.id = r.record_id AND "                  \
    "       mdm_quality_within(mdm_quality_record(s.normalized,"                                   \
    "         COALESCE(s.source_updated_at, s.received_at)), " quality "::jsonb)))"

#define LIST_WHERE                                                                                 \
    " FROM review_item r"                                                                          \
    " WHERE r.status = ANY ($1::text[])" FILTERS("$10", "$11", "$12", "$13")

typedef struct sort_variant {
    const char *name;
    mdm_db_stmt stmt;
} sort_variant;

/* One statement per sort order: the keyset condition ($7 key text, $8 id) and ORDER BY
 * are fixed SQL text, never built from input. */
static const sort_variant sorts[] = {
    {"priority",
     {"queue_list_priority",
      "SELECT r.id, r.priority::text AS k, " SUMMARY LIST_WHERE
      "   AND ($7::text IS NULL OR r.priority < $7::float8"
      "        OR (r.priority = $7::float8 AND r.id > $8::bigint))"
      " ORDER BY r.priority DESC, r.id LIMIT $9",
      13}},
    {"created",
     {"queue_list_created",
      "SELECT r.id, r.created_at::text AS k, " SUMMARY LIST_WHERE
      "   AND ($7::text IS NULL OR (r.created_at, r.id) > ($7::timestamptz, $8::bigint))"
      " ORDER BY r.created_at, r.id LIMIT $9",
      13}},
    {"-created",
     {"queue_list_created_desc",
      "SELECT r.id, r.created_at::text AS k, " SUMMARY LIST_WHERE
      "   AND ($7::text IS NULL OR (r.created_at, r.id) < ($7::timestamptz, $8::bigint))"
      " ORDER BY r.created_at DESC, r.id DESC LIMIT $9",
      13}},
    {"probability",
     {"queue_list_probability",
      "SELECT r.id, r.probability::text AS k, " SUMMARY LIST_WHERE
      "   AND ($7::text IS NULL OR (r.probability, r.id) > ($7::float8, $8::bigint))"
      " ORDER BY r.probability, r.id LIMIT $9",
      13}},
    {"-probability",
     {"queue_list_probability_desc",
      "SELECT r.id, r.probability::text AS k, " SUMMARY LIST_WHERE
      "   AND ($7::text IS NULL OR (r.probability, r.id) < ($7::float8, $8::bigint))"
      " ORDER BY r.probability DESC, r.id DESC LIMIT $9",
      13}},
};

/* Counts for the queue's header: per status under every other filter, and (under the
 * status filter too) the total, the items of $10 (the caller) and the unclaimed ones. */
static const mdm_db_stmt stmt_counts = {
    "queue_counts",
    "SELECT json_build_object('total', count(*) FILTER (WHERE r.status = ANY ($1::text[])),"
    " 'mine', count(*) FILTER (WHERE r.status = ANY ($1::text[]) AND r.assignee = $10),"
    " 'unclaimed', count(*) FILTER (WHERE r.status = ANY ($1::text[]) AND r.assignee IS NULL"
    "   AND r.status IN ('open', 'deferred')),"
    " 'by_status', json_build_object("
    "   'open', count(*) FILTER (WHERE r.status = 'open'),"
    "   'claimed', count(*) FILTER (WHERE r.status = 'claimed'),"
    "   'deferred', count(*) FILTER (WHERE r.status = 'deferred'),"
    "   'decided', count(*) FILTER (WHERE r.status = 'decided'),"
    "   'superseded', count(*) FILTER (WHERE r.status = 'superseded')),"
    " 'sources', (SELECT coalesce(json_agg(json_build_object('code', code, 'name', name)"
    "   ORDER BY code), '[]'::json) FROM source_system))::text AS j"
    " FROM review_item r WHERE true" FILTERS("$7", "$8", "$9", "$11"),
    11};

static const mdm_db_stmt stmt_summary = {
    "queue_summary", "SELECT " SUMMARY " FROM review_item r WHERE r.id = $1", 1};

static const mdm_db_stmt stmt_detail = {
    "queue_detail",
    "SELECT r.kind, r.record_id, r.entity_id, r.other_entity_id, r.explanation::text AS expl"
    " FROM review_item r WHERE r.id = $1",
    1};

/* An entity side: the golden record (members are added by side_members). */
#define ENTITY_SIDE(id)                                                                            \
    "(SELECT json_build_object('type', 'entity', 'entity_id', e.id, 'version', e.version,"         \
    " 'status', e.status, 'survivor_id', e.survivor_id, 'updated_at', mdm_ts(e.updated_at),"       \
    " 'fields', e.golden)"                                                                         \
    " FROM entity e WHERE e.id = " id ")"

static const mdm_db_stmt stmt_record_side = {
    "queue_record_side",
    "SELECT json_build_object('type', 'record', 'record_id', s.id, 'source', s.source,"
    " 'source_name', ss.name, 'source_key', s.source_key, 'entity_id', m.entity_id,"
    " 'deleted', s.deleted, 'source_updated_at', mdm_ts(s.source_updated_at),"
    " 'received_at', mdm_ts(s.received_at),"
    " 'fields', s.normalized - 'keys' - 'source' - 'source_key' - 'issues',"
    " 'entity', " ENTITY_SIDE("m.entity_id") ")::text AS j"
                                             " FROM source_record s LEFT JOIN membership m ON "
                                             "m.record_id = s.id AND m.active"
                                             " LEFT JOIN source_system ss ON ss.code = s.source"
                                             " WHERE s.id = $1",
    1};

static const mdm_db_stmt stmt_entity_side = {"queue_entity_side",
                                             "SELECT " ENTITY_SIDE("$1::bigint") "::text AS j", 1};

/* Other undecided items about the same record (or the same pair of entities): candidates
 * competing for one record, shown together so one decision is made knowing the others. */
static const mdm_db_stmt stmt_competing = {
    "queue_competing",
    "SELECT coalesce(json_agg(json_build_object('id', o.id, 'kind', o.kind, 'status', o.status,"
    " 'probability', o.probability, 'entity_id', o.entity_id, 'other_entity_id',"
    " o.other_entity_id, 'version', o.version) ORDER BY o.probability DESC, o.id), "
    "'[]'::json)::text"
    " AS j FROM review_item r JOIN review_item o ON o.id <> r.id"
    "  AND o.status IN ('open', 'claimed', 'deferred')"
    "  AND ((r.record_id IS NOT NULL AND o.record_id = r.record_id)"
    "    OR (r.kind = 'entity_entity' AND o.kind = 'entity_entity'"
    "        AND (o.entity_id IN (r.entity_id, r.other_entity_id)"
    "          OR o.other_entity_id IN (r.entity_id, r.other_entity_id))))"
    " WHERE r.id = $1",
    1};

static const mdm_db_stmt stmt_lock = {
    "queue_lock",
    "SELECT id, kind, record_id, entity_id, other_entity_id, probability, status, assignee,"
    " version FROM review_item WHERE id = $1 FOR UPDATE",
    1};

static const mdm_db_stmt stmt_refresh_lock = {"queue_refresh_lock", REFRESH_LOCK, 0};

static const mdm_db_stmt stmt_priority_inputs = {
    "queue_priority_inputs",
    "SELECT r.id, r.probability, r.priority,"
    " extract(epoch FROM now() - r.created_at) / 86400.0 AS age_days,"
    " (SELECT count(*) FROM membership m WHERE m.active AND (m.entity_id = r.entity_id"
    "   OR m.entity_id = r.other_entity_id OR m.entity_id = (SELECT m2.entity_id"
    "   FROM membership m2 WHERE m2.record_id = r.record_id AND m2.active))) AS size"
    " FROM review_item r WHERE r.status IN ('open', 'claimed', 'deferred')",
    0};

double mdm_queue_priority(double probability, long cluster_size, double age_days)
{
    if (!(probability >= 0))
        probability = 0;
    if (probability > 1)
        probability = 1;
    if (cluster_size < 1)
        cluster_size = 1;
    if (!(age_days >= 0))
        age_days = 0;
    double uncertainty = 1.0 - fabs(2.0 * probability - 1.0);
    double size = fmin(1.0, log2((double)cluster_size) / 5.0);
    double age = fmin(1.0, age_days / 14.0);
    return 100.0 * (0.6 * uncertainty + 0.25 * size + 0.15 * age);
}

static mdm_status check_actor(const mdm_queue_actor *who, mdm_err *err)
{
    if (!who || !who->name || !*who->name)
        return mdm_err_set_field(err, MDM_EINVAL, "/actor", "the acting steward is required");
    if (!who->role || !*who->role)
        return mdm_err_set_field(err, MDM_EINVAL, "/role", "the acting role is required");
    return MDM_OK;
}

/* ---- Refresh ---------------------------------------------------------------------- */

/* Closes stale items (only item `only` when non-zero) with one audit row each. */
static mdm_status supersede(mdm_db *db, int64_t only, long *closed, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_review_supersede_stale(db, only, &res, err);
    if (st != MDM_OK)
        return st;
    int n = PQntuples(res);
    for (int i = 0; i < n && st == MDM_OK; i++) {
        char target[48];
        snprintf(target, sizeof target, "review_item:%s", mdm_db_get(res, i, "id", "?"));
        json_t *after = json_pack("{s:s,s:I}", "status", "superseded", "version",
                                  (json_int_t)mdm_db_get_ll(res, i, "version", 0));
        st = mdm_audit_append(db, "system", "system", "review.supersede", target,
                              mdm_db_get(res, i, "why", NULL), NULL, after, err);
        json_decref(after);
    }
    if (closed)
        *closed = n;
    if (n)
        mdm_log(MDM_LOG_INFO, "event=review_superseded count=%d", n);
    PQclear(res);
    return st;
}

static mdm_status reprioritize(mdm_db *db, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_priority_inputs, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    mdm_buf ids = {0}, pri = {0};
    mdm_buf_putc(&ids, '{');
    mdm_buf_putc(&pri, '{');
    int changed = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        double p = strtod(mdm_db_get(res, i, "probability", "0"), NULL);
        double old = strtod(mdm_db_get(res, i, "priority", "0"), NULL);
        double age = strtod(mdm_db_get(res, i, "age_days", "0"), NULL);
        long size = (long)mdm_db_get_ll(res, i, "size", 1);
        double now = mdm_queue_priority(p, size, age);
        if (fabs(now - old) < 1e-6)
            continue;
        mdm_buf_printf(&ids, "%s%s", changed ? "," : "", mdm_db_get(res, i, "id", "0"));
        mdm_buf_printf(&pri, "%s%.17g", changed ? "," : "", now);
        changed++;
    }
    PQclear(res);
    mdm_buf_putc(&ids, '}');
    mdm_buf_putc(&pri, '}');
    if (changed) {
        st = mdm_review_set_priorities(db, ids.data, pri.data, err);
    }
    mdm_buf_free(&ids);
    mdm_buf_free(&pri);
    return st;
}

typedef struct refresh_ctx {
    long closed;
} refresh_ctx;

static mdm_status refresh_fn(mdm_db *db, void *arg, mdm_err *err)
{
    refresh_ctx *c = arg;
    c->closed = 0;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_refresh_lock, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    bool got = strcmp(mdm_db_get(res, 0, "got", "f"), "t") == 0;
    PQclear(res);
    if (!got) /* another refresh is running right now: its result is as good */
        return MDM_OK;
    st = supersede(db, 0, &c->closed, err);
    if (st == MDM_OK)
        st = reprioritize(db, err);
    return st;
}

mdm_status mdm_queue_refresh(mdm_db *db, long *closed, mdm_err *err)
{
    refresh_ctx c = {0};
    mdm_status st = mdm_db_run_tx(db, "queue_refresh", refresh_fn, &c, err);
    if (closed)
        *closed = st == MDM_OK ? c.closed : 0;
    return st;
}

/* ---- Listing ---------------------------------------------------------------------- */

static const char *const statuses[] = {"open",    "claimed",    "deferred",
                                       "decided", "superseded", NULL};

/* Validates a comma list of statuses into a PostgreSQL array literal. */
static mdm_status status_array(const char *list, mdm_buf *out, mdm_err *err)
{
    if (!list || !*list)
        list = "open,claimed";
    mdm_buf_putc(out, '{');
    const char *p = list;
    int n = 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        int known = 0;
        for (int i = 0; statuses[i]; i++)
            if (strlen(statuses[i]) == len && strncmp(statuses[i], p, len) == 0)
                known = 1;
        if (!known)
            return mdm_err_set_field(err, MDM_EINVAL, "/status",
                                     "unknown status \"%.*s\" (open, claimed, deferred, "
                                     "decided, superseded)",
                                     (int)(len > 40 ? 40 : len), p);
        mdm_buf_printf(out, "%s%.*s", n++ ? "," : "", (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    mdm_buf_putc(out, '}');
    return MDM_OK;
}

/* Cursor: hex of "v1|SORT|KEY|ID"; opaque to clients. */
static char *cursor_make(const char *sort, const char *key, const char *id)
{
    char *plain = mdm_xasprintf("v1|%s|%s|%s", sort, key, id);
    size_t n = strlen(plain);
    char *hex = mdm_xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)plain[i]);
    hex[2 * n] = '\0';
    free(plain);
    return hex;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes a cursor made for sort into key and id (new strings). */
static mdm_status cursor_parse(const char *cursor, const char *sort, char **key, char **id,
                               mdm_err *err)
{
    size_t n = strlen(cursor);
    if (n % 2 || n > 400)
        goto bad;
    char *plain = mdm_xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(cursor[2 * i]), lo = hexval(cursor[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(plain);
            goto bad;
        }
        plain[i] = (char)(hi * 16 + lo);
    }
    plain[n / 2] = '\0';
    char *f[4] = {0};
    char *save = NULL, *tok = strtok_r(plain, "|", &save);
    int k = 0;
    while (tok && k < 4) {
        f[k++] = tok;
        tok = strtok_r(NULL, "|", &save);
    }
    if (k != 4 || tok || strcmp(f[0], "v1") != 0 || strcmp(f[1], sort) != 0 ||
        strspn(f[3], "0123456789") != strlen(f[3])) {
        free(plain);
        goto bad;
    }
    *key = mdm_xstrdup(f[2]);
    *id = mdm_xstrdup(f[3]);
    free(plain);
    return MDM_OK;
bad:
    return mdm_err_set_field(err, MDM_EINVAL, "/cursor",
                             "cursor is not one this list gave out (with sort \"%s\")", sort);
}

/* The numeric filters as parameter texts. */
static void filter_texts(const mdm_queue_filter *f, char ent[MDM_DB_ID_LEN], char minp[32],
                         char maxp[32], char mina[32], char maxa[32])
{
    mdm_db_id(ent, f->entity_id);
    snprintf(minp, 32, "%.17g", f->min_probability);
    snprintf(maxp, 32, "%.17g", f->max_probability);
    snprintf(mina, 32, "%.17g", f->min_age_days);
    snprintf(maxa, 32, "%.17g", f->max_age_days);
}

mdm_status mdm_queue_counts(mdm_db *db, const mdm_queue_filter *f, const char *me, json_t **out,
                            mdm_err *err)
{
    *out = NULL;
    mdm_buf st_arr = {0};
    mdm_status st = status_array(f->status, &st_arr, err);
    if (st != MDM_OK) {
        mdm_buf_free(&st_arr);
        return st;
    }
    char ent[MDM_DB_ID_LEN], minp[32], maxp[32], mina[32], maxa[32];
    filter_texts(f, ent, minp, maxp, mina, maxa);
    const char *params[] = {st_arr.data,
                            f->assignee && *f->assignee ? f->assignee : NULL,
                            f->kind && *f->kind ? f->kind : NULL,
                            ent,
                            f->has_min ? minp : NULL,
                            f->has_max ? maxp : NULL,
                            f->source && *f->source ? f->source : NULL,
                            f->has_min_age ? mina : NULL,
                            f->has_max_age ? maxa : NULL,
                            me ? me : "",
                            f->quality};
    PGresult *res = NULL;
    st = mdm_db_exec(db, &stmt_counts, params, &res, err);
    if (st == MDM_OK)
        *out = json_loads(mdm_db_get(res, 0, "j", "{}"), 0, NULL);
    PQclear(res);
    mdm_buf_free(&st_arr);
    return st;
}

mdm_status mdm_queue_list(mdm_db *db, const mdm_queue_filter *f, json_t **items, char **next_cursor,
                          mdm_err *err)
{
    *items = NULL;
    if (next_cursor)
        *next_cursor = NULL;
    const char *sort = f->sort && *f->sort ? f->sort : "priority";
    const sort_variant *v = NULL;
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        if (strcmp(sorts[i].name, sort) == 0)
            v = &sorts[i];
    if (!v)
        return mdm_err_set_field(err, MDM_EINVAL, "/sort",
                                 "unknown sort \"%.40s\" (priority, created, -created, "
                                 "probability, -probability)",
                                 sort);
    int limit = f->limit ? f->limit : 50;
    if (limit < 1 || limit > 500)
        return mdm_err_set_field(err, MDM_EINVAL, "/limit", "limit must be between 1 and 500");
    if (f->kind && *f->kind && strcmp(f->kind, "record_entity") && strcmp(f->kind, "entity_entity"))
        return mdm_err_set_field(err, MDM_EINVAL, "/kind",
                                 "kind must be record_entity or entity_entity");
    if ((f->has_min && !(f->min_probability >= 0 && f->min_probability <= 1)) ||
        (f->has_max && !(f->max_probability >= 0 && f->max_probability <= 1)))
        return mdm_err_set_field(err, MDM_EINVAL,
                                 f->has_min ? "/min_probability" : "/max_probability",
                                 "probability bounds must be in [0, 1]");
    if ((f->has_min_age && !(f->min_age_days >= 0)) || (f->has_max_age && !(f->max_age_days >= 0)))
        return mdm_err_set_field(err, MDM_EINVAL,
                                 f->has_min_age ? "/min_age_days" : "/max_age_days",
                                 "ages are days, zero or more");
    mdm_buf st_arr = {0};
    char *ckey = NULL, *cid = NULL;
    PGresult *res = NULL;
    mdm_status st = status_array(f->status, &st_arr, err);
    if (st != MDM_OK)
        goto out;
    if (f->cursor && *f->cursor && (st = cursor_parse(f->cursor, sort, &ckey, &cid, err)))
        goto out;
    st = mdm_queue_refresh(db, NULL, err);
    if (st != MDM_OK)
        goto out;
    char ent[MDM_DB_ID_LEN], minp[32], maxp[32], mina[32], maxa[32], lim[16];
    filter_texts(f, ent, minp, maxp, mina, maxa);
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *params[] = {st_arr.data,
                            f->assignee && *f->assignee ? f->assignee : NULL,
                            f->kind && *f->kind ? f->kind : NULL,
                            ent,
                            f->has_min ? minp : NULL,
                            f->has_max ? maxp : NULL,
                            ckey,
                            cid ? cid : "0",
                            lim,
                            f->source && *f->source ? f->source : NULL,
                            f->has_min_age ? mina : NULL,
                            f->has_max_age ? maxa : NULL,
                            f->quality};
    st = mdm_db_exec(db, &v->stmt, params, &res, err);
    if (st != MDM_OK)
        goto out;
    int n = PQntuples(res);
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++) {
        json_t *row = json_loads(mdm_db_get(res, i, "j", "null"), 0, NULL);
        if (row)
            json_array_append_new(arr, row);
    }
    if (n > limit && next_cursor)
        *next_cursor = cursor_make(sort, mdm_db_get(res, limit - 1, "k", ""),
                                   mdm_db_get(res, limit - 1, "id", "0"));
    *items = arr;
out:
    PQclear(res);
    free(ckey);
    free(cid);
    mdm_buf_free(&st_arr);
    return st;
}

/* ---- Reading one item ------------------------------------------------------------- */

static json_t *json_row(mdm_db *db, const mdm_db_stmt *stmt, const char *id, mdm_status *st,
                        mdm_err *err)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    *st = mdm_db_exec(db, stmt, params, &res, err);
    if (*st != MDM_OK)
        return NULL;
    json_t *j = PQntuples(res) ? json_loads(mdm_db_get(res, 0, "j", "null"), 0, NULL) : NULL;
    PQclear(res);
    return j;
}

static json_t *summary(mdm_db *db, int64_t id, mdm_status *st, mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, id);
    return json_row(db, &stmt_summary, ids, st, err);
}

/* Adds "members" (every member record in full) and "related" (its household members,
 * people at the same address, steward-asserted relations) to an entity side, or to the
 * entity of a record side. */
static mdm_status side_members(mdm_db *db, json_t *side, mdm_err *err)
{
    json_t *e =
        json_is_object(json_object_get(side, "entity")) ? json_object_get(side, "entity") : side;
    json_t *id = json_object_get(e, "entity_id");
    if (!json_is_integer(id) || strcmp(json_string_value(json_object_get(e, "type")), "entity"))
        return MDM_OK;
    json_t *members = NULL, *related = NULL;
    mdm_status st = mdm_query_member_records(db, json_integer_value(id), &members, err);
    if (st == MDM_OK)
        json_object_set_new(e, "members", members);
    /* its household and related golden records (mdm/relation.h), shown beside the
     * evidence but never part of it */
    if (st == MDM_OK)
        st = mdm_relation_list(db, json_integer_value(id), &related, err);
    if (st == MDM_OK) {
        json_object_set(e, "related", json_object_get(related, "items"));
        json_decref(related);
    }
    return st;
}

mdm_status mdm_queue_get(mdm_db *db, int64_t id, json_t **item, mdm_err *err)
{
    *item = NULL;
    mdm_status st;
    json_t *j = summary(db, id, &st, err);
    if (st != MDM_OK)
        return st;
    if (!j)
        return mdm_err_set(err, MDM_ENOTFOUND, "review item %lld does not exist", (long long)id);
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, id);
    const char *params[] = {ids};
    PGresult *res = NULL;
    st = mdm_db_exec(db, &stmt_detail, params, &res, err);
    if (st != MDM_OK) {
        json_decref(j);
        return st;
    }
    json_t *expl = json_loads(mdm_db_get(res, 0, "expl", "[]"), 0, NULL);
    json_object_set_new(j, "explanation", expl ? expl : json_array());
    bool rec = strcmp(mdm_db_get(res, 0, "kind", ""), "record_entity") == 0;
    char a_id[24], b_id[24];
    snprintf(a_id, sizeof a_id, "%s", mdm_db_get(res, 0, rec ? "record_id" : "entity_id", "0"));
    snprintf(b_id, sizeof b_id, "%s",
             mdm_db_get(res, 0, rec ? "entity_id" : "other_entity_id", "0"));
    PQclear(res);
    json_t *a = json_row(db, rec ? &stmt_record_side : &stmt_entity_side, a_id, &st, err);
    json_t *b = st == MDM_OK ? json_row(db, &stmt_entity_side, b_id, &st, err) : NULL;
    if (st != MDM_OK) {
        json_decref(a);
        json_decref(j);
        return st;
    }
    json_t *comp = st == MDM_OK ? json_row(db, &stmt_competing, ids, &st, err) : NULL;
    if (st != MDM_OK) {
        json_decref(a);
        json_decref(b);
        json_decref(j);
        return st;
    }
    if (st == MDM_OK)
        st = side_members(db, a, err);
    if (st == MDM_OK)
        st = side_members(db, b, err);
    if (st != MDM_OK) {
        json_decref(comp);
        json_decref(a);
        json_decref(b);
        json_decref(j);
        return st;
    }
    json_object_set_new(j, "a", a ? a : json_null());
    json_object_set_new(j, "b", b ? b : json_null());
    json_object_set_new(j, "competing", comp ? comp : json_array());
    *item = j;
    return MDM_OK;
}

/* ---- Claim, assign ---------------------------------------------------------------- */

typedef struct locked_item {
    char id[MDM_DB_ID_LEN];
    char kind[16];
    int64_t record_id, entity_id, other_entity_id;
    double probability;
    char status[16];
    char assignee[MDM_AUDIT_MAX_NAME + 1];
    int version;
} locked_item;

/* Locks the item and checks that it can still change at `version` by who. */
static mdm_status lock_item(mdm_db *db, int64_t id, int version, const mdm_queue_actor *who,
                            locked_item *it, mdm_err *err)
{
    mdm_db_id(it->id, id);
    const char *params[] = {it->id};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_lock, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "review item %lld does not exist", (long long)id);
    }
    snprintf(it->kind, sizeof it->kind, "%s", mdm_db_get(res, 0, "kind", ""));
    it->record_id = mdm_db_get_ll(res, 0, "record_id", 0);
    it->entity_id = mdm_db_get_ll(res, 0, "entity_id", 0);
    it->other_entity_id = mdm_db_get_ll(res, 0, "other_entity_id", 0);
    it->probability = strtod(mdm_db_get(res, 0, "probability", "0"), NULL);
    snprintf(it->status, sizeof it->status, "%s", mdm_db_get(res, 0, "status", ""));
    snprintf(it->assignee, sizeof it->assignee, "%s", mdm_db_get(res, 0, "assignee", ""));
    it->version = (int)mdm_db_get_ll(res, 0, "version", 0);
    PQclear(res);
    if (!strcmp(it->status, "decided") || !strcmp(it->status, "superseded"))
        return mdm_err_set(err, MDM_ECONFLICT, "review item %lld is already %s", (long long)id,
                           it->status);
    if (version != it->version) {
        mdm_err_set(err, MDM_ECONFLICT, "review item %lld is at version %d, not %d", (long long)id,
                    it->version, version);
        mdm_err_detail(err, "reload the item and decide again");
        return MDM_ECONFLICT;
    }
    if (it->assignee[0] && strcmp(it->assignee, who->name) != 0 && strcmp(who->role, "admin") != 0)
        return mdm_err_set(err, MDM_ECONFLICT, "review item %lld is claimed by %s", (long long)id,
                           it->assignee);
    return MDM_OK;
}

static json_t *item_state(const locked_item *it)
{
    return json_pack("{s:s,s:s?,s:i}", "status", it->status, "assignee",
                     it->assignee[0] ? it->assignee : NULL, "version", it->version);
}

typedef struct claim_ctx {
    int64_t id;
    int version;
    const char *assignee; /* NULL = release */
    const char *action;
    const mdm_queue_actor *who;
    json_t *item;
} claim_ctx;

static mdm_status claim_fn(mdm_db *db, void *arg, mdm_err *err)
{
    claim_ctx *c = arg;
    locked_item it;
    mdm_status st = lock_item(db, c->id, c->version, c->who, &it, err);
    if (st != MDM_OK)
        return st;
    bool same = c->assignee ? strcmp(it.assignee, c->assignee) == 0 : it.assignee[0] == '\0';
    if (!same) {
        st = mdm_review_set_assignee(db, c->id, c->assignee, err);
        if (st != MDM_OK)
            return st;
        json_t *before = item_state(&it);
        json_t *after = json_pack("{s:s,s:s?,s:i}", "status", c->assignee ? "claimed" : "open",
                                  "assignee", c->assignee, "version", it.version + 1);
        char target[48];
        snprintf(target, sizeof target, "review_item:%s", it.id);
        st = mdm_audit_append(db, c->who->name, c->who->role, c->action, target, NULL, before,
                              after, err);
        json_decref(before);
        json_decref(after);
        if (st != MDM_OK)
            return st;
    }
    json_decref(c->item);
    c->item = summary(db, c->id, &st, err);
    return st;
}

static mdm_status claim_or_assign(mdm_db *db, claim_ctx *c, json_t **item, mdm_err *err)
{
    mdm_status st = check_actor(c->who, err);
    if (st != MDM_OK)
        return st;
    if (c->assignee && strlen(c->assignee) > MDM_AUDIT_MAX_NAME)
        return mdm_err_set_field(err, MDM_EINVAL, "/assignee", "assignee is too long");
    st = mdm_db_run_tx(db, c->action, claim_fn, c, err);
    if (st == MDM_OK && item)
        *item = c->item;
    else
        json_decref(c->item);
    return st;
}

mdm_status mdm_queue_claim(mdm_db *db, int64_t id, int version, const mdm_queue_actor *who,
                           json_t **item, mdm_err *err)
{
    if (item)
        *item = NULL;
    claim_ctx c = {id, version, who ? who->name : NULL, "review.claim", who, NULL};
    return claim_or_assign(db, &c, item, err);
}

mdm_status mdm_queue_assign(mdm_db *db, int64_t id, int version, const char *assignee,
                            const mdm_queue_actor *who, json_t **item, mdm_err *err)
{
    if (item)
        *item = NULL;
    claim_ctx c = {id,  version, assignee && *assignee ? assignee : NULL, "review.assign",
                   who, NULL};
    return claim_or_assign(db, &c, item, err);
}

/* ---- Reopen ----------------------------------------------------------------------- */

static const mdm_db_stmt stmt_reopen_lock = {
    "queue_reopen_lock",
    "SELECT status, decision, decided_by, mdm_ts(decided_at) AS decided_at, version"
    " FROM review_item WHERE id = $1 FOR UPDATE",
    1};

typedef struct reopen_ctx {
    int64_t id;
    int version;
    const char *reason;
    const mdm_queue_actor *who;
    json_t *item;
} reopen_ctx;

static mdm_status reopen_fn(mdm_db *db, void *arg, mdm_err *err)
{
    reopen_ctx *c = arg;
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, c->id);
    const char *p[] = {ids};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_reopen_lock, p, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "review item %lld does not exist", (long long)c->id);
    }
    char status[16], decision[16];
    snprintf(status, sizeof status, "%s", mdm_db_get(res, 0, "status", ""));
    snprintf(decision, sizeof decision, "%s", mdm_db_get(res, 0, "decision", ""));
    int version = (int)mdm_db_get_ll(res, 0, "version", 0);
    json_t *before = json_pack("{s:s,s:s,s:s?,s:s?,s:i}", "status", status, "decision", decision,
                               "decided_by", mdm_db_get(res, 0, "decided_by", NULL), "decided_at",
                               mdm_db_get(res, 0, "decided_at", NULL), "version", version);
    PQclear(res);
    if (strcmp(status, "decided") != 0)
        st = mdm_err_set(err, MDM_ECONFLICT, "review item %lld is %s, not decided",
                         (long long)c->id, status);
    else if (version != c->version)
        st = mdm_err_set(err, MDM_ECONFLICT, "review item %lld is at version %d, not %d",
                         (long long)c->id, version, c->version);
    else if (!strcmp(decision, "match")) {
        st = mdm_err_set(err, MDM_ECONFLICT,
                         "review item %lld was accepted: its sides are one entity now",
                         (long long)c->id);
        mdm_err_detail(err, "undo the merge from the entity's history, or split the record off");
    }
    if (st == MDM_OK && !strcmp(decision, "no_match"))
        st = mdm_assertion_unassert_review(db, c->id, err);
    if (st == MDM_OK)
        st = mdm_review_reopen(db, c->id, err);
    if (st == MDM_OK) {
        char target[48];
        snprintf(target, sizeof target, "review_item:%s", ids);
        json_t *after = json_pack("{s:s,s:i}", "status", "open", "version", version + 1);
        st = mdm_audit_append(db, c->who->name, c->who->role, "review.reopen", target, c->reason,
                              before, after, err);
        json_decref(after);
    }
    json_decref(before);
    if (st == MDM_OK) {
        json_decref(c->item);
        c->item = summary(db, c->id, &st, err);
    }
    return st;
}

mdm_status mdm_queue_reopen(mdm_db *db, int64_t id, int version, const char *reason,
                            const mdm_queue_actor *who, json_t **item, mdm_err *err)
{
    if (item)
        *item = NULL;
    mdm_status st = check_actor(who, err);
    if (st != MDM_OK)
        return st;
    reopen_ctx c = {id, version, reason, who, NULL};
    st = mdm_db_run_tx(db, "review_reopen", reopen_fn, &c, err);
    if (st == MDM_OK && item)
        *item = c.item;
    else
        json_decref(c.item);
    return st;
}

/* ---- Decisions -------------------------------------------------------------------- */

/* Joins the two sides of a match decision (stewardship/merge.h). */
static mdm_status join_sides(mdm_db *db, const mdm_engine *ictx, const locked_item *it,
                             const mdm_queue_actor *who, const char *reason, int64_t *joined,
                             mdm_err *err)
{
    mdm_merge_actor ma = {who->name, who->role, reason};
    if (!strcmp(it->kind, "record_entity"))
        return mdm_merge_attach_record_locked(db, ictx, it->record_id, it->entity_id, &ma,
                                              it->probability, joined, err);
    return mdm_merge_entities_locked(db, ictx, it->entity_id, it->other_entity_id, &ma,
                                     it->probability, joined, err);
}

typedef struct decide_ctx {
    const mdm_engine *ictx;
    const mdm_queue_decision *d;
    const mdm_queue_actor *who;
    json_t *result;
} decide_ctx;

static mdm_status decide_fn(mdm_db *db, void *arg, mdm_err *err)
{
    decide_ctx *c = arg;
    const mdm_queue_decision *d = c->d;
    json_decref(c->result);
    c->result = NULL;
    locked_item it;
    mdm_status st = lock_item(db, d->id, d->version, c->who, &it, err);
    if (st != MDM_OK)
        return st;
    const char *reason = d->reason && *d->reason ? d->reason : NULL;
    json_t *after = json_object();
    int64_t joined = 0;
    if (!strcmp(d->decision, "match")) {
        st = mdm_assertion_label_review(db, d->id, "match", c->who->name, err);
        if (st == MDM_OK)
            st = join_sides(db, c->ictx, &it, c->who, reason, &joined, err);
        json_object_set_new(after, "entity_id", json_integer(joined));
    } else if (!strcmp(d->decision, "no_match")) {
        long asserted = 0;
        st = mdm_assertion_never_link_review(db, d->id, c->who->name, reason, &asserted, err);
        if (st == MDM_OK) {
            json_object_set_new(after, "assertions", json_integer(asserted));
            st = mdm_assertion_label_review(db, d->id, "no_match", c->who->name, err);
        }
    }
    if (st != MDM_OK) {
        json_decref(after);
        return st;
    }
    const char *status = strcmp(d->decision, "defer") ? "decided" : "deferred";
    int version = 0;
    st =
        mdm_review_set_decided(db, d->id, status, d->decision, reason, c->who->name, &version, err);
    if (st != MDM_OK) {
        json_decref(after);
        return st;
    }
    json_object_set_new(after, "status", json_string(status));
    json_object_set_new(after, "decision", json_string(d->decision));
    json_object_set_new(after, "version", json_integer(version));
    json_t *before = item_state(&it);
    char target[48];
    snprintf(target, sizeof target, "review_item:%s", it.id);
    st = mdm_audit_append(db, c->who->name, c->who->role, "review.decide", target, reason, before,
                          after, err);
    json_decref(before);
    if (st != MDM_OK) {
        json_decref(after);
        return st;
    }
    json_object_set_new(after, "id", json_integer(d->id));
    c->result = after;
    return MDM_OK;
}

typedef struct rescore_ctx {
    const mdm_engine *ictx;
    const char *only_id; /* NULL: every due item */
    long n;
} rescore_ctx;
static mdm_status rescore_fn(mdm_db *db, void *arg, mdm_err *err);

/* Brings one item up to date before a decision, committed whatever the decision's
 * outcome: closed if its evidence changed (the steward learns it is superseded, and it
 * stays closed), else re-scored if an earlier decision or an update changed its sides
 * since it was scored (a steward holding the old view then gets 409 instead of deciding
 * on, and labelling with, a probability that no longer holds). */
typedef struct refresh_one_ctx {
    int64_t id;
    const mdm_engine *ictx; /* NULL: no re-scoring */
} refresh_one_ctx;

static mdm_status refresh_one_fn(mdm_db *db, void *arg, mdm_err *err)
{
    refresh_one_ctx *c = arg;
    mdm_status st = supersede(db, c->id, NULL, err);
    if (st != MDM_OK || !c->ictx)
        return st;
    char ids[MDM_DB_ID_LEN];
    rescore_ctx rc = {c->ictx, mdm_db_id(ids, c->id), 0};
    return rescore_fn(db, &rc, err);
}

mdm_status mdm_queue_decide(mdm_db *db, const mdm_engine *ctx, const mdm_queue_decision *d,
                            const mdm_queue_actor *who, json_t **result, mdm_err *err)
{
    if (result)
        *result = NULL;
    mdm_status st = check_actor(who, err);
    if (st != MDM_OK)
        return st;
    if (!d->decision || (strcmp(d->decision, "match") && strcmp(d->decision, "no_match") &&
                         strcmp(d->decision, "defer")))
        return mdm_err_set_field(err, MDM_EINVAL, "/decision",
                                 "decision must be match, no_match or defer");
    if (!strcmp(d->decision, "match") && !ctx)
        return mdm_err_set(err, MDM_EINTERNAL, "a match decision needs the ingest context");
    if (d->reason && strlen(d->reason) > MDM_AUDIT_MAX_REASON)
        return mdm_err_set_field(err, MDM_EINVAL, "/reason", "reason is longer than %d bytes",
                                 MDM_AUDIT_MAX_REASON);
    refresh_one_ctx rc = {d->id, ctx};
    st = mdm_db_run_tx(db, "review_refresh_one", refresh_one_fn, &rc, err);
    if (st != MDM_OK)
        return st;
    decide_ctx c = {ctx, d, who, NULL};
    st = mdm_db_run_tx(db, "review_decide", decide_fn, &c, err);
    if (st == MDM_OK) {
        mdm_log(MDM_LOG_INFO, "event=review_decided id=%lld decision=%s actor=%s", (long long)d->id,
                d->decision, who->name);
        if (result)
            *result = c.result;
        else
            json_decref(c.result);
    } else {
        json_decref(c.result);
    }
    return st;
}

mdm_status mdm_queue_decide_bulk(mdm_db *db, const mdm_engine *ctx, const mdm_queue_decision *d,
                                 size_t n, const mdm_queue_actor *who, json_t **results,
                                 mdm_err *err)
{
    *results = NULL;
    if (n < 1 || n > 500)
        return mdm_err_set_field(err, MDM_EINVAL, "/decisions",
                                 "between 1 and 500 decisions at a time");
    json_t *arr = json_array();
    mdm_status first = MDM_OK;
    for (size_t i = 0; i < n; i++) {
        json_t *r = NULL;
        mdm_err e = {0};
        mdm_status st = mdm_queue_decide(db, ctx, &d[i], who, &r, &e);
        if (st != MDM_OK) {
            r = json_pack("{s:I,s:{s:i,s:s,s:s,s:s}}", "id", (json_int_t)d[i].id, "error", "status",
                          mdm_status_http(st), "code", mdm_status_name(st), "title",
                          mdm_status_title(st), "detail", e.msg);
            if (first == MDM_OK) {
                first = st;
                if (err)
                    *err = e;
            }
        }
        json_array_append_new(arr, r);
    }
    *results = arr;
    return first;
}

/* ---- Labels ----------------------------------------------------------------------- */

static const mdm_db_stmt stmt_label_pairs_report = {
    "queue_label_report",
    "WITH l AS (SELECT DISTINCT ON (record_a, record_b) label, auto_linked FROM steward_label"
    "           ORDER BY record_a, record_b, id DESC)"
    " SELECT count(*) AS pairs, count(*) FILTER (WHERE label = 'match') AS m,"
    "  count(*) FILTER (WHERE label = 'no_match') AS nm,"
    "  count(*) FILTER (WHERE auto_linked AND label = 'match') AS tp,"
    "  count(*) FILTER (WHERE auto_linked AND label = 'no_match') AS fp,"
    "  count(*) FILTER (WHERE NOT auto_linked AND label = 'match') AS fn FROM l",
    0};

static const mdm_db_stmt stmt_label_thresholds = {
    "queue_label_thresholds",
    "SELECT t, count(*) FILTER (WHERE r.probability >= t) AS linked,"
    "  count(*) FILTER (WHERE r.probability >= t AND r.decision = 'match') AS correct,"
    "  count(r.id) AS decided, count(*) FILTER (WHERE r.decision = 'match') AS m"
    " FROM unnest('{0.5,0.6,0.7,0.8,0.9,0.95}'::float8[]) AS t"
    " LEFT JOIN review_item r ON r.status = 'decided' AND r.decision IN ('match', 'no_match')"
    " GROUP BY t ORDER BY t",
    0};

static json_t *ratio(long long num, long long den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

mdm_status mdm_queue_label_report(mdm_db *db, json_t **out, mdm_err *err)
{
    *out = NULL;
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_label_pairs_report, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    long long pairs = mdm_db_get_ll(res, 0, "pairs", 0), m = mdm_db_get_ll(res, 0, "m", 0),
              nm = mdm_db_get_ll(res, 0, "nm", 0), tp = mdm_db_get_ll(res, 0, "tp", 0),
              fp = mdm_db_get_ll(res, 0, "fp", 0), fn = mdm_db_get_ll(res, 0, "fn", 0);
    PQclear(res);
    json_t *o =
        json_pack("{s:I,s:I,s:I,s:{s:I,s:I,s:I,s:o},s:I,s:o}", "pairs", (json_int_t)pairs, "match",
                  (json_int_t)m, "no_match", (json_int_t)nm, "auto", "pairs", (json_int_t)(tp + fp),
                  "confirmed", (json_int_t)tp, "rejected", (json_int_t)fp, "precision",
                  ratio(tp, tp + fp), "missed", (json_int_t)fn, "recall", ratio(tp, tp + fn));
    st = mdm_db_exec(db, &stmt_label_thresholds, NULL, &res, err);
    if (st != MDM_OK) {
        json_decref(o);
        return st;
    }
    json_t *ths = json_array();
    long long decided = 0, dm = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        long long linked = mdm_db_get_ll(res, i, "linked", 0);
        long long correct = mdm_db_get_ll(res, i, "correct", 0);
        decided = mdm_db_get_ll(res, i, "decided", 0);
        dm = mdm_db_get_ll(res, i, "m", 0);
        json_array_append_new(ths, json_pack("{s:f,s:I,s:I,s:o}", "threshold",
                                             strtod(mdm_db_get(res, i, "t", "0"), NULL), "linked",
                                             (json_int_t)linked, "correct", (json_int_t)correct,
                                             "precision", ratio(correct, linked)));
    }
    PQclear(res);
    json_object_set_new(o, "review",
                        json_pack("{s:I,s:I,s:I,s:o}", "decided", (json_int_t)decided, "match",
                                  (json_int_t)dm, "no_match", (json_int_t)(decided - dm),
                                  "thresholds", ths));
    *out = o;
    return MDM_OK;
}

/* ---- Re-scoring ------------------------------------------------------------------- */

static const mdm_db_stmt stmt_rescore_due = {
    "queue_rescore_due",
    "SELECT r.id, r.kind, r.record_id, r.entity_id, r.other_entity_id, r.version"
    " FROM review_item r JOIN entity e ON e.id = r.entity_id"
    " LEFT JOIN entity o ON o.id = r.other_entity_id"
    " LEFT JOIN source_record s ON s.id = r.record_id"
    " WHERE r.status IN ('open', 'claimed', 'deferred') AND e.status = 'active'"
    "   AND (o.id IS NULL OR o.status = 'active')"
    "   AND (e.updated_at > r.scored_at OR o.updated_at > r.scored_at"
    "        OR s.received_at > r.scored_at)"
    "   AND ($1::bigint IS NULL OR r.id = $1)"
    " ORDER BY r.id LIMIT 200 FOR UPDATE OF r SKIP LOCKED",
    1};

static const mdm_db_stmt stmt_rescore_record = {
    "queue_rescore_record",
    "SELECT normalized::text AS n FROM source_record WHERE id = $1 AND NOT deleted", 1};

static const mdm_db_stmt stmt_rescore_members = {
    "queue_rescore_members",
    "SELECT s.normalized::text AS n FROM membership m JOIN source_record s ON s.id = m.record_id"
    " WHERE m.entity_id = $1 AND m.active AND NOT s.deleted ORDER BY s.id LIMIT 100",
    1};

/* Canonical records of one side into arr (appended). */
static mdm_status side_records(mdm_db *db, const mdm_db_stmt *stmt, int64_t id, json_t *arr,
                               mdm_err *err)
{
    char ids[MDM_DB_ID_LEN];
    mdm_db_id(ids, id);
    const char *p[] = {ids};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, stmt, p, &res, err);
    if (st != MDM_OK)
        return st;
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *j = json_loads(mdm_db_get(res, i, "n", "{}"), 0, NULL);
        if (j)
            json_array_append_new(arr, j);
    }
    PQclear(res);
    return MDM_OK;
}

static mdm_status rescore_fn(mdm_db *db, void *arg, mdm_err *err)
{
    rescore_ctx *c = arg;
    c->n = 0;
    PGresult *due = NULL;
    const char *dp[] = {c->only_id};
    mdm_status st = mdm_db_exec(db, &stmt_rescore_due, dp, &due, err);
    if (st != MDM_OK)
        return st;
    for (int i = 0; i < PQntuples(due) && st == MDM_OK; i++) {
        bool rec = strcmp(mdm_db_get(due, i, "kind", ""), "record_entity") == 0;
        json_t *a = json_array(), *b = json_array();
        st = rec ? side_records(db, &stmt_rescore_record, mdm_db_get_ll(due, i, "record_id", 0), a,
                                err)
                 : side_records(db, &stmt_rescore_members, mdm_db_get_ll(due, i, "entity_id", 0), a,
                                err);
        if (st == MDM_OK)
            st = side_records(db, &stmt_rescore_members,
                              mdm_db_get_ll(due, i, rec ? "entity_id" : "other_entity_id", 0), b,
                              err);
        double best = -1e300, best_p = 0;
        json_t *best_expl = NULL;
        size_t x, y;
        json_t *ra, *rb;
        json_array_foreach(a, x, ra)
        {
            json_array_foreach(b, y, rb)
            {
                double p = 0;
                json_t *expl = NULL;
                double w = mdm_score_pair(c->ictx, ra, rb, &p, &expl, NULL);
                if (w > best) {
                    best = w;
                    best_p = p;
                    json_decref(best_expl);
                    best_expl = expl;
                } else {
                    json_decref(expl);
                }
            }
        }
        json_decref(a);
        json_decref(b);
        if (st != MDM_OK || !best_expl) { /* a side without records: refresh closes it */
            json_decref(best_expl);
            continue;
        }
        char *expl_s = json_dumps(best_expl, JSON_COMPACT);
        json_decref(best_expl);
        const char *id = mdm_db_get(due, i, "id", "0");
        int version = 0;
        st = mdm_review_set_score(db, mdm_db_get_ll(due, i, "id", 0), best, best_p, expl_s,
                                  &version, err);
        free(expl_s);
        if (st != MDM_OK)
            break;
        char target[48];
        snprintf(target, sizeof target, "review_item:%s", id);
        json_t *after =
            json_pack("{s:f,s:f,s:i}", "score", best, "probability", best_p, "version", version);
        st = mdm_audit_append(db, "system", "system", "review.rescore", target, "evidence changed",
                              NULL, after, err);
        json_decref(after);
        c->n++;
    }
    PQclear(due);
    return st;
}

mdm_status mdm_queue_rescore(mdm_db *db, const mdm_engine *ctx, long *rescored, mdm_err *err)
{
    rescore_ctx c = {ctx, NULL, 0};
    if (rescored)
        *rescored = 0;
    if (!ctx)
        return mdm_err_set(err, MDM_EINTERNAL, "re-scoring needs the ingest context");
    mdm_status st = mdm_db_run_tx(db, "queue_rescore", rescore_fn, &c, err);
    if (st == MDM_OK) {
        if (rescored)
            *rescored = c.n;
        if (c.n)
            mdm_log(MDM_LOG_INFO, "event=review_rescored count=%ld", c.n);
    }
    return st;
}
