/* Append-only, hash-chained audit log (see audit.h for the chain format).
 *
 * Invariants: rows are appended only under the audit advisory lock, in id order, each
 * prev_hash equal to the hash of the row before it and audit_head naming the last row.
 * The hash is computed by the INSERT itself (SQL below) and recomputed here in C by
 * mdm_audit_verify(); the two must follow the same canonical text. */
#include "mdm/audit.h"

#include "common/log.h"
#include "common/mem.h"
#include "mdm/locks.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* The statements built from these macros read as SQL only when left unwrapped. */
/* clang-format off */
/* SQL text of one canonical field: "<octet length>:<text>" or "-" for NULL. */
#define F(x) "coalesce(octet_length(" x ")::text || ':' || " x ", '-')"

static const mdm_db_stmt stmt_lock = {
    "audit_lock", "SELECT pg_advisory_xact_lock(" MDM_LOCK_AUDIT ")", 0};

static const mdm_db_stmt stmt_head = {
    "audit_head", "SELECT last_id, last_hash, rows FROM audit_head FOR UPDATE", 0};

static const mdm_db_stmt stmt_insert = {
    "audit_insert",
    "WITH v AS (SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) AS id,"
    "                  clock_timestamp() AS at, $6::jsonb AS b, $7::jsonb AS a)"
    " INSERT INTO audit_log (id, at, actor, role, action, target, reason, before, after,"
    "                        prev_hash, hash)"
    " SELECT id, at, $1::text, $2::text, $3::text, $4::text, $5::text, b, a, $8::text,"
    "   encode(sha256(convert_to(concat_ws(E'\\n', 'mdm-audit-v1', " F("id::text") ", "
    F("mdm_ts(at)") ", " F("$1::text") ", " F("$2::text") ", " F("$3::text") ", " F(
        "$4::text") ", " F("$5::text") ", " F("b::text") ", " F("a::text") ", " F("$8::text")
    "), 'UTF8')), 'hex')"
    " FROM v RETURNING id, hash",
    8};

/* Personal values (022_audit_personal.sql): a fresh id, then the row, linked to the
 * entities and records the audit row's target names (and every record ever a member of
 * those entities), so that erasure of any of them finds it. */
static const mdm_db_stmt stmt_personal_id = {
    "audit_personal_id", "SELECT nextval('audit_personal_id_seq') AS id", 0};

static const mdm_db_stmt stmt_subjects = {
    "audit_subjects",
    "WITH t AS (SELECT split_part($1, ':', 1) AS kind, split_part($1, ':', 2) AS rest),"
    " n AS (SELECT kind, CASE WHEN rest ~ '^[0-9]{1,18}$' THEN rest::bigint END AS one,"
    "        CASE WHEN rest ~ '^[0-9]{1,18}(,[0-9]{1,18})*$'"
    "             THEN string_to_array(rest, ',')::bigint[] END AS many FROM t),"
    " r0 AS (SELECT unnest(many) AS id FROM n WHERE kind IN ('records', 'source_record')"
    "        UNION SELECT i.record_id FROM review_item i, n WHERE n.kind = 'review_item'"
    "        AND i.id = n.one AND i.record_id IS NOT NULL),"
    " e AS (SELECT one AS id FROM n WHERE kind = 'entity' AND one IS NOT NULL"
    "       UNION SELECT unnest(ARRAY[i.entity_id, i.other_entity_id]) FROM review_item i, n"
    "       WHERE n.kind = 'review_item' AND i.id = n.one"
    "       UNION SELECT m.entity_id FROM membership m WHERE m.record_id IN (SELECT id FROM r0)),"
    " r AS (SELECT id FROM r0 UNION SELECT m.record_id FROM membership m"
    "       WHERE m.entity_id IN (SELECT id FROM e))"
    " SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM e WHERE id IS NOT NULL),"
    "                 '{}')::text AS ents,"
    "        coalesce((SELECT array_agg(id ORDER BY id) FROM r WHERE id IS NOT NULL),"
    "                 '{}')::text AS recs",
    1};

