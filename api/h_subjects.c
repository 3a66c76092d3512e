/* Data-subject routes (compliance role):
 *   GET  /v1/subjects/{id}/export   everything held on one person, one JSON document
 *   POST /v1/subjects/{id}/erase    erasure with tombstone and `deleted` propagation
 * See mdm/subject.h for what is exported, erased and kept. */
#include "api/handlers.h"
#include "api/http_metrics.h"
#include "mdm/subject.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char mdm_h_subject_export_doc[] =
    "{\"summary\": \"Subject access export\", \"tags\": [\"subjects\"], \"description\":"
    " \"Everything held on the person of golden record id (a retired id answers for its"
    " survivor) as one JSON document: golden record, retired ids, golden values and pins,"
    " versions, member records raw and normalized with their history, memberships, consent"
    " events (each naming who captured it) and state, link history, review items, steward "
    "assertions, refused copies, merge"
    " and split snapshots, outbox events and deliveries. After an erasure: only the tombstone.\","
    " \"responses\": {\"200\": {\"description\": \"the subject document\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/SubjectExport\"}}}}}, \"x-components\": {\"schemas\":"
    " {\"SubjectExport\": {\"type\": \"object\", \"required\": [\"subject_id\", \"entity_id\","
    " \"status\", \"generated_at\"], \"properties\": {\"subject_id\": {\"type\": \"integer\"},"
    " \"entity_id\": {\"type\": \"integer\"}, \"status\": {\"enum\": [\"active\", \"retired\","
    " \"erased\"]}, \"generated_at\": {\"type\": \"string\"}, \"golden\": {\"type\":"
    " \"object\", \"additionalProperties\": true, \"description\": \"the golden record row\"},"
    " \"retired_ids\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"}},"
    " \"golden_values\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
    " \"additionalProperties\": true}, \"description\": \"per attribute: value, rule,"
    " sources\"}, \"pins\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
    " \"additionalProperties\": true}, \"description\": \"steward pins\"}, \"versions\":"
    " {\"type\": \"array\", \"items\": {\"type\": \"object\", \"additionalProperties\": true},"
    " \"description\": \"golden record versions\"}, \"records\": {\"type\": \"array\","
    " \"items\": {\"type\": \"object\", \"additionalProperties\": true}, \"description\":"
    " \"member source records, raw and normalized, with their history\"}, \"memberships\":"
    " {\"type\": \"array\", \"items\": {\"type\": \"object\", \"additionalProperties\": true},"
    " \"description\": \"links of records to golden records\"}, \"consent\": {\"type\":"
    " \"object\", \"properties\": {\"events\": {\"type\": \"array\", \"items\": {\"type\":"
    " \"object\", \"required\": [\"captured_by\", \"captured_role\"], \"properties\":"
    " {\"captured_by\": {\"type\": [\"string\", \"null\"], \"description\": \"who"
    " captured the event: api:KEY NAME, cli:USER (null before migration 043)\"},"
    " \"captured_role\": {\"type\": [\"string\", \"null\"], \"description\": \"the"
    " role of captured_by\"}}, \"additionalProperties\": true}}, \"state\": {\"$ref\":"
    " \"#/components/schemas/ConsentState\"}}}, \"link_history\": {\"type\": \"array\","
    " \"items\": {\"type\": \"object\", \"additionalProperties\": true}, \"description\":"
    " \"link events\"}, \"review_items\": {\"type\": \"array\", \"items\": {\"type\":"
    " \"object\", \"additionalProperties\": true}, \"description\": \"review items naming the"
    " person\"}, \"assertions\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
    " \"additionalProperties\": true}, \"description\": \"steward assertions\"}, \"rejects\":"
    " {\"type\": \"array\", \"items\": {\"type\": \"object\", \"additionalProperties\": true},"
    " \"description\": \"refused copies\"}, \"merge_snapshots\": {\"type\": \"array\","
    " \"items\": {\"type\": \"object\", \"additionalProperties\": true}, \"description\":"
    " \"merge snapshots\"}, \"split_snapshots\": {\"type\": \"array\", \"items\":"
    " {\"type\": \"object\", \"additionalProperties\": true}, \"description\": \"split"
    " snapshots\"}, \"outbox\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
    " \"additionalProperties\": true}, \"description\": \"change events\"}, \"deliveries\":"
    " {\"type\": \"array\", \"items\": {\"type\": \"object\", \"additionalProperties\": true},"
    " \"description\": \"push deliveries\"}, \"audit_values\": {\"type\": \"array\", \"items\":"
    " {\"type\": \"object\", \"additionalProperties\": true}, \"description\": \"the personal"
    " values audit rows refer to\"}, \"tombstone\": {\"type\": \"object\","
    " \"additionalProperties\": true, \"description\": \"after an erasure: what is kept\"}}},"
    " \"ErasureResult\": {\"type\": \"object\", \"required\": [\"entity_id\"], \"properties\":"
    " {\"entity_id\": {\"type\": \"integer\"}, \"tombstone_id\": {\"type\": [\"integer\","
    " \"null\"]}, \"records\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
    " \"properties\": {\"source\": {\"type\": \"string\"}, \"source_key\": {\"type\":"
    " \"string\"}, \"key_hash\": {\"type\": \"string\"}, \"record_id\": {\"type\":"
    " \"integer\"}}}}, \"version\": {\"type\": \"integer\"}, \"erased_ids\": {\"type\":"
    " \"array\", \"items\": {\"type\": \"integer\"}}, \"already_erased\": {\"type\":"
    " \"boolean\"}}}}}}";

