/* Households (mdm/household.h) and relationships between golden records
 * (mdm/relation.h): one household, the household of a golden record, the households at
 * an address, a steward's move of a golden record into a household and split of one, a
 * golden record's relationships, and a steward's related assertions. Every
 * read first brings the households up to date with the golden records, so it is never
 * behind a merge, split or erasure. */
#include "api/handlers.h"
#include "mdm/household.h"
#include "mdm/relation.h"

#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The schemas of the household replies. */
#define HOUSEHOLD_SCHEMAS                                                                          \
    "{\"Household\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"},"     \
    " \"status\": {\"enum\": [\"active\", \"retired\"]}, \"version\": {\"type\": \"integer\"},"    \
    " \"created_at\": {\"type\": \"string\"}, \"updated_at\": {\"type\": \"string\"},"             \
    " \"retired_at\": {\"type\": [\"string\", \"null\"]}, \"address\": {\"type\": [\"object\","    \
    " \"null\"], \"additionalProperties\": {\"type\": [\"string\", \"null\"]}}, \"members\": "     \
    "{\"type\": \"array\", \"items\": {\"type\": \"object\","                                      \
    " \"properties\": {\"entity_id\": {\"type\": \"integer\"}, \"role\": {\"enum\": [\"head\","    \
    " \"member\", \"spouse\", \"partner\", \"child\", \"parent\", \"sibling\", \"relative\","      \
    " \"lodger\"]}, \"joined_at\": {\"type\": \"string\"}, \"name\": {\"type\": [\"string\","      \
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

#define RELATED_SCHEMAS                                                                            \
    "{\"Related\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"},"       \
    " \"items\": {\"type\": \"array\", \"items\": {\"$ref\": "                                     \
    "\"#/components/schemas/RelatedItem\"}}},"                                                     \
    " \"required\": [\"id\", \"items\"], \"additionalProperties\": false},"                        \
    " \"RelatedItem\": {\"type\": \"object\", \"properties\":"                                     \
    " {\"entity_id\": {\"type\": \"integer\"}, \"type\": {\"enum\": [\"same_household\","          \
    " \"same_address\", \"related\"]}, \"status\": {\"type\": \"string\"}, \"name\": {\"type\":"   \
    " [\"string\", \"null\"]}, \"birth_date\": {\"type\": [\"string\", \"null\"]},"                \
    " \"household_id\": {\"type\": [\"integer\", \"null\"]}, \"reason\": {\"type\": [\"string\","  \
    " \"null\"]}, \"asserted_by\": {\"type\": [\"string\", \"null\"]}, \"asserted_at\": "          \
    "{\"type\":"                                                                                   \
    " [\"string\", \"null\"]}}, \"required\": [\"entity_id\", \"type\"],"                          \
    " \"additionalProperties\": false}}"

const char mdm_h_entity_related_doc[] =
    "{\"summary\": \"Relationships of a golden record\", \"tags\": [\"households\"],"
    " \"description\": \"The golden records related to this one: same_household (members of its"
    " household), same_address (members of the other households at its address) and related"
    " (asserted by a steward, with the reason). A merged id is followed to its survivor."
    " Relationships are never evidence that two records are one person.\","
    " \"responses\": {\"200\": {\"description\": \"the relationships\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Related\"}}}}},"
    " \"x-components\": {\"schemas\": " RELATED_SCHEMAS "}}";

#define RELATIONSHIP_REPLY                                                                         \
    "{\"description\": \"the relationship\", \"content\": {\"application/json\": {\"schema\":"     \
    " {\"$ref\": \"#/components/schemas/Relationship\"}}}}"