static const mdm_db_stmt stmt_personal_put = {
    "audit_personal_put",
    "INSERT INTO audit_personal (id, audit_id, value, salt, sha256, entity_ids, record_ids)"
    " VALUES ($1::bigint, $2::bigint, $3, $4, $5, $6::bigint[], $7::bigint[])",
    7};

static const mdm_db_stmt stmt_personal_get = {
    "audit_personal_get", "SELECT id, value FROM audit_personal WHERE id = ANY($1::bigint[])", 1};

/* Personal rows whose value or salt was edited, or whose hash is in no chained row. */
static const mdm_db_stmt stmt_personal_bad = {
    "audit_personal_bad",
    "SELECT p.id, p.audit_id FROM audit_personal p LEFT JOIN audit_log a ON a.id = p.audit_id"
    " WHERE a.id IS NULL"
    "    OR encode(sha256(convert_to(p.salt || p.value, 'UTF8')), 'hex') <> p.sha256"
    "    OR strpos(concat(a.reason, a.before::text, a.after::text), p.sha256) = 0"
    " ORDER BY p.id LIMIT 100",
    0};

static const mdm_db_stmt stmt_advance = {
    "audit_advance", "UPDATE audit_head SET last_id = $1, last_hash = $2, rows = rows + 1", 2};

static const mdm_db_stmt stmt_list = {
    "audit_list",
    "SELECT id, json_build_object('id', id, 'at', mdm_ts(at), 'actor', actor, 'role', role,"
    "  'action', action, 'target', target, 'reason', reason, 'before', before,"
    "  'after', after, 'prev_hash', prev_hash, 'hash', hash)::text AS j"
    " FROM audit_log"
    " WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR role = $2)"
    "   AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR starts_with(action, $4))"
    "   AND ($5::text IS NULL OR target = $5)"
    "   AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)"
    "   AND ($8::bigint = 0 OR id < $8)"
    " ORDER BY id DESC LIMIT $9",
    9};

static const mdm_db_stmt stmt_snapshot = {
    "audit_snapshot", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0};

static const mdm_db_stmt stmt_rows = {
    "audit_rows",
    "SELECT id::text AS id, mdm_ts(at) AS at, actor, role, action, target, reason,"
    " before::text AS before, after::text AS after, prev_hash, hash"
    " FROM audit_log WHERE audit_log.id > $1 ORDER BY audit_log.id LIMIT $2",
    2};

/* clang-format on */

static const mdm_db_stmt stmt_read_head = {"audit_read_head",
                                           "SELECT last_id, last_hash, rows FROM audit_head", 0};

static mdm_status check_text(const char *v, const char *field, size_t max, bool required,
                             mdm_err *err)
{
    if (!v || !*v) {
        if (required)
            return mdm_err_set_field(err, MDM_EINVAL, field, "audit %s is required", field + 1);
        return MDM_OK;
    }
    if (strlen(v) > max)
        return mdm_err_set_field(err, MDM_EINVAL, field, "audit %s is longer than %zu bytes",
                                 field + 1, max);
    return MDM_OK;
}

/* ---- personal values ------------------------------------------------------------- */

#define PERSONAL_KEY "$personal"
#define REASON_REF   "[personal " /* "[personal ID sha256:HEX]" */

json_t *mdm_audit_personal(json_t *value)
{
    return value ? json_pack("{s:o}", PERSONAL_KEY, value) : NULL;
}

/* The personal values of one append, sealed but not yet stored (the audit row's id is
 * known only after its insert). */
typedef struct sealed {
    char id[24];
    char salt[33];
    char sha[65];
    char *value;
} sealed;

typedef struct sealed_set {
    sealed *v;
    size_t n, cap;
    mdm_db *db;
    mdm_status st;
    mdm_err *err;
} sealed_set;

/* A new sealed value: fresh id, random salt, SHA-256 of salt and value. NULL on error
 * (ss->st says which). */
