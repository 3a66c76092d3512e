/* Golden records: get one (lineage, members, consent summary, version as ETag; a retired
 * id answers with its survivor), search by e-mail / phone / loyalty id / name + birth
 * date with cursor paging, and history (versions and link events). Reads only. */
#include "api/handlers.h"
#include "api/mask.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/quality.h"
#include "mdm/query.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The schemas of the golden-record replies (tests/browser checks the steward UI's replies
 * against them). */
#define ENTITY_SCHEMAS                                                                             \
    "{\"Entity\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"},"        \
    " \"status\": {\"enum\": [\"active\", \"retired\", \"erased\"]}, \"version\": {\"type\":"      \
    " \"integer\"}, \"created_at\": {\"type\": \"string\"}, \"updated_at\": {\"type\":"            \
    " \"string\"}, \"golden\": {\"$ref\": \"#/components/schemas/GoldenRecord\"}, \"lineage\": "   \
    "{\"type\": \"object\","                                                                       \
    " \"additionalProperties\": {\"type\": \"object\", \"properties\": {\"rule\": {\"type\":"      \
    " \"string\"}, \"chosen_at\": {\"type\": [\"string\", \"null\"]}, \"pinned\": {\"type\":"      \
    " \"boolean\"}, \"source_record_id\": {\"type\": [\"integer\", \"null\"]}, \"source\":"        \
    " {\"type\": [\"string\", \"null\"]}, \"source_key\": {\"type\": [\"string\", \"null\"]},"     \
    " \"sources\": {\"type\": \"array\"}, \"value\": {}}, \"required\": [\"rule\","                \
    " \"pinned\"], \"additionalProperties\": false}}, \"members\": {\"type\": \"array\","          \
    " \"items\": {\"type\": \"object\", \"properties\": {\"record_id\": {\"type\":"                \
    " \"integer\"}, \"source\": {\"type\": \"string\"}, \"source_key\": {\"type\":"                \
    " \"string\"}, \"linked_at\": {\"type\": \"string\"}, \"source_updated_at\": {\"type\":"       \
    " [\"string\", \"null\"]}}, \"required\": [\"record_id\", \"source\", \"source_key\"]}},"      \
    " \"records\": {\"type\": \"array\", \"items\": {\"$ref\":"                                    \
    " \"#/components/schemas/MemberRecord\"}}, \"consent\": {\"$ref\": "                           \
    "\"#/components/schemas/ConsentState\"},"                                                      \
    " \"data_quality\": {\"type\": \"object\", \"properties\": {\"issues\": {\"type\":"            \
    " \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"record_id\": {\"type\":"     \
    " \"integer\"}, \"source\": {\"type\": \"string\"}, \"source_key\": {\"type\":"                \
    " \"string\"}, \"pointer\": {\"type\": \"string\"}, \"field\": {\"type\": \"string\"},"        \
    " \"reason\": {\"type\": \"string\"}, \"value\": {\"type\": \"string\"}, \"dropped\":"         \
    " {\"type\": \"boolean\"}}}}, \"scores\": {\"type\": \"object\", \"properties\":"              \
    " {\"completeness\": {\"type\": [\"number\", \"null\"]}, \"validity\": {\"type\":"             \
    " [\"number\", \"null\"]}, \"consistency\": {\"type\": [\"number\", \"null\"]},"               \
    " \"freshness\": {\"type\": [\"number\", \"null\"]}, \"freshness_days\": {\"type\":"           \
    " [\"integer\", \"null\"]}}}, \"records\": {\"type\": \"array\"}}},"                           \
    " \"requested_id\": {\"type\": \"integer\"}, \"survivor_id\": {\"type\": [\"integer\","        \
    " \"null\"]}}, \"required\": [\"id\", \"status\", \"version\"], \"description\": \"golden,"    \
    " lineage and members are there unless the status is erased\", \"additionalProperties\":"      \
    " false}, \"EntityPage\": {\"type\": \"object\","                                              \
    " \"properties\": {\"items\": {\"type\": \"array\", \"items\": {\"type\": \"object\","         \
    " \"properties\": {\"id\": {\"type\": \"integer\"}, \"version\": {\"type\": \"integer\"},"     \
    " \"golden\": {\"$ref\": \"#/components/schemas/GoldenRecord\"}, \"quality\": {\"type\":"      \
    " \"object\", \"description\": \"the golden record's data-quality scores (as in"               \
    " data_quality.scores of the entity reply)\", \"properties\": {\"completeness\":"              \
    " {\"type\": [\"number\", \"null\"]}, \"validity\": {\"type\": [\"number\", \"null\"]},"       \
    " \"consistency\": {\"type\": [\"number\", \"null\"]}, \"freshness\": {\"type\":"              \
    " [\"number\", \"null\"]}, \"freshness_days\": {\"type\": [\"integer\", \"null\"]}}}},"        \
    " \"required\": [\"id\", \"version\", \"golden\","                                             \
    " \"quality\"],"                                                                               \
    " \"additionalProperties\": false}}, \"next\": {\"type\": [\"integer\", \"null\"]},"           \
    " \"total\": {\"type\": \"integer\"}}, \"required\": [\"items\", \"next\"],"                   \
    " \"additionalProperties\": false}, \"History\": {\"type\": \"object\", \"properties\":"       \
    " {\"id\": {\"type\": \"integer\"}, \"versions\": {\"type\": \"array\", \"items\":"            \
    " {\"type\": \"object\", \"properties\": {\"version\": {\"type\": \"integer\"},"               \
    " \"golden\": {\"$ref\": \"#/components/schemas/GoldenRecord\"}, \"reason\": {\"type\": "      \
    "\"string\"}, \"created_at\":"                                                                 \
    " {\"type\": \"string\"}}, \"required\": [\"version\", \"golden\", \"reason\","                \
    " \"created_at\"], \"additionalProperties\": false}}, \"events\": {\"type\": \"array\","       \
    " \"items\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"},"         \
    " \"action\": {\"type\": \"string\"}, \"method\": {\"type\": \"string\"}, \"entity_id\":"      \
    " {\"type\": \"integer\"}, \"actor\": {\"type\": \"string\"}, \"created_at\": {\"type\":"      \
    " \"string\"}, \"record_id\": {\"type\": [\"integer\", \"null\"]}, \"other_entity_id\":"       \
    " {\"type\": [\"integer\", \"null\"]}, \"probability\": {\"type\": [\"number\","               \
    " \"null\"]}, \"rule\": {\"type\": [\"string\", \"null\"]}, \"reason\": {\"type\":"            \
    " [\"string\", \"null\"]}, \"snapshot_id\": {\"type\": \"integer\"}, \"split_id\":"            \
    " {\"type\": \"integer\"}, \"undone_at\":"                                                     \
    " {\"type\": [\"string\", \"null\"]}}, \"required\": [\"id\", \"action\", \"method\","         \
    " \"entity_id\", \"actor\", \"created_at\"], \"additionalProperties\": false}}},"              \
    " \"required\": [\"id\", \"versions\", \"events\"], \"additionalProperties\": false}}"

