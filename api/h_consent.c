/* Consent routes:
 *   POST /v1/consent-events                       source (own) / admin: store consent events
 *   GET  /v1/entities/{id}/consent?as_of=         reader: derived state, as of a time
 *   GET  /v1/consent/audit?from=&to=&format=      compliance: the streamed audit export
 * The audit export streams (chunked) from a server-side cursor on a connection of its
 * own, opened for the response and closed when it is destroyed: the worker thread's
 * connection is shared with the other requests that thread serves between chunks, so it
 * cannot hold the export's snapshot transaction. Memory stays constant: one FETCH batch
 * and one chunk buffer per export. */
#include "api/handlers.h"
#include "api/http_metrics.h"
#include "common/log.h"
#include "mdm/audit.h"
#include "mdm/consent.h"
#include "mdm/consent_audit.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

/* POST /v1/consent-events ------------------------------------------------------------- */

const char mdm_h_consent_events_doc[] =
    "{\"summary\": \"Record consent events\", \"tags\": [\"consent\"], \"description\":"
    " \"Stores consent events of one source record, which need not exist yet: {source,"
    " source_key, consents: [{purpose, channel, status, captured_at, expires_at, lawful_basis,"
    " evidence, contact_point}]}. A source key writes only its own source (source may be"
    " omitted); an admin names it. Purposes and channels come from the configured vocabulary"
    " (422 lists the allowed values). Each event records the key that posted it (name and"
    " role) as captured_by and captured_role. An identical event is stored once. The derived state "
    "of"
    " the record's golden record is recomputed.\", \"requestBody\": {\"required\": true,"
    " \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\", \"required\":"
    " [\"source_key\", \"consents\"], \"properties\": { \"source\": {\"type\": \"string\"},"
    " \"source_key\": {\"type\": \"string\"}, \"consents\": {\"type\": \"array\", \"items\":"
    " {\"$ref\": \"#/components/schemas/ConsentInput\"}}}}}}}, \"responses\": {\"201\":"
    " {\"description\": \"stored (some events may be duplicates)\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/ConsentEventsResult\"}}}}, \"200\": {\"description\": \"every"
    " event was already stored\", \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/ConsentEventsResult\"}}}}}, \"x-components\": {\"schemas\":"
    " {\"ConsentEventsResult\": {\"type\": \"object\", \"required\": [\"source\","
    " \"source_key\", \"stored\", \"duplicates\", \"events\"], \"properties\": {\"source\":"
    " {\"type\": \"string\"}, \"source_key\": {\"type\": \"string\"}, \"record_id\": {\"type\":"
    " [\"integer\", \"null\"]}, \"entity_id\": {\"type\": [\"integer\", \"null\"]}, \"stored\":"
    " {\"type\": \"integer\"}, \"duplicates\": {\"type\": \"integer\"}, \"events\": {\"type\":"
    " \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\":"
    " \"integer\"}, \"duplicate\": {\"type\": \"boolean\"}, \"state_before\": {\"type\":"
    " \"string\"}, \"state_after\": {\"type\": \"string\"}}}}}, \"additionalProperties\":"
    " false}}}}";

