/* HTTP handlers, one file per resource (api/h_<resource>.c), and their OpenAPI text.
 *
 * MDM_HTTP_HANDLER(fn) declares the handler `void fn(mdm_http_req *req)` and its
 * documentation `const char fn_doc[]`: an OpenAPI 3.1 Operation Object as JSON text with
 * at least "summary" and "responses" (the success responses; api/h_openapi.c adds the
 * path parameters, security, request body and the standard error responses from the
 * route row). The route table (api/http.c) names both through the ROUTE() macro. */
#ifndef MDM_API_HANDLERS_H
#define MDM_API_HANDLERS_H

#include "api/http.h"

#define MDM_HTTP_HANDLER(fn)                                                                       \
    void fn(mdm_http_req *req);                                                                    \
    extern const char fn##_doc[]

/* The OpenAPI parameters of the data-quality filters (search and the review queue;
 * mdm_quality_bounds), a fragment of a "parameters" array that ends with a comma. */
/* clang-format off */
#define MDM_QUALITY_PARAMS_DOC                                                                     \
    QP_DOC("min_completeness") QP_DOC("max_completeness")                                         \
    QP_DOC("min_validity") QP_DOC("max_validity")                                                 \
    QP_DOC("min_consistency") QP_DOC("max_consistency")                                           \
    QP_DOC("min_freshness") QP_DOC("max_freshness")
#define QP_DOC(name)                                                                               \
    " {\"name\": \"" name "\", \"in\": \"query\", \"schema\": {\"type\": \"number\", "             \
    "\"minimum\": 0, \"maximum\": 1}, \"description\": \"inclusive bound on the data-quality "     \
    "score (docs/QUALITY.md)\"},"
/* clang-format on */

/* h_health.c: liveness and readiness */
MDM_HTTP_HANDLER(mdm_h_healthz);
MDM_HTTP_HANDLER(mdm_h_readyz);

/* h_metrics.c: Prometheus text */
MDM_HTTP_HANDLER(mdm_h_metrics);

/* h_openapi.c: the OpenAPI document */
MDM_HTTP_HANDLER(mdm_h_openapi);

/* h_changes.c: the change feed (long poll over the outbox) */
MDM_HTTP_HANDLER(mdm_h_changes);

/* h_records.c: source records (upsert, NDJSON batch, get, delete) */
MDM_HTTP_HANDLER(mdm_h_record_upsert);
MDM_HTTP_HANDLER(mdm_h_record_batch);
MDM_HTTP_HANDLER(mdm_h_record_get);
MDM_HTTP_HANDLER(mdm_h_record_delete);

/* h_entities.c: golden records (get, search, history) */
MDM_HTTP_HANDLER(mdm_h_entity_get);
MDM_HTTP_HANDLER(mdm_h_entity_search);
MDM_HTTP_HANDLER(mdm_h_entity_history);

/* h_households.c: households (get, of a golden record, at an address; a steward's move and
 * split), relationships */
MDM_HTTP_HANDLER(mdm_h_household_get);
MDM_HTTP_HANDLER(mdm_h_entity_household);
MDM_HTTP_HANDLER(mdm_h_household_search);
MDM_HTTP_HANDLER(mdm_h_entity_related);
MDM_HTTP_HANDLER(mdm_h_entity_relate);
MDM_HTTP_HANDLER(mdm_h_entity_unrelate);
MDM_HTTP_HANDLER(mdm_h_household_move);
MDM_HTTP_HANDLER(mdm_h_household_split);

/* h_quality.c: the per-source data-quality report */
MDM_HTTP_HANDLER(mdm_h_quality);

/* h_match.c: read-only match */
MDM_HTTP_HANDLER(mdm_h_match);

/* h_consent.c: consent events, derived state, the streamed audit export */
MDM_HTTP_HANDLER(mdm_h_consent_events);
MDM_HTTP_HANDLER(mdm_h_entity_consent);
MDM_HTTP_HANDLER(mdm_h_entity_propagation);
MDM_HTTP_HANDLER(mdm_h_consent_audit);

/* h_subjects.c: subject access export and erasure */
MDM_HTTP_HANDLER(mdm_h_subject_export);
MDM_HTTP_HANDLER(mdm_h_subject_erase);

/* h_subscriptions.c: push subscriptions (admin) */
MDM_HTTP_HANDLER(mdm_h_sub_list);
MDM_HTTP_HANDLER(mdm_h_sub_create);
MDM_HTTP_HANDLER(mdm_h_sub_get);
MDM_HTTP_HANDLER(mdm_h_sub_update);
MDM_HTTP_HANDLER(mdm_h_sub_delete);

/* h_rejects.c: refused records (steward) */
MDM_HTTP_HANDLER(mdm_h_rejects);

/* h_deliveries.c: push delivery state and replay (admin) */
MDM_HTTP_HANDLER(mdm_h_deliveries);
MDM_HTTP_HANDLER(mdm_h_deliveries_replay);

/* h_steward.c: review queue, merge/split/unmerge, pins, assertions, explain, audit */
MDM_HTTP_HANDLER(mdm_h_review_list);
MDM_HTTP_HANDLER(mdm_h_review_bulk);
MDM_HTTP_HANDLER(mdm_h_review_get);
MDM_HTTP_HANDLER(mdm_h_review_claim);
MDM_HTTP_HANDLER(mdm_h_review_decide);
MDM_HTTP_HANDLER(mdm_h_review_reopen);
MDM_HTTP_HANDLER(mdm_h_entity_merge_preview);
MDM_HTTP_HANDLER(mdm_h_entity_merge);
MDM_HTTP_HANDLER(mdm_h_entity_split);
MDM_HTTP_HANDLER(mdm_h_entity_unmerge);
MDM_HTTP_HANDLER(mdm_h_entity_unsplit);
MDM_HTTP_HANDLER(mdm_h_entity_pin);
MDM_HTTP_HANDLER(mdm_h_entity_unpin);
MDM_HTTP_HANDLER(mdm_h_assertion);
MDM_HTTP_HANDLER(mdm_h_assertion_list);
MDM_HTTP_HANDLER(mdm_h_assertion_delete);
MDM_HTTP_HANDLER(mdm_h_explain);
MDM_HTTP_HANDLER(mdm_h_audit);

/* h_ui.c: the steward UI's static files under /ui/ */
MDM_HTTP_HANDLER(mdm_h_ui);

/* The OpenAPI 3.1 document for the whole route table, as a new JSON object; NULL with
 * err set when a route's doc text is not a JSON object with summary and responses
 * (a unit test walks every route through it). */
json_t *mdm_http_openapi(mdm_err *err);

#endif