const char mdm_h_entity_relate_doc[] =
    "{\"summary\": \"Assert that two golden records are related\", \"tags\": [\"households\"],"
    " \"description\": \"Body {entity_a, entity_b, reason}. Records a steward's related"
    " assertion (audited as relation.assert); asserting it again replaces the reason (200"
    " instead of 201). Never used as match evidence.\", \"requestBody\": {\"required\": true,"
    " \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\", \"required\":"
    " [\"entity_a\", \"entity_b\", \"reason\"], \"properties\": {\"entity_a\": {\"type\":"
    " \"integer\", \"minimum\": 1}, \"entity_b\": {\"type\": \"integer\", \"minimum\": 1},"
    " \"reason\": {\"type\": \"string\"}}}}}}, \"responses\": {\"201\": " RELATIONSHIP_REPLY
    ", \"200\": " RELATIONSHIP_REPLY
    "}, \"x-components\": {\"schemas\": {\"Relationship\": {\"type\": \"object\","
    " \"properties\": {\"entity_a\": {\"type\": \"integer\"}, \"entity_b\": {\"type\":"
    " \"integer\"}, \"type\": {\"const\": \"related\"}, \"reason\": {\"type\": \"string\"},"
    " \"removed\": {\"type\": \"boolean\"}}, \"required\": [\"entity_a\", \"entity_b\","
    " \"type\"], \"additionalProperties\": false}}}}";

const char mdm_h_entity_unrelate_doc[] =
    "{\"summary\": \"Remove a related assertion\", \"tags\": [\"households\"], \"description\":"
    " \"Removes the steward's related assertion between the two golden records (audited as"
    " relation.remove); replies {entity_a, entity_b, type, removed: true}.\","
    " \"responses\": {\"200\": " RELATIONSHIP_REPLY "}}";

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

