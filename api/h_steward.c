/* Steward routes: the review queue (list, one item, claim/assign, decision, bulk
 * decisions), manual merge / split / unmerge, pins, assertions, explain, and the audit
 * log with hash-chain verification. Thin: parse and validate, call stewardship/, reply. */
#include "api/handlers.h"
#include "api/mask.h"
#include "mdm/audit.h"
#include "mdm/consent.h"
#include "mdm/golden.h"
#include "mdm/ingest.h"
#include "mdm/quality.h"
#include "mdm/query.h"
#include "mdm/resolve.h"
#include "mdm/score.h"
#include "stewardship/merge.h"
#include "stewardship/queue.h"

#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- documentation ---------------------------------------------------------------- */

#define OBJ "{\"application/json\": {\"schema\": {\"type\": \"object\"}}}"
/* A source record's canonical fields after normalization, as the review screens show them. */
#define CANONICAL_FIELDS                                                                           \
    "{\"type\": \"object\", \"additionalProperties\": true, \"description\": \"the record's"       \
    " canonical fields after normalization\"}"
/* A reply body by schema name (components.schemas, from STEWARD_SCHEMAS below). */
#define REF(name)                                                                                  \
    "{\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/" name "\"}}}"

/* The schemas of the replies the steward UI reads (tests/browser checks every reply the
 * UI receives against them, so a change of shape on either side fails a test). */