const char mdm_h_entity_get_doc[] =
    "{\"summary\": \"One golden record\", \"tags\": [\"entities\"], \"description\":"
    " \"Golden values, lineage per attribute (winning source record and rule), members"
    " (cross-references to source records), consent summary, data quality (the issues flagged"
    " on member records: invalid values left out of matching; scores: completeness, validity,"
    " consistency, freshness, per golden record and per member record) and version (also the"
    " ETag)."
    " A retired (merged) id answers with its survivor: the body is the survivor's, with"
    " requested_id and Content-Location naming the survivor.\","
    " \"responses\": {\"200\": {\"description\": \"the golden record\", \"headers\": {\"ETag\":"
    " {\"schema\": {\"type\": \"string\"}, \"description\": \"the version, quoted\"}},"
    " \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/Entity\"}}}}},"
    " \"x-components\": {\"schemas\": " ENTITY_SCHEMAS "}}";

const char mdm_h_entity_search_doc[] =
    "{\"summary\": \"Search golden records\", \"tags\": [\"entities\"], \"description\":"
    " \"Active golden records matching every given criterion (at least one), compared in"
    " normalized form (e-mail canonical key, phone E.164, names in key form), ordered by"
    " id. Page with after=<next of the previous page>. With q: the steward's free-text search,"
    " ranked (a name in any order, with nicknames, initials or its start; an e-mail, phone,"
    " loyalty id, postal code or street line), paged with offset=<next>; the reply has"
    " total. min_/max_ completeness, validity, consistency and freshness keep the golden"
    " records whose data-quality scores lie within those bounds; they narrow the other"
    " criteria, never search alone. Each item carries its golden record's scores"
    " (quality).\","
    " \"parameters\": [" MDM_QUALITY_PARAMS_DOC
    " {\"name\": \"q\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"maxLength\":"
    " 200}},"
    " {\"name\": \"offset\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\":"
    " 0}},"
    " {\"name\": \"email\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"phone\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"loyalty_id\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"name\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"birth_date\", \"in\": \"query\", \"schema\": {\"type\": \"string\","
    " \"format\": \"date\"}},"
    " {\"name\": \"after\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": "
    "0}},"
    " {\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1,"
    " \"maximum\": 1000, \"default\": 50}}],"
    " \"responses\": {\"200\": {\"description\": \"a page of golden records\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/EntityPage\"}}}}}}";

