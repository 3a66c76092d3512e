/* Ingest: the one-record transaction (canonicalize -> upsert -> resolve -> golden) and the
 * COPY-based bulk loader. Mapping, validation and normalization are the engine's one
 * canonicalization (matching/canonical.h), which mdm link runs too; this module gives it
 * the service's sources, default country, limits and pooled normalizer handles. */
#include "mdm/ingest.h"

#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "matching/block.h"
#include "matching/canonical.h"
#include "matching/limits.h"
#include "matching/link.h"
#include "matching/model.h"
#include "matching/normalize.h"
#include "mdm/audit.h"
#include "mdm/bulk.h"
#include "mdm/consent.h"
#include "mdm/counters.h"
#include "mdm/golden.h"
#include "mdm/locks.h"
#include "mdm/pending.h"
#include "mdm/reject.h"
#include "mdm/resolve.h"
#include "mdm/survive.h"
#include "mdm/tombstone.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const decision_names[] = {"created",  "linked",    "merged", "review",
                                             "updated",  "unchanged", "stale",  "deleted",
                                             "rejected", "pending"};

const char *mdm_decision_name(mdm_decision d)
{
    return (unsigned)d < sizeof decision_names / sizeof decision_names[0] ? decision_names[d] : "?";
}

void mdm_ingest_result_clear(mdm_ingest_result *r)
{
    if (!r)
        return;
    json_decref(r->errors);
    r->errors = NULL;
}

/* ---- one-record transaction ------------------------------------------------------ */

/* The bulk gate (mdm_resolve_gate: shared, before any row lock) and the record key's lock,
 * in one round trip. */
static const mdm_db_stmt stmt_lock_key = {"ingest_lock_key",
                                          "SELECT pg_advisory_xact_lock_shared(" MDM_LOCK_BULK "), "
                                          "pg_advisory_xact_lock(" MDM_LOCK_RECORD_KEY("$1") ")",
                                          1};

/* The stored record under its row lock, with its entity and that entity's version (for
 * the answers that change nothing: unchanged, stale). */
static const mdm_db_stmt stmt_current = {
    "ingest_current",
    "SELECT sr.id, sr.content_hash, sr.deleted, sr.version, "
    "($2::timestamptz IS NOT NULL AND sr.source_updated_at IS NOT NULL "
    " AND $2::timestamptz < sr.source_updated_at) AS older, "
    "m.entity_id, e.version AS entity_version "
    "FROM source_record sr LEFT JOIN membership m ON m.record_id = sr.id AND m.active "
    "LEFT JOIN entity e ON e.id = m.entity_id "
    "WHERE sr.source = $1 AND sr.source_key = $3 FOR UPDATE OF sr",
    3};

static const mdm_db_stmt stmt_insert = {
    "ingest_insert",
    "WITH r AS (INSERT INTO source_record (source, source_key, raw, normalized, content_hash, "
    "source_updated_at) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6::timestamptz) "
    "RETURNING id, version, raw, normalized, content_hash, source_updated_at) "
    "INSERT INTO source_record_history (record_id, version, change, raw, normalized, "
    "content_hash, source_updated_at, actor, actor_role) SELECT id, version, 'insert', raw, "
    "normalized, content_hash, source_updated_at, $7, $8 FROM r RETURNING record_id",
    8};

static const mdm_db_stmt stmt_update = {
    "ingest_update",
    "WITH r AS (UPDATE source_record SET raw = $2::jsonb, normalized = $3::jsonb, "
    "content_hash = $4, source_updated_at = COALESCE($5::timestamptz, source_updated_at), "
    "version = version + 1, deleted = false, received_at = now() "
    "WHERE id = $1 RETURNING id, version, raw, normalized, content_hash, source_updated_at) "
    "INSERT INTO source_record_history (record_id, version, change, raw, normalized, "
    "content_hash, source_updated_at, actor, actor_role) SELECT id, version, 'update', raw, "
    "normalized, content_hash, source_updated_at, $6, $7 FROM r RETURNING record_id",
    7};

static const mdm_db_stmt stmt_touch = {
    "ingest_touch",
    "UPDATE source_record SET source_updated_at = $2::timestamptz "
    "WHERE id = $1 AND (source_updated_at IS NULL OR source_updated_at < $2::timestamptz)",
    2};

static const mdm_db_stmt stmt_stale = {
    "ingest_stale",
    "INSERT INTO source_record_history (record_id, version, change, raw, normalized, "
    "content_hash, source_updated_at, actor, actor_role) SELECT id, version, 'stale', "
    "$2::jsonb, $3::jsonb, $4, $5::timestamptz, $6, $7 FROM source_record WHERE id = $1",
    7};

static const mdm_db_stmt stmt_delete = {
    "ingest_delete",
    "WITH r AS (UPDATE source_record SET deleted = true, version = version + 1, "
    "source_updated_at = COALESCE($2::timestamptz, source_updated_at), "
    "received_at = now() WHERE id = $1 RETURNING id, version, source_updated_at) "
    "INSERT INTO source_record_history (record_id, version, change, source_updated_at, actor, "
    "actor_role) SELECT id, version, 'delete', source_updated_at, $3, $4 FROM r "
    "RETURNING record_id",
    4};

typedef struct ingest_job {
    const mdm_engine *ctx;
    const char *source;
    const json_t *raw;
    json_t *canon;
    const char *actor, *role; /* role may be NULL (unknown) */
    bool delete_only;         /* mdm_ingest_delete */
    const char *key;          /* source key */
    mdm_ingest_result *out;
    const char *via; /* the record counters' path (mdm/counters.h); NULL: not counted */
} ingest_job;

/* Counts one record received by path via, and its decision, with the COMMIT of the
 * transaction that decided it (no round trip of its own). */
static void count_record(mdm_db *db, const char *via, mdm_decision d)
{
    mdm_count c[2] = {{"received", 1}, {mdm_decision_name(d), 1}};
    mdm_counters_at_commit(db, via, c, 2);
}