#define STEWARD_SCHEMAS                                                                            \
    "{\"ReviewSummary\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\":"               \
    " \"integer\"}, \"kind\": {\"enum\": [\"record_entity\", \"entity_entity\"]},"                 \
    " \"record_id\": {\"type\": [\"integer\", \"null\"]}, \"entity_id\": {\"type\":"               \
    " \"integer\"}, \"other_entity_id\": {\"type\": [\"integer\", \"null\"]}, \"score\":"          \
    " {\"type\": \"number\"}, \"probability\": {\"type\": \"number\", \"minimum\": 0,"             \
    " \"maximum\": 1}, \"priority\": {\"type\": \"number\"}, \"status\": {\"enum\":"               \
    " [\"open\", \"claimed\", \"deferred\", \"decided\", \"superseded\"]}, \"assignee\":"          \
    " {\"type\": [\"string\", \"null\"]}, \"decision\": {\"enum\": [\"match\", \"no_match\","      \
    " \"defer\", null]}, \"reason\": {\"type\": [\"string\", \"null\"]}, \"decided_by\":"          \
    " {\"type\": [\"string\", \"null\"]}, \"decided_at\": {\"type\": [\"string\", \"null\"]},"     \
    " \"version\": {\"type\": \"integer\"}, \"created_at\": {\"type\": \"string\"},"               \
    " \"updated_at\": {\"type\": \"string\"}, \"scored_at\": {\"type\": \"string\"},"              \
    " \"a_label\": {\"type\": [\"string\", \"null\"]}, \"b_label\": {\"type\": [\"string\","       \
    " \"null\"]}, \"guard\": {\"enum\": [\"twins\", \"generation\", \"birth_years\","              \
    " \"household\", \"bridge\", null]}}, \"required\": [\"id\", \"kind\", \"record_id\","         \
    " \"entity_id\", \"other_entity_id\", \"score\", \"probability\", \"priority\","               \
    " \"status\", \"assignee\", \"decision\", \"reason\", \"decided_by\", \"decided_at\","         \
    " \"version\", \"created_at\", \"updated_at\", \"scored_at\", \"a_label\", \"b_label\","       \
    " \"guard\"], \"additionalProperties\": false}, \"ReviewCounts\": {\"type\": \"object\","      \
    " \"properties\": {\"total\": {\"type\": \"integer\"}, \"mine\": {\"type\": \"integer\"},"     \
    " \"unclaimed\": {\"type\": \"integer\"}, \"by_status\": {\"type\": \"object\","               \
    " \"properties\": {\"open\": {\"type\": \"integer\"}, \"claimed\": {\"type\":"                 \
    " \"integer\"}, \"deferred\": {\"type\": \"integer\"}, \"decided\": {\"type\":"                \
    " \"integer\"}, \"superseded\": {\"type\": \"integer\"}}, \"required\": [\"open\","            \
    " \"claimed\", \"deferred\", \"decided\", \"superseded\"], \"additionalProperties\":"          \
    " false}, \"sources\": {\"type\": \"array\", \"items\": {\"type\": \"object\","                \
    " \"properties\": {\"code\": {\"type\": \"string\"}, \"name\": {\"type\": \"string\"}},"       \
    " \"required\": [\"code\", \"name\"], \"additionalProperties\": false}}}, \"required\":"       \
    " [\"total\", \"mine\", \"unclaimed\", \"by_status\", \"sources\"],"                           \
    " \"additionalProperties\": false}, \"ReviewPage\": {\"type\": \"object\","                    \
    " \"properties\": {\"items\": {\"type\": \"array\", \"items\": {\"$ref\":"                     \
    " \"#/components/schemas/ReviewSummary\"}}, \"next\": {\"type\": [\"string\", \"null\"]},"     \
    " \"counts\": {\"$ref\": \"#/components/schemas/ReviewCounts\"}}, \"required\":"               \
    " [\"items\", \"counts\"], \"additionalProperties\": false}, \"Comparison\": {\"type\":"       \
    " \"object\", \"properties\": {\"comparison\": {\"type\": \"string\"}, \"level\":"             \
    " {\"type\": \"string\"}, \"weight\": {\"type\": \"number\"}, \"value_a\": {\"type\":"         \
    " [\"string\", \"null\"]}, \"value_b\": {\"type\": [\"string\", \"null\"]},"                   \
    " \"level_index\": {\"type\": \"integer\"}, \"tf_adjustment\": {\"type\": \"number\"},"        \
    " \"group\": {\"type\": [\"string\", \"null\"]}}, \"required\": [\"comparison\","              \
    " \"level\", \"weight\", \"value_a\", \"value_b\"], \"additionalProperties\": false},"         \
    " \"Explanation\": {\"type\": \"object\", \"properties\": {\"vetoed\": {\"type\":"             \
    " \"boolean\"}, \"probability\": {\"type\": \"number\"}, \"prior_weight\": {\"type\":"         \
    " \"number\"}, \"group_cap_adjustment\": {\"type\": \"number\"}, \"group_cap\":"               \
    " {\"type\": \"number\"}, \"match_weight\": {\"type\": \"number\"}, \"comparisons\":"          \
    " {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Comparison\"}}},"         \
    " \"required\": [\"comparisons\", \"match_weight\"]}, \"MemberRecord\": {\"type\":"            \
    " \"object\", \"properties\": {\"record_id\": {\"type\": \"integer\"}, \"source\":"            \
    " {\"type\": \"string\"}, \"source_name\": {\"type\": [\"string\", \"null\"]},"                \
    " \"source_key\": {\"type\": \"string\"}, \"source_updated_at\": {\"type\": [\"string\","      \
    " \"null\"]}, \"received_at\": {\"type\": \"string\"}, \"linked_at\": {\"type\":"              \
    " \"string\"}, \"fields\": " CANONICAL_FIELDS                                                  \
    "}, \"required\": [\"record_id\", \"source\", \"source_name\", \"source_key\","                \
    " \"source_updated_at\", \"received_at\", \"linked_at\", \"fields\"],"                         \
    " \"additionalProperties\": false}, \"EntitySide\": {\"type\": \"object\","                    \
    " \"properties\": {\"type\": {\"const\": \"entity\"}, \"entity_id\": {\"type\":"               \
    " \"integer\"}, \"version\": {\"type\": \"integer\"}, \"status\": {\"type\": \"string\"},"     \
    " \"survivor_id\": {\"type\": [\"integer\", \"null\"]}, \"updated_at\": {\"type\":"            \
    " \"string\"}, \"fields\": {\"$ref\": \"#/components/schemas/GoldenRecord\"},"                 \
    " \"members\": {\"type\": \"array\", \"items\": {\"$ref\":"                                    \
    " \"#/components/schemas/MemberRecord\"}}, \"related\": {\"type\": \"array\", \"items\":"      \
    " {\"$ref\": \"#/components/schemas/RelatedItem\"}}}, \"required\": [\"type\","                \
    " \"entity_id\", \"version\", \"status\", \"survivor_id\", \"updated_at\", \"fields\","        \
    " \"members\"], \"additionalProperties\": false}, \"RecordSide\": {\"type\": \"object\","      \
    " \"properties\": {\"type\": {\"const\": \"record\"}, \"record_id\": {\"type\":"               \
    " \"integer\"}, \"source\": {\"type\": \"string\"}, \"source_name\": {\"type\":"               \
    " [\"string\", \"null\"]}, \"source_key\": {\"type\": \"string\"}, \"entity_id\":"             \
    " {\"type\": [\"integer\", \"null\"]}, \"deleted\": {\"type\": \"boolean\"},"                  \
    " \"source_updated_at\": {\"type\": [\"string\", \"null\"]}, \"received_at\": {\"type\":"      \
    " \"string\"}, \"fields\": " CANONICAL_FIELDS                                                  \
    ", \"entity\": {\"oneOf\": [{\"$ref\": \"#/components/schemas/EntitySide\"}, {\"type\":"       \
    " \"null\"}]}}, \"required\": [\"type\", \"record_id\", \"source\", \"source_name\","          \
    " \"source_key\", \"entity_id\", \"deleted\", \"source_updated_at\", \"received_at\","         \
    " \"fields\", \"entity\"], \"additionalProperties\": false}, \"Competing\": {\"type\":"        \
    " \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, \"kind\": {\"type\":"          \
    " \"string\"}, \"status\": {\"enum\": [\"open\", \"claimed\", \"deferred\", \"decided\","      \
    " \"superseded\"]}, \"probability\": {\"type\": \"number\"}, \"entity_id\": {\"type\":"        \
    " \"integer\"}, \"other_entity_id\": {\"type\": [\"integer\", \"null\"]}, \"version\":"        \
    " {\"type\": \"integer\"}}, \"required\": [\"id\", \"kind\", \"status\", \"probability\","     \
    " \"entity_id\", \"other_entity_id\", \"version\"], \"additionalProperties\": false},"         \
    " \"ReviewItem\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\":"                  \
    " \"integer\"}, \"kind\": {\"enum\": [\"record_entity\", \"entity_entity\"]},"                 \
    " \"record_id\": {\"type\": [\"integer\", \"null\"]}, \"entity_id\": {\"type\":"               \
    " \"integer\"}, \"other_entity_id\": {\"type\": [\"integer\", \"null\"]}, \"score\":"          \
    " {\"type\": \"number\"}, \"probability\": {\"type\": \"number\", \"minimum\": 0,"             \
    " \"maximum\": 1}, \"priority\": {\"type\": \"number\"}, \"status\": {\"enum\":"               \
    " [\"open\", \"claimed\", \"deferred\", \"decided\", \"superseded\"]}, \"assignee\":"          \
    " {\"type\": [\"string\", \"null\"]}, \"decision\": {\"enum\": [\"match\", \"no_match\","      \
    " \"defer\", null]}, \"reason\": {\"type\": [\"string\", \"null\"]}, \"decided_by\":"          \
    " {\"type\": [\"string\", \"null\"]}, \"decided_at\": {\"type\": [\"string\", \"null\"]},"     \
    " \"version\": {\"type\": \"integer\"}, \"created_at\": {\"type\": \"string\"},"               \
    " \"updated_at\": {\"type\": \"string\"}, \"scored_at\": {\"type\": \"string\"},"              \
    " \"a_label\": {\"type\": [\"string\", \"null\"]}, \"b_label\": {\"type\": [\"string\","       \
    " \"null\"]}, \"guard\": {\"enum\": [\"twins\", \"generation\", \"birth_years\","              \
    " \"household\", \"bridge\", null]}, \"explanation\": {\"$ref\":"                              \
    " \"#/components/schemas/Explanation\"}, \"a\": {\"oneOf\": [{\"$ref\":"                       \
    " \"#/components/schemas/RecordSide\"}, {\"$ref\":"                                            \
    " \"#/components/schemas/EntitySide\"}]}, \"b\": {\"$ref\":"                                   \
    " \"#/components/schemas/EntitySide\"}, \"competing\": {\"type\": \"array\", \"items\":"       \
    " {\"$ref\": \"#/components/schemas/Competing\"}}}, \"required\": [\"id\", \"kind\","          \
    " \"record_id\", \"entity_id\", \"other_entity_id\", \"score\", \"probability\","              \
    " \"priority\", \"status\", \"assignee\", \"decision\", \"reason\", \"decided_by\","           \
    " \"decided_at\", \"version\", \"created_at\", \"updated_at\", \"scored_at\","                 \
    " \"a_label\", \"b_label\", \"guard\", \"explanation\", \"a\", \"b\", \"competing\"],"         \
    " \"additionalProperties\": false}, \"DecisionResult\": {\"type\": \"object\","                \
    " \"properties\": {\"id\": {\"type\": \"integer\"}, \"version\": {\"type\": \"integer\"},"     \
    " \"status\": {\"enum\": [\"open\", \"claimed\", \"deferred\", \"decided\","                   \
    " \"superseded\"]}, \"decision\": {\"type\": \"string\"}, \"entity_id\": {\"type\":"           \
    " \"integer\"}, \"assertions\": {\"type\": \"integer\"}}, \"required\": [\"id\","              \
    " \"version\", \"status\", \"decision\"], \"additionalProperties\": false},"                   \
    " \"BulkResult\": {\"type\": \"object\", \"properties\": {\"results\": {\"type\":"             \
    " \"array\", \"items\": {\"oneOf\": [{\"$ref\": \"#/components/schemas/DecisionResult\"},"     \
    " {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, \"error\":"         \
    " {\"type\": \"object\", \"properties\": {\"status\": {\"type\": \"integer\"}, \"code\":"      \
    " {\"type\": \"string\"}, \"title\": {\"type\": \"string\"}, \"detail\": {\"type\":"           \
    " \"string\"}}, \"required\": [\"status\", \"title\"]}}, \"required\": [\"id\","               \
    " \"error\"], \"additionalProperties\": false}]}}}, \"required\": [\"results\"],"              \
    " \"additionalProperties\": false}, \"MergeResult\": {\"type\": \"object\","                   \
    " \"properties\": {\"survivor\": {\"type\": \"integer\"}, \"retired\": {\"type\":"             \
    " \"integer\"}, \"snapshot_id\": {\"type\": \"integer\"}, \"version\": {\"type\":"             \
    " \"integer\"}}, \"required\": [\"survivor\", \"retired\", \"version\"],"                      \
    " \"additionalProperties\": false}, \"UnmergeResult\": {\"type\": \"object\","                 \
    " \"properties\": {\"survivor\": {\"type\": \"integer\"}, \"restored\": {\"type\":"            \
    " \"integer\"}, \"snapshot_id\": {\"type\": \"integer\"}, \"version\": {\"type\":"             \
    " \"integer\"}}, \"required\": [\"survivor\", \"restored\", \"snapshot_id\","                  \
    " \"version\"], \"additionalProperties\": false}, \"SplitResult\": {\"type\": \"object\","     \
    " \"properties\": {\"entity_id\": {\"type\": \"integer\"}, \"moved_to\": {\"type\":"           \
    " \"integer\"}, \"version\": {\"type\": \"integer\"}, \"split_id\": {\"type\":"                \
    " \"integer\", \"description\": \"what POST .../unsplit undoes\"}}, \"required\":"             \
    " [\"entity_id\", \"moved_to\", \"version\", \"split_id\"]}, \"UnsplitResult\":"               \
    " {\"type\": \"object\", \"properties\": {\"entity_id\": {\"type\": \"integer\"},"             \
    " \"other_id\": {\"type\": \"integer\"}, \"split_id\": {\"type\": \"integer\"},"               \
    " \"moved_back\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"}},"                  \
    " \"other_retired\": {\"type\": \"boolean\"}, \"version\": {\"type\": \"integer\"}},"          \
    " \"required\": [\"entity_id\", \"other_id\", \"split_id\", \"moved_back\","                   \
    " \"other_retired\", \"version\"], \"additionalProperties\": false}, \"MergePreview\": "       \
    "{\"type\": \"object\", \"properties\":"                                                       \
    " {\"survivor\": {\"type\": \"integer\"}, \"retired\": {\"type\": \"integer\"},"               \
    " \"records\": {\"type\": \"integer\"}, \"golden\": {\"$ref\":"                                \
    " \"#/components/schemas/GoldenRecord\"}, \"lineage\": {\"type\": \"object\","                 \
    " \"additionalProperties\": {\"type\": \"object\", \"properties\": {\"rule\": {\"type\":"      \
    " \"string\"}, \"value\": {}, \"source_record_id\": {\"type\": [\"integer\", \"null\"]},"      \
    " \"sources\": {\"type\": \"array\"}}, \"required\": [\"rule\"],"                              \
    " \"additionalProperties\": false}}}, \"required\": [\"survivor\", \"retired\","               \
    " \"records\", \"golden\", \"lineage\"], \"additionalProperties\": false}, \"PinResult\":"     \
    " {\"type\": \"object\", \"properties\": {\"entity_id\": {\"type\": \"integer\"},"             \
    " \"attr\": {\"type\": \"string\"}, \"version\": {\"type\": \"integer\"}, \"golden\":"         \
    " {\"$ref\": \"#/components/schemas/GoldenRecord\"}}, \"required\": [\"entity_id\","           \
    " \"attr\", \"version\", \"golden\"], \"additionalProperties\": false}, \"AuditRow\":"         \
    " {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, \"at\":"            \
    " {\"type\": \"string\"}, \"actor\": {\"type\": \"string\"}, \"role\": {\"type\":"             \
    " \"string\"}, \"action\": {\"type\": \"string\"}, \"target\": {\"type\": \"string\"},"        \
    " \"reason\": {\"type\": [\"string\", \"null\"]}, \"before\": {}, \"after\": {},"              \
    " \"prev_hash\": {\"type\": \"string\"}, \"hash\": {\"type\": \"string\"}}, \"required\":"     \
    " [\"id\", \"at\", \"actor\", \"role\", \"action\", \"target\", \"reason\", \"before\","       \
    " \"after\", \"prev_hash\", \"hash\"], \"additionalProperties\": false}, \"AuditPage\":"       \
    " {\"type\": \"object\", \"properties\": {\"items\": {\"type\": \"array\", \"items\":"         \
    " {\"$ref\": \"#/components/schemas/AuditRow\"}}, \"next\": {\"type\": [\"integer\","          \
    " \"null\"]}, \"chain\": {\"type\": \"object\", \"properties\": {\"intact\": {\"type\":"       \
    " \"boolean\"}, \"rows\": {\"type\": \"integer\"}, \"problems\": {\"type\": \"integer\"},"     \
    " \"first\": {\"type\": \"string\"}, \"head\": {\"type\": \"string\"}, \"details\":"           \
    " {\"type\": \"array\"}}, \"required\": [\"intact\", \"rows\", \"problems\", \"first\","       \
    " \"head\", \"details\"], \"additionalProperties\": false}}, \"required\": [\"items\","        \
    " \"next\"], \"additionalProperties\": false}}"