const char mdm_h_entity_history_doc[] =
    "{\"summary\": \"History of a golden record\", \"tags\": [\"entities\"], \"description\":"
    " \"Every version with the reason it changed, and every link event (create, link,"
    " unlink, merge, split, ...) with method, probability, rule and actor; newest first.\","
    " \"responses\": {\"200\": {\"description\": \"versions and link events\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/History\"}}}}}}";

/* The golden record (entity, lineage, members) and its consent events in one round
 * trip; a retired id costs a second one for its survivor. The reply is written as text
 * (mdm_query_get_text, mdm_consent_state_text): the stored golden record is copied,
 * nothing is parsed and re-serialized. */
void mdm_h_entity_get(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "entity", &id))
        return;
    mdm_db *db = mdm_http_db(req);
    mdm_buf body = {0};
    mdm_query_head head;
    mdm_err err = {0};
    int64_t live = id;
    mdm_status st;
    for (int hop = 0;; hop++) {
        enum { NG = MDM_QUERY_GET_CALLS };
        mdm_db_call calls[NG + 2];
        mdm_query_get_call(live, calls);
        mdm_consent_state_call(live, &calls[NG]);
        mdm_quality_call(live, &calls[NG + 1]);
        st = mdm_db_exec_pipeline(db, calls, NG + 2, &err);
        if (st != MDM_OK)
            break;
        PGresult *golden[NG];
        for (int i = 0; i < NG; i++)
            golden[i] = calls[i].res;
        mdm_buf_reset(&body);
        st = mdm_query_get_text(golden, live, &body, &head, &err);
        if (st == MDM_OK && head.active) {
            mdm_buf_puts(&body, ",\"consent\":");
            mdm_consent_state_text(calls[NG].res, live, &body);
            mdm_buf_puts(&body, ",\"data_quality\":");
            mdm_quality_text(calls[NG + 1].res, &body);
        } else {
            PQclear(calls[NG].res);
            PQclear(calls[NG + 1].res);
        }
        /* a retired id answers with its survivor (one hop: merges keep the survivor of
         * a survivor up to date) */
        if (st != MDM_OK || !head.survivor_id || hop == 1)
            break;
        live = head.survivor_id;
    }
    if (st != MDM_OK) {
        mdm_buf_free(&body);
        mdm_http_reply_problem(req, &err);
        return;
    }
    if (live != id) {
        char loc[64];
        snprintf(loc, sizeof loc, "/v1/entities/%lld", (long long)live);
        mdm_http_set_header(req, "Content-Location", loc);
        mdm_buf_printf(&body, ",\"requested_id\":%lld", (long long)id);
    }
    mdm_buf_putc(&body, '}');
    char etag[32];
    snprintf(etag, sizeof etag, "\"%d\"", head.version);
    mdm_http_set_header(req, "ETag", etag);
    const char *records = mdm_http_query(req, "records");
    bool with_records = records && !strcmp(records, "true");
    bool mask =
        !mdm_mask_role_sees_ids(mdm_http_role(req)) && mdm_mask_text_may_hold_ids(body.data);
    if (with_records || mask) {
        /* the steward's view (member records in full) or a golden record holding a tax or
         * national id: parsed, completed and masked */
        json_t *j = json_loads(body.data, 0, NULL), *recs = NULL;
        mdm_buf_free(&body);
        if (!j) {
            mdm_err_set(&err, MDM_EINTERNAL, "the golden record could not be read back");
            mdm_http_reply_problem(req, &err);
            return;
        }
        if (with_records && mdm_query_member_records(db, live, &recs, &err) != MDM_OK) {
            json_decref(j);
            mdm_http_reply_problem(req, &err);
            return;
        }
        if (recs)
            json_object_set_new(j, "records", recs);
        mdm_mask_for_role(mdm_http_role(req), j);
        mdm_http_reply_json(req, MHD_HTTP_OK, j);
        return;
    }
    size_t len = body.len;
    mdm_http_reply_raw(req, MHD_HTTP_OK, "application/json", mdm_buf_steal(&body), len);
}

