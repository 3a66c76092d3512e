/* /v1/deliveries: push delivery state and replay (admin), over mdm/publish_delivery.h.
 * GET lists deliveries in id order with a keyset cursor (after=, the reply's next);
 * POST /v1/deliveries/replay requeues dead and rejected deliveries ({"dead": true}) or a
 * subscription from an outbox seq ({"subscription_id": N, "from_seq": S}). */
#include "api/handlers.h"
#include "mdm/propagation.h"
#include "mdm/publish_delivery.h"

#include <microhttpd.h>
#include <stdint.h>
#include <string.h>

const char mdm_h_deliveries_doc[] =
    "{\"summary\": \"List push deliveries\", \"tags\": [\"publishing\"], \"description\":"
    " \"Deliveries in id order after the cursor, optionally of one state and one subscription."
    " last_status and last_response record the receiver's answer (or the transport error) of"
    " the last attempt. A household event's delivery names household_id (entity_id null).\","
    " \"parameters\": ["
    " {\"name\": \"state\", \"in\": \"query\", \"schema\": {\"enum\": [\"pending\","
    " \"acknowledged\", \"rejected\", \"dead\", \"skipped\"]}},"
    " {\"name\": \"subscription\", \"in\": \"query\", \"schema\": {\"type\": \"integer\"}},"
    " {\"name\": \"after\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"default\": 0},"
    " \"description\": \"cursor: the next value of the previous page\"},"
    " {\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"default\":"
    " 100}}],"
    " \"responses\": {\"200\": {\"description\": \"a page of deliveries\", \"content\":"
    " {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\": {\"deliveries\":"
    " {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\":"
    " \"integer\"}, \"subscription_id\": {\"type\": \"integer\"}, \"seq\": {\"type\": \"integer\"},"
    " \"entity_id\": {\"type\": [\"integer\", \"null\"]}, \"household_id\": {\"type\":"
    " [\"integer\", \"null\"]}, \"state\": {\"type\": \"string\"}, \"attempts\":"
    " {\"type\": \"integer\"}, \"next_attempt_at\": {\"type\": \"string\"}, \"last_attempt_at\":"
    " {\"type\": [\"string\", \"null\"]}, \"last_status\": {\"type\": [\"integer\", \"null\"]},"
    " \"last_response\": {\"type\": [\"string\", \"null\"]}, \"created_at\": {\"type\":"
    " \"string\"}, \"done_at\": {\"type\": [\"string\", \"null\"]}}}}, \"next\": {\"type\":"
    " [\"integer\", \"null\"]}}}}}}}}";

const char mdm_h_deliveries_replay_doc[] =
    "{\"summary\": \"Replay push deliveries\", \"tags\": [\"publishing\"], \"description\":"
    " \"{\\\"dead\\\": true} requeues dead and rejected deliveries (of subscription_id when"
    " given, else all); {\\\"subscription_id\\\": N, \\\"from_seq\\\": S} requeues every event"
    " from seq S on for that subscription, acknowledged ones included. Requeued deliveries"
    " start again with zero attempts.\", \"requestBody\": {\"required\": true, \"content\":"
    " {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\": {\"dead\":"
    " {\"type\": \"boolean\"}, \"subscription_id\": {\"type\": \"integer\"}, \"from_seq\":"
    " {\"type\": \"integer\"}}, \"additionalProperties\": false}}}}, \"responses\": {\"200\":"
    " {\"description\": \"how many were requeued\", \"content\": {\"application/json\":"
    " {\"schema\": {\"type\": \"object\", \"properties\": {\"replayed\": {\"type\":"
    " \"integer\"}}}}}}}}";

void mdm_h_deliveries(mdm_http_req *req)
{
    const mdm_http_limits *lim = mdm_http_limits_of(req);
    long long sub, after, limit;
    if (!mdm_http_query_int(req, "subscription", 0, 0, INT64_MAX, &sub) ||
        !mdm_http_query_int(req, "after", 0, 0, INT64_MAX, &after) ||
        !mdm_http_query_int(req, "limit", 100, 1,
                            lim->max_page_size < 1000 ? lim->max_page_size : 1000, &limit))
        return;
    json_t *rows = NULL;
    mdm_err err = {0};
    /* one row more than the page tells whether another page follows */
    if (mdm_publish_list(mdm_http_db(req), mdm_http_query(req, "state"), sub, after, (int)limit + 1,
                         &rows, &err) != MDM_OK) {
        if (err.field[0] && !strchr(err.field, '/'))
            snprintf(err.field, sizeof err.field, "/query/%s",
                     strcmp(err.field, "state") == 0 ? "state" : "limit");
        mdm_http_reply_problem(req, &err);
        return;
    }
    /* the list convention of every paged route: next is the cursor of the next page, null
     * on the last one (docs/API.md) */
    json_t *next = json_null();
    if (json_array_size(rows) > (size_t)limit) {
        json_array_remove(rows, (size_t)limit);
        next = json_integer(
            json_integer_value(json_object_get(json_array_get(rows, (size_t)limit - 1), "id")));
    }
    mdm_http_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:o, s:o}", "deliveries", rows, "next", next));
}