/* The request bodies of the steward routes (components.schemas). */
#define STEWARD_INPUTS                                                                             \
    "{\"ClaimInput\": {\"type\": \"object\", \"properties\": {\"version\": {\"type\":"             \
    " \"integer\", \"minimum\": 1, \"description\": \"the version the change applies to (or"       \
    " If-Match)\"}, \"assignee\": {\"type\": [\"string\", \"null\"], \"description\": \"a steward" \
    " to assign; null releases the item; absent: the caller claims it\"}}}, \"DecisionInput\":"    \
    " {\"type\": \"object\", \"required\": [\"decision\"], \"properties\": {\"decision\":"         \
    " {\"enum\": [\"match\", \"no_match\", \"defer\"]}, \"version\": {\"type\": \"integer\","      \
    " \"minimum\": 1, \"description\": \"the version the change applies to (or If-Match)\"},"      \
    " \"reason\": {\"type\": [\"string\", \"null\"], \"description\": \"kept with the audit"       \
    " row\"}}}, \"ReopenInput\": {\"type\": \"object\", \"properties\": {\"version\": {\"type\":"  \
    " \"integer\", \"minimum\": 1, \"description\": \"the version the change applies to (or"       \
    " If-Match)\"}, \"reason\": {\"type\": [\"string\", \"null\"], \"description\": \"kept with"   \
    " the audit row\"}}}, \"BulkDecisionInput\": {\"type\": \"object\", \"required\":"             \
    " [\"decisions\"], \"properties\": {\"decisions\": {\"type\": \"array\", \"minItems\": 1,"     \
    " \"maxItems\": 500, \"items\": {\"type\": \"object\", \"required\": [\"id\", \"version\","    \
    " \"decision\"], \"properties\": {\"id\": {\"type\": \"integer\"}, \"version\": {\"type\":"    \
    " \"integer\"}, \"decision\": {\"enum\": [\"match\", \"no_match\", \"defer\"]}, \"reason\":"   \
    " {\"type\": [\"string\", \"null\"], \"description\": \"kept with the audit row\"}}}}}},"      \
    " \"MergeInput\": {\"type\": \"object\", \"required\": [\"other\"], \"properties\":"           \
    " {\"other\": {\"type\": \"integer\", \"minimum\": 1, \"description\": \"the golden record to" \
    " merge into this one\"}, \"version\": {\"type\": \"integer\", \"minimum\": 1,"                \
    " \"description\": \"the version the change applies to (or If-Match)\"}, \"reason\":"          \
    " {\"type\": [\"string\", \"null\"], \"description\": \"kept with the audit row\"}}},"         \
    " \"SplitInput\": {\"type\": \"object\", \"required\": [\"records\"], \"properties\":"         \
    " {\"records\": {\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"integer\"},"    \
    " \"description\": \"source record ids\"}, \"into\": {\"type\": [\"integer\", \"null\"],"      \
    " \"description\": \"an existing golden record to move them to\"}, \"version\": {\"type\":"    \
    " \"integer\", \"minimum\": 1, \"description\": \"the version the change applies to (or"       \
    " If-Match)\"}, \"reason\": {\"type\": [\"string\", \"null\"], \"description\": \"kept with"   \
    " the audit row\"}}}, \"UnsplitInput\": {\"type\": \"object\", \"properties\":"                \
    " {\"split_id\": {\"type\": [\"integer\", \"null\"], \"description\": \"the split to"          \
    " undo (a split's reply names it); absent: the latest involving this golden record\"},"        \
    " \"version\": {\"type\": \"integer\", \"minimum\": 1, \"description\": \"the version"         \
    " the change applies to (or If-Match)\"}, \"reason\": {\"type\": [\"string\", \"null\"],"      \
    " \"description\": \"kept with the audit row\"}}}, \"UnmergeInput\": {\"type\":"               \
    " \"object\", \"properties\":"                                                                 \
    " {\"snapshot_id\": {\"type\": [\"integer\", \"null\"], \"description\": \"the merge to undo;" \
    " absent: the latest involving this golden record\"}, \"version\": {\"type\": \"integer\","    \
    " \"minimum\": 1, \"description\": \"the version the change applies to (or If-Match)\"},"      \
    " \"reason\": {\"type\": [\"string\", \"null\"], \"description\": \"kept with the audit"       \
    " row\"}}}, \"PinInput\": {\"type\": \"object\", \"required\": [\"value\"], \"properties\":"   \
    " {\"value\": {\"type\": [\"string\", \"number\", \"object\", \"array\"], "                    \
    "\"additionalProperties\": true, \"description\":"                                             \
    " \"the value to pin: a scalar for a scalar attribute, the list or object for emails, phones"  \
    " and addresses\"}, \"version\": {\"type\": \"integer\", \"minimum\": 1, \"description\":"     \
    " \"the version the change applies to (or If-Match)\"}, \"reason\": {\"type\": [\"string\","   \
    " \"null\"], \"description\": \"kept with the audit row\"}}}, \"AssertionInput\": {\"type\":"  \
    " \"object\", \"required\": [\"kind\", \"record_a\", \"record_b\"], \"properties\":"           \
    " {\"kind\": {\"enum\": [\"never_link\", \"always_link\"]}, \"record_a\": {\"type\":"          \
    " \"integer\"}, \"record_b\": {\"type\": \"integer\"}, \"reason\": {\"type\": [\"string\","    \
    " \"null\"], \"description\": \"kept with the audit row\"}}}, \"Assertion\": {\"type\":"       \
    " \"object\", \"required\": [\"id\", \"kind\", \"record_a\", \"record_b\"], \"properties\":"   \
    " {\"id\": {\"type\": \"integer\"}, \"kind\": {\"enum\": [\"never_link\", \"always_link\"]},"  \
    " \"record_a\": {\"type\": \"integer\"}, \"record_b\": {\"type\": \"integer\"}, \"actor\":"    \
    " {\"type\": \"string\"}, \"reason\": {\"type\": [\"string\", \"null\"]}, \"created_at\":"     \
    " {\"type\": \"string\"}}}}"