static sealed *seal_value(sealed_set *ss, const char *value)
{
    PGresult *res = NULL;
    ss->st = mdm_db_exec(ss->db, &stmt_personal_id, NULL, &res, ss->err);
    if (ss->st != MDM_OK)
        return NULL;
    if (ss->n == ss->cap) {
        ss->cap = ss->cap ? 2 * ss->cap : 4;
        ss->v = mdm_xrealloc(ss->v, ss->cap * sizeof *ss->v);
    }
    sealed *p = &ss->v[ss->n++];
    snprintf(p->id, sizeof p->id, "%s", mdm_db_get(res, 0, "id", "0"));
    PQclear(res);
    unsigned char salt[16];
    if (RAND_bytes(salt, sizeof salt) != 1) {
        ss->n--;
        ss->st = mdm_err_set(ss->err, MDM_EINTERNAL, "no random bytes for an audit salt");
        return NULL;
    }
    for (size_t i = 0; i < sizeof salt; i++)
        snprintf(p->salt + 2 * i, 3, "%02x", salt[i]);
    p->value = mdm_xstrdup(value);
    char *both = mdm_xasprintf("%s%s", p->salt, value);
    mdm_audit_sha256_hex(both, strlen(both), p->sha);
    free(both);
    return p;
}

/* A copy of j in which every {"$personal": VALUE} is replaced by {"$personal": ID,
 * "sha256": HEX} and VALUE sealed into ss. NULL on error. */
static json_t *seal_json(sealed_set *ss, const json_t *j)
{
    if (json_is_object(j)) {
        const json_t *inner = json_object_get(j, PERSONAL_KEY);
        if (inner && json_object_size(j) == 1) {
            char *text = json_dumps(inner, JSON_COMPACT | JSON_ENCODE_ANY);
            sealed *p = text ? seal_value(ss, text) : NULL;
            free(text);
            if (!p) {
                if (ss->st == MDM_OK)
                    ss->st = mdm_err_set(ss->err, MDM_EINVAL, "audit value cannot be serialized");
                return NULL;
            }
            return json_pack("{s:I,s:s}", PERSONAL_KEY, (json_int_t)strtoll(p->id, NULL, 10),
                             "sha256", p->sha);
        }
        json_t *out = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            json_t *c = seal_json(ss, v);
            if (!c) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, c);
        }
        return out;
    }
    if (json_is_array(j)) {
        json_t *out = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            json_t *c = seal_json(ss, v);
            if (!c) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, c);
        }
        return out;
    }
    return json_deep_copy(j);
}

/* Stores the sealed values of audit row audit_id, linked to the subjects of target. */
static mdm_status store_sealed(mdm_db *db, const sealed_set *ss, const char *audit_id,
                               const char *target, mdm_err *err)
{
    if (!ss->n)
        return MDM_OK;
    PGresult *res = NULL;
    const char *pt[] = {target};
    mdm_status st = mdm_db_exec(db, &stmt_subjects, pt, &res, err);
    if (st != MDM_OK)
        return st;
    char *ents = mdm_xstrdup(mdm_db_get(res, 0, "ents", "{}"));
    char *recs = mdm_xstrdup(mdm_db_get(res, 0, "recs", "{}"));
    PQclear(res);
    for (size_t i = 0; i < ss->n && st == MDM_OK; i++) {
        const sealed *p = &ss->v[i];
        const char *pp[] = {p->id, audit_id, p->value, p->salt, p->sha, ents, recs};
        st = mdm_db_exec(db, &stmt_personal_put, pp, NULL, err);
    }
    free(ents);
    free(recs);
    return st;
}

static void sealed_free(sealed_set *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        free(ss->v[i].value);
    free(ss->v);
}

