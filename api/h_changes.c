/* GET /v1/changes?after=SEQ&limit=N&wait=SECONDS: the change feed over the outbox
 * (mdm/outbox.h). Without events and with wait > 0 the connection is suspended (no
 * worker thread is held) until an event beyond `after` commits, the wait ends or the
 * server shuts down. The reply's `next` is the cursor for the following call; a consumer
 * that keeps it never skips an event (mdm_outbox_read's writer barrier). */
#include "api/handlers.h"
#include "api/http_wait.h"
#include "mdm/outbox.h"

#include <microhttpd.h>
#include <stdint.h>

const char mdm_h_changes_doc[] =
    "{\"summary\": \"Change feed (long poll)\", \"tags\": [\"changes\"], \"description\":"
    " \"Golden-record change events (created, updated, merged, split, consent_changed,"
    " deleted) and household events (household.created, household.changed, household.retired,"
    " naming household_id) with seq greater than after, in seq order. With wait, an empty feed "
    "holds the"
    " request up to that many seconds for the next event.\","
    " \"parameters\": ["
    " {\"name\": \"after\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 0,"
    " \"default\": 0}, \"description\": \"cursor: the next value of the previous reply\"},"
    " {\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1,"
    " \"default\": 100}, \"description\": \"at most this many events (http.max_page_size)\"},"
    " {\"name\": \"wait\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 0,"
    " \"default\": 0}, \"description\": \"seconds to wait for an event (http.max_wait_seconds)\"}],"
    " \"responses\": {\"200\": {\"description\": \"events and the next cursor\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/ChangePage\"}}}}},"
    " \"x-components\": {\"schemas\": {\"ChangeEvent\": {\"type\": \"object\", \"properties\": {"
    " \"seq\": {\"type\": \"integer\"}, \"event_id\": {\"type\": \"string\", \"format\": \"uuid\"},"
    " \"type\": {\"enum\": [\"created\", \"updated\", \"merged\", \"split\", \"consent_changed\","
    " \"deleted\", \"household.created\", \"household.changed\", \"household.retired\"]},"
    " \"entity_id\": {\"type\": \"integer\"}, \"household_id\": {\"type\": \"integer\","
    " \"description\": \"household events, instead of entity_id\"}, \"entity_version\": {\"type\":"
    " \"integer\"}, \"payload\": {}, \"created_at\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}}},"
    " \"ChangePage\": {\"type\": \"object\", \"properties\": {\"events\": {\"type\": \"array\","
    " \"items\": {\"$ref\": \"#/components/schemas/ChangeEvent\"}}, \"next\": {\"type\":"
    " \"integer\"}}}}}}";

void mdm_h_changes(mdm_http_req *req)
{
    const mdm_http_limits *lim = mdm_http_limits_of(req);
    long long after, limit, wait;
    if (!mdm_http_query_int(req, "after", 0, 0, INT64_MAX, &after) ||
        !mdm_http_query_int(req, "limit", 100, 1, lim->max_page_size, &limit) ||
        !mdm_http_query_int(req, "wait", 0, 0, lim->max_wait_seconds, &wait))
        return;
    json_t *events = NULL;
    int64_t next = after;
    mdm_err err = {0};
    mdm_status st = mdm_outbox_read(mdm_http_db(req), after, (int)limit, &events, &next, &err);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    double deadline = mdm_http_started(req) + (double)wait;
    if (json_array_size(events) == 0 && wait > 0 && mdm_http_now() < deadline &&
        !mdm_http_shutting_down(req)) {
        json_decref(events);
        mdm_http_wait_outbox(req, after, deadline);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:o, s:I}", "events", events, "next", (json_int_t)next));
}