const char mdm_h_review_list_doc[] =
    "{\"summary\": \"The review queue\", \"tags\": [\"stewardship\"], \"description\":"
    " \"Review items, highest priority first by default. Stale items (a side merged away,"
    " the record moved or deleted) are closed as superseded before listing. Page with"
    " cursor=<next of the previous page> and the same sort. min_/max_ completeness,"
    " validity, consistency and freshness keep the items whose record or a golden record on"
    " either side has data-quality scores within those bounds.\","
    " \"parameters\": [" MDM_QUALITY_PARAMS_DOC
    " {\"name\": \"status\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"default\":"
    " \"open,claimed\"}, \"description\": \"comma list of open, claimed, deferred, decided,"
    " superseded\"},"
    " {\"name\": \"assignee\", \"in\": \"query\", \"schema\": {\"type\": \"string\"},"
    " \"description\": \"a steward, or - for unassigned\"},"
    " {\"name\": \"kind\", \"in\": \"query\", \"schema\": {\"enum\": [\"record_entity\","
    " \"entity_entity\"]}},"
    " {\"name\": \"entity_id\", \"in\": \"query\", \"schema\": {\"type\": \"integer\"}},"
    " {\"name\": \"min_probability\", \"in\": \"query\", \"schema\": {\"type\": \"number\"}},"
    " {\"name\": \"max_probability\", \"in\": \"query\", \"schema\": {\"type\": \"number\"}},"
    " {\"name\": \"sort\", \"in\": \"query\", \"schema\": {\"enum\": [\"priority\", \"created\","
    " \"-created\", \"probability\", \"-probability\"]}},"
    " {\"name\": \"cursor\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1,"
    " \"maximum\": 500, \"default\": 50}}],"
    " \"responses\": {\"200\": {\"description\": \"{items, next}\", \"content\": " REF(
        "ReviewPage") "}}, \"x-components\": {\"schemas\": " STEWARD_SCHEMAS "}}";

const char mdm_h_review_get_doc[] =
    "{\"summary\": \"One review item with both sides\", \"tags\": [\"stewardship\"],"
    " \"description\": \"The item, its explanation (field, level, weight) and both sides in"
    " full: a record (source, key, canonical fields) or an entity (golden fields, members).\","
    " \"responses\": {\"200\": {\"description\": \"the item\", \"content\": " REF(
        "ReviewItem") "}}}";

const char mdm_h_review_claim_doc[] =
    "{\"summary\": \"Claim or assign a review item\", \"tags\": [\"stewardship\"],"
    " \"description\": \"Body {version, assignee?}: without assignee the caller claims the"
    " item; with one, the item is assigned to that steward; assignee null releases it. A stale"
    " version or an item claimed by someone else is 409.\", \"requestBody\": {\"required\":"
    " true, \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/ClaimInput\"}}}}, \"responses\": {\"200\": {\"description\": \"the"
    " item\", \"content\": " REF("ReviewSummary") "}}}";

const char mdm_h_review_decide_doc[] =
    "{\"summary\": \"Decide a review item\", \"tags\": [\"stewardship\"], \"description\":"
    " \"Body {decision: match|no_match|defer, version, reason?} (the version may also come as"
    " If-Match). match joins the sides (merge, or moves the record); no_match stores never_link"
    " assertions that automation never undoes; defer puts the item aside. Every decision is"
    " audited and becomes labelled record pairs. 409 on a stale version, a final or superseded"
    " item, or a match that a never_link assertion forbids.\", \"requestBody\": {\"required\":"
    " true, \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/DecisionInput\"}}}}, \"responses\": {\"200\": {\"description\":"
    " \"{id, status, decision, version, entity_id?, assertions?}\", \"content\": " REF(
        "DecisionResult") "}}, \"x-components\": {\"schemas\": " STEWARD_INPUTS "}}";

const char mdm_h_review_reopen_doc[] =
    "{\"summary\": \"Reopen a decided review item\", \"tags\": [\"stewardship\"],"
    " \"description\": \"Body {version, reason?}. The item is open again, unassigned, with one"
    " audit row (review.reopen) holding the decision it undoes; reopening a no_match removes"
    " the never_link assertions it wrote. An accepted item (match) cannot be reopened: undo the"
    " merge or split instead (409), as for a stale version or an undecided item.\","
    " \"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\":"
    " {\"$ref\": \"#/components/schemas/ReopenInput\"}}}}, \"responses\": {\"200\":"
    " {\"description\": \"the item\", \"content\": " REF("ReviewSummary") "}}}";

const char mdm_h_review_bulk_doc[] =
    "{\"summary\": \"Decide several review items\", \"tags\": [\"stewardship\"],"
    " \"description\": \"Body {decisions: [{id, version, decision, reason?}]} (1..500), each"
    " decided in its own transaction; the reply lists each result or its error. 200 when all"
    " succeeded, 207 otherwise.\", \"requestBody\": {\"required\": true, \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/BulkDecisionInput\"}}}}, \"responses\": {\"200\":"
    " {\"description\": \"{results}\", \"content\": " REF(
        "BulkResult") "}, \"207\": {\"description\": \"{results}, some with error\", "
                      "\"content\": " REF("BulkResult") "}}}";

const char mdm_h_entity_merge_doc[] =
    "{\"summary\": \"Merge another golden record into this one\", \"tags\": [\"stewardship\"],"
    " \"description\": \"Body {other, version?, reason?}. The older id survives; both golden"
    " records are kept in a snapshot so POST .../unmerge restores them exactly. 409 on a stale"
    " version, an already merged pair or a never_link assertion.\", \"requestBody\":"
    " {\"required\": true, \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/MergeInput\"}}}}, \"responses\": {\"200\": {\"description\":"
    " \"{survivor, retired, version}\", \"content\": " REF("MergeResult") "}}}";

const char mdm_h_entity_merge_preview_doc[] =
    "{\"summary\": \"What merging another golden record into this one would give\","
    " \"tags\": [\"stewardship\"], \"description\": \"Survivorship over the members of both, with"
    " the pins the survivor would keep; nothing is written. The older id would survive.\","
    " \"parameters\": [{\"name\": \"other\", \"in\": \"query\", \"required\": true, \"schema\":"
    " {\"type\": \"integer\", \"minimum\": 1}}],"
    " \"responses\": {\"200\": {\"description\": \"the golden record after the merge\","
    " \"content\": " REF("MergePreview") "}}}";

const char mdm_h_entity_split_doc[] =
    "{\"summary\": \"Split source records off a golden record\", \"tags\": [\"stewardship\"],"
    " \"description\": \"Body {records: [record ids], into?: entity id, version?, reason?}: the"
    " records move to a new golden record (or to `into`); never_link assertions are stored"
    " between the moved and the remaining records. The golden record(s) before the split are"
    " kept, so POST .../unsplit with the reply's split_id undoes it exactly.\","
    " \"requestBody\": {\"required\": true,"
    " \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/SplitInput\"}}}}, \"responses\": {\"200\": {\"description\":"
    " \"{entity_id, moved_to, version, split_id}\", \"content\": " REF("SplitResult") "}}}";

const char mdm_h_entity_unsplit_doc[] =
    "{\"summary\": \"Undo a split exactly\", \"tags\": [\"stewardship\"],"
    " \"description\": \"Body {split_id?, version?, reason?}: undoes that split (its reply"
    " named split_id), or the latest one involving this golden record. The records it moved"
    " come back with the pre-split golden values, lineage and pins; a golden record the split"
    " made and that holds just those records is merged back (retired into the split one). The"
    " never_link assertions the split wrote go, those it replaced come back. version /"
    " If-Match: this golden record's. 409 when already undone, when a side was merged away or"
    " none of the records is still there (econflict), or stale (estale).\", \"requestBody\":"
    " {\"required\": true, \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/UnsplitInput\"}}}}, \"responses\": {\"200\": {\"description\":"
    " \"{entity_id, other_id, split_id, moved_back, other_retired, version}\", \"content\": " REF(
        "UnsplitResult") "}}}";

const char mdm_h_entity_unmerge_doc[] =
    "{\"summary\": \"Undo a manual merge exactly\", \"tags\": [\"stewardship\"],"
    " \"description\": \"Body {snapshot_id?, version?, reason?}: undoes that merge, or the"
    " latest one involving this golden record. The retired record comes back with its pre-merge"
    " golden values, lineage and pins. version / If-Match: the survivor's (what GET answers for"
    " either id). 409 when already undone (econflict) or stale (estale).\", \"requestBody\":"
    " {\"required\": true, \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/UnmergeInput\"}}}}, \"responses\": {\"200\": {\"description\":"
    " \"{survivor, restored, snapshot_id, version}\", \"content\": " REF("UnmergeResult") "}}}";

const char mdm_h_entity_pin_doc[] =
    "{\"summary\": \"Pin a golden value\", \"tags\": [\"stewardship\"], \"description\": \"Body"
    " {value, version?, reason?}: the value wins over every survivorship rule until the pin is"
    " removed (DELETE).\", \"requestBody\": {\"required\": true, \"content\":"
    " {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/PinInput\"}}}},"
    " \"responses\": {\"200\": {\"description\": \"{entity_id, attr, version, golden}\","
    " \"content\": " REF("PinResult") "}}}";

