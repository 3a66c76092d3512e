/* Households (mdm/household.h): one household, the household of a golden record, and the
 * households at an address. Reads only; each first brings the households up to date
 * with the golden records, so a read is never behind a merge, split or erasure. */
#include "api/handlers.h"
#include "mdm/household.h"

#include <microhttpd.h>
#include <stdio.h>

/* The schemas of the household replies. */
#define HOUSEHOLD_SCHEMAS                                                                          \
    "{\"Household\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"},"     \
    " \"status\": {\"enum\": [\"active\", \"retired\"]}, \"version\": {\"type\": \"integer\"},"    \
    " \"created_at\": {\"type\": \"string\"}, \"updated_at\": {\"type\": \"string\"},"             \
    " \"retired_at\": {\"type\": [\"string\", \"null\"]}, \"address\": {\"type\": [\"object\","    \
    " \"null\"]}, \"members\": {\"type\": \"array\", \"items\": {\"type\": \"object\","            \
    " \"properties\": {\"entity_id\": {\"type\": \"integer\"}, \"role\": {\"enum\": [\"head\","    \
    " \"member\"]}, \"joined_at\": {\"type\": \"string\"}, \"name\": {\"type\": [\"string\","      \
    " \"null\"]}, \"birth_date\": {\"type\": [\"string\", \"null\"]}}, \"required\":"              \
    " [\"entity_id\", \"role\"], \"additionalProperties\": false}}}, \"required\": [\"id\","       \
    " \"status\", \"version\", \"members\"], \"additionalProperties\": false},"                    \
    " \"HouseholdPage\": {\"type\": \"object\", \"properties\": {\"items\": {\"type\":"            \
    " \"array\", \"items\": {\"$ref\": \"#/components/schemas/Household\"}}}, \"required\":"       \
    " [\"items\"], \"additionalProperties\": false}}"

#define HOUSEHOLD_REPLY                                                                            \
    " \"responses\": {\"200\": {\"description\": \"the household\", \"content\":"                  \
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Household\"}}}}}"

const char mdm_h_household_get_doc[] =
    "{\"summary\": \"One household\", \"tags\": [\"households\"], \"description\":"
    " \"A household: golden records living at one address and sharing surname, phone or e-mail"
    " evidence (the households section of the configuration), with their roles (head: the"
    " oldest member). The address is the head's golden address. A household left without"
    " members is retired (status retired, no members, no address); its id is never "
    "reused.\"," HOUSEHOLD_REPLY ","
    " \"x-components\": {\"schemas\": " HOUSEHOLD_SCHEMAS "}}";

const char mdm_h_entity_household_doc[] =
    "{\"summary\": \"The household of a golden record\", \"tags\": [\"households\"],"
    " \"description\": \"The household the golden record belongs to (a retired id is followed"
    " to its survivor). 404 when the golden record has no street address, so no "
    "household.\"," HOUSEHOLD_REPLY "}";

const char mdm_h_household_search_doc[] =
    "{\"summary\": \"Households at an address\", \"tags\": [\"households\"], \"description\":"
    " \"The active households at a street address, normalized as ingest normalizes a record's"
    " address (street types, case, accents; a ZIP+4 as its ZIP). Several households at one"
    " address are people living there without shared evidence (roommates).\","
    " \"parameters\": ["
    " {\"name\": \"line1\", \"in\": \"query\", \"required\": true, \"schema\": {\"type\":"
    " \"string\", \"maxLength\": 200}},"
    " {\"name\": \"postal_code\", \"in\": \"query\", \"required\": true, \"schema\": {\"type\":"
    " \"string\", \"maxLength\": 20}},"
    " {\"name\": \"country\", \"in\": \"query\", \"schema\": {\"type\": \"string\"},"
    " \"description\": \"ISO code or name; default: the configured default_country\"}],"
    " \"responses\": {\"200\": {\"description\": \"the households at the address\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/HouseholdPage\"}}}}}}";

/* Brings the households up to date; false after replying with the error. */
static bool refresh(mdm_http_req *req)
{
    mdm_err err = {0};
    if (mdm_household_refresh(mdm_http_db(req), NULL, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return false;
    }
    return true;
}

void mdm_h_household_get(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "household", &id) || !refresh(req))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    if (mdm_household_get(mdm_http_db(req), id, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_entity_household(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "entity", &id) || !refresh(req))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    if (mdm_household_of_entity(mdm_http_db(req), id, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_household_search(mdm_http_req *req)
{
    if (!refresh(req))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    if (mdm_household_search(mdm_http_db(req), mdm_http_query(req, "line1"),
                             mdm_http_query(req, "postal_code"), mdm_http_query(req, "country"),
                             NULL, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}
