/* Source records: upsert one (JSON), upsert a batch (NDJSON, one result line per input
 * line), read one with its golden record, delete (retire) one. Every write goes through
 * mdm_ingest (mdm/ingest.h): map, validate, normalize, upsert, resolve and golden update
 * in one transaction, so a reply is sent only after the write committed. Results are
 * counted in mdm_ingest_results_total{result=...} (this process) and in the deployment's
 * record counters (mdm_records_total, via "http" or "batch"), which ingest adds in each
 * record's own transaction. */
#include "api/handlers.h"
#include "api/http_metrics.h"
#include "common/log.h"
#include "mdm/audit.h"
#include "mdm/counters.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/quality.h"
#include "mdm/query.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESULT_SCHEMA                                                                              \
    "\"IngestResult\": {\"type\": \"object\", \"properties\": {\"decision\": {\"enum\": "          \
    "[\"created\", \"linked\", \"merged\", \"review\", \"updated\", \"unchanged\", \"stale\", "    \
    "\"deleted\", \"rejected\"]}, \"record_id\": {\"type\": \"integer\"}, \"entity_id\": "         \
    "{\"type\": \"integer\"}, \"entity_version\": {\"type\": \"integer\"}, \"probability\": "      \
    "{\"type\": \"number\"}, \"review_id\": {\"type\": \"integer\"}}}"

const char mdm_h_record_upsert_doc[] =
    "{\"summary\": \"Upsert one source record\", \"tags\": [\"records\"], \"description\":"
    " \"The record in the source system's own layout (its configured mapping) or canonical. It"
    " is normalized, matched and linked in one transaction; the reply tells the link decision"
    " and the golden record now holding it. 201 when the record is new, 200 for an update, an"
    " unchanged copy or a stale (older) copy. Invalid fields: 422 with a JSON pointer per field"
    " (the record is kept in record_reject).\", \"requestBody\": {\"required\": true,"
    " \"content\": {\"application/json\": {\"schema\": {\"anyOf\": [{\"allOf\": [{\"$ref\":"
    " \"#/components/schemas/CanonicalRecord\"}, {\"required\": [\"source_key\"]}]}, {\"$ref\":"
    " \"#/components/schemas/SourceLayoutRecord\"}]}}}}, \"responses\": {\"200\":"
    " {\"description\": \"updated, unchanged or stale\", \"content\": {\"application/json\":"
    " {\"schema\": {\"$ref\": \"#/components/schemas/IngestResult\"}}}}, \"201\":"
    " {\"description\": \"new record: created, linked, merged or sent to review\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/IngestResult\"}}}}}, \"x-components\": {\"schemas\": {" RESULT_SCHEMA
    ", \"SourceLayoutRecord\": {\"type\": \"object\", \"required\": [\"source_key\"],"
    " \"properties\": {\"source_key\": {\"type\": [\"string\", \"number\"]}},"
    " \"additionalProperties\": true, \"description\": \"a record in the source system's own"
    " layout: the columns its configured mapping reads\"}}}}";

const char mdm_h_record_batch_doc[] =
    "{\"summary\": \"Upsert a batch of source records (NDJSON)\", \"tags\": [\"records\"],"
    " \"description\": \"One JSON record per line (http.max_batch_lines lines,"
    " http.max_batch_bytes bytes). Each line is ingested in its own transaction; the reply"
    " has one JSON line per input line, in order: {line, status, decision, record_id,"
    " entity_id, ...} or {line, status, error, errors}. A bad line does not fail the others.\","
    " \"responses\": {\"200\": {\"description\": \"one result line per input line\","
    " \"content\": {\"application/x-ndjson\": {\"schema\": {\"type\": \"string\"}}}}}}";

const char mdm_h_record_get_doc[] =
    "{\"summary\": \"One source record and its golden record\", \"tags\": [\"records\"],"
    " \"responses\": {\"200\": {\"description\": \"the record (raw and normalized) and its"
    " entity\", \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\","
    " \"properties\": {\"id\": {\"type\": \"integer\"}, \"source\": {\"type\": \"string\"},"
    " \"source_key\": {\"type\": \"string\"}, \"raw\": {\"type\": \"object\","
    " \"additionalProperties\": true, \"description\": \"the record as the source sent it, in"
    " its own layout\"}, \"normalized\": {\"type\": \"object\", \"additionalProperties\":"
    " true, \"description\": \"the canonical record after normalization, with its match keys"
    " (keys) and data-quality issues\"}, \"version\": {\"type\": \"integer\"}, \"deleted\": "
    "{\"type\":"
    " \"boolean\"}, \"entity_id\": {\"type\": [\"integer\", \"null\"]}, \"data_quality\":"
    " {\"type\": \"object\", \"additionalProperties\": true, \"description\": \"issues: the "
    "record's invalid values (left out"
    " of matching when dropped) and badly shaped contacts (kept, not matched); scores:"
    " completeness, validity, freshness (0..1), freshness_days, agrees_with_golden\"},"
    " \"entity\": "
    "{\"$ref\":"
    " \"#/components/schemas/Entity\"}}}}}}}}";