void mdm_h_entity_related(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "entity", &id) || !refresh(req))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    if (mdm_relation_list(mdm_http_db(req), id, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_entity_relate(mdm_http_req *req)
{
    mdm_err err = {0};
    mdm_jin in;
    long long a = 0, o = 0;
    const char *reason = NULL;
    if (!mdm_http_body_reader(req, &in, &err) || !mdm_jin_need(&in, "entity_a", "a golden id") ||
        !mdm_jin_need(&in, "entity_b", "a golden id") || !mdm_jin_need(&in, "reason", "a text") ||
        !mdm_jin_int(&in, "entity_a", 1, INT64_MAX, &a) ||
        !mdm_jin_int(&in, "entity_b", 1, INT64_MAX, &o) ||
        !mdm_jin_string(&in, "reason", 0, &reason)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    bool created = false;
    if (mdm_relation_assert(mdm_http_db(req), a, o, reason, mdm_http_actor(req), mdm_http_role(req),
                            &created, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, created ? MHD_HTTP_CREATED : MHD_HTTP_OK,
                        json_pack("{s:I, s:I, s:s, s:s}", "entity_a", (json_int_t)a, "entity_b",
                                  (json_int_t)o, "type", "related", "reason", reason));
}

void mdm_h_entity_unrelate(mdm_http_req *req)
{
    int64_t id, other;
    if (!mdm_http_param_id(req, "id", "entity", &id) ||
        !mdm_http_param_id(req, "other", "entity", &other))
        return;
    mdm_err err = {0};
    if (mdm_relation_remove(mdm_http_db(req), id, other, mdm_http_actor(req), mdm_http_role(req),
                            &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:I, s:I, s:s, s:b}", "entity_a", (json_int_t)id, "entity_b",
                                  (json_int_t)other, "type", "related", "removed", 1));
}

#define HOUSEHOLD_REF "{\"$ref\": \"#/components/schemas/Household\"}"

const char mdm_h_household_move_doc[] =
    "{\"summary\": \"Move a golden record into a household\", \"tags\": [\"households\"],"
    " \"description\": \"Body {entity_id, reason, version?}. A steward places the golden record"
    " in this household (out of its own, if any). The placement is kept as an assertion the"
    " household derivation respects, so a later mdm resolve does not undo it; the households"
    " that changed get their household.changed (or household.retired) events; audited as"
    " household.move (target entity:ID). version, when given, must be the household's current"
    " version (409 estale otherwise). 404 for an unknown household; 409 when it is retired or"
    " the golden record is already a member; 422 for an unknown or retired golden record.\","
    " \"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\":"
    " {\"type\": \"object\", \"required\": [\"entity_id\", \"reason\"], \"properties\":"
    " {\"entity_id\": {\"type\": \"integer\", \"minimum\": 1}, \"reason\": {\"type\":"
    " \"string\", \"maxLength\": 500}, \"version\": {\"type\": \"integer\", \"minimum\":"
    " 1}}}}}}, \"responses\": {\"200\": {\"description\": \"the household after the move\","
    " \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\":"
    " {\"household\": " HOUSEHOLD_REF ", \"entity_id\": {\"type\": \"integer\"},"
    " \"from_household\": {\"type\": [\"integer\", \"null\"]}}, \"required\": [\"household\","
    " \"entity_id\", \"from_household\"], \"additionalProperties\": false}}}}}}";

const char mdm_h_household_split_doc[] =
    "{\"summary\": \"Split a household\", \"tags\": [\"households\"], \"description\":"
    " \"Body {members, reason, version?}: the golden records in members leave the household"
    " together for a new household at the same address (household.created); the others stay"
    " (household.changed). Kept as assertions the household derivation respects, so a later"
    " mdm resolve does not undo it; audited as household.split, one row per golden record"
    " that left (target entity:ID). 404 for an unknown household; 409 when it is retired or"
    " version is not its current version; 422 when a golden record in members is not a"
    " member, or nobody would stay.\", \"requestBody\": {\"required\": true, \"content\":"
    " {\"application/json\": {\"schema\": {\"type\": \"object\", \"required\": [\"members\","
    " \"reason\"], \"properties\": {\"members\": {\"type\": \"array\", \"minItems\": 1,"
    " \"items\": {\"type\": \"integer\", \"minimum\": 1}}, \"reason\": {\"type\": \"string\","
    " \"maxLength\": 500}, \"version\": {\"type\": \"integer\", \"minimum\": 1}}}}}},"
    " \"responses\": {\"200\": {\"description\": \"the household that stays and the new one\","
    " \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\":"
    " {\"household\": " HOUSEHOLD_REF ", \"split_off\": " HOUSEHOLD_REF "}, \"required\":"
    " [\"household\", \"split_off\"], \"additionalProperties\": false}}}}}}";

/* Reads the common members of a steward's body: reason (required, a string) and version
 * (optional, a positive integer; 0 when not given). */
static bool steward_body(const mdm_jin *in, const char **reason, int *version)
{
    long long v = 0;
    *reason = NULL;
    if (!mdm_jin_need(in, "reason", "a text") || !mdm_jin_string(in, "reason", 0, reason) ||
        !mdm_jin_int(in, "version", 1, INT32_MAX, &v))
        return false;
    *version = (int)v;
    return true;
}

void mdm_h_household_move(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "household", &id))
        return;
    mdm_err err = {0};
    mdm_jin in;
    long long e = 0;
    const char *reason;
    int version;
    if (!mdm_http_body_reader(req, &in, &err) || !mdm_jin_need(&in, "entity_id", "a golden id") ||
        !mdm_jin_int(&in, "entity_id", 1, INT64_MAX, &e) || !steward_body(&in, &reason, &version)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    json_t *out = NULL;
    if (mdm_household_move(mdm_http_db(req), id, e, version, &who, reason, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_household_split(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "household", &id))
        return;
    mdm_err err = {0};
    mdm_jin in;
    const json_t *m = NULL;
    const char *reason;
    int version;
    if (!mdm_http_body_reader(req, &in, &err) ||
        !mdm_jin_need(&in, "members", "the golden ids that leave") ||
        !mdm_jin_array(&in, "members", 1, 1000, &m) || !steward_body(&in, &reason, &version)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    size_t n = json_array_size(m);
    int64_t *ids = mdm_arena_alloc(mdm_http_arena(req), n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(m, i);
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            mdm_jin_fail_item(&in, "members", i, "a golden id");
            mdm_http_reply_problem(req, &err);
            return;
        }
        ids[i] = json_integer_value(v);
    }
    mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    json_t *out = NULL;
    if (mdm_household_split(mdm_http_db(req), id, ids, n, version, &who, reason, &out, &err) !=
        MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}
