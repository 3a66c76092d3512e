/* Rejects: the record_reject table (refusals stored, listed, marked after a retry, flagged
 * for an erased subject's key, erased); the retry itself is reject_retry.c (see reject.h). */
#include "mdm/reject.h"
#include "mdm/reject_int.h"

#include "common/log.h"
#include "mdm/consent.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $1 source, $2 key, $3 field, $4 status ('all' = any), $5 from, $6 to, $7 after, $8 limit */
static const mdm_db_stmt stmt_list = {
    "reject_list",
    "SELECT id, source, source_key, status, reasons::text AS reasons, payload, "
    "mdm_ts(received_at) AS received_at, "
    "mdm_ts(first_received_at) AS first_received_at, "
    "retries, mdm_ts(retried_at) AS retried_at, "
    "record_id FROM record_reject "
    "WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR source_key = $2) "
    "AND ($3::text IS NULL OR reasons @> jsonb_build_array(jsonb_build_object('field', $3::text))) "
    "AND ($4::text = 'all' OR status = $4) "
    "AND ($5::timestamptz IS NULL OR received_at >= $5::timestamptz) "
    "AND ($6::timestamptz IS NULL OR received_at < $6::timestamptz) "
    "AND id > $7::bigint ORDER BY id LIMIT $8::int",
    8};

static const mdm_db_stmt stmt_accepted = {
    "reject_accepted",
    "UPDATE record_reject SET status = 'retried', retried_at = now(), retries = retries + 1, "
    "record_id = $2::bigint WHERE id = $1::bigint",
    2};

static const mdm_db_stmt stmt_refused = {
    "reject_refused",
    "UPDATE record_reject SET reasons = $2::jsonb, retried_at = now(), retries = retries + 1 "
    "WHERE id = $1::bigint",
    2};

json_t *mdm_reject_payload_record(const char *payload, json_t **file, json_t **line)
{
    json_t *p = json_loads(payload, JSON_DECODE_ANY, NULL);
    if (!p)
        return NULL;
    json_t *rec = json_object_get(p, "record");
    if (json_object_size(p) == 3 && rec && json_is_string(json_object_get(p, "file")) &&
        json_is_integer(json_object_get(p, "line"))) {
        if (file)
            *file = json_incref(json_object_get(p, "file"));
        if (line)
            *line = json_incref(json_object_get(p, "line"));
        json_incref(rec);
        json_decref(p);
        return rec;
    }
    return p;
}

/* Parameters of stmt_list from f; bufs hold the converted values. */
typedef struct list_params {
    char from[32], to[32], after[MDM_DB_ID_LEN], limit[16];
    const char *v[8];
} list_params;