const char mdm_h_record_delete_doc[] =
    "{\"summary\": \"Delete (retire) a source record\", \"tags\": [\"records\"],"
    " \"description\": \"The record leaves its golden record, which is recomputed (and"
    " retired when it has no members left). History is kept.\","
    " \"responses\": {\"200\": {\"description\": \"retired\", \"content\": {\"application/json\":"
    " {\"schema\": {\"$ref\": \"#/components/schemas/IngestResult\"}}}}}}";

/* The result of one ingest as JSON (new reference); *status gets its HTTP status. */
static json_t *result_json(const mdm_ingest_result *r, int *status)
{
    const char *d = mdm_decision_name(r->decision);
    mdm_http_counter_add("mdm_ingest_results_total",
                         r->decision == MDM_DECISION_CREATED     ? "result=\"created\""
                         : r->decision == MDM_DECISION_LINKED    ? "result=\"linked\""
                         : r->decision == MDM_DECISION_MERGED    ? "result=\"merged\""
                         : r->decision == MDM_DECISION_REVIEW    ? "result=\"review\""
                         : r->decision == MDM_DECISION_UPDATED   ? "result=\"updated\""
                         : r->decision == MDM_DECISION_UNCHANGED ? "result=\"unchanged\""
                         : r->decision == MDM_DECISION_STALE     ? "result=\"stale\""
                         : r->decision == MDM_DECISION_DELETED   ? "result=\"deleted\""
                         : r->decision == MDM_DECISION_REJECTED  ? "result=\"rejected\""
                                                                 : "result=\"other\"",
                         1);
    json_t *o = json_pack("{s:s}", "decision", d);
    if (r->record_id)
        json_object_set_new(o, "record_id", json_integer(r->record_id));
    if (r->entity_id) {
        json_object_set_new(o, "entity_id", json_integer(r->entity_id));
        json_object_set_new(o, "entity_version", json_integer(r->entity_version));
    }
    if (r->probability > 0)
        json_object_set_new(o, "probability", json_real(r->probability));
    if (r->review_id)
        json_object_set_new(o, "review_id", json_integer(r->review_id));
    switch (r->decision) {
    case MDM_DECISION_CREATED:
    case MDM_DECISION_LINKED:
    case MDM_DECISION_MERGED:
    case MDM_DECISION_REVIEW:
    case MDM_DECISION_PENDING:
        *status = MHD_HTTP_CREATED;
        break;
    case MDM_DECISION_REJECTED:
        *status = MHD_HTTP_UNPROCESSABLE_CONTENT;
        break;
    default:
        *status = MHD_HTTP_OK;
    }
    return o;
}

/* Converts ingest's rejection reasons into problem errors[{pointer, detail}]. */
static json_t *reject_errors(const json_t *errors)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *p = json_string_value(json_object_get(e, "pointer"));
        const char *reason = json_string_value(json_object_get(e, "reason"));
        json_array_append_new(out, json_pack("{s:s, s:s}", "pointer", p ? p : "", "detail",
                                             reason ? reason : "invalid value"));
    }
    return out;
}

/* Counts, as received by path via in the deployment's counters (mdm/counters.h), lines
 * of a batch that never became a record transaction (malformed, refused before
 * ingest): a record that did was counted in its transaction (mdm_ingest_as). After the
 * batch: a failure is logged, the records stay committed. */
static void count_unread(mdm_http_req *req, const char *via, long lines)
{
    mdm_count c = {"received", lines};
    mdm_err err = {0};
    if (lines > 0 && mdm_counters_add(mdm_http_db(req), via, &c, 1, &err) != MDM_OK)
        mdm_log(MDM_LOG_WARN, "event=counters_failed via=%s request_id=%s error=\"%s\"", via,
                mdm_http_request_id(req), err.msg);
}

static void reply_rejected(mdm_http_req *req, const mdm_ingest_result *r)
{
    mdm_err e;
    mdm_err_set(&e, MDM_EUNPROCESSABLE, "the record has %zu invalid field%s (kept as reject %lld)",
                json_array_size(r->errors), json_array_size(r->errors) == 1 ? "" : "s",
                (long long)r->reject_id);
    mdm_http_reply_problem_fields(req, &e, reject_errors(r->errors));
}