const char mdm_h_subject_erase_doc[] =
    "{\"summary\": \"Erase a subject\", \"tags\": [\"subjects\"], \"description\": \"Removes"
    " the person's personal data from golden and source records and their history (consent"
    " events stay for the audit, contact point and evidence erased), keeps a tombstone (ids,"
    " source keys and their hashes, requester, reason, time), marks the golden record erased,"
    " flags any later re-ingest of the same source keys, and emits a deleted event naming every"
    " source record so that every source system is told. Body: {reason} (optional); the"
    " requester is the API key. Erasing twice changes nothing. If-Match (optional): the"
    " entity's ETag from GET /v1/entities/{id}; a stale one is 409 (code estale) and erases"
    " nothing.\", \"requestBody\": {\"required\": false, \"content\": {\"application/json\":"
    " {\"schema\": {\"type\": \"object\", \"properties\": {\"reason\": {\"type\":"
    " \"string\"}}}}}}, \"responses\": {\"200\": {\"description\": \"erased: entity_id,"
    " tombstone_id, records, erased_ids, already_erased\", \"content\": {\"application/json\":"
    " {\"schema\": {\"$ref\": \"#/components/schemas/ErasureResult\"}}}}}}";

static bool subject_id(mdm_http_req *req, int64_t *out)
{
    const char *s = mdm_http_param(req, "id");
    char *end = NULL;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || v <= 0) {
        mdm_err err;
        mdm_err_set(&err, MDM_ENOTFOUND, "no subject \"%.40s\"", s ? s : "");
        mdm_http_reply_problem(req, &err);
        return false;
    }
    *out = v;
    return true;
}

void mdm_h_subject_export(mdm_http_req *req)
{
    int64_t id;
    if (!subject_id(req, &id))
        return;
    json_t *doc = NULL;
    mdm_err err = {0};
    if (mdm_subject_export(mdm_http_db(req), id, &doc, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, doc);
}

void mdm_h_subject_erase(mdm_http_req *req)
{
    int64_t id;
    if (!subject_id(req, &id))
        return;
    mdm_err err = {0};
    /* the body is optional: {"reason": text} */
    static const char *const known[] = {"reason", NULL};
    const char *reason = NULL;
    mdm_jin in;
    if (!mdm_jin_open(&in, mdm_http_json(req), "", MDM_EUNPROCESSABLE, &err) ||
        !mdm_jin_known(&in, known) || !mdm_jin_string(&in, "reason", 0, &reason)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    const mdm_auth_key *key = mdm_http_key(req);
    char requester[200];
    snprintf(requester, sizeof requester, "key:%s%s%s", key ? key->prefix : "?",
             key && key->name[0] ? " " : "", key ? key->name : "");
    /* If-Match: the entity's ETag (GET /v1/entities/{id}); stale is 409 estale */
    int version = 0;
    bool bad = false;
    if (!mdm_http_if_match(req, &version, &bad) && bad)
        return;
    json_t *result = NULL;
    const mdm_audit_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    if (mdm_subject_erase(mdm_http_db(req), id, version, requester, reason, &who, &result, &err) !=
        MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    if (json_is_false(json_object_get(result, "already_erased")))
        mdm_http_counter_add("mdm_subject_erasures_total", "", 1);
    json_t *v = json_object_get(result, "version");
    if (json_is_integer(v)) {
        char etag[32];
        snprintf(etag, sizeof etag, "\"%lld\"", (long long)json_integer_value(v));
        mdm_http_set_header(req, "ETag", etag);
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, result);
}
