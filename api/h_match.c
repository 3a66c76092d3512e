/* POST /v1/match: a partial record in, ranked golden records with probability and a
 * field-by-field explanation out. Writes nothing (mdm_query_match). */
#include "api/handlers.h"
#include "mdm/golden.h"
#include "mdm/query.h"

#include <microhttpd.h>

const char mdm_h_match_doc[] =
    "{\"summary\": \"Match a partial record (no write)\", \"tags\": [\"match\"],"
    " \"description\": \"The body is a partial customer record in canonical field names"
    " (first_name, last_name, birth_date, emails, phones, addresses, loyalty_id, ...), or in"
    " the layout of ?source=CODE. It is normalized and scored against the candidates of its"
    " blocking keys; nothing is written.\", \"parameters\": [ {\"name\": \"source\", \"in\":"
    " \"query\", \"schema\": {\"type\": \"string\"}, \"description\": \"read the body in this"
    " source system's layout\"}, {\"name\": \"limit\", \"in\": \"query\", \"schema\":"
    " {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100, \"default\": 10}}],"
    " \"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\":"
    " {\"anyOf\": [{\"$ref\": \"#/components/schemas/CanonicalRecord\"}, {\"type\": \"object\","
    " \"additionalProperties\": true, \"description\": \"with ?source=CODE: the columns of that"
    " source's layout\"}]}}}}, \"responses\": {\"200\": {\"description\": \"candidates, best"
    " first\", \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\","
    " \"properties\": {\"candidates\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
    " \"properties\": {\"entity_id\": {\"type\": \"integer\"}, \"probability\": {\"type\":"
    " \"number\"}, \"score\": {\"type\": \"number\"}, \"decision\": {\"enum\": [\"match\","
    " \"review\", \"no_match\"]}, \"explanation\": {\"oneOf\": [{\"$ref\":"
    " \"#/components/schemas/Explanation\"}, {\"type\": \"array\", \"description\": \"without a"
    " trained model: the built-in weights per field\", \"items\": {\"$ref\":"
    " \"#/components/schemas/BuiltinComparison\"}}]}}}}}}}}}}, \"x-components\": {\"schemas\":"
    " {\"BuiltinComparison\": {\"type\": \"object\", \"required\": [\"field\", \"level\","
    " \"weight\"], \"properties\": {\"field\": {\"type\": \"string\"}, \"level\": {\"type\":"
    " \"string\"}, \"weight\": {\"type\": \"number\"}}, \"additionalProperties\": false}}}}";

void mdm_h_match(mdm_http_req *req)
{
    long long limit;
    if (!mdm_http_query_int(req, "limit", 10, 1, 100, &limit))
        return;
    json_t *record = mdm_http_json(req);
    if (!json_is_object(record)) {
        mdm_err e;
        mdm_err_set_field(&e, MDM_EUNPROCESSABLE, "", "the record must be a JSON object");
        mdm_http_reply_problem(req, &e);
        return;
    }
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_query_match(mdm_http_db(req), mdm_http_ingest_ctx(req),
                                    mdm_http_query(req, "source"), record, (int)limit, &out, &err);
    if (st != MDM_OK) {
        /* the body parsed, so what is wrong is its content: 422, not 400 */
        if (st == MDM_EINVAL)
            err.code = MDM_EUNPROCESSABLE;
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}
