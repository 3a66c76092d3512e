/* Propagation status per entity and per system (mdm/propagation.h). */
#include "mdm/propagation.h"

#include <stdio.h>
#include <stdlib.h>

/* The statements read as SQL only when left unwrapped. */
/* clang-format off */

static const mdm_db_stmt stmt_entity = {
    "propagation_entity",
    "SELECT json_build_object("
    " 'entity_id', e.id, 'version', e.version,"
    " 'systems', coalesce((SELECT json_agg(x ORDER BY x.subscription_id) FROM ("
    "  SELECT s.id AS subscription_id, s.source, s.active, s.max_delay_seconds,"
    "   CASE WHEN o.dead > 0 THEN 'dead' WHEN o.n > 0 THEN 'pending' ELSE 'current' END AS state,"
    "   a.version AS acknowledged_version, mdm_ts(a.at) AS acknowledged_at,"
    "   coalesce(o.open, '[]') AS open, o.oldest AS oldest_open_age_seconds,"
    "   coalesce(s.max_delay_seconds < o.oldest, false) AS over_sla"
    "  FROM subscription s"
    "  LEFT JOIN LATERAL (SELECT max(ev.entity_version) AS version, max(d.done_at) AS at"
    "   FROM delivery d JOIN outbox ev ON ev.seq = d.seq"
    "   WHERE d.entity_id = e.id AND d.subscription_id = s.id AND d.state = 'acknowledged') a"
    "   ON true"
    "  LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE d.state = 'dead') AS dead,"
    "   max(extract(epoch FROM now() - ev.created_at))::float8 AS oldest,"
    "   json_agg(json_build_object('delivery_id', d.id, 'seq', d.seq, 'type', ev.type,"
    "    'entity_version', ev.entity_version, 'state', d.state, 'attempts', d.attempts,"
    "    'age_seconds', round(extract(epoch FROM now() - ev.created_at)::numeric, 3),"
    "    'last_status', d.last_status) ORDER BY d.seq) AS open"
    "   FROM delivery d JOIN outbox ev ON ev.seq = d.seq"
    "   WHERE d.entity_id = e.id AND d.subscription_id = s.id"
    "   AND d.state IN ('pending', 'dead')) o ON true"
    "  WHERE EXISTS (SELECT 1 FROM delivery d"
    "   WHERE d.entity_id = e.id AND d.subscription_id = s.id)) x), '[]'))::text AS doc "
    "FROM entity e WHERE e.id = $1::bigint",
    1};

/* A delivery is late once its delay (event to acknowledgement, or to now while open)
 * passes the SLA; skipped and rejected ones are answers, not delays. */
static const mdm_db_stmt stmt_metrics = {
    "propagation_metrics",
    "SELECT s.id, s.source,"
    " count(d.id) FILTER (WHERE coalesce(d.done_at, now()) - ev.created_at"
    "  > make_interval(secs => s.max_delay_seconds)) AS breaches,"
    " count(d.id) FILTER (WHERE d.state IN ('pending', 'dead') AND now() - ev.created_at"
    "  > make_interval(secs => s.max_delay_seconds)) AS over_sla "
    "FROM subscription s"
    " LEFT JOIN delivery d ON d.subscription_id = s.id"
    "  AND d.state IN ('pending', 'dead', 'acknowledged')"
    " LEFT JOIN outbox ev ON ev.seq = d.seq "
    "WHERE s.max_delay_seconds IS NOT NULL GROUP BY s.id, s.source ORDER BY s.id",
    0};
/* clang-format on */

mdm_status mdm_propagation_entity(mdm_db *db, int64_t entity_id, json_t **out, mdm_err *err)
{
    *out = NULL;
    char id[MDM_DB_ID_LEN];
    mdm_db_id(id, entity_id);
    const char *params[] = {id};
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_entity, params, &res, err);
    if (st != MDM_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return mdm_err_set(err, MDM_ENOTFOUND, "no entity %lld", (long long)entity_id);
    }
    json_error_t jerr;
    *out = json_loads(mdm_db_get(res, 0, "doc", ""), 0, &jerr);
    PQclear(res);
    return *out ? MDM_OK : mdm_err_set(err, MDM_EINTERNAL, "propagation: %s", jerr.text);
}

mdm_status mdm_propagation_metrics_text(mdm_db *db, mdm_buf *out, mdm_err *err)
{
    PGresult *res = NULL;
    mdm_status st = mdm_db_exec(db, &stmt_metrics, NULL, &res, err);
    if (st != MDM_OK)
        return st;
    static const struct {
        const char *name, *type, *col, *help;
    } series[] = {
        {"mdm_propagation_sla_breaches_total", "counter", "breaches",
         "Deliveries that took longer than the subscription's max_delay_seconds (counted once, "
         "from the moment they are late)."},
        {"mdm_propagation_over_sla", "gauge", "over_sla",
         "Open deliveries (pending or dead) older than the subscription's max_delay_seconds."},
    };
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        mdm_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help,
                       series[k].name, series[k].type);
        for (int r = 0; r < PQntuples(res); r++)
            mdm_buf_printf(out, "%s{subscription=\"%s\",source=\"%s\"} %s\n", series[k].name,
                           mdm_db_get(res, r, "id", ""), mdm_db_get(res, r, "source", ""),
                           mdm_db_get(res, r, series[k].col, "0"));
    }
    PQclear(res);
    return MDM_OK;
}
