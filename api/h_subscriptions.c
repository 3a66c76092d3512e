/* /v1/subscriptions: push subscriptions of source systems (admin). The work and the
 * validation are mdm/publish_sub.h's (the same rules as the subscriptions section of
 * mdm.json); secrets are write-only: replies carry secret_set, never the secret.
 * DELETE deactivates (delivery rows keep referring to the subscription). */
#include "api/handlers.h"
#include "mdm/publish_sub.h"

#include <microhttpd.h>
#include <stdio.h>

#define SUB_SCHEMA_REF "{\"$ref\": \"#/components/schemas/Subscription\"}"

const char mdm_h_sub_list_doc[] =
    "{\"summary\": \"List push subscriptions\", \"tags\": [\"publishing\"],"
    " \"responses\": {\"200\": {\"description\": \"every subscription, active or not\","
    " \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\":"
    " {\"subscriptions\": {\"type\": \"array\", \"items\": " SUB_SCHEMA_REF "}}}}}}},"
    " \"x-components\": {\"schemas\": {\"Subscription\": {\"type\": \"object\", \"properties\": {"
    " \"id\": {\"type\": \"integer\"}, \"source\": {\"type\": \"string\"}, \"url\": {\"type\":"
    " \"string\", \"format\": \"uri\"}, \"event_types\": {\"type\": \"array\", \"items\": "
    "{\"enum\":"
    " [\"created\", \"updated\", \"merged\", \"split\", \"consent_changed\", \"deleted\","
    " \"household.created\", \"household.changed\", \"household.retired\"]}},"
    " \"mapping\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}},"
    " \"active\": {\"type\": \"boolean\"}, \"max_attempts\": {\"type\": \"integer\"}, \"origin\":"
    " {\"enum\": [\"config\", \"api\"]}, \"secret_set\": {\"type\": \"boolean\"}, \"created_at\":"
    " {\"type\": \"string\"}, \"updated_at\": {\"type\": \"string\"}}},"
    " \"SubscriptionInput\": {\"type\": \"object\", \"properties\": {\"source\": {\"type\":"
    " \"string\"}, \"url\": {\"type\": \"string\"}, \"secret\": {\"type\": \"string\", "
    "\"minLength\":"
    " 16, \"writeOnly\": true}, \"event_types\": {\"type\": \"array\", \"items\": {\"type\":"
    " \"string\"}}, \"mapping\": {\"type\": \"object\", \"additionalProperties\": {\"type\": "
    "\"string\"}}, \"active\": {\"type\": \"boolean\"},"
    " \"max_attempts\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100}},"
    " \"required\": [\"source\", \"url\", \"secret\"]},"
    " \"SubscriptionPatch\": {\"type\": \"object\", \"properties\": {\"url\": {\"type\":"
    " \"string\"}, \"secret\": {\"type\": \"string\", \"minLength\": 16, \"writeOnly\": true},"
    " \"event_types\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"mapping\":"
    " {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}, \"active\":"
    " {\"type\": \"boolean\"}, \"max_attempts\": {\"type\": \"integer\", \"minimum\": 1,"
    " \"maximum\": 100}, \"max_delay_seconds\": {\"type\": [\"integer\", \"null\"]}}}}}}";

const char mdm_h_sub_create_doc[] =
    "{\"summary\": \"Create a push subscription\", \"tags\": [\"publishing\"], \"description\":"
    " \"source, url and secret are required; event_types defaults to the six golden-record types "
    "(household.created, household.changed"
    " and household.retired only when listed), mapping to the"
    " canonical record as is. 409 when the source already has a subscription to this url or"
    " the source system is unknown.\", \"requestBody\": {\"required\": true, \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": "
    "\"#/components/schemas/SubscriptionInput\"}}}},"
    " \"responses\": {\"201\": {\"description\": \"created\", \"content\": {\"application/json\":"
    " {\"schema\": " SUB_SCHEMA_REF "}}}}}";

const char mdm_h_sub_get_doc[] =
    "{\"summary\": \"One push subscription\", \"tags\": [\"publishing\"],"
    " \"responses\": {\"200\": {\"description\": \"the subscription\", \"content\":"
    " {\"application/json\": {\"schema\": " SUB_SCHEMA_REF "}}}}}";

const char mdm_h_sub_update_doc[] =
    "{\"summary\": \"Change a push subscription\", \"tags\": [\"publishing\"], \"description\":"
    " \"Changes the fields given (url, secret, event_types, mapping, active, max_attempts); the"
    " others keep their value. The source cannot change.\", \"requestBody\": {\"required\":"
    " true, \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/SubscriptionPatch\"}}}}, \"responses\": {\"200\":"
    " {\"description\": \"the changed subscription\", \"content\": {\"application/json\":"
    " {\"schema\": " SUB_SCHEMA_REF "}}}}}";

const char mdm_h_sub_delete_doc[] =
    "{\"summary\": \"Deactivate a push subscription\", \"tags\": [\"publishing\"],"
    " \"description\": \"Nothing more is fanned out or sent to it; its deliveries are kept.\","
    " \"responses\": {\"204\": {\"description\": \"deactivated\"}}}";

void mdm_h_sub_list(mdm_http_req *req)
{
    json_t *subs = NULL;
    mdm_err err = {0};
    if (mdm_publish_sub_list(mdm_http_db(req), &subs, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "subscriptions", subs));
}

void mdm_h_sub_create(mdm_http_req *req)
{
    json_t *out = NULL;
    mdm_err err = {0};
    const mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    mdm_jin in;
    if (!mdm_http_body_reader(req, &in, &err) ||
        mdm_publish_sub_create(mdm_http_db(req), in.obj, &who, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/subscriptions/%lld",
             (long long)json_integer_value(json_object_get(out, "id")));
    mdm_http_set_header(req, "Location", loc);
    mdm_http_reply_json(req, MHD_HTTP_CREATED, out);
}

void mdm_h_sub_get(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "subscription", &id))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    if (mdm_publish_sub_get(mdm_http_db(req), id, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_sub_update(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "subscription", &id))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    const mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    mdm_jin in;
    if (!mdm_http_body_reader(req, &in, &err) ||
        mdm_publish_sub_update(mdm_http_db(req), id, in.obj, &who, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_sub_delete(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "subscription", &id))
        return;
    mdm_err err = {0};
    const mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    if (mdm_publish_sub_delete(mdm_http_db(req), id, &who, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_NO_CONTENT, NULL);
}