void mdm_h_deliveries_replay(mdm_http_req *req)
{
    static const char *const known[] = {"dead", "subscription_id", "from_seq", NULL};
    mdm_err err = {0};
    mdm_jin in;
    bool dead = false;
    long long sub_id = 0, from = -1;
    if (!mdm_http_body_reader(req, &in, &err) || !mdm_jin_known(&in, known) ||
        !mdm_jin_bool(&in, "dead", &dead) ||
        !mdm_jin_int(&in, "subscription_id", 1, INT64_MAX, &sub_id) ||
        !mdm_jin_int(&in, "from_seq", 0, INT64_MAX, &from)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    if (dead == (from >= 0))
        mdm_jin_fail(&in, NULL, "{\"dead\": true} or {\"subscription_id\": N, \"from_seq\": S}");
    else if (from >= 0 && !sub_id)
        mdm_jin_need(&in, "subscription_id", "the subscription to replay from_seq for");
    if (err.code != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    long count = 0;
    const mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    mdm_status st =
        from >= 0 ? mdm_publish_replay_from(mdm_http_db(req), (int64_t)sub_id, (int64_t)from, &who,
                                            &count, &err)
                  : mdm_publish_replay_dead(mdm_http_db(req), (int64_t)sub_id, &who, &count, &err);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, json_pack("{s:I}", "replayed", (json_int_t)count));
}

/* GET /v1/entities/{id}/propagation ------------------------------------------------------ */

const char mdm_h_entity_propagation_doc[] =
    "{\"summary\": \"Where each subscribed system stands for one golden record\", \"tags\":"
    " [\"publishing\"], \"description\": \"For every subscription with a delivery for the"
    " entity: the newest entity version it acknowledged and when, the deliveries still open"
    " (pending or dead) with their age, and whether the oldest is past the subscription's"
    " max_delay_seconds (its propagation SLA). state is current (nothing open), pending or"
    " dead.\", \"responses\": {\"200\": {\"description\": \"the propagation status\","
    " \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\", \"required\":"
    " [\"entity_id\", \"version\", \"systems\"], \"properties\": {\"entity_id\": {\"type\":"
    " \"integer\"}, \"version\": {\"type\": \"integer\"}, \"systems\": {\"type\": \"array\","
    " \"items\": {\"type\": \"object\", \"properties\": {\"subscription_id\": {\"type\":"
    " \"integer\"}, \"source\": {\"type\": \"string\"}, \"active\": {\"type\": \"boolean\"},"
    " \"max_delay_seconds\": {\"type\": [\"integer\", \"null\"]}, \"state\": {\"enum\":"
    " [\"current\", \"pending\", \"dead\"]}, \"acknowledged_version\": {\"type\":"
    " [\"integer\", \"null\"]}, \"acknowledged_at\": {\"type\": [\"string\", \"null\"]},"
    " \"oldest_open_age_seconds\": {\"type\": [\"number\", \"null\"]}, \"over_sla\":"
    " {\"type\": \"boolean\"}, \"open\": {\"type\": \"array\", \"items\": {\"type\":"
    " \"object\", \"properties\": {\"delivery_id\": {\"type\": \"integer\"}, \"seq\":"
    " {\"type\": \"integer\"}, \"type\": {\"type\": \"string\"}, \"entity_version\":"
    " {\"type\": [\"integer\", \"null\"]}, \"state\": {\"enum\": [\"pending\", \"dead\"]},"
    " \"attempts\": {\"type\": \"integer\"}, \"age_seconds\": {\"type\": \"number\"},"
    " \"last_status\": {\"type\": [\"integer\", \"null\"]}}, \"additionalProperties\":"
    " false}}}}}}}}}}}}";

void mdm_h_entity_propagation(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "entity", &id))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    if (mdm_propagation_entity(mdm_http_db(req), id, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}