const char mdm_h_entity_unpin_doc[] =
    "{\"summary\": \"Remove a pin\", \"tags\": [\"stewardship\"],"
    " \"parameters\": [{\"name\": \"version\", \"in\": \"query\", \"schema\": {\"type\":"
    " \"integer\"}}],"
    " \"responses\": {\"200\": {\"description\": \"{entity_id, attr, version, golden}\","
    " \"content\": " REF("PinResult") "}}}";

const char mdm_h_assertion_doc[] =
    "{\"summary\": \"Assert that two records are (never) the same person\", \"tags\":"
    " [\"stewardship\"], \"description\": \"Body {kind: never_link|always_link, record_a,"
    " record_b, reason?}. Resolution always obeys assertions.\", \"requestBody\":"
    " {\"required\": true, \"content\": {\"application/json\": {\"schema\": {\"$ref\":"
    " \"#/components/schemas/AssertionInput\"}}}}, \"responses\": {\"200\": {\"description\":"
    " \"the assertion\", \"content\": " REF("Assertion") "}}}";

const char mdm_h_assertion_list_doc[] =
    "{\"summary\": \"List steward assertions\", \"tags\": [\"stewardship\"], \"description\":"
    " \"never_link and always_link assertions in id order, those an unmerge or split wrote"
    " included, optionally of one record.\", \"parameters\": [{\"name\": \"record_id\", \"in\":"
    " \"query\", \"schema\": {\"type\": \"integer\"}}, {\"name\": \"after\", \"in\": \"query\","
    " \"schema\": {\"type\": \"integer\", \"default\": 0}, \"description\": \"cursor: the next"
    " value of the previous page\"}, {\"name\": \"limit\", \"in\": \"query\", \"schema\":"
    " {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000, \"default\": 100}}],"
    " \"responses\": {\"200\": {\"description\": \"a page of assertions\", \"content\":"
    " {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\": {\"items\":"
    " {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Assertion\"}},"
    " \"next\": {\"type\": [\"integer\", \"null\"]}}}}}}}}";

const char mdm_h_assertion_delete_doc[] =
    "{\"summary\": \"Remove a steward assertion\", \"tags\": [\"stewardship\"],"
    " \"description\": \"The pair is free for automatic matching again from the next"
    " resolution on (a never_link an unmerge or split wrote, once the steward knows better)."
    " Audited as assertion.remove. Query reason= is kept with the audit row.\","
    " \"parameters\": [{\"name\": \"reason\", \"in\": \"query\", \"schema\": {\"type\":"
    " \"string\"}}], \"responses\": {\"200\": {\"description\": \"the assertion as it was\","
    " \"content\": " REF("Assertion") "}}}";

const char mdm_h_explain_doc[] =
    "{\"summary\": \"Field-by-field match weights of two source records\", \"tags\":"
    " [\"stewardship\"], \"parameters\": [ {\"name\": \"a\", \"in\": \"query\", \"required\":"
    " true, \"schema\": {\"type\": \"string\"}, \"description\": \"SOURCE:KEY\"}, {\"name\":"
    " \"b\", \"in\": \"query\", \"required\": true, \"schema\": {\"type\": \"string\"},"
    " \"description\": \"SOURCE:KEY\"}], \"responses\": {\"200\": {\"description\": \"{a, b,"
    " score, probability, explanation, strong_conflict, same_entity}\", \"content\": " REF(
        "ExplainResult") "}}, \"x-components\": {\"schemas\": {\"ExplainResult\": {\"type\": "
                         "\"object\","
                         " \"required\": [\"a\", \"b\", \"score\", \"probability\", "
                         "\"explanation\","
                         " \"strong_conflict\", \"same_entity\"], \"properties\": {\"a\": "
                         "{\"type\": \"object\","
                         " \"properties\": {\"record_id\": {\"type\": \"integer\"}, \"source\": "
                         "{\"type\":"
                         " \"string\"}, \"source_key\": {\"type\": \"string\"}, \"entity_id\": "
                         "{\"type\":"
                         " [\"integer\", \"null\"]}, \"fields\": {\"type\": \"object\", "
                         "\"additionalProperties\":"
                         " true, \"description\": \"the record's canonical (normalized) "
                         "fields\"}}}, \"b\":"
                         " {\"type\": \"object\", \"properties\": {\"record_id\": {\"type\": "
                         "\"integer\"},"
                         " \"source\": {\"type\": \"string\"}, \"source_key\": {\"type\": "
                         "\"string\"},"
                         " \"entity_id\": {\"type\": [\"integer\", \"null\"]}, \"fields\": "
                         "{\"type\": \"object\","
                         " \"additionalProperties\": true, \"description\": \"the record's "
                         "canonical (normalized)"
                         " fields\"}}}, \"score\": {\"type\": \"number\"}, \"probability\": "
                         "{\"type\": \"number\"},"
                         " \"explanation\": {\"oneOf\": [{\"$ref\": "
                         "\"#/components/schemas/Explanation\"},"
                         " {\"type\": \"array\", \"items\": {\"$ref\":"
                         " \"#/components/schemas/BuiltinComparison\"}}]}, \"strong_conflict\": "
                         "{\"type\":"
                         " \"boolean\"}, \"same_entity\": {\"type\": \"boolean\"}}}}}}";

const char mdm_h_audit_doc[] =
    "{\"summary\": \"The audit log\", \"tags\": [\"stewardship\"], \"description\":"
    " \"Newest first. verify=true adds chain: the result of recomputing the whole hash chain"
    " (intact, rows, problems, first, head).\","
    " \"parameters\": ["
    " {\"name\": \"actor\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"role\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"action\", \"in\": \"query\", \"schema\": {\"type\": \"string\"},"
    " \"description\": \"exact, or a prefix ending in a dot (entity.)\"},"
    " {\"name\": \"target\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    " {\"name\": \"from\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}},"
    " {\"name\": \"to\", \"in\": \"query\", \"schema\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}},"
    " {\"name\": \"cursor\", \"in\": \"query\", \"schema\": {\"type\": \"integer\"}},"
    " {\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1,"
    " \"maximum\": 1000, \"default\": 100}},"
    " {\"name\": \"verify\", \"in\": \"query\", \"schema\": {\"type\": \"boolean\"}}],"
    " \"responses\": {\"200\": {\"description\": \"{items, next, chain?}\", \"content\": " REF(
        "AuditPage") "}}}";

/* ---- helpers ---------------------------------------------------------------------- */

static void fail(mdm_http_req *req, mdm_status code, const char *field, const char *msg)
{
    mdm_err e;
    mdm_err_set_field(&e, code, field, "%s", msg);
    mdm_http_reply_problem(req, &e);
}

/* The JSON body as an object, or a 422 reply. */
static json_t *body_object(mdm_http_req *req)
{
    mdm_jin in;
    mdm_err err = {0};
    if (!mdm_http_body_reader(req, &in, &err)) {
        mdm_http_reply_problem(req, &err);
        return NULL;
    }
    return (json_t *)in.obj;
}

/* Optional non-negative integer member; false after replying 422. */
static bool member_int(mdm_http_req *req, json_t *b, const char *name, long long *out)
{
    mdm_jin in;
    mdm_err err = {0};
    if (mdm_jin_open(&in, b, "", MDM_EUNPROCESSABLE, &err) &&
        mdm_jin_int(&in, name, 0, LLONG_MAX, out))
        return true;
    mdm_http_reply_problem(req, &err);
    return false;
}

/* Optional string member (NULL when absent or null); false after replying 422. */
static bool member_str(mdm_http_req *req, json_t *b, const char *name, const char **out)
{
    mdm_jin in;
    mdm_err err = {0};
    *out = NULL;
    if (mdm_jin_open(&in, b, "", MDM_EUNPROCESSABLE, &err) && mdm_jin_string(&in, name, 0, out))
        return true;
    mdm_http_reply_problem(req, &err);
    return false;
}

/* The version to check: `given` (the body's or query's "version", 0 = absent) and/or
 * If-Match (the ETag of GET, "*" = any). When both are given they must agree: one of them
 * is stale otherwise (409 estale). *version = 0: no check. False after replying. */
static bool version_pick(mdm_http_req *req, long long given, int *version)
{
    bool bad = false;
    int m = 0;
    bool has_m = mdm_http_if_match(req, &m, &bad);
    if (bad)
        return false;
    if (given > INT32_MAX) {
        fail(req, MDM_EUNPROCESSABLE, "/version", "version is out of range");
        return false;
    }
    if (given > 0 && has_m && m > 0 && m != given) {
        mdm_err e;
        mdm_err_set_field(&e, MDM_ESTALE, "/version",
                          "version %lld and If-Match \"%d\" disagree: one of them is stale", given,
                          m);
        mdm_http_reply_problem(req, &e);
        return false;
    }
    *version = given > 0 ? (int)given : m;
    return true;
}

/* The version to check from body member "version" and If-Match (version_pick). */
static bool version_of(mdm_http_req *req, json_t *b, int *version)
{
    long long v = 0;
    if (b && !member_int(req, b, "version", &v))
        return false;
    return version_pick(req, v, version);
}

static void reply_status(mdm_http_req *req, mdm_status st, mdm_err *err, json_t *out)
{
    if (st != MDM_OK) {
        json_decref(out);
        mdm_http_reply_problem(req, err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

/* reply_status for actions on a JSON body: invalid input there is a field error, 422. */
static void reply_body_status(mdm_http_req *req, mdm_status st, mdm_err *err, json_t *out)
{
    if (st == MDM_EINVAL)
        err->code = MDM_EUNPROCESSABLE;
    reply_status(req, st, err, out);
}

/* Replies to an entity write: on success the result's "version" (the version GET
 * /v1/entities/{id} now answers) becomes the ETag, for the client's next If-Match. */
static void reply_entity(mdm_http_req *req, mdm_status st, mdm_err *err, json_t *out, bool body)
{
    json_t *v = st == MDM_OK ? json_object_get(out, "version") : NULL;
    if (json_is_integer(v)) {
        char etag[32];
        snprintf(etag, sizeof etag, "\"%lld\"", (long long)json_integer_value(v));
        mdm_http_set_header(req, "ETag", etag);
    }
    if (body)
        reply_body_status(req, st, err, out);
    else
        reply_status(req, st, err, out);
}

/* ---- review queue ----------------------------------------------------------------- */

static bool query_prob(mdm_http_req *req, const char *name, double *out, int *has)
{
    const char *v = mdm_http_query(req, name);
    *has = 0;
    if (!v || !*v)
        return true;
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= 0 && d <= 1)) {
        char field[64];
        snprintf(field, sizeof field, "/query/%s", name);
        fail(req, MDM_EINVAL, field, "must be a number between 0 and 1");
        return false;
    }
    *out = d;
    *has = 1;
    return true;
}

/* Optional non-negative number of days (query argument name); false after replying. */
static bool query_days(mdm_http_req *req, const char *name, double *out, int *has)
{
    const char *v = mdm_http_query(req, name);
    *has = 0;
    if (!v || !*v)
        return true;
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= 0 && d <= 36500)) {
        char field[64];
        snprintf(field, sizeof field, "/query/%s", name);
        fail(req, MDM_EINVAL, field, "must be a number of days between 0 and 36500");
        return false;
    }
    *out = d;
    *has = 1;
    return true;
}