mdm_status mdm_audit_append(mdm_db *db, const char *actor, const char *role, const char *action,
                            const char *target, const char *reason, const json_t *before,
                            const json_t *after, mdm_err *err)
{
    mdm_status st;
    if ((st = check_text(actor, "/actor", MDM_AUDIT_MAX_NAME, true, err)) ||
        (st = check_text(role, "/role", MDM_AUDIT_MAX_NAME, true, err)) ||
        (st = check_text(action, "/action", MDM_AUDIT_MAX_NAME, true, err)) ||
        (st = check_text(target, "/target", MDM_AUDIT_MAX_TARGET, true, err)) ||
        (st = check_text(reason, "/reason", MDM_AUDIT_MAX_REASON, false, err)))
        return st;
    char *b = NULL, *a = NULL, *sealed_reason = NULL;
    PGresult *res = NULL;
    char *prev = NULL;
    sealed_set ss = {NULL, 0, 0, db, MDM_OK, err};
    json_t *sb = NULL, *sa = NULL;
    /* personal values leave the chained row: marked values of before/after, and the
     * free-text reason of anyone but the system */
    if ((before && !(sb = seal_json(&ss, before))) || (after && !(sa = seal_json(&ss, after)))) {
        st = ss.st != MDM_OK ? ss.st
                             : mdm_err_set(err, MDM_EINVAL, "audit before/after cannot be copied");
        goto out_free;
    }
    if (reason && *reason && strcmp(role, "system") != 0) {
        const sealed *p = seal_value(&ss, reason);
        if (!p) {
            st = ss.st;
            goto out_free;
        }
        sealed_reason = mdm_xasprintf(REASON_REF "%s sha256:%s]", p->id, p->sha);
        reason = sealed_reason;
    }
    b = sb ? json_dumps(sb, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    a = sa ? json_dumps(sa, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if ((before && !b) || (after && !a)) {
        st = mdm_err_set(err, MDM_EINVAL, "audit before/after cannot be serialized");
        goto out_free;
    }
    st = mdm_db_exec(db, &stmt_lock, NULL, NULL, err);
    if (st != MDM_OK)
        goto out_free;
    st = mdm_db_exec(db, &stmt_head, NULL, &res, err);
    if (st != MDM_OK)
        goto out_free;
    if (PQntuples(res) != 1) {
        st = mdm_err_set(err, MDM_EDB, "audit_head must hold exactly one row");
        goto out_free;
    }
    prev = mdm_xstrdup(mdm_db_get(res, 0, "last_hash", GENESIS));
    PQclear(res);
    res = NULL;
    const char *ins[] = {actor, role, action, target, (reason && *reason) ? reason : NULL,
                         b,     a,    prev};
    st = mdm_db_exec(db, &stmt_insert, ins, &res, err);
    if (st != MDM_OK)
        goto out_free;
    const char *adv[] = {mdm_db_get(res, 0, "id", "0"), mdm_db_get(res, 0, "hash", "")};
    st = mdm_db_exec(db, &stmt_advance, adv, NULL, err);
    if (st == MDM_OK)
        st = store_sealed(db, &ss, adv[0], target, err);
    if (st == MDM_OK)
        mdm_log(MDM_LOG_DEBUG, "event=audit_append id=%s action=%s", adv[0], action);
out_free:
    PQclear(res);
    free(prev);
    free(b);
    free(a);
    free(sealed_reason);
    json_decref(sb);
    json_decref(sa);
    sealed_free(&ss);
    return st;
}

/* ---- reading personal values back ------------------------------------------------- */

/* The id a reason reference names, 0 when reason is no reference. */
static long long reason_ref(const char *reason)
{
    if (!reason || strncmp(reason, REASON_REF, strlen(REASON_REF)) != 0)
        return 0;
    return strtoll(reason + strlen(REASON_REF), NULL, 10);
}

static long long json_ref(const json_t *j)
{
    const json_t *id = json_object_get(j, PERSONAL_KEY);
    return json_is_integer(id) && json_object_get(j, "sha256") && json_object_size(j) == 2
               ? (long long)json_integer_value(id)
               : 0;
}

static void collect_refs(const json_t *j, mdm_buf *ids)
{
    long long id = json_ref(j);
    if (id) {
        mdm_buf_printf(ids, "%s%lld", ids->len > 1 ? "," : "", id);
        return;
    }
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_object(j))
        json_object_foreach((json_t *)j, k, v) collect_refs(v, ids);
    else if (json_is_array(j))
        json_array_foreach(j, i, v) collect_refs(v, ids);
}

/* The stored value of reference id in vals ({"ID": text}), or "[erased]". */
static const char *ref_text(const json_t *vals, long long id)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", id);
    const json_t *v = json_object_get(vals, key);
    return v ? json_string_value(v) : NULL;
}