void mdm_h_consent_events(mdm_http_req *req)
{
    static const char *const known[] = {"source", "source_key", "consents", NULL};
    mdm_err err = {0};
    mdm_jin in;
    const char *source = NULL, *source_key = NULL;
    if (!mdm_http_body_reader(req, &in, &err) || !mdm_jin_known(&in, known) ||
        !mdm_jin_string(&in, "source", 0, &source) ||
        !mdm_jin_string(&in, "source_key", 0, &source_key)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    const mdm_auth_key *key = mdm_http_key(req);
    if (key && key->role == MDM_ROLE_SOURCE) {
        if (source && strcmp(source, key->source) != 0) {
            mdm_err_set_field(&err, MDM_EFORBIDDEN, "/source",
                              "this key writes only the source \"%s\"", key->source);
            mdm_http_reply_problem(req, &err);
            return;
        }
        source = key->source;
    }
    mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    json_t *result = NULL;
    mdm_status st =
        mdm_consent_record_audited(mdm_http_db(req), source, source_key,
                                   json_object_get(in.obj, "consents"), &who, &result, &err);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    long long stored = json_integer_value(json_object_get(result, "stored"));
    mdm_http_counter_add("mdm_consent_events_total", "result=\"stored\"", stored);
    mdm_http_counter_add("mdm_consent_events_total", "result=\"duplicate\"",
                         json_integer_value(json_object_get(result, "duplicates")));
    mdm_http_reply_json(req, stored ? MHD_HTTP_CREATED : MHD_HTTP_OK, result);
}

/* GET /v1/entities/{id}/consent -------------------------------------------------------- */

const char mdm_h_entity_consent_doc[] =
    "{\"summary\": \"Derived consent state of a golden record\", \"tags\": [\"consent\"],"
    " \"description\": \"One entry per configured purpose and channel, and per contact point"
    " named by an event: status (granted, denied, withdrawn, expired, none), granted, and the"
    " winning event. The latest captured_at wins; on a tie withdrawn beats denied beats"
    " granted; an expired grant is not granted; none gives the configured default. as_of"
    " answers what was in force then. A retired id answers for its survivor.\", \"parameters\":"
    " [{\"name\": \"as_of\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}, \"description\": \"ISO 8601 time (default now)\"}], \"responses\":"
    " {\"200\": {\"description\": \"the derived state\", \"content\": {\"application/json\":"
    " {\"schema\": {\"$ref\": \"#/components/schemas/ConsentState\"}}}}}, \"x-components\":"
    " {\"schemas\": {\"ConsentState\": {\"type\": \"object\", \"required\": [\"entity_id\","
    " \"as_of\", \"consents\"], \"properties\": {\"entity_id\": {\"type\": \"integer\"},"
    " \"as_of\": {\"type\": \"string\"}, \"consents\": {\"type\": \"array\", \"items\":"
    " {\"type\": \"object\", \"required\": [\"purpose\", \"channel\", \"status\", \"granted\"],"
    " \"properties\": {\"purpose\": {\"type\": \"string\"}, \"channel\": {\"type\":"
    " \"string\"}, \"contact_point\": {\"type\": [\"string\", \"null\"]}, \"status\":"
    " {\"enum\": [\"granted\", \"denied\", \"withdrawn\", \"expired\", \"none\"]}, \"granted\":"
    " {\"type\": \"boolean\"}, \"captured_at\": {\"type\": [\"string\", \"null\"]},"
    " \"expires_at\": {\"type\": [\"string\", \"null\"]}, \"source\": {\"type\": [\"string\","
    " \"null\"]}, \"source_key\": {\"type\": [\"string\", \"null\"]}, \"lawful_basis\":"
    " {\"type\": [\"string\", \"null\"]}, \"event_id\": {\"type\": [\"integer\", \"null\"]}},"
    " \"additionalProperties\": false}}}, \"additionalProperties\": false}, \"ConsentInput\":"
    " {\"type\": \"object\", \"required\": [\"purpose\", \"channel\", \"status\","
    " \"captured_at\"], \"properties\": {\"purpose\": {\"type\": \"string\"}, \"channel\":"
    " {\"type\": \"string\"}, \"status\": {\"enum\": [\"granted\", \"denied\", \"withdrawn\"]},"
    " \"captured_at\": {\"type\": \"string\", \"format\": \"date-time\"}, \"expires_at\":"
    " {\"type\": [\"string\", \"null\"], \"format\": \"date-time\"}, \"lawful_basis\":"
    " {\"type\": [\"string\", \"null\"]}, \"evidence\": {\"type\": [\"string\", \"null\"]},"
    " \"contact_point\": {\"type\": [\"string\", \"null\"]}}}}}}";

/* Parses the {id} path parameter; replies 404 and returns false when it is not an id. */
static bool path_id(mdm_http_req *req, int64_t *out)
{
    const char *s = mdm_http_param(req, "id");
    char *end = NULL;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || v <= 0) {
        mdm_err err;
        mdm_err_set(&err, MDM_ENOTFOUND, "no golden record \"%.40s\"", s ? s : "");
        mdm_http_reply_problem(req, &err);
        return false;
    }
    *out = v;
    return true;
}

void mdm_h_entity_consent(mdm_http_req *req)
{
    int64_t id;
    if (!path_id(req, &id))
        return;
    const char *as_of = mdm_http_query(req, "as_of");
    json_t *state = NULL;
    mdm_err err = {0};
    if (mdm_consent_state(mdm_http_db(req), id, as_of, &state, &err) != MDM_OK) {
        if (!strcmp(err.field, "/as_of"))
            snprintf(err.field, sizeof err.field, "/query/as_of");
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, state);
}

/* GET /v1/consent/audit ------------------------------------------------------------------ */

const char mdm_h_consent_audit_doc[] =
    "{\"summary\": \"Consent audit export (streamed)\", \"tags\": [\"consent\"],"
    " \"description\": \"Every consent event received in [from, to), in stable order"
    " (received_at, id): event_id, golden_id, source, source_key, purpose, channel,"
    " contact_point, status, captured_at, expires_at, received_at, lawful_basis, evidence,"
    " state_before, state_after (the derived state of that purpose, channel and contact point"
    " just before and after the event was recorded), captured_by, captured_role (who captured"
    " the event: the API key, api:NAME, with its role, or the command, cli:USER, admin; empty"
    " for events stored before migration 043). CSV follows RFC 4180 with a header"
    " line; NDJSON is one object per line. The body is streamed (chunked) with constant"
    " memory; a stream cut short by an error ends without its final chunk.\","
    " \"parameters\": ["
    " {\"name\": \"from\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}, \"description\": \"first received_at included (default: the beginning)\"},"
    " {\"name\": \"to\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}, \"description\": \"first received_at excluded (default: no end)\"},"
    " {\"name\": \"format\", \"in\": \"query\", \"schema\": {\"enum\": [\"csv\", \"ndjson\"],"
    " \"default\": \"csv\"}}],"
    " \"responses\": {\"200\": {\"description\": \"the events\", \"content\": {"
    " \"text/csv\": {\"schema\": {\"type\": \"string\"}}, \"application/x-ndjson\":"
    " {\"schema\": {\"type\": \"string\"}}}}}}";