void mdm_h_review_list(mdm_http_req *req)
{
    long long limit, entity;
    mdm_queue_filter f = {0};
    if (!mdm_http_query_int(req, "limit", 50, 1, 500, &limit) ||
        !mdm_http_query_int(req, "entity_id", 0, 0, INT64_MAX, &entity) ||
        !query_prob(req, "min_probability", &f.min_probability, &f.has_min) ||
        !query_prob(req, "max_probability", &f.max_probability, &f.has_max) ||
        !query_days(req, "min_age_days", &f.min_age_days, &f.has_min_age) ||
        !query_days(req, "max_age_days", &f.max_age_days, &f.has_max_age))
        return;
    f.status = mdm_http_query(req, "status");
    f.assignee = mdm_http_query(req, "assignee");
    if (f.assignee && !strcmp(f.assignee, "me")) /* the caller's own items */
        f.assignee = mdm_http_actor(req);
    f.source = mdm_http_query(req, "source");
    f.kind = mdm_http_query(req, "kind");
    f.sort = mdm_http_query(req, "sort");
    f.cursor = mdm_http_query(req, "cursor");
    f.entity_id = entity;
    f.limit = (int)limit;
    const char *qv[MDM_QUALITY_NFILTERS];
    for (size_t i = 0; i < MDM_QUALITY_NFILTERS; i++)
        qv[i] = mdm_http_query(req, mdm_quality_filter_names[i]);
    char *bounds = NULL;
    mdm_err qerr = {0};
    if (mdm_quality_bounds(qv, &bounds, &qerr) != MDM_OK) {
        char field[sizeof qerr.field + 8];
        snprintf(field, sizeof field, "/query%s", qerr.field);
        snprintf(qerr.field, sizeof qerr.field, "%.*s", (int)sizeof qerr.field - 1, field);
        mdm_http_reply_problem(req, &qerr);
        return;
    }
    f.quality = bounds;
    json_t *items = NULL;
    char *next = NULL;
    mdm_err err = {0};
    /* items whose evidence changed are re-scored before listing (stale ones are closed by
     * the list itself) */
    mdm_status st = mdm_queue_rescore(mdm_http_db(req), mdm_http_ingest_ctx(req), NULL, &err);
    if (st == MDM_OK)
        st = mdm_queue_list(mdm_http_db(req), &f, &items, &next, &err);
    json_t *counts = NULL;
    if (st == MDM_OK &&
        (st = mdm_queue_counts(mdm_http_db(req), &f, mdm_http_actor(req), &counts, &err)) != MDM_OK)
        json_decref(items);
    free(bounds);
    if (st != MDM_OK) {
        if (err.field[0] == '/' && strncmp(err.field, "/query/", 7) != 0) {
            char q[sizeof err.field + 8];
            snprintf(q, sizeof q, "/query%s", err.field);
            snprintf(err.field, sizeof err.field, "%.*s", (int)sizeof err.field - 1, q);
        }
        mdm_http_reply_problem(req, &err);
        return;
    }
    json_t *out = json_pack("{s:o,s:s?,s:o}", "items", items, "next", next, "counts",
                            counts ? counts : json_object());
    free(next);
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

void mdm_h_review_get(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "review item", &id))
        return;
    json_t *item = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_queue_get(mdm_http_db(req), id, &item, &err);
    if (st == MDM_OK) {
        char etag[32];
        snprintf(etag, sizeof etag, "\"%lld\"",
                 (long long)json_integer_value(json_object_get(item, "version")));
        mdm_http_set_header(req, "ETag", etag);
        mdm_mask_for_role(mdm_http_role(req), item);
    }
    reply_status(req, st, &err, item);
}

void mdm_h_review_claim(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "review item", &id))
        return;
    json_t *b = body_object(req);
    int version = 0;
    if (!b || !version_of(req, b, &version))
        return;
    if (version <= 0) {
        fail(req, MDM_EUNPROCESSABLE, "/version", "the item's version is required");
        return;
    }
    mdm_queue_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    json_t *item = NULL;
    mdm_err err = {0};
    mdm_status st;
    if (json_object_get(b, "assignee")) {
        const char *assignee = NULL;
        if (!member_str(req, b, "assignee", &assignee))
            return;
        st = mdm_queue_assign(mdm_http_db(req), id, version, assignee, &who, &item, &err);
    } else {
        st = mdm_queue_claim(mdm_http_db(req), id, version, &who, &item, &err);
    }
    reply_status(req, st, &err, item);
}

void mdm_h_review_reopen(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "review item", &id))
        return;
    json_t *b = body_object(req);
    int version = 0;
    const char *reason = NULL;
    if (!b || !version_of(req, b, &version) || !member_str(req, b, "reason", &reason))
        return;
    if (version <= 0) {
        fail(req, MDM_EUNPROCESSABLE, "/version", "the item's version is required");
        return;
    }
    mdm_queue_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    json_t *item = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_queue_reopen(mdm_http_db(req), id, version, reason, &who, &item, &err);
    reply_body_status(req, st, &err, item);
}

/* Reads one decision object; false after replying. */
static bool parse_decision(mdm_http_req *req, json_t *o, mdm_queue_decision *d)
{
    if (!member_str(req, o, "decision", &d->decision) || !member_str(req, o, "reason", &d->reason))
        return false;
    if (!d->decision) {
        fail(req, MDM_EUNPROCESSABLE, "/decision", "decision is required (match, no_match, defer)");
        return false;
    }
    return true;
}

void mdm_h_review_decide(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "review item", &id))
        return;
    json_t *b = body_object(req);
    mdm_queue_decision d = {id, 0, NULL, NULL};
    if (!b || !version_of(req, b, &d.version) || !parse_decision(req, b, &d))
        return;
    if (d.version <= 0) {
        fail(req, MDM_EUNPROCESSABLE, "/version", "the item's version is required");
        return;
    }
    mdm_queue_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st =
        mdm_queue_decide(mdm_http_db(req), mdm_http_ingest_ctx(req), &d, &who, &out, &err);
    reply_body_status(req, st, &err, out);
}

