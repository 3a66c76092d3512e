/* Data quality of a golden record (see quality.h). */
#include "mdm/quality.h"

static const mdm_db_stmt stmt_issues = {
    "quality_issues",
    "SELECT coalesce(jsonb_agg(jsonb_build_object('record_id', sr.id, 'source', sr.source, "
    "'source_key', sr.source_key) || i.v ORDER BY sr.id, i.n), '[]'::jsonb)::text AS issues "
    "FROM membership m JOIN source_record sr ON sr.id = m.record_id AND NOT sr.deleted "
    "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(sr.normalized -> 'issues') "
    "= 'array' THEN sr.normalized -> 'issues' ELSE '[]'::jsonb END) WITH ORDINALITY AS i(v, n) "
    "WHERE m.entity_id = $1::bigint AND m.active AND jsonb_typeof(i.v) = 'object'",
    1};

void mdm_quality_call(int64_t entity_id, mdm_db_call *call)
{
    mdm_db_call_id(call, &stmt_issues, entity_id);
}

void mdm_quality_text(PGresult *res, mdm_buf *out)
{
    mdm_buf_puts(out, "{\"issues\":");
    mdm_buf_puts(out, res && PQntuples(res) == 1 ? mdm_db_get(res, 0, "issues", "[]") : "[]");
    mdm_buf_putc(out, '}');
    PQclear(res);
}