void mdm_h_record_upsert(mdm_http_req *req)
{
    json_t *record = mdm_http_json(req);
    if (!json_is_object(record)) {
        mdm_err e;
        mdm_err_set_field(&e, MDM_EUNPROCESSABLE, "", "the record must be a JSON object");
        mdm_http_reply_problem(req, &e);
        return;
    }
    mdm_ingest_result r = {0};
    mdm_err err = {0};
    mdm_status st =
        mdm_ingest_as(mdm_http_db(req), mdm_http_ingest_ctx(req), mdm_http_param(req, "source"),
                      record, mdm_http_actor(req), mdm_http_role(req), "http", &r, &err);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    if (r.decision == MDM_DECISION_REJECTED) {
        mdm_http_counter_add("mdm_ingest_results_total", "result=\"rejected\"", 1);
        reply_rejected(req, &r);
    } else {
        int status = MHD_HTTP_OK;
        json_t *o = result_json(&r, &status);
        if (status == MHD_HTTP_CREATED && r.entity_id) {
            char loc[64];
            snprintf(loc, sizeof loc, "/v1/entities/%lld", (long long)r.entity_id);
            mdm_http_set_header(req, "Location", loc);
        }
        mdm_http_reply_json(req, status, o);
    }
    mdm_ingest_result_clear(&r);
}

/* One "records.batch" audit row per batch, after its lines (each line is its own
 * transaction; the per-record trail is link_event and source_record_history): who, which
 * source, how many lines ended how, and the SHA-256 of the result lines (ids, decisions,
 * versions: what was written, without the records' contents, which are personal data).
 * A batch whose audit row cannot be written still answers its lines: they are committed;
 * the failure is logged. */
static void audit_batch(mdm_http_req *req, const char *source, long lines,
                        const long by_decision[MDM_DECISION_PENDING + 1], long failed,
                        const mdm_buf *results)
{
    char hash[65], target[160];
    mdm_audit_sha256_hex(results->data ? results->data : "", results->len, hash);
    snprintf(target, sizeof target, "source:%.100s", source ? source : "?");
    json_t *after = json_pack("{s:I,s:I,s:s}", "lines", (json_int_t)lines, "failed",
                              (json_int_t)failed, "results_sha256", hash);
    json_t *counts = json_object();
    for (int d = 0; d <= MDM_DECISION_PENDING; d++)
        if (by_decision[d])
            json_object_set_new(counts, mdm_decision_name((mdm_decision)d),
                                json_integer(by_decision[d]));
    json_object_set_new(after, "decisions", counts);
    mdm_err err = {0};
    if (mdm_audit_record(mdm_http_db(req), mdm_http_actor(req), mdm_http_role(req), "records.batch",
                         target, NULL, NULL, after, &err) != MDM_OK)
        mdm_log(MDM_LOG_ERROR, "event=audit_failed action=records.batch request_id=%s error=\"%s\"",
                mdm_http_request_id(req), err.msg);
    json_decref(after);
}

