/* GET /v1/quality: the per-source data-quality report (mdm/quality.h). Read only. */
#include "api/handlers.h"
#include "mdm/quality.h"

#include <microhttpd.h>

const char mdm_h_quality_doc[] =
    "{\"summary\": \"Per-source data-quality report\", \"tags\": [\"quality\"], \"description\":"
    " \"What each source system sends badly: per source, its live records, average"
    " completeness, validity and freshness (0..1), invalid e-mails and phones, values dropped"
    " as invalid, stale records (no update for a year) and records whose birth date or last"
    " name disagrees with their golden record. mdm quality report prints the same as CSV or"
    " NDJSON.\","
    " \"responses\": {\"200\": {\"description\": \"one row per source\", \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/QualityReport\"}}}}},"
    " \"x-components\": {\"schemas\": {\"QualityReport\": {\"type\": \"object\", \"properties\":"
    " {\"sources\": {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\":"
    " {\"source\": {\"type\": \"string\"}, \"records\": {\"type\": \"integer\"},"
    " \"completeness\": {\"type\": \"number\"}, \"validity\": {\"type\": \"number\"},"
    " \"freshness\": {\"type\": \"number\"}, \"invalid_emails\": {\"type\": \"integer\"},"
    " \"invalid_phones\": {\"type\": \"integer\"}, \"dropped_values\": {\"type\": \"integer\"},"
    " \"stale_records\": {\"type\": \"integer\"}, \"disagreeing_records\": {\"type\":"
    " \"integer\"}}, \"required\": [\"source\", \"records\"]}}}, \"required\": [\"sources\"],"
    " \"additionalProperties\": false}}}}";

void mdm_h_quality(mdm_http_req *req)
{
    json_t *report = NULL;
    mdm_err err = {0};
    if (mdm_quality_report(mdm_http_db(req), &report, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "sources", report));
}
