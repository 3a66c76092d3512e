/* GET /v1/rejects: refused records with their reasons (steward), over mdm/reject.h. */
#include "api/handlers.h"
#include "mdm/consent.h"
#include "mdm/reject.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

const char mdm_h_rejects_doc[] =
    "{\"summary\": \"List refused records\", \"tags\": [\"records\"], \"description\":"
    " \"Records ingest refused (no key, nothing to match on, or malformed), in id order after"
    " the cursor, with field-level reasons and the payload as sent (file and line for mdm"
    " load). An invalid optional value does not refuse its record (it is flagged in the"
    " record's issues). status is open (default: still refused), retried (ingested since by"
    " mdm rejects retry; record_id names the source record) or all.\", \"parameters\": ["
    " {\"name\": \"source\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"source_key\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"field\", \"in\": \"query\", \"schema\": {\"type\": \"string\"},"
    " \"description\": \"only rejects with a reason on this field (birth_date, source_key,"
    " record, ...)\"},"
    " {\"name\": \"status\", \"in\": \"query\", \"schema\": {\"enum\": [\"open\", \"retried\","
    " \"all\"], \"default\": \"open\"}},"
    " {\"name\": \"from\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}, \"description\": \"received at or after (ISO 8601)\"},"
    " {\"name\": \"to\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}, \"description\": \"received before (ISO 8601)\"},"
    " {\"name\": \"after\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 0,"
    " \"default\": 0}, \"description\": \"cursor: the next value of the previous page\"},"
    " {\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1,"
    " \"maximum\": 1000, \"default\": 100}}],"
    " \"responses\": {\"200\": {\"description\": \"a page of rejects\", \"content\":"
    " {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\": {\"rejects\":"
    " {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\":"
    " \"integer\"}, \"source\": {\"type\": \"string\"}, \"source_key\": {\"type\": [\"string\","
    " \"null\"]}, \"status\": {\"type\": \"string\"}, \"reasons\": {\"type\": \"array\","
    " \"items\": {\"type\": \"object\", \"properties\": {\"pointer\": {\"type\": \"string\"},"
    " \"field\": {\"type\": \"string\"}, \"reason\": {\"type\": \"string\"}}}}, \"payload\": {},"
    " \"file\": {\"type\": [\"string\", \"null\"]}, \"line\": {\"type\": [\"integer\", \"null\"]},"
    " \"received_at\": {\"type\": \"string\"}, \"first_received_at\": {\"type\": \"string\"},"
    " \"retries\": {\"type\": \"integer\"}, \"retried_at\": {\"type\": [\"string\", \"null\"]},"
    " \"record_id\": {\"type\": [\"integer\", \"null\"]}}}}, \"next\": {\"type\": [\"integer\","
    " \"null\"]}}}}}}}}";

void mdm_h_rejects(mdm_http_req *req)
{
    long long after, limit;
    if (!mdm_http_query_int(req, "after", 0, 0, INT64_MAX, &after) ||
        !mdm_http_query_int(req, "limit", 100, 1, 1000, &limit))
        return;
    mdm_err err = {0};
    /* parameters are checked here, never by the database */
    if (!mdm_http_query_time(req, "from") || !mdm_http_query_time(req, "to"))
        return;
    mdm_reject_filter f = {mdm_http_query(req, "source"),
                           mdm_http_query(req, "source_key"),
                           mdm_http_query(req, "field"),
                           mdm_http_query(req, "status"),
                           mdm_http_query(req, "from"),
                           mdm_http_query(req, "to"),
                           (int64_t)after,
                           (int)limit};
    json_t *rows = NULL;
    int64_t next = 0;
    if (mdm_reject_list(mdm_http_db(req), &f, &rows, &next, &err) != MDM_OK) {
        if (err.field[0] == '/') {
            char q[sizeof err.field + 8];
            snprintf(q, sizeof q, "/query%s", err.field);
            snprintf(err.field, sizeof err.field, "%.*s", (int)sizeof err.field - 1, q);
        }
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:o, s:o}", "rejects", rows, "next",
                                  next ? json_integer((json_int_t)next) : json_null()));
}