static mdm_status make_params(const mdm_reject_filter *f, int limit, list_params *p, mdm_err *err)
{
    const char *status = f->status && *f->status ? f->status : "open";
    if (strcmp(status, "open") != 0 && strcmp(status, "retried") != 0 && strcmp(status, "all") != 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/status", "status must be open, retried or all");
    if (limit < 1 || limit > 1000)
        return mdm_err_set_field(err, MDM_EINVAL, "/limit", "limit must be between 1 and 1000");
    if (f->after < 0)
        return mdm_err_set_field(err, MDM_EINVAL, "/after", "after must not be negative");
    int64_t us;
    if (f->from && *f->from && !mdm_consent_parse_time(f->from, &us, p->from))
        return mdm_err_set_field(err, MDM_EINVAL, "/from", "from must be an ISO 8601 time");
    if (f->to && *f->to && !mdm_consent_parse_time(f->to, &us, p->to))
        return mdm_err_set_field(err, MDM_EINVAL, "/to", "to must be an ISO 8601 time");
    mdm_db_id(p->after, f->after);
    snprintf(p->limit, sizeof p->limit, "%d", limit);
#define OPT(s) ((s) && *(s) ? (s) : NULL)
    p->v[0] = OPT(f->source);
    p->v[1] = OPT(f->source_key);
    p->v[2] = OPT(f->field);
    p->v[3] = status;
    p->v[4] = f->from && *f->from ? p->from : NULL;
    p->v[5] = f->to && *f->to ? p->to : NULL;
#undef OPT
    p->v[6] = p->after;
    p->v[7] = p->limit;
    return MDM_OK;
}

static json_t *text_or_null(const PGresult *res, int i, const char *col)
{
    const char *v = mdm_db_get(res, i, col, NULL);
    return v ? json_string(v) : json_null();
}

static json_t *row_json(const PGresult *res, int i)
{
    const char *payload = mdm_db_get(res, i, "payload", "");
    json_t *file = NULL, *line = NULL;
    json_t *rec = mdm_reject_payload_record(payload, &file, &line);
    json_t *reasons = json_loads(mdm_db_get(res, i, "reasons", "[]"), 0, NULL);
    long long rid = mdm_db_get_ll(res, i, "record_id", 0);
    json_t *o = json_pack(
        "{s:I, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
        (json_int_t)mdm_db_get_ll(res, i, "id", 0), "source", mdm_db_get(res, i, "source", ""),
        "source_key", text_or_null(res, i, "source_key"), "status",
        mdm_db_get(res, i, "status", ""), "reasons", reasons ? reasons : json_array(), "payload",
        rec ? rec : json_string(payload), "file", file ? file : json_null(), "line",
        line ? line : json_null(), "received_at", text_or_null(res, i, "received_at"),
        "first_received_at", text_or_null(res, i, "first_received_at"), "retries",
        (json_int_t)mdm_db_get_ll(res, i, "retries", 0), "retried_at",
        text_or_null(res, i, "retried_at"), "record_id",
        rid ? json_integer((json_int_t)rid) : json_null());
    return o;
}

mdm_status mdm_reject_list(mdm_db *db, const mdm_reject_filter *f, json_t **rows, int64_t *next,
                           mdm_err *err)
{
    *rows = NULL;
    if (next)
        *next = 0;
    int limit = f->limit ? f->limit : 100;
    list_params p;
    /* one row more than asked tells whether there is a next page */
    mdm_status st = make_params(f, limit, &p, err);
    if (st != MDM_OK)
        return st;
    snprintf(p.limit, sizeof p.limit, "%d", limit + 1);
    PGresult *res = NULL;
    if ((st = mdm_db_exec(db, &stmt_list, p.v, &res, err)) != MDM_OK)
        return st;
    int n = PQntuples(res);
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(arr, row_json(res, i));
    if (n > limit && next)
        *next = mdm_db_get_ll(res, limit - 1, "id", 0);
    PQclear(res);
    *rows = arr;
    return MDM_OK;
}

mdm_status mdm_reject_page(mdm_db *db, const mdm_reject_filter *f, int want, PGresult **res,
                           mdm_err *err)
{
    list_params p;
    mdm_status st = make_params(f, want, &p, err);
    if (st != MDM_OK)
        return st;
    return mdm_db_exec(db, &stmt_list, p.v, res, err);
}

mdm_status mdm_reject_mark_accepted(mdm_db *db, const char *id, int64_t record_id, mdm_err *err)
{
    char rid[MDM_DB_ID_LEN];
    mdm_db_id(rid, record_id);
    const char *p[2] = {id, rid};
    return mdm_db_exec(db, &stmt_accepted, p, NULL, err);
}

mdm_status mdm_reject_mark_refused(mdm_db *db, const char *id, const json_t *reasons, mdm_err *err)
{
    char *r = json_dumps(reasons, JSON_COMPACT);
    const char *p[2] = {id, r};
    mdm_status st = mdm_db_exec(db, &stmt_refused, p, NULL, err);
    free(r);
    return st;
}

/* ---- refusals ------------------------------------------------------------------------ */

static const mdm_db_stmt stmt_store = {
    "ingest_reject",
    "INSERT INTO record_reject (source, source_key, payload, reasons, payload_hash) "
    "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (source, payload_hash) DO UPDATE "
    "SET received_at = now(), reasons = EXCLUDED.reasons, status = 'open' RETURNING id",
    5};

mdm_status mdm_reject_store(mdm_db *db, const char *source, const char *key, const char *payload,
                            const json_t *reasons, int64_t *id, mdm_err *err)
{
    char hash[65];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(payload, strlen(payload), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hash + 2 * (size_t)i, 3, "%02x", md[i]);
    char *r = json_dumps(reasons, JSON_COMPACT);
    const char *p[5] = {source, key, payload, r, hash};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_store, p, &res, err);
    free(r);
    if (st == MDM_OK) {
        if (id)
            *id = mdm_db_get_ll(res, 0, "id", 0);
        PQclear(res);
    }
    return st;
}