/* Replaces the references in j by their values; returns j or its replacement. */
static json_t *resolve_json(json_t *j, const json_t *vals)
{
    long long id = json_ref(j);
    if (id) {
        const char *text = ref_text(vals, id);
        json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
        json_decref(j);
        return v ? v : json_string("[erased]");
    }
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) json_object_set_new(j, k, resolve_json(json_incref(v), vals));
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) json_array_set_new(j, i, resolve_json(json_incref(v), vals));
    }
    return j;
}

/* Shows the personal values of listed rows in place of their references ("[erased]"
 * once erased). */
static mdm_status resolve_rows(mdm_db *db, json_t *rows, mdm_err *err)
{
    mdm_buf ids = {0};
    mdm_buf_puts(&ids, "{");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        long long id = reason_ref(json_string_value(json_object_get(row, "reason")));
        if (id)
            mdm_buf_printf(&ids, "%s%lld", ids.len > 1 ? "," : "", id);
        collect_refs(json_object_get(row, "before"), &ids);
        collect_refs(json_object_get(row, "after"), &ids);
    }
    mdm_buf_puts(&ids, "}");
    if (ids.len == 2) {
        mdm_buf_free(&ids);
        return MDM_OK;
    }
    PGresult *res = NULL;
    const char *p[] = {ids.data};
    mdm_status st = mdm_db_exec(db, &stmt_personal_get, p, &res, err);
    mdm_buf_free(&ids);
    if (st != MDM_OK)
        return st;
    json_t *vals = json_object();
    for (int r = 0; r < PQntuples(res); r++)
        json_object_set_new(vals, mdm_db_get(res, r, "id", "0"),
                            json_string(mdm_db_get(res, r, "value", "")));
    PQclear(res);
    json_array_foreach(rows, i, row)
    {
        long long id = reason_ref(json_string_value(json_object_get(row, "reason")));
        if (id) {
            const char *text = ref_text(vals, id);
            json_object_set_new(row, "reason", json_string(text ? text : "[erased]"));
        }
        json_object_set_new(row, "before",
                            resolve_json(json_incref(json_object_get(row, "before")), vals));
        json_object_set_new(row, "after",
                            resolve_json(json_incref(json_object_get(row, "after")), vals));
    }
    json_decref(vals);
    return MDM_OK;
}

mdm_status mdm_audit_list(mdm_db *db, const mdm_audit_filter *f, json_t **rows, int64_t *next,
                          mdm_err *err)
{
    *rows = NULL;
    if (next)
        *next = 0;
    int limit = f->limit ? f->limit : 100;
    if (limit < 1 || limit > 1000)
        return mdm_err_set_field(err, MDM_EINVAL, "/limit", "limit must be between 1 and 1000");
    if (f->before_id < 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/cursor", "cursor must not be negative");
    const char *prefix = NULL, *exact = f->action;
    if (exact && *exact && exact[strlen(exact) - 1] == '.') {
        prefix = exact;
        exact = NULL;
    }
    char before[MDM_DB_ID_LEN], lim[16];
    mdm_db_id(before, f->before_id);
    snprintf(lim, sizeof lim, "%d", limit + 1);
#define OPT(s) ((s) && *(s) ? (s) : NULL)
    const char *params[] = {OPT(f->actor), OPT(f->role), OPT(exact), OPT(prefix), OPT(f->target),
                            OPT(f->from),  OPT(f->to),   before,     lim};
#undef OPT
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_list, params, &res, err);
    if (st != MDM_OK)
        return st;
    int n = PQntuples(res);
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++) {
        json_error_t jerr;
        json_t *row = json_loads(mdm_db_get(res, i, "j", "null"), 0, &jerr);
        if (!row) {
            st = mdm_err_set(err, MDM_EINTERNAL, "audit row %s: %s", mdm_db_get(res, i, "id", "?"),
                             jerr.text);
            json_decref(arr);
            PQclear(res);
            return st;
        }
        json_array_append_new(arr, row);
    }
    if (n > limit && next)
        *next = mdm_db_get_ll(res, limit - 1, "id", 0);
    PQclear(res);
    if ((st = resolve_rows(db, arr, err)) != MDM_OK) {
        json_decref(arr);
        return st;
    }
    *rows = arr;
    return MDM_OK;
}