void mdm_h_record_batch(mdm_http_req *req)
{
    size_t len = 0;
    const char *body = mdm_http_body(req, &len);
    const mdm_http_limits *lim = mdm_http_limits_of(req);
    /* count lines first: too many is refused whole, before anything is written */
    long lines = 0;
    for (size_t i = 0; i < len; i++)
        if (body[i] == '\n')
            lines++;
    if (len && body[len - 1] != '\n')
        lines++;
    if (lines == 0) {
        mdm_err e;
        mdm_err_set(&e, MDM_EINVAL, "the batch is empty; send one JSON record per line");
        mdm_http_reply_problem(req, &e);
        return;
    }
    if (lines > lim->max_batch_lines) {
        mdm_err e;
        mdm_err_set(&e, MDM_ETOOBIG, "the batch has %ld lines; the limit is %d", lines,
                    lim->max_batch_lines);
        mdm_http_reply_problem(req, &e);
        return;
    }
    const char *source = mdm_http_param(req, "source");
    const char *actor = mdm_http_actor(req);
    long by_decision[MDM_DECISION_PENDING + 1] = {0};
    mdm_buf out = {0};
    const char *p = body, *end = body + len;
    long lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        json_t *res = NULL;
        if (n && p[n - 1] == '\r')
            n--;
        json_error_t jerr;
        /* a line is one record: held to the single-record body limit */
        bool too_long = n > lim->max_body_bytes;
        json_t *record = n && !too_long ? json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        if (too_long) {
            char msg[128];
            snprintf(msg, sizeof msg, "the line is longer than http.max_body_bytes (%zu bytes)",
                     lim->max_body_bytes);
            res = json_pack("{s:I, s:i, s:s, s:s}", "line", (json_int_t)lineno, "status", 413,
                            "code", mdm_status_name(MDM_ETOOBIG), "error", msg);
        } else if (!n) {
            res = json_pack("{s:I, s:i, s:s, s:s}", "line", (json_int_t)lineno, "status", 400,
                            "code", "einval", "error", "empty line");
        } else if (!record) {
            char msg[256];
            snprintf(msg, sizeof msg, "malformed JSON at column %d: %s", jerr.column, jerr.text);
            json_t *m = json_string(msg);
            res = json_pack("{s:I, s:i, s:s, s:o}", "line", (json_int_t)lineno, "status", 400,
                            "code", "einval", "error", m ? m : json_string("malformed JSON"));
        } else if (!json_is_object(record)) {
            res = json_pack("{s:I, s:i, s:s, s:s}", "line", (json_int_t)lineno, "status", 422,
                            "code", "eunprocessable", "error", "the record must be a JSON object");
        } else {
            mdm_ingest_result r = {0};
            mdm_err err = {0};
            mdm_status st = mdm_ingest_as(mdm_http_db(req), mdm_http_ingest_ctx(req), source,
                                          record, actor, mdm_http_role(req), "batch", &r, &err);
            if (st == MDM_OK && r.decision >= 0 && r.decision <= MDM_DECISION_PENDING)
                by_decision[r.decision]++;
            if (st != MDM_OK) {
                res = json_pack("{s:I, s:i, s:s, s:s}", "line", (json_int_t)lineno, "status",
                                mdm_status_http(st), "code", mdm_status_name(st), "error", err.msg);
                if (!res)
                    res = json_pack("{s:I, s:i, s:s}", "line", (json_int_t)lineno, "status",
                                    mdm_status_http(st), "code", mdm_status_name(st));
            } else {
                int status = 200;
                res = result_json(&r, &status);
                json_object_set_new(res, "line", json_integer(lineno));
                json_object_set_new(res, "status", json_integer(status));
                if (r.decision == MDM_DECISION_REJECTED) {
                    json_object_set_new(res, "code", json_string("eunprocessable"));
                    json_object_set_new(res, "errors", reject_errors(r.errors));
                }
            }
            mdm_ingest_result_clear(&r);
        }
        json_decref(record);
        char *text = json_dumps(res, JSON_COMPACT);
        json_decref(res);
        if (text) {
            mdm_buf_puts(&out, text);
            free(text);
        }
        mdm_buf_putc(&out, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    size_t outlen = out.len;
    long failed = lineno; /* lines that did not end in a decision: malformed, or refused */
    for (int d = 0; d <= MDM_DECISION_PENDING; d++)
        failed -= by_decision[d];
    count_unread(req, "batch", failed);
    audit_batch(req, source, lineno, by_decision, failed, &out);
    mdm_http_reply_raw(req, MHD_HTTP_OK, "application/x-ndjson", mdm_buf_steal(&out), outlen);
}

void mdm_h_record_get(mdm_http_req *req)
{
    mdm_db *db = mdm_http_db(req);
    json_t *rec = NULL;
    mdm_err err = {0};
    mdm_status st =
        mdm_query_record(db, mdm_http_param(req, "source"), mdm_http_param(req, "key"), &rec, &err);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    /* the values left out of matching or flagged, as ingest found them */
    json_t *issues = json_object_get(json_object_get(rec, "normalized"), "issues");
    json_t *scores = NULL;
    if (mdm_quality_record(db, json_integer_value(json_object_get(rec, "id")), &scores, &err) !=
        MDM_OK) {
        json_decref(rec);
        mdm_http_reply_problem(req, &err);
        return;
    }
    json_object_set_new(rec, "data_quality",
                        json_pack("{s:o, s:o}", "issues",
                                  json_is_array(issues) ? json_incref(issues) : json_array(),
                                  "scores", scores));
    json_int_t eid = json_integer_value(json_object_get(rec, "entity_id"));
    if (eid > 0) {
        json_t *entity = NULL;
        if (mdm_query_get(db, eid, &entity, NULL, &err) == MDM_OK)
            json_object_set_new(rec, "entity", entity);
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, rec);
}

void mdm_h_record_delete(mdm_http_req *req)
{
    mdm_ingest_result r = {0};
    mdm_err err = {0};
    mdm_status st =
        mdm_ingest_delete(mdm_http_db(req), mdm_http_ingest_ctx(req), mdm_http_param(req, "source"),
                          mdm_http_param(req, "key"), mdm_http_actor(req), "http", &r, &err);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    int status = MHD_HTTP_OK;
    json_t *o = result_json(&r, &status);
    mdm_http_reply_json(req, MHD_HTTP_OK, o);
    mdm_ingest_result_clear(&r);
}