static const mdm_db_stmt stmt_flag = {
    "subject_flag_reingest",
    "INSERT INTO record_reject (source, source_key, payload, reasons) VALUES ($1, $2, "
    "'(withheld: the key belongs to an erased subject)', jsonb_build_array(jsonb_build_object("
    "'field', '/source_key', 'reason', 'erased_subject', 'tombstone_id', $3::bigint))) "
    "RETURNING id",
    3};

mdm_status mdm_reject_flag_erased(mdm_db *db, const char *source, const char *source_key,
                                  int64_t tombstone_id, int64_t *id, mdm_err *err)
{
    char tombs[MDM_DB_ID_LEN];
    mdm_db_id(tombs, tombstone_id);
    const char *params[] = {source, source_key, tombs};
    PGresult *flag = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_flag, params, &flag, err);
    if (st != MDM_OK)
        return st;
    if (id)
        *id = mdm_db_get_ll(flag, 0, "id", 0);
    PQclear(flag);
    return MDM_OK;
}

/* The COPY loader's staged rows (other than deletes) whose key belongs to an erased
 * subject, the same rule and row as mdm_tombstone_check_reingest (newest tombstone; the
 * payload, personal data, is withheld; file and line say where the copy came from). One
 * statement per chunk; the tombstone lookup per staged key goes through the GIN index on
 * key_hashes ("id + 0": ordering by the bare id lets the planner walk the primary key
 * backwards through every tombstone instead; 5,000 staged keys against 200,000 tombstones
 * take about 55 ms). */
static const mdm_db_stmt stmt_flag_staged = {
    "load_flag_erased",
    "INSERT INTO record_reject (source, source_key, payload, reasons) SELECT $1, s.source_key, "
    "'(withheld: the key belongs to an erased subject) ' || $2 || ':' || s.line, "
    "jsonb_build_array(jsonb_build_object('field', '/source_key', 'reason', 'erased_subject', "
    "'tombstone_id', (SELECT t.id FROM erasure_tombstone t WHERE t.key_hashes @> "
    "ARRAY[encode(sha256(convert_to($1 || chr(31) || s.source_key, 'UTF8')), 'hex')] "
    "ORDER BY t.id + 0 DESC LIMIT 1))) FROM load_stage s "
    "WHERE COALESCE(s.op, 'upsert') <> 'delete' AND EXISTS (SELECT 1 FROM erasure_tombstone t "
    "WHERE t.key_hashes @> ARRAY[encode(sha256(convert_to($1 || chr(31) || s.source_key, "
    "'UTF8')), 'hex')]) ORDER BY s.line RETURNING id",
    2};

mdm_status mdm_reject_flag_staged(mdm_db *db, const char *source, const char *path, mdm_buf *ids,
                                  long *n, mdm_err *err)
{
    const char *p[2] = {source, path};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_flag_staged, p, &res, err);
    if (st != MDM_OK)
        return st;
    *n = PQntuples(res);
    mdm_buf_reset(ids);
    mdm_buf_putc(ids, '{');
    for (int i = 0; i < PQntuples(res); i++) {
        if (i)
            mdm_buf_putc(ids, ',');
        mdm_buf_puts(ids, PQgetvalue(res, i, 0));
    }
    mdm_buf_putc(ids, '}');
    PQclear(res);
    return MDM_OK;
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt stmt_reject_erase = {
    "subject_erase_rejects",
    "DELETE FROM record_reject x USING source_record r WHERE r.id = ANY($1::bigint[]) "
    "AND x.source = r.source AND x.source_key = r.source_key",
    1};

mdm_status mdm_reject_erase(mdm_db *db, const char *records, mdm_err *err)
{
    const char *params[] = {records};
    return mdm_db_exec(db, &stmt_reject_erase, params, NULL, err);
}