static mdm_status ingest_record(mdm_db *db, ingest_job *j, mdm_err *err);

static mdm_status ingest_tx(mdm_db *db, void *arg, mdm_err *err)
{
    ingest_job *j = arg;
    mdm_status st = ingest_record(db, j, err);
    if (st == MDM_OK && j->via)
        count_record(db, j->via, j->out->decision);
    return st;
}

/* The record's transaction: lock, read, write, resolve; out says what became of it. */
static mdm_status ingest_record(mdm_db *db, ingest_job *j, mdm_err *err)
{
    mdm_ingest_result *out = j->out;
    json_t *errors_keep = out->errors;
    memset(out, 0, sizeof *out);
    out->errors = errors_keep;
    const json_t *c = j->canon;
    const char *upd = c ? json_string_value(json_object_get(c, "source_updated_at")) : NULL;
    const char *op = c ? json_string_value(json_object_get(c, "op")) : "delete";
    bool del = j->delete_only || (op && !strcmp(op, "delete"));

    /* One round trip: the key's lock (and the bulk gate), the erased-subject check of a
     * write, then the stored record under its row lock; the server runs them in this
     * order, so both reads happen under the key's lock. */
    char *lockkey = mdm_xasprintf("%s\x1f%s", j->source, j->key);
    const char *lp[1] = {lockkey};
    const char *ep[2] = {j->source, j->key};
    const char *cp[3] = {j->source, upd, j->key};
    mdm_db_call calls[3] = {{.stmt = &stmt_lock_key, .params = lp}};
    size_t ncalls = 1;
    if (!del)
        mdm_tombstone_reingest_call(ep, &calls[ncalls++]);
    calls[ncalls++] = (mdm_db_call){.stmt = &stmt_current, .params = cp};
    mdm_status st = mdm_db_exec_pipeline(db, calls, ncalls, err);
    free(lockkey);
    if (st != MDM_OK)
        return st;
    PGresult *res = calls[ncalls - 1].res;

    /* a key of an erased subject: flagged in record_reject and refused, so that a stale
     * copy never silently re-creates the person (mdm/tombstone.h) */
    if (!del) {
        bool erased_key = false;
        st = mdm_tombstone_reingest_finish(db, calls[1].res, j->source, j->key, &erased_key, NULL,
                                           &out->reject_id, err);
        PQclear(calls[1].res);
        if (st != MDM_OK || erased_key) {
            PQclear(res);
            PQclear(calls[0].res);
            if (st == MDM_OK) {
                out->decision = MDM_DECISION_REJECTED;
                if (!out->errors)
                    out->errors =
                        json_pack("[{s:s, s:s, s:s}]", "pointer", "/source_key", "field",
                                  "source_key", "reason", "the key belongs to an erased subject");
            }
            return st;
        }
    }
    PQclear(calls[0].res);

    bool exists = PQntuples(res) == 1;
    char rid[32] = "";
    char old_hash[65] = "";
    bool was_deleted = false, older = false;
    int64_t member_of = 0;
    int member_version = 0;
    if (exists) {
        snprintf(rid, sizeof rid, "%s", mdm_db_get(res, 0, "id", "0"));
        snprintf(old_hash, sizeof old_hash, "%s", mdm_db_get(res, 0, "content_hash", ""));
        was_deleted = !strcmp(mdm_db_get(res, 0, "deleted", "f"), "t");
        older = !strcmp(mdm_db_get(res, 0, "older", "f"), "t");
        out->record_id = strtoll(rid, NULL, 10);
        member_of = mdm_db_get_ll(res, 0, "entity_id", 0);
        member_version = (int)mdm_db_get_ll(res, 0, "entity_version", 0);
    }
    PQclear(res);

    char *raw =
        json_dumps(j->raw ? j->raw : json_null(), JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    char hash[65] = "";
    char *norm = c ? mdm_engine_canonical_text(c, hash) : NULL;

    if (del) {
        if (!exists) {
            st = mdm_err_set(err, MDM_ENOTFOUND, "no record %s/%s", j->source, j->key);
            goto out_free;
        }
        if (older) {
            const char *sp[7] = {rid, raw, norm, hash[0] ? hash : NULL, upd, j->actor, j->role};
            st = mdm_db_exec(db, &stmt_stale, sp, NULL, err);
            out->decision = MDM_DECISION_STALE;
            out->entity_id = member_of;
            out->entity_version = member_version;
            goto out_free;
        }
        if (was_deleted) {
            out->decision = MDM_DECISION_UNCHANGED;
            goto out_free;
        }
        const char *dp[4] = {rid, upd, j->actor, j->role};
        if ((st = mdm_db_exec(db, &stmt_delete, dp, NULL, err)) != MDM_OK)
            goto out_free;
        /* resolved now: off the queue if a load delete put it there */
        if ((st = mdm_pending_remove(db, out->record_id, err)) != MDM_OK)
            goto out_free;
        if ((st = mdm_resolve_forget(db, out->record_id, err)) != MDM_OK)
            goto out_free;
        int64_t left = 0;
        st = mdm_golden_unlink(db, j->ctx, out->record_id, "system", j->actor, "source delete",
                               &left, err);
        out->decision = MDM_DECISION_DELETED;
        out->entity_id = 0;
        goto out_free;
    }

    if (exists && older) {
        const char *sp[7] = {rid, raw, norm, hash, upd, j->actor, j->role};
        st = mdm_db_exec(db, &stmt_stale, sp, NULL, err);
        out->decision = MDM_DECISION_STALE;
        out->entity_id = member_of;
        out->entity_version = member_version;
        goto out_free;
    }
    if (exists && !was_deleted && !strcmp(old_hash, hash)) {
        out->decision = MDM_DECISION_UNCHANGED;
        if (upd) {
            const char *tp[2] = {rid, upd};
            if ((st = mdm_db_exec(db, &stmt_touch, tp, NULL, err)) != MDM_OK)
                goto out_free;
        }
        out->entity_id = member_of;
        out->entity_version = member_version;
        goto out_free;
    }
    /* resolution also stores the record's consent events (mdm/resolve.h) */
    if (exists) {
        /* the update and resolution's read of the record in one round trip */
        const char *up[7] = {rid, raw, norm, hash, upd, j->actor, j->role};
        mdm_db_call uc[2] = {{.stmt = &stmt_update, .params = up}};
        mdm_resolve_record_call(out->record_id, &uc[1]);
        if ((st = mdm_db_exec_pipeline(db, uc, 2, err)) != MDM_OK)
            goto out_free;
        PQclear(uc[0].res);
        st = mdm_resolve_record_read(db, j->ctx, out->record_id, uc[1].res, j->actor, out, err);
        PQclear(uc[1].res);
    } else {
        const char *ip[8] = {j->source, j->key, raw, norm, hash, upd, j->actor, j->role};
        if ((st = mdm_db_exec(db, &stmt_insert, ip, &res, err)) != MDM_OK)
            goto out_free;
        out->record_id = mdm_db_get_ll(res, 0, "record_id", 0);
        PQclear(res);
        st = mdm_resolve_new_record(db, j->ctx, out->record_id, c, j->source, j->key, j->actor, out,
                                    err);
    }
out_free:
    free(raw);
    free(norm);
    return st;
}

typedef struct reject_job {
    const char *source, *key, *payload;
    const json_t *reasons;
    const char *via;
    int64_t *id;
} reject_job;

static mdm_status reject_tx(mdm_db *db, void *arg, mdm_err *err)
{
    reject_job *r = arg;
    mdm_status st = mdm_reject_store(db, r->source, r->key, r->payload, r->reasons, r->id, err);
    if (st == MDM_OK)
        count_record(db, r->via, MDM_DECISION_REJECTED);
    return st;
}

/* A refused record: kept in record_reject (mdm/reject.h) and, when via is set, counted
 * in the same transaction. */
static mdm_status store_reject(mdm_db *db, const char *via, const char *source, const char *key,
                               const char *payload, const json_t *reasons, int64_t *id,
                               mdm_err *err)
{
    if (!via)
        return mdm_reject_store(db, source, key, payload, reasons, id, err);
    reject_job r = {source, key, payload, reasons, via, id};
    return mdm_db_run_tx(db, "ingest_reject", reject_tx, &r, err);
}

/* mdm_ingest, mdm_ingest_as and mdm_ingest_retry: a retry gives records without a source
 * time of their own default_time, and leaves a renewed refusal to its caller
 * (store_rejects false). via: see ingest_job. */
static mdm_status ingest_one(mdm_db *db, const mdm_engine *ctx, const char *source,
                             const json_t *record, const char *default_time, bool store_rejects,
                             const char *actor, const char *role, const char *via,
                             mdm_ingest_result *out, mdm_err *err)
{
    memset(out, 0, sizeof *out);
    const mdm_source *src = mdm_sources_find(mdm_engine_sources(ctx), source);
    if (!src)
        return mdm_err_set(err, MDM_ENOTFOUND, "unknown source \"%s\"", source ? source : "");
    json_t *canon = NULL, *errors = NULL;
    mdm_status st = mdm_engine_canonicalize(ctx, src, record, &canon, &errors, err);
    if (st != MDM_OK) {
        /* not an object: reject with the reason */
        errors = json_pack("[{s:s, s:s, s:s}]", "pointer", "", "field", "record", "reason",
                           "must be a JSON object");
    }
    if (errors) {
        char *payload = json_dumps(record ? record : json_null(),
                                   JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        const json_t *k =
            json_is_object(record)
                ? mdm_canon_lookup(record, src->key_column ? src->key_column : "source_key")
                : NULL;
        if (!k && json_is_object(record))
            k = json_object_get(record, "source_key");
        bool bad;
        char *key = mdm_canon_scalar_text(k, &bad);
        st = store_rejects ? store_reject(db, via, source, key, payload ? payload : "null", errors,
                                          &out->reject_id, err)
                           : MDM_OK;
        free(key);
        free(payload);
        out->decision = MDM_DECISION_REJECTED;
        out->errors = errors;
        if (st == MDM_OK)
            mdm_log(MDM_LOG_INFO, "event=ingest_reject source=%s reject_id=%lld", source,
                    (long long)out->reject_id);
        return st;
    }
    if (default_time && !json_object_get(canon, "source_updated_at"))
        json_object_set_new(canon, "source_updated_at", json_string(default_time));
    ingest_job j = {ctx,
                    source,
                    record,
                    canon,
                    actor ? actor : "system",
                    role,
                    false,
                    json_string_value(json_object_get(canon, "source_key")),
                    out,
                    via};
    st = mdm_db_run_tx(db, "ingest", ingest_tx, &j, err);
    if (st == MDM_EUNPROCESSABLE && err) {
        /* a consent the vocabulary refuses: the whole record is rejected with the reason */
        memset(out, 0, sizeof *out);
        json_t *reasons = json_pack("[{s:s, s:s, s:s}]", "pointer", err->field, "field", "consents",
                                    "reason", err->msg);
        char *payload = json_dumps(record, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        st = store_rejects ? store_reject(db, via, source, j.key, payload ? payload : "null",
                                          reasons, &out->reject_id, err)
                           : MDM_OK;
        free(payload);
        json_decref(canon); /* j.key points into it */
        out->decision = MDM_DECISION_REJECTED;
        out->errors = reasons;
        return st;
    }
    json_decref(canon);
    if (st != MDM_OK)
        memset(out, 0, sizeof *out);
    return st;
}

mdm_status mdm_ingest(mdm_db *db, const mdm_engine *ctx, const char *source, const json_t *record,
                      const char *actor, mdm_ingest_result *out, mdm_err *err)
{
    return ingest_one(db, ctx, source, record, NULL, true, actor, NULL, NULL, out, err);
}

mdm_status mdm_ingest_as(mdm_db *db, const mdm_engine *ctx, const char *source,
                         const json_t *record, const char *actor, const char *role, const char *via,
                         mdm_ingest_result *out, mdm_err *err)
{
    return ingest_one(db, ctx, source, record, NULL, true, actor, role, via, out, err);
}

mdm_status mdm_ingest_retry(mdm_db *db, const mdm_engine *ctx, const char *source,
                            const json_t *record, const char *default_time, const char *actor,
                            mdm_ingest_result *out, mdm_err *err)
{
    return ingest_one(db, ctx, source, record, default_time, false, actor, NULL, NULL, out, err);
}

mdm_status mdm_ingest_delete(mdm_db *db, const mdm_engine *ctx, const char *source,
                             const char *source_key, const char *actor, const char *via,
                             mdm_ingest_result *out, mdm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!mdm_sources_find(mdm_engine_sources(ctx), source))
        return mdm_err_set(err, MDM_ENOTFOUND, "unknown source \"%s\"", source ? source : "");
    if (!source_key || !*source_key)
        return mdm_err_set_field(err, MDM_EINVAL, "/source_key", "source_key is required");
    ingest_job j = {ctx,  source, NULL,       NULL, actor ? actor : "system",
                    NULL, true,   source_key, out,  via};
    mdm_status st = mdm_db_run_tx(db, "ingest_delete", ingest_tx, &j, err);
    if (st != MDM_OK)
        memset(out, 0, sizeof *out);
    return st;
}

/* ---- bulk load ------------------------------------------------------------------- */

/* Input rows: CSV with a header (RFC 4180: quotes, doubled quotes, embedded newlines,
 * CRLF) or NDJSON. Each row becomes a JSON object in the source's layout. */
typedef struct row_reader {
    char *data;
    size_t len, pos;
    bool csv;
    long line;      /* line where the current row starts */
    long next_line; /* line of the next unread byte */
    char **header;
    size_t ncols;
    const char *path;
    long nul_field; /* first field of the current CSV record holding a NUL byte, or -1 */
} row_reader;

/* Reads one CSV record into fields; returns the count, -1 at end, -2 on an open quote. */
static long csv_record(row_reader *r, char ***fields_out)
{
    if (r->pos >= r->len)
        return -1;
    size_t cap = 16, n = 0;
    char **fields = mdm_xcalloc(cap, sizeof *fields);
    mdm_buf f = {0};
    bool quoted = false, in_quotes = false, any = false;
    r->line = r->next_line;
    r->nul_field = -1;
    while (r->pos < r->len) {
        char c = r->data[r->pos++];
        any = true;
        if (c == '\0' && r->nul_field < 0)
            r->nul_field = (long)n; /* a C string would end here: refused, not truncated */
        if (in_quotes) {
            if (c == '"') {
                if (r->pos < r->len && r->data[r->pos] == '"') {
                    mdm_buf_putc(&f, '"');
                    r->pos++;
                } else {
                    in_quotes = false;
                }
            } else {
                if (c == '\n')
                    r->next_line++;
                mdm_buf_putc(&f, c);
            }
            continue;
        }
        if (c == '"' && f.len == 0 && !quoted) {
            quoted = in_quotes = true;
            continue;
        }
        if (c == ',' || c == '\n' || c == '\r') {
            if (n + 1 >= cap) {
                cap *= 2;
                fields = mdm_xrealloc(fields, cap * sizeof *fields);
            }
            fields[n++] = f.data ? mdm_buf_steal(&f) : mdm_xstrdup("");
            quoted = false;
            if (c == ',')
                continue;
            if (c == '\r' && r->pos < r->len && r->data[r->pos] == '\n')
                r->pos++;
            r->next_line++;
            *fields_out = fields;
            return (long)n;
        }
        mdm_buf_putc(&f, c);
    }
    if (in_quotes) {
        mdm_buf_free(&f);
        for (size_t i = 0; i < n; i++)
            free(fields[i]);
        free(fields);
        return -2;
    }
    if (any) {
        if (n + 1 >= cap)
            fields = mdm_xrealloc(fields, (cap + 1) * sizeof *fields);
        fields[n++] = f.data ? mdm_buf_steal(&f) : mdm_xstrdup("");
    }
    mdm_buf_free(&f);
    *fields_out = fields;
    return (long)n;
}

static void free_fields(char **f, long n)
{
    for (long i = 0; i < n; i++)
        free(f[i]);
    free(f);
}

/* Next row as a new JSON object; 1 = row, 0 = end, -1 = bad row (*why set). */
static int reader_next(row_reader *r, json_t **row, char *why, size_t whycap)
{
    *row = NULL;
    if (!r->csv) {
        while (r->pos < r->len) {
            r->line = r->next_line++;
            const char *s = r->data + r->pos;
            const char *nl = memchr(s, '\n', r->len - r->pos);
            size_t n = nl ? (size_t)(nl - s) : r->len - r->pos;
            r->pos += n + (nl ? 1 : 0);
            size_t k = n;
            while (k > 0 && (s[k - 1] == '\r' || s[k - 1] == ' ' || s[k - 1] == '\t'))
                k--;
            size_t b = 0;
            while (b < k && (s[b] == ' ' || s[b] == '\t'))
                b++;
            if (b == k)
                continue;
            json_error_t je;
            *row = json_loadb(s + b, k - b, 0, &je);
            if (!*row) {
                snprintf(why, whycap, "invalid JSON at column %d: %s", je.column, je.text);
                return -1;
            }
            return 1;
        }
        return 0;
    }
    for (;;) {
        char **fields = NULL;
        long n = csv_record(r, &fields);
        if (n == -1)
            return 0;
        if (n == -2) {
            snprintf(why, whycap, "a quoted field is not closed");
            r->pos = r->len;
            return -1;
        }
        if (n == 1 && fields[0][0] == '\0') {
            free_fields(fields, n);
            continue; /* blank line */
        }
        if ((size_t)n != r->ncols) {
            snprintf(why, whycap, "%ld fields, the header has %zu", n, r->ncols);
            free_fields(fields, n);
            return -1;
        }
        /* the same validation as JSON input: no NUL byte, UTF-8 only (json_string would
         * return NULL for invalid UTF-8 and the field would vanish) */
        if (r->nul_field >= 0) {
            snprintf(why, whycap, "column \"%.64s\" contains a NUL byte", r->header[r->nul_field]);
            free_fields(fields, n);
            return -1;
        }
        json_t *o = json_object();
        for (long i = 0; i < n; i++) {
            if (!fields[i][0])
                continue;
            json_t *v = json_string(fields[i]);
            if (!v) {
                snprintf(why, whycap, "column \"%.64s\" is not valid UTF-8", r->header[i]);
                json_decref(o);
                free_fields(fields, n);
                return -1;
            }
            json_object_set_new(o, r->header[i], v);
        }
        free_fields(fields, n);
        *row = o;
        return 1;
    }
}

static mdm_status reader_open(row_reader *r, const char *path, const char *format, mdm_err *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    FILE *f = mdm_io_open(path, "rb"); /* "-": standard input */
    if (!f)
        return mdm_err_set(err, MDM_EIO, "cannot open %s: %s", path, strerror(errno));
    r->data = mdm_io_read_all(f, 0, &r->len);
    mdm_io_close(f);
    if (!r->data)
        return mdm_err_set(err, MDM_EIO, "cannot read %s", path);
    if (r->len >= 3 && !memcmp(r->data, "\xEF\xBB\xBF", 3))
        r->pos = 3;
    r->next_line = 1;
    if (format) {
        if (!strcmp(format, "csv"))
            r->csv = true;
        else if (strcmp(format, "ndjson") != 0)
            return mdm_err_set_field(err, MDM_EINVAL, "/format", "format must be csv or ndjson");
    } else {
        const char *dot = strrchr(path, '.');
        if (dot && (!strcmp(dot, ".csv") || !strcmp(dot, ".CSV")))
            r->csv = true;
        else if (dot &&
                 (!strcmp(dot, ".ndjson") || !strcmp(dot, ".jsonl") || !strcmp(dot, ".json")))
            r->csv = false;
        else
            return mdm_err_set(err, MDM_EINVAL,
                               "%s: cannot tell the format from the extension; use --format", path);
    }
    if (r->csv) {
        char **fields = NULL;
        long n2 = csv_record(r, &fields);
        if (n2 <= 0 || (n2 == 1 && fields[0][0] == '\0')) {
            if (n2 > 0)
                free_fields(fields, n2);
            return mdm_err_set(err, MDM_EINVAL, "%s:1: no header row", path);
        }
        r->header = fields;
        r->ncols = (size_t)n2;
        for (size_t i = 0; i < r->ncols; i++) {
            char *c = mdm_canon_clean(r->header[i]);
            free(r->header[i]);
            r->header[i] = c;
        }
    }
    return MDM_OK;
}

static void reader_close(row_reader *r)
{
    free(r->data);
    if (r->header)
        free_fields(r->header, (long)r->ncols);
}

typedef struct reject_row {
    char *key, *payload;
    json_t *reasons;
} reject_row;

typedef struct load_chunk {
    const char *source, *path;
    const char *actor, *role; /* who loads: written with each history row (may be NULL) */
    mdm_buf copy;
    reject_row *rejects;
    size_t nrejects, caprejects;
    long rows;
    mdm_load_stats got; /* per chunk, filled by the transaction */
} load_chunk;

#define STAGE_DISTINCT                                                                             \
    "WITH s AS (SELECT DISTINCT ON (source_key) * FROM load_stage "                                \
    "ORDER BY source_key, source_updated_at DESC NULLS LAST, line DESC) "

/* Rows (other than deletes) whose key belongs to an erased subject are flagged in
 * record_reject (mdm_reject_flag_staged) and leave the staging table before anything is
 * applied: the rows of the keys flagged ($1, the ids of their rejects; no statement at
 * all in the usual chunk, which flags none). */
static const mdm_db_stmt stmt_stage_erased = {
    "load_erased",
    "DELETE FROM load_stage s USING record_reject x WHERE x.id = ANY($1::bigint[]) "
    "AND s.source_key = x.source_key AND COALESCE(s.op, 'upsert') <> 'delete'",
    1};

static const mdm_db_stmt stmt_stage_stale = {
    "load_stale",
    STAGE_DISTINCT
    "INSERT INTO source_record_history (record_id, version, change, raw, normalized, "
    "content_hash, source_updated_at, actor, actor_role) SELECT r.id, r.version, 'stale', "
    "s.raw, s.normalized, s.content_hash, s.source_updated_at, $2, $3 FROM s "
    "JOIN source_record r ON r.source = $1 "
    "AND r.source_key = s.source_key WHERE s.source_updated_at < r.source_updated_at "
    "AND NOT EXISTS (SELECT 1 FROM source_record_history h WHERE h.record_id = r.id "
    "AND h.change = 'stale' AND h.content_hash IS NOT DISTINCT FROM s.content_hash "
    "AND h.source_updated_at IS NOT DISTINCT FROM s.source_updated_at) RETURNING 1",
    3};

static const mdm_db_stmt stmt_stage_stale_count = {
    "load_stale_count",
    STAGE_DISTINCT
    "SELECT count(*) AS n FROM s JOIN source_record r ON r.source = $1 "
    "AND r.source_key = s.source_key WHERE s.source_updated_at < r.source_updated_at",
    1};

static const mdm_db_stmt stmt_stage_delete = {
    "load_delete",
    STAGE_DISTINCT
    ", d AS (UPDATE source_record r SET deleted = true, version = r.version + 1, "
    "source_updated_at = COALESCE(s.source_updated_at, r.source_updated_at), "
    "received_at = now() FROM s WHERE s.op = 'delete' AND r.source = $1 "
    "AND r.source_key = s.source_key AND NOT r.deleted "
    "AND COALESCE(s.source_updated_at >= r.source_updated_at, true) "
    "RETURNING r.id, r.version, r.source_updated_at) "
    "INSERT INTO source_record_history (record_id, version, change, source_updated_at, actor, "
    "actor_role) SELECT id, version, 'delete', source_updated_at, $2, $3 FROM d "
    "RETURNING record_id",
    3};

static const mdm_db_stmt stmt_stage_upsert = {
    "load_upsert",
    STAGE_DISTINCT
    ", u AS (INSERT INTO source_record (source, source_key, raw, normalized, content_hash, "
    "source_updated_at) SELECT $1, source_key, raw, normalized, content_hash, source_updated_at "
    "FROM s WHERE COALESCE(op, 'upsert') <> 'delete' ORDER BY line "
    "ON CONFLICT (source, source_key) DO UPDATE SET raw = EXCLUDED.raw, "
    "normalized = EXCLUDED.normalized, content_hash = EXCLUDED.content_hash, "
    "source_updated_at = COALESCE(EXCLUDED.source_updated_at, source_record.source_updated_at), "
    "version = source_record.version + 1, deleted = false, "
    "received_at = now() "
    "WHERE (source_record.content_hash <> EXCLUDED.content_hash OR source_record.deleted) "
    "AND COALESCE(EXCLUDED.source_updated_at >= source_record.source_updated_at, true) "
    "RETURNING id, version, raw, normalized, content_hash, source_updated_at) "
    "INSERT INTO source_record_history (record_id, version, change, raw, normalized, "
    "content_hash, source_updated_at, actor, actor_role) SELECT id, version, "
    "CASE WHEN version = 1 THEN 'insert' ELSE 'update' END, raw, normalized, content_hash, "
    "source_updated_at, $2, $3 FROM u RETURNING record_id, change",
    3};

static const mdm_db_stmt stmt_stage_distinct = {
    "load_distinct", "SELECT count(DISTINCT source_key) AS n FROM load_stage", 0};

/* Appends id (decimal text) to the bigint[] literal being built in b ("{1,2" so far; the
 * caller closes it). */
static void id_list_add(mdm_buf *b, const char *id)
{
    mdm_buf_putc(b, b->len ? ',' : '{');
    mdm_buf_puts(b, id);
}

static mdm_status load_tx(mdm_db *db, void *arg, mdm_err *err)
{
    load_chunk *c = arg;
    memset(&c->got, 0, sizeof c->got);
    mdm_status st = mdm_resolve_gate(db, err); /* a bulk run never sees a record change */
    if (st != MDM_OK)
        return st;
    st = mdm_db_command(
        db,
        "CREATE TEMP TABLE IF NOT EXISTS load_stage (line bigint, source_key text, raw jsonb, "
        "normalized jsonb, content_hash text, source_updated_at timestamptz, op text) "
        "ON COMMIT DELETE ROWS",
        err);
    if (st != MDM_OK)
        return st;
    if (c->copy.len) {
        st = mdm_db_copy_in(db,
                            "COPY load_stage (line, source_key, raw, normalized, content_hash, "
                            "source_updated_at, op) FROM STDIN",
                            c->copy.data, c->copy.len, err);
        /* statistics of the chunk: without them the planner guesses the staging table's
         * size from its pages and, once source_record is large, joins it by scanning the
         * whole table (0.4 s per statement per chunk at a million records) instead of
         * one index lookup per staged key */
        if (st == MDM_OK)
            st = mdm_db_command(db, "ANALYZE load_stage (source_key, source_updated_at, op)", err);
        if (st != MDM_OK)
            return st;
        mdm_buf flagged = {0};
        st = mdm_reject_flag_staged(db, c->source, c->path, &flagged, &c->got.erased, err);
        if (st == MDM_OK && c->got.erased) {
            const char *ep[1] = {flagged.data};
            st = mdm_db_exec(db, &stmt_stage_erased, ep, NULL, err);
        }
        mdm_buf_free(&flagged);
        if (st != MDM_OK)
            return st;
        if (c->got.erased)
            mdm_log(MDM_LOG_WARN, "event=erased_key_reingest source=%s rows=%ld via=load",
                    c->source, c->got.erased);
        PGresult *r = NULL;
        const char *p[3] = {c->source, c->actor, c->role};
        if ((st = mdm_db_exec(db, &stmt_stage_stale_count, p, &r, err)) != MDM_OK)
            return st;
        c->got.stale = mdm_db_get_ll(r, 0, "n", 0);
        PQclear(r);
        if ((st = mdm_db_exec(db, &stmt_stage_stale, p, NULL, err)) != MDM_OK)
            return st;
        /* the records deleted, inserted or changed wait for resolution (mdm/pending.h) */
        mdm_buf ids = {0};
        if ((st = mdm_db_exec(db, &stmt_stage_delete, p, &r, err)) == MDM_OK) {
            c->got.deleted = PQntuples(r);
            for (int i = 0; i < PQntuples(r); i++)
                id_list_add(&ids, PQgetvalue(r, i, 0));
            PQclear(r);
            st = mdm_db_exec(db, &stmt_stage_upsert, p, &r, err);
        }
        if (st == MDM_OK) {
            int change = PQfnumber(r, "change"), rec = PQfnumber(r, "record_id");
            for (int i = 0; i < PQntuples(r); i++) {
                if (!strcmp(PQgetvalue(r, i, change), "insert"))
                    c->got.inserted++;
                else
                    c->got.updated++;
                id_list_add(&ids, PQgetvalue(r, i, rec));
            }
            PQclear(r);
        }
        if (st == MDM_OK && ids.len) {
            mdm_buf_putc(&ids, '}');
            st = mdm_pending_add(db, ids.data, err);
        }
        mdm_buf_free(&ids);
        if (st != MDM_OK)
            return st;
        if ((st = mdm_db_exec(db, &stmt_stage_distinct, NULL, &r, err)) != MDM_OK)
            return st;
        long distinct = mdm_db_get_ll(r, 0, "n", 0);
        PQclear(r);
        c->got.unchanged =
            distinct - c->got.inserted - c->got.updated - c->got.deleted - c->got.stale;
        if (c->got.unchanged < 0)
            c->got.unchanged = 0;
    }
    for (size_t i = 0; i < c->nrejects; i++) {
        reject_row *rj = &c->rejects[i];
        if ((st = mdm_reject_store(db, c->source, rj->key, rj->payload, rj->reasons, NULL, err)) !=
            MDM_OK)
            return st;
    }
    c->got.rejected = (long)c->nrejects;
    /* the deployment's counters, with the chunk they count (mdm/counters.h): the new and
     * changed records wait for resolution, which counts what becomes of them */
    const mdm_count counts[] = {
        {"received", c->rows},           {"rejected", c->got.rejected + c->got.erased},
        {"unchanged", c->got.unchanged}, {"stale", c->got.stale},
        {"deleted", c->got.deleted},     {"pending", c->got.inserted + c->got.updated}};
    return mdm_counters_add(db, "load", counts, sizeof counts / sizeof *counts, err);
}

static void chunk_reset(load_chunk *c)
{
    mdm_buf_reset(&c->copy);
    for (size_t i = 0; i < c->nrejects; i++) {
        free(c->rejects[i].key);
        free(c->rejects[i].payload);
        json_decref(c->rejects[i].reasons);
    }
    c->nrejects = 0;
    c->rows = 0;
}

static void chunk_reject(load_chunk *c, const char *key, const char *payload, json_t *reasons)
{
    if (c->nrejects == c->caprejects) {
        c->caprejects = c->caprejects ? 2 * c->caprejects : 16;
        c->rejects = mdm_xrealloc(c->rejects, c->caprejects * sizeof *c->rejects);
    }
    reject_row *r = &c->rejects[c->nrejects++];
    r->key = key ? mdm_xstrdup(key) : NULL;
    r->payload = mdm_xstrdup(payload);
    r->reasons = reasons;
}

/* One input row of a load chunk and what canonicalization made of it. */
typedef struct load_row {
    json_t *row; /* the row in the source's layout; NULL when refused by the reader */
    long line;
    bool refused;
    char why[256];  /* the reader's reason when refused */
    json_t *errors; /* validation errors (owned; handed to chunk_reject) */
    json_t *canon;
    char *raw, *norm; /* compact, sorted-key JSON of row and canon */
    char hash[65];
} load_row;

typedef struct canon_job {
    const mdm_engine *ctx;
    const mdm_source *src;
    load_row *rows;
} canon_job;

/* Canonicalizes rows [lo, hi) (matching/block.h mdm_parallel_for). */
static void canon_worker(void *arg, int t, size_t lo, size_t hi)
{
    (void)t;
    canon_job *job = arg;
    for (size_t i = lo; i < hi; i++) {
        load_row *r = &job->rows[i];
        if (r->refused)
            continue;
        mdm_err cerr = {0};
        if (mdm_engine_canonicalize(job->ctx, job->src, r->row, &r->canon, &r->errors, &cerr) !=
            MDM_OK)
            r->errors =
                json_pack("[{s:s, s:s, s:s}]", "pointer", "", "field", "row", "reason", cerr.msg);
        /* consents the vocabulary refuses: the record is refused here, as HTTP ingest
         * refuses it, instead of failing the resolution that would store them */
        if (!r->errors &&
            mdm_consent_validate(json_object_get(r->canon, "consents"), &cerr) != MDM_OK)
            r->errors = json_pack("[{s:s, s:s, s:s}]", "pointer", cerr.field, "field", "consents",
                                  "reason", cerr.msg);
        if (r->errors) {
            json_decref(r->canon);
            r->canon = NULL;
            continue;
        }
        r->raw = json_dumps(r->row, JSON_COMPACT | JSON_SORT_KEYS);
        r->norm = mdm_engine_canonical_text(r->canon, r->hash);
    }
}

/* The chunk in flight: its transaction runs on a thread of its own while the next chunk
 * is read and canonicalized, so the client's work and the server's overlap. One
 * transaction at a time on the connection, in file order, as before. */
typedef struct load_writer {
    mdm_db *db;
    load_chunk *c;
    mdm_status st;
    mdm_err err;
    pthread_t th;
    bool running;
} load_writer;

static void *load_write_main(void *arg)
{
    load_writer *w = arg;
    w->st = mdm_db_run_tx(w->db, "load_chunk", load_tx, w->c, &w->err);
    return NULL;
}

static void load_write_start(load_writer *w, load_chunk *c)
{
    w->c = c;
    w->st = MDM_OK;
    if (pthread_create(&w->th, NULL, load_write_main, w) != 0) {
        load_write_main(w); /* no thread to be had: write it here */
        return;
    }
    w->running = true;
}

/* Waits for the chunk in flight (if any) and adds its counts to stats. */
static mdm_status load_write_wait(load_writer *w, const char *source, FILE *progress,
                                  mdm_load_stats *stats, mdm_err *err)
{
    if (w->running)
        pthread_join(w->th, NULL);
    w->running = false;
    if (!w->c)
        return MDM_OK;
    load_chunk *c = w->c;
    w->c = NULL;
    if (w->st != MDM_OK) {
        *err = w->err;
        return w->st;
    }
    stats->inserted += c->got.inserted;
    stats->updated += c->got.updated;
    stats->unchanged += c->got.unchanged;
    stats->stale += c->got.stale;
    stats->deleted += c->got.deleted;
    stats->rejected += c->got.rejected;
    stats->erased += c->got.erased;
    if (progress) {
        fprintf(progress, "load: %s %ld rows (%ld new, %ld changed, %ld rejected)\n", source,
                stats->rows, stats->inserted, stats->updated, stats->rejected);
        fflush(progress);
    }
    return MDM_OK;
}

mdm_status mdm_ingest_load(mdm_db *db, const mdm_engine *ctx, const char *source, const char *path,
                           const char *format, int chunk_rows, FILE *progress, const char *actor,
                           const char *role, mdm_load_stats *stats, mdm_err *err)
{
    memset(stats, 0, sizeof *stats);
    const mdm_source *src = mdm_sources_find(mdm_engine_sources(ctx), source);
    if (!src)
        return mdm_err_set(err, MDM_ENOTFOUND, "unknown source \"%s\"", source ? source : "");
    if (chunk_rows <= 0)
        chunk_rows = 5000;
    row_reader rd;
    mdm_status st = reader_open(&rd, path, format, err);
    if (st != MDM_OK) {
        reader_close(&rd);
        return st;
    }
    mdm_audit_sha256_hex(rd.data, rd.len, stats->file_sha256);
    load_chunk chunks[2] = {{.source = source, .path = path, .actor = actor, .role = role},
                            {.source = source, .path = path, .actor = actor, .role = role}};
    load_writer w = {.db = db};
    int cur = 0;
    bool eof = false;
    load_row *rows = mdm_xcalloc((size_t)chunk_rows, sizeof *rows);
    canon_job job = {.ctx = ctx, .src = src, .rows = rows};
    int threads = mdm_link_threads(0);
    while (!eof && st == MDM_OK) {
        load_chunk *c = &chunks[cur];
        chunk_reset(c);
        /* read the chunk, canonicalize it on all threads, then assemble it in file order */
        size_t n = 0;
        while (n < (size_t)chunk_rows) {
            load_row *r = &rows[n];
            memset(r, 0, sizeof *r);
            int got = reader_next(&rd, &r->row, r->why, sizeof r->why);
            if (got == 0) {
                eof = true;
                break;
            }
            r->line = rd.line;
            r->refused = got < 0;
            n++;
        }
        mdm_parallel_for(threads, n, canon_worker, &job);
        for (size_t i = 0; i < n; i++) {
            load_row *r = &rows[i];
            c->rows++;
            stats->rows++;
            if (r->refused) {
                char *payload = mdm_xasprintf("%s:%ld", path, r->line);
                json_t *reasons =
                    json_pack("[{s:s, s:s, s:s}]", "pointer", "", "field", "row", "reason", r->why);
                chunk_reject(c, NULL, payload, reasons);
                free(payload);
                continue;
            }
            if (r->errors) {
                /* the payload names the file line, so an operator finds the row */
                json_t *wrapped = json_pack("{s:s, s:I, s:O}", "file", path, "line",
                                            (json_int_t)r->line, "record", r->row);
                char *payload = json_dumps(wrapped, JSON_COMPACT | JSON_SORT_KEYS);
                const json_t *k =
                    mdm_canon_lookup(r->row, src->key_column ? src->key_column : "source_key");
                bool bad;
                char *key = mdm_canon_scalar_text(k, &bad);
                chunk_reject(c, key, payload, r->errors);
                free(key);
                free(payload);
                json_decref(wrapped);
                json_decref(r->row);
                continue;
            }
            mdm_buf_printf(&c->copy, "%ld\t", r->line);
            mdm_db_copy_field(&c->copy, json_string_value(json_object_get(r->canon, "source_key")));
            mdm_buf_putc(&c->copy, '\t');
            mdm_db_copy_field(&c->copy, r->raw);
            mdm_buf_putc(&c->copy, '\t');
            mdm_db_copy_field(&c->copy, r->norm);
            mdm_buf_putc(&c->copy, '\t');
            mdm_db_copy_field(&c->copy, r->hash);
            mdm_buf_putc(&c->copy, '\t');
            mdm_db_copy_field(&c->copy,
                              json_string_value(json_object_get(r->canon, "source_updated_at")));
            mdm_buf_putc(&c->copy, '\t');
            mdm_db_copy_field(&c->copy, json_string_value(json_object_get(r->canon, "op")));
            mdm_buf_putc(&c->copy, '\n');
            free(r->raw);
            free(r->norm);
            json_decref(r->canon);
            json_decref(r->row);
        }
        if (c->rows == 0)
            break;
        if ((st = load_write_wait(&w, source, progress, stats, err)) != MDM_OK)
            break;
        load_write_start(&w, c);
        cur ^= 1;
    }
    mdm_err werr;
    mdm_status wst = load_write_wait(&w, source, progress, stats, &werr);
    if (st == MDM_OK && wst != MDM_OK) {
        st = wst;
        *err = werr;
    }
    for (int i = 0; i < 2; i++) {
        chunk_reset(&chunks[i]);
        free(chunks[i].rejects);
        mdm_buf_free(&chunks[i].copy);
    }
    free(rows);
    reader_close(&rd);
    return st;
}

/* ---- erasure (mdm/subject.c) ------------------------------------------------------- */

static const mdm_db_stmt ingest_erase_stmts[] = {
    {"subject_erase_history_row",
     "INSERT INTO source_record_history (record_id, version, change) "
     "SELECT id, version + 1, 'erase' FROM source_record WHERE id = ANY($1::bigint[])",
     1},
    {"subject_erase_history",
     "UPDATE source_record_history SET raw = NULL, normalized = NULL, content_hash = NULL "
     "WHERE record_id = ANY($1::bigint[])",
     1},
    {"subject_erase_records",
     "UPDATE source_record SET raw = '{}', normalized = '{}', content_hash = 'erased', "
     "erased = true, deleted = true, version = version + 1 WHERE id = ANY($1::bigint[])",
     1},
};

mdm_status mdm_ingest_erase(mdm_db *db, const char *records, mdm_err *err)
{
    const char *params[] = {records};
    return mdm_db_exec_each(db, ingest_erase_stmts,
                            sizeof ingest_erase_stmts / sizeof *ingest_erase_stmts, params, err);
}