typedef struct audit_stream {
    mdm_db *db; /* owned: the export's own connection */
    mdm_consent_audit *audit;
    char *actor, *from, *to; /* for the consent.export audit row of a complete export */
    mdm_buf chunk;
    size_t off;
    bool done;
} audit_stream;

static ssize_t audit_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    audit_stream *s = cls;
    while (s->off == s->chunk.len) {
        if (s->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        mdm_buf_reset(&s->chunk);
        s->off = 0;
        mdm_err err = {0};
        if (mdm_consent_audit_next(s->audit, &s->chunk, &s->done, &err) != MDM_OK) {
            mdm_log(MDM_LOG_ERROR, "event=consent_audit_failed rows=%lld error=\"%s\"",
                    mdm_consent_audit_rows(s->audit), err.msg);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = s->chunk.len - s->off;
    if (n > max)
        n = max;
    memcpy(buf, s->chunk.data + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void audit_free(void *cls)
{
    audit_stream *s = cls;
    if (s->audit)
        mdm_log(MDM_LOG_INFO, "event=consent_audit_done rows=%lld complete=%d",
                mdm_consent_audit_rows(s->audit), s->done);
    long long rows = s->audit ? mdm_consent_audit_rows(s->audit) : 0;
    mdm_consent_audit_close(s->audit);
    if (s->audit && s->done) {
        /* a complete export is itself audited: /metrics reports the age of the last one */
        mdm_err err = {0};
        json_t *after =
            json_pack("{s:s?, s:s?, s:I}", "from", s->from, "to", s->to, "rows", (json_int_t)rows);
        if (mdm_audit_record(s->db, s->actor, "compliance", "consent.export", "consent_audit", NULL,
                             NULL, after, &err) != MDM_OK)
            mdm_log(MDM_LOG_WARN, "event=consent_export_audit_failed error=\"%s\"", err.msg);
        json_decref(after);
    }
    free(s->actor);
    free(s->from);
    free(s->to);
    mdm_db_close(s->db);
    mdm_buf_free(&s->chunk);
    free(s);
}

void mdm_h_consent_audit(mdm_http_req *req)
{
    mdm_err err = {0};
    mdm_consent_format fmt = MDM_CONSENT_CSV;
    const char *format = mdm_http_query(req, "format");
    if (format && !mdm_consent_format_parse(format, &fmt)) {
        mdm_err_set_field(&err, MDM_EINVAL, "/query/format", "format must be csv or ndjson");
        mdm_http_reply_problem(req, &err);
        return;
    }
    const char *from = mdm_http_query(req, "from"), *to = mdm_http_query(req, "to");
    int64_t us;
    if ((from && !mdm_consent_parse_time(from, &us, NULL)) ||
        (to && !mdm_consent_parse_time(to, &us, NULL))) {
        bool bad_from = from && !mdm_consent_parse_time(from, &us, NULL);
        mdm_err_set_field(&err, MDM_EINVAL, bad_from ? "/query/from" : "/query/to",
                          "%s must be an ISO 8601 time such as 2026-01-01 or "
                          "2026-01-01T00:00:00Z",
                          bad_from ? "from" : "to");
        mdm_http_reply_problem(req, &err);
        return;
    }
    audit_stream *s = mdm_xcalloc(1, sizeof *s);
    s->actor = mdm_xstrdup(mdm_http_actor(req));
    s->from = from ? mdm_xstrdup(from) : NULL;
    s->to = to ? mdm_xstrdup(to) : NULL;
    s->db = mdm_db_connect(mdm_http_config(req)->database_url, &err);
    if (!s->db || mdm_consent_audit_open(s->db, from, to, fmt, &s->audit, &err) != MDM_OK) {
        if (err.code == MDM_EDB && !s->db)
            err.code = MDM_ERETRY;
        audit_free(s);
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_set_header(req, "Content-Disposition",
                        fmt == MDM_CONSENT_CSV ? "attachment; filename=\"consent-audit.csv\""
                                               : "attachment; filename=\"consent-audit.ndjson\"");
    mdm_http_reply_stream(req, MHD_HTTP_OK,
                          fmt == MDM_CONSENT_CSV ? "text/csv; charset=utf-8; header=present"
                                                 : "application/x-ndjson",
                          audit_read, s, audit_free);
}