void mdm_audit_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        memset(out, 'x', 64);
        out[64] = '\0';
        return;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void mdm_audit_row_hash(const char *const fields[10], char out[65])
{
    mdm_buf b = {0};
    mdm_buf_puts(&b, "mdm-audit-v1");
    for (int i = 0; i < 10; i++) {
        mdm_buf_putc(&b, '\n');
        if (!fields[i]) {
            mdm_buf_putc(&b, '-');
            continue;
        }
        size_t len = strlen(fields[i]);
        mdm_buf_printf(&b, "%zu:", len);
        mdm_buf_append(&b, fields[i], len);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        memset(out, 'x', 64); /* cannot match any stored hash: reported as a problem */
        out[64] = '\0';
    } else {
        for (unsigned i = 0; i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    mdm_buf_free(&b);
}

typedef struct verify_ctx {
    mdm_audit_check *out;
    json_t *problems; /* NULL when the caller wants none */
} verify_ctx;

static void problem(verify_ctx *v, long long id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(verify_ctx *v, long long id, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mdm_audit_check *o = v->out;
    if (o->problems == 0) {
        o->first_bad = id;
        snprintf(o->first, sizeof o->first, "%s", text);
    }
    o->problems++;
    o->intact = false;
    if (v->problems && json_array_size(v->problems) < 100)
        json_array_append_new(v->problems,
                              json_pack("{s:I,s:s}", "id", (json_int_t)id, "problem", text));
}

#define VERIFY_BATCH 2000

static mdm_status verify_fn(mdm_db *db, void *arg, mdm_err *err)
{
    verify_ctx *v = arg;
    mdm_audit_check *o = v->out;
    memset(o, 0, sizeof *o);
    o->intact = true;
    snprintf(o->head_hash, sizeof o->head_hash, GENESIS);
    if (v->problems)
        json_array_clear(v->problems);
    mdm_status st = mdm_db_exec(db, &stmt_snapshot, NULL, NULL, err);
    if (st != MDM_OK)
        return st;
    PGresult *res = NULL;
    st = mdm_db_exec(db, &stmt_read_head, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        problem(v, 0, "the chain head (audit_head) is missing");
        return MDM_OK;
    }
    long long head_id = mdm_db_get_ll(res, 0, "last_id", -1);
    long long head_rows = mdm_db_get_ll(res, 0, "rows", -1);
    char head_hash[65];
    snprintf(head_hash, sizeof head_hash, "%s", mdm_db_get(res, 0, "last_hash", ""));
    PQclear(res);

    char prev[65] = GENESIS;
    long long last_id = 0;
    char after[MDM_DB_ID_LEN], lim[16];
    snprintf(lim, sizeof lim, "%d", VERIFY_BATCH);
    for (;;) {
        mdm_db_id(after, last_id);
        const char *params[] = {after, lim};
        st = mdm_db_exec(db, &stmt_rows, params, &res, err);
        if (st != MDM_OK)
            return st;
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            static const char *const cols[] = {"id",     "at",     "actor",  "role",  "action",
                                               "target", "reason", "before", "after", "prev_hash"};
            const char *fields[10];
            for (int c = 0; c < 10; c++)
                fields[c] = mdm_db_get(res, i, cols[c], NULL);
            long long id = strtoll(fields[0], NULL, 10);
            const char *stored = mdm_db_get(res, i, "hash", "");
            char want[65];
            mdm_audit_row_hash(fields, want);
            if (strcmp(fields[9] ? fields[9] : "", prev) != 0) {
                if (o->rows == 0)
                    problem(v, id,
                            "row %lld does not start the chain: rows before it were "
                            "deleted or it was altered",
                            id);
                else
                    problem(v, id,
                            "row %lld does not link to row %lld: rows between them were "
                            "deleted or altered",
                            id, last_id);
            }
            if (strcmp(stored, want) != 0)
                problem(v, id, "row %lld was edited: its hash does not match its content", id);
            snprintf(prev, sizeof prev, "%s", stored);
            last_id = id;
            o->rows++;
        }
        PQclear(res);
        if (n < VERIFY_BATCH)
            break;
    }
    snprintf(o->head_hash, sizeof o->head_hash, "%s", prev);
    if (head_id != last_id || strcmp(head_hash, prev) != 0)
        problem(v, head_id,
                "the chain ends at row %lld but its head names row %lld: rows at the end were "
                "deleted or the head was altered",
                last_id, head_id);
    else if (head_rows != o->rows)
        problem(v, head_id, "the chain holds %lld rows but its head counts %lld", o->rows,
                head_rows);
    /* a personal value (erasable, outside the chain) must still hash to what its chained
     * row holds */
    st = mdm_db_exec(db, &stmt_personal_bad, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    for (int i = 0; i < PQntuples(res); i++)
        problem(v, mdm_db_get_ll(res, i, "audit_id", 0),
                "personal value %s of row %s was edited: its hash is not the one row %s holds",
                mdm_db_get(res, i, "id", "?"), mdm_db_get(res, i, "audit_id", "?"),
                mdm_db_get(res, i, "audit_id", "?"));
    PQclear(res);
    return MDM_OK;
}

mdm_status mdm_audit_verify(mdm_db *db, mdm_audit_check *out, json_t **problems, mdm_err *err)
{
    verify_ctx v = {out, problems ? json_array() : NULL};
    memset(out, 0, sizeof *out);
    mdm_status st = mdm_db_run_tx(db, "audit_verify", verify_fn, &v, err);
    if (st != MDM_OK) {
        json_decref(v.problems);
        if (problems)
            *problems = NULL;
        return st;
    }
    if (problems)
        *problems = v.problems;
    if (!out->intact)
        mdm_log(MDM_LOG_WARN, "event=audit_tampered problems=%lld first_id=%lld", out->problems,
                out->first_bad);
    return MDM_OK;
}

typedef struct record_ctx {
    const char *actor, *role, *action, *target, *reason;
    const json_t *before, *after;
} record_ctx;

static mdm_status record_tx(mdm_db *db, void *arg, mdm_err *err)
{
    record_ctx *c = arg;
    return mdm_audit_append(db, c->actor, c->role, c->action, c->target, c->reason, c->before,
                            c->after, err);
}

mdm_status mdm_audit_record(mdm_db *db, const char *actor, const char *role, const char *action,
                            const char *target, const char *reason, const json_t *before,
                            const json_t *after, mdm_err *err)
{
    record_ctx c = {actor, role, action, target, reason, before, after};
    return mdm_db_run_tx(db, "audit_record", record_tx, &c, err);
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_audit_erase = {
    "subject_erase_audit_personal",
    "DELETE FROM audit_personal WHERE entity_ids && $1::bigint[] OR record_ids && $2::bigint[]", 2};

mdm_status mdm_audit_erase(mdm_db *db, const char *entities, const char *records, mdm_err *err)
{
    const char *params[] = {entities, records};
    return mdm_db_exec(db, &stmt_audit_erase, params, NULL, err);
}