void mdm_h_review_bulk(mdm_http_req *req)
{
    mdm_err err = {0};
    mdm_jin in;
    const json_t *list = NULL;
    if (!mdm_http_body_reader(req, &in, &err) ||
        !mdm_jin_need(&in, "decisions", "an array of decisions") ||
        !mdm_jin_array(&in, "decisions", 1, 500, &list)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    size_t n = json_array_size(list);
    mdm_queue_decision *ds = mdm_arena_alloc(mdm_http_arena(req), n * sizeof *ds);
    for (size_t i = 0; i < n; i++) {
        /* each item: {id, version, decision, reason?} */
        char name[32];
        snprintf(name, sizeof name, "decisions[%zu]", i);
        mdm_jin item;
        long long id = 0, version = 0;
        mdm_queue_decision *d = &ds[i];
        *d = (mdm_queue_decision){0, 0, NULL, NULL};
        if (!mdm_jin_open(&item, json_array_get(list, i), name, MDM_EUNPROCESSABLE, &err) ||
            !mdm_jin_need(&item, "id", "the review item's id") ||
            !mdm_jin_need(&item, "version", "the item's version") ||
            !mdm_jin_need(&item, "decision", "match, no_match or defer") ||
            !mdm_jin_int(&item, "id", 1, INT64_MAX, &id) ||
            !mdm_jin_int(&item, "version", 1, INT32_MAX, &version) ||
            !mdm_jin_string(&item, "decision", 0, &d->decision) ||
            !mdm_jin_string(&item, "reason", 0, &d->reason)) {
            mdm_http_reply_problem(req, &err);
            return;
        }
        d->id = id;
        d->version = (int)version;
    }
    mdm_queue_actor who = {mdm_http_actor(req), mdm_http_role(req)};
    json_t *results = NULL;
    mdm_status st = mdm_queue_decide_bulk(mdm_http_db(req), mdm_http_ingest_ctx(req), ds, n, &who,
                                          &results, &err);
    if (!results) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, st == MDM_OK ? MHD_HTTP_OK : MHD_HTTP_MULTI_STATUS,
                        json_pack("{s:o}", "results", results));
}

/* ---- entities --------------------------------------------------------------------- */

static bool entity_action_start(mdm_http_req *req, int64_t *id, json_t **b, int *version,
                                mdm_merge_actor *who)
{
    if (!mdm_http_param_id(req, "id", "entity", id))
        return false;
    *b = body_object(req);
    if (!*b || !version_of(req, *b, version))
        return false;
    const char *reason = NULL;
    if (!member_str(req, *b, "reason", &reason))
        return false;
    *who = (mdm_merge_actor){mdm_http_actor(req), mdm_http_role(req), reason};
    return true;
}

void mdm_h_entity_merge(mdm_http_req *req)
{
    int64_t id;
    json_t *b;
    int version;
    mdm_merge_actor who;
    if (!entity_action_start(req, &id, &b, &version, &who))
        return;
    long long other = 0;
    if (!member_int(req, b, "other", &other))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_merge_manual(mdm_http_db(req), mdm_http_ingest_ctx(req), id, version, other,
                                     &who, &out, &err);
    reply_entity(req, st, &err, out, true);
}

void mdm_h_entity_merge_preview(mdm_http_req *req)
{
    int64_t id;
    long long other;
    if (!mdm_http_param_id(req, "id", "entity", &id) ||
        !mdm_http_query_int(req, "other", 0, 1, INT64_MAX, &other))
        return;
    if (!other) {
        fail(req, MDM_EINVAL, "/query/other", "other (the entity to merge in) is required");
        return;
    }
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st =
        mdm_query_merge_preview(mdm_http_db(req), mdm_http_ingest_ctx(req), id, other, &out, &err);
    if (st == MDM_OK)
        mdm_mask_for_role(mdm_http_role(req), out);
    reply_status(req, st, &err, out);
}

void mdm_h_entity_split(mdm_http_req *req)
{
    int64_t id;
    json_t *b;
    int version;
    mdm_merge_actor who;
    if (!entity_action_start(req, &id, &b, &version, &who))
        return;
    long long into = 0;
    if (!member_int(req, b, "into", &into))
        return;
    mdm_err err = {0};
    mdm_jin in;
    const json_t *recs = NULL;
    if (!mdm_jin_open(&in, b, "", MDM_EUNPROCESSABLE, &err) ||
        !mdm_jin_need(&in, "records", "the record ids that leave") ||
        !mdm_jin_array(&in, "records", 1, 10000, &recs)) {
        mdm_http_reply_problem(req, &err);
        return;
    }
    size_t n = json_array_size(recs);
    int64_t *ids = mdm_arena_alloc(mdm_http_arena(req), n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(recs, i);
        if (!json_is_integer(r) || json_integer_value(r) <= 0) {
            mdm_jin_fail_item(&in, "records", i, "a record id");
            mdm_http_reply_problem(req, &err);
            return;
        }
        ids[i] = json_integer_value(r);
    }
    json_t *out = NULL;
    mdm_status st = mdm_merge_split(mdm_http_db(req), mdm_http_ingest_ctx(req), id, version, ids, n,
                                    into, &who, &out, &err);
    reply_entity(req, st, &err, out, true);
}

void mdm_h_entity_unsplit(mdm_http_req *req)
{
    int64_t id;
    json_t *b;
    int version;
    mdm_merge_actor who;
    if (!entity_action_start(req, &id, &b, &version, &who))
        return;
    long long split = 0;
    if (!member_int(req, b, "split_id", &split))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_merge_unsplit(mdm_http_db(req), mdm_http_ingest_ctx(req), id, split,
                                      version, &who, &out, &err);
    reply_entity(req, st, &err, out, true);
}

void mdm_h_entity_unmerge(mdm_http_req *req)
{
    int64_t id;
    json_t *b;
    int version;
    mdm_merge_actor who;
    if (!entity_action_start(req, &id, &b, &version, &who))
        return;
    long long snap = 0;
    if (!member_int(req, b, "snapshot_id", &snap))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_merge_unmerge(mdm_http_db(req), mdm_http_ingest_ctx(req), id, snap, version,
                                      &who, &out, &err);
    reply_entity(req, st, &err, out, false);
}

/* A typed pin value goes through the same normalizers and checks as a source record's
 * value (a birth date must be a real date, a phone a phone number, ...): *out receives
 * the canonical form to pin (new reference). Custom attributes (attributes.NAME) are
 * taken as they are. False after replying 422 with the check's reason. */
static bool pin_value(mdm_http_req *req, const char *attr, json_t *value, json_t **out)
{
    *out = NULL;
    if (!attr || !strncmp(attr, "attributes.", 11)) {
        *out = json_incref(value);
        return true;
    }
    /* a record needs an identifier to be valid at all: one that is not the pinned one */
    const char *id_attr = strcmp(attr, "customer_number") ? "customer_number" : "loyalty_id";
    json_t *rec = json_pack("{s:s,s:s,s:O}", "source_key", "pin", id_attr, "pin", attr, value);
    json_t *canon = NULL, *errors = NULL;
    mdm_err err = {0};
    mdm_status st =
        mdm_engine_canonicalize(mdm_http_ingest_ctx(req), NULL, rec, &canon, &errors, &err);
    json_decref(rec);
    if (st != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return false;
    }
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *why = json_string_value(json_object_get(e, "reason"));
        char msg[200];
        snprintf(msg, sizeof msg, "%.60s %.120s", attr, why ? why : "is not valid");
        json_decref(errors);
        fail(req, MDM_EUNPROCESSABLE, "/value", msg);
        return false;
    }
    json_decref(errors);
    /* an invalid optional value does not refuse a record, it is left out and flagged
     * (mdm/ingest.h): for a pin, that is the reason to refuse it */
    json_array_foreach(json_object_get(canon, "issues"), i, e)
    {
        const char *field = json_string_value(json_object_get(e, "field"));
        if (json_is_true(json_object_get(e, "dropped")) && field &&
            !strncmp(field, attr, strlen(field))) {
            char msg[200];
            snprintf(msg, sizeof msg, "%.60s %.120s", attr,
                     json_string_value(json_object_get(e, "reason")));
            json_decref(canon);
            fail(req, MDM_EUNPROCESSABLE, "/value", msg);
            return false;
        }
    }
    json_t *v = canon ? json_object_get(canon, attr) : NULL;
    if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0)) {
        json_decref(canon);
        char msg[120];
        snprintf(msg, sizeof msg, "the value is not a valid %.60s", attr);
        fail(req, MDM_EUNPROCESSABLE, "/value", msg);
        return false;
    }
    *out = json_incref(v);
    json_decref(canon);
    return true;
}