/* The quality filter of a search (min_completeness, ...; mdm_quality_bounds) into *bounds
 * (NULL: none; free it); false after replying with the problem. */
static bool quality_bounds(mdm_http_req *req, char **bounds)
{
    const char *v[MDM_QUALITY_NFILTERS];
    for (size_t i = 0; i < MDM_QUALITY_NFILTERS; i++)
        v[i] = mdm_http_query(req, mdm_quality_filter_names[i]);
    mdm_err err = {0};
    if (mdm_quality_bounds(v, bounds, &err) == MDM_OK)
        return true;
    char field[sizeof err.field + 8];
    snprintf(field, sizeof field, "/query%s", err.field);
    snprintf(err.field, sizeof err.field, "%.*s", (int)sizeof err.field - 1, field);
    mdm_http_reply_problem(req, &err);
    return false;
}

/* GET /v1/entities?q=: the ranked free-text search (mdm_query_find). */
static void entity_find(mdm_http_req *req, const char *q)
{
    long long offset, limit;
    char *bounds = NULL;
    if (!mdm_http_query_int(req, "offset", 0, 0, 100000, &offset) ||
        !mdm_http_query_int(req, "limit", 50, 1, 1000, &limit) || !quality_bounds(req, &bounds))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st =
        mdm_query_find(mdm_http_db(req), q, NULL, bounds, (int)offset, (int)limit, &out, &err);
    free(bounds);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_mask_for_role(mdm_http_role(req), out);
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_entity_search(mdm_http_req *req)
{
    const char *text = mdm_http_query(req, "q");
    if (text) {
        entity_find(req, text);
        return;
    }
    long long after, limit;
    if (!mdm_http_query_int(req, "after", 0, 0, INT64_MAX, &after) ||
        !mdm_http_query_int(req, "limit", 50, 1,
                            mdm_http_limits_of(req)->max_page_size < 1000
                                ? mdm_http_limits_of(req)->max_page_size
                                : 1000,
                            &limit))
        return;
    char *bounds = NULL;
    if (!quality_bounds(req, &bounds))
        return;
    mdm_query_filter q = {
        .email = mdm_http_query(req, "email"),
        .phone = mdm_http_query(req, "phone"),
        .loyalty_id = mdm_http_query(req, "loyalty_id"),
        .name = mdm_http_query(req, "name"),
        .birth_date = mdm_http_query(req, "birth_date"),
        .after = after,
        .limit = (int)limit,
        .quality = bounds,
    };
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_query_search(mdm_http_db(req), &q, &out, &err);
    free(bounds);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_mask_for_role(mdm_http_role(req), out);
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_entity_history(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "entity", &id))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    if (mdm_query_history(mdm_http_db(req), id, &out, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_mask_for_role(mdm_http_role(req), out);
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}