void mdm_h_entity_pin(mdm_http_req *req)
{
    int64_t id;
    json_t *b;
    int version;
    mdm_merge_actor who;
    if (!entity_action_start(req, &id, &b, &version, &who))
        return;
    json_t *given = json_object_get(b, "value"), *value = NULL;
    if (!given || json_is_null(given)) {
        fail(req, MDM_EUNPROCESSABLE, "/value", "value is required");
        return;
    }
    const char *attr = mdm_http_param(req, "attr");
    if (!pin_value(req, attr, given, &value))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_merge_pin(mdm_http_db(req), mdm_http_ingest_ctx(req), id, version, attr,
                                  value, &who, &out, &err);
    json_decref(value);
    reply_entity(req, st, &err, out, true);
}

void mdm_h_entity_unpin(mdm_http_req *req)
{
    int64_t id;
    long long given;
    int version;
    if (!mdm_http_param_id(req, "id", "entity", &id) ||
        !mdm_http_query_int(req, "version", 0, 0, INT32_MAX, &given) ||
        !version_pick(req, given, &version))
        return;
    mdm_merge_actor who = {mdm_http_actor(req), mdm_http_role(req), mdm_http_query(req, "reason")};
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_merge_pin(mdm_http_db(req), mdm_http_ingest_ctx(req), id, version,
                                  mdm_http_param(req, "attr"), NULL, &who, &out, &err);
    reply_entity(req, st, &err, out, false);
}

void mdm_h_assertion(mdm_http_req *req)
{
    json_t *b = body_object(req);
    if (!b)
        return;
    const char *kind = NULL, *reason = NULL;
    long long a = 0, c = 0;
    if (!member_str(req, b, "kind", &kind) || !member_str(req, b, "reason", &reason) ||
        !member_int(req, b, "record_a", &a) || !member_int(req, b, "record_b", &c))
        return;
    mdm_merge_actor who = {mdm_http_actor(req), mdm_http_role(req), reason};
    mdm_err err = {0};
    json_t *stored = NULL;
    mdm_status st = mdm_merge_assert(mdm_http_db(req), kind, a, c, &who, &stored, &err);
    reply_body_status(req, st, &err, stored);
}

void mdm_h_assertion_list(mdm_http_req *req)
{
    long long record_id, after, limit;
    if (!mdm_http_query_int(req, "record_id", 0, 0, INT64_MAX, &record_id) ||
        !mdm_http_query_int(req, "after", 0, 0, INT64_MAX, &after) ||
        !mdm_http_query_int(req, "limit", 100, 1, 1000, &limit))
        return;
    json_t *out = NULL;
    mdm_err err = {0};
    mdm_status st =
        mdm_merge_assertions(mdm_http_db(req), record_id, after, (int)limit, &out, &err);
    reply_body_status(req, st, &err, out);
}

void mdm_h_assertion_delete(mdm_http_req *req)
{
    int64_t id;
    if (!mdm_http_param_id(req, "id", "assertion", &id))
        return;
    const char *reason = mdm_http_query(req, "reason");
    if (reason && strlen(reason) > MDM_AUDIT_MAX_REASON) {
        fail(req, MDM_EINVAL, "/query/reason", "reason is too long");
        return;
    }
    mdm_merge_actor who = {mdm_http_actor(req), mdm_http_role(req), reason};
    json_t *removed = NULL;
    mdm_err err = {0};
    mdm_status st = mdm_merge_unassert(mdm_http_db(req), id, &who, &removed, &err);
    reply_body_status(req, st, &err, removed);
}

/* ---- explain ---------------------------------------------------------------------- */

/* Loads SOURCE:KEY (query argument name) as a record; false after replying. */
static bool load_side(mdm_http_req *req, const char *name, json_t **rec)
{
    const char *v = mdm_http_query(req, name);
    char field[32];
    snprintf(field, sizeof field, "/query/%s", name);
    const char *colon = v ? strchr(v, ':') : NULL;
    if (!colon || colon == v || !colon[1] || colon - v > 63) {
        fail(req, MDM_EINVAL, field, "expected SOURCE:KEY");
        return false;
    }
    char source[64];
    snprintf(source, sizeof source, "%.*s", (int)(colon - v), v);
    mdm_err err = {0};
    if (mdm_query_record(mdm_http_db(req), source, colon + 1, rec, &err) != MDM_OK) {
        mdm_http_reply_problem(req, &err);
        return false;
    }
    return true;
}

static json_t *side_summary(json_t *rec)
{
    json_t *fields = json_deep_copy(json_object_get(rec, "normalized"));
    if (json_is_object(fields))
        json_object_del(fields, "keys");
    return json_pack("{s:O,s:O,s:O,s:O,s:o}", "record_id", json_object_get(rec, "id"), "source",
                     json_object_get(rec, "source"), "source_key",
                     json_object_get(rec, "source_key"), "entity_id",
                     json_object_get(rec, "entity_id") ? json_object_get(rec, "entity_id")
                                                       : json_null(),
                     "fields", fields ? fields : json_object());
}

void mdm_h_explain(mdm_http_req *req)
{
    json_t *a = NULL, *b = NULL;
    if (!load_side(req, "a", &a))
        return;
    if (!load_side(req, "b", &b)) {
        json_decref(a);
        return;
    }
    double p = 0;
    json_t *expl = NULL;
    int strong = 0;
    double w = mdm_score_pair(mdm_http_ingest_ctx(req), json_object_get(a, "normalized"),
                              json_object_get(b, "normalized"), &p, &expl, &strong);
    json_t *ea = json_object_get(a, "entity_id"), *eb = json_object_get(b, "entity_id");
    bool same = json_is_integer(ea) && json_equal(ea, eb);
    json_t *out =
        json_pack("{s:o,s:o,s:f,s:f,s:o,s:b,s:b}", "a", side_summary(a), "b", side_summary(b),
                  "score", w, "probability", p, "explanation", expl ? expl : json_array(),
                  "strong_conflict", strong, "same_entity", same);
    json_decref(a);
    json_decref(b);
    mdm_mask_for_role(mdm_http_role(req), out);
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}

/* ---- audit ------------------------------------------------------------------------ */

void mdm_h_audit(mdm_http_req *req)
{
    long long limit, cursor;
    if (!mdm_http_query_int(req, "limit", 100, 1, 1000, &limit) ||
        !mdm_http_query_int(req, "cursor", 0, 0, INT64_MAX, &cursor))
        return;
    const char *verify = mdm_http_query(req, "verify");
    if (verify && strcmp(verify, "true") && strcmp(verify, "false")) {
        fail(req, MDM_EINVAL, "/query/verify", "verify must be true or false");
        return;
    }
    /* parameters are checked here, never by the database */
    if (!mdm_http_query_time(req, "from") || !mdm_http_query_time(req, "to"))
        return;
    mdm_audit_filter f = {mdm_http_query(req, "actor"),
                          mdm_http_query(req, "role"),
                          mdm_http_query(req, "action"),
                          mdm_http_query(req, "target"),
                          mdm_http_query(req, "from"),
                          mdm_http_query(req, "to"),
                          (int64_t)cursor,
                          (int)limit};
    json_t *rows = NULL;
    int64_t next = 0;
    mdm_err err = {0};
    mdm_db *db = mdm_http_db(req);
    mdm_status st = mdm_audit_list(db, &f, &rows, &next, &err);
    if (st != MDM_OK) {
        if (err.field[0] == '/') {
            char q[sizeof err.field + 8];
            snprintf(q, sizeof q, "/query%s", err.field);
            snprintf(err.field, sizeof err.field, "%.*s", (int)sizeof err.field - 1, q);
        }
        mdm_http_reply_problem(req, &err);
        return;
    }
    json_t *out =
        json_pack("{s:o,s:o}", "items", rows, "next", next ? json_integer(next) : json_null());
    if (verify && !strcmp(verify, "true")) {
        mdm_audit_check chk;
        json_t *problems = NULL;
        st = mdm_audit_verify(db, &chk, &problems, &err);
        if (st != MDM_OK) {
            json_decref(out);
            mdm_http_reply_problem(req, &err);
            return;
        }
        json_object_set_new(out, "chain",
                            json_pack("{s:b,s:I,s:I,s:s,s:s,s:o}", "intact", chk.intact, "rows",
                                      (json_int_t)chk.rows, "problems", (json_int_t)chk.problems,
                                      "first", chk.first, "head", chk.head_hash, "details",
                                      problems));
    }
    mdm_http_reply_json(req, MHD_HTTP_OK, out);
}
